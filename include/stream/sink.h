/* sink.h - where the stream's decided batches go: one interface, two sinks.
 *
 *   postgres (sink_pg.c)  one PostgreSQL commit per batch: the result rows
 *                         (binary COPY), the duplicates and dead letters,
 *                         and the batch_log row with the end offsets, in one
 *                         transaction or through several connections with
 *                         two-phase commit (the exactly-once invariants,
 *                         see sink_pg.c);
 *   none     (sink.c)     decide and write nothing (`run --sink none`: what
 *                         consume, decode and decide cost alone).
 *
 * commit is called by the commit queue's thread (commitq.c), one batch at a
 * time, in batch order; it moves nothing but the database. The postgres
 * sink may write the next batch's rows while it commits one (ahead, see
 * stream/sink_ahead.h); each batch still commits alone and in order. */
#ifndef BS_SINK_H
#define BS_SINK_H

#include "stream/batch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct stream_sink stream_sink_t;

struct stream_sink {
    const char *name; /* "postgres", "none" */
    /* 1 when the batches it commits are durable, so that their Kafka offsets
     * may be committed to the group too (the monitoring aid). */
    int durable;
    /* Commit b durably. 0, or -1 with errstr: the batch is not committed and
     * the run stops (the next run resumes from the batch log). */
    int (*commit)(stream_sink_t *s, const batch_t *b, char *errstr, size_t errsize);
    /* Close the connection(s) and free. NULL-safe through sink_close. */
    void (*close)(stream_sink_t *s);
    /* Optional (NULL: every batch waits for its commit call). Start
     * writing b, the batch after the one being committed, before its turn:
     * 1 when taken, 0 when the sink has no room for it now; never blocks.
     * b stays alive until commit(b) returns or forget is called. With b
     * NULL: 1 when it would take one now, and nothing is started. */
    int (*ahead)(stream_sink_t *s, const batch_t *b);
    /* With ahead: drop what was started ahead (the batch will not be
     * committed: the queue failed or stops). */
    void (*forget)(stream_sink_t *s);
};

/* `[sink] connections = auto` (the default): this many on the embedded
 * cluster that run starts itself (pgconn_resolves_embedded: no --pg, no PG*
 * environment), which bankstream configures for it
 * (max_prepared_transactions), and 1 on a server named by --pg or PG*, whose
 * settings are its administrator's (the embedded one too: run cannot tell). */
#define SINK_PG_EMBEDDED_CONNECTIONS 3

/* The sink that writes nothing. Never NULL (a static object). */
stream_sink_t *sink_none(void);

/* Connect to PostgreSQL for the batches of `topic` and take the database's
 * processor lock (pg/pglock.h: one processor per database); resolve the
 * prepared transactions an interrupted run left (pg/pgprepared.h). With
 * connections > 1 (`[sink] connections`, at most SINK_SLICES_MAX), each
 * batch's transactions go through that many more sessions at once, one
 * slice of payers each, made one commit by two-phase commit
 * (stream/sink_slices.h); the server must allow that many prepared
 * transactions (max_prepared_transactions), else errstr names the setting
 * and the fix; with fallback (connections = auto) such a server gets one
 * connection and a warning instead. With one connection and pipeline, the
 * next batch's rows are written by a second session while a batch commits
 * (stream/sink_ahead.h). A lost server is retried for
 * retry_seconds per commit, the lock re-taken first. NULL with errstr when
 * the first connection fails or another processor holds the database
 * (errstr names it). */
stream_sink_t *sink_pg_open(const char *conninfo, int connections, int fallback, int pipeline,
                            int64_t retry_seconds, const char *topic, char *errstr, size_t errsize);

/* s->close(s) when s is not NULL. */
void sink_close(stream_sink_t *s);

#endif
