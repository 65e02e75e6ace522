/* sink_slices.h - the slice sessions of the PostgreSQL sink: a batch's
 * transactions written through several connections at once, each its own
 * transaction, made one with two-phase commit (sink_pg.c drives it).
 *
 * A slice is a connection plus the payers it owns (stream/sink_rows.h):
 * the interface a PostgreSQL sharded by payer needs, where each slice
 * would be a shard; today every slice connects to the same server.
 *
 * One batch, as sink_pg.c's commit_sliced runs it:
 *
 *   sink_slices_start   each slice with rows, on a thread of its own:
 *                       BEGIN, COPY its transacoes and transacoes_scores,
 *                       PREPARE TRANSACTION <gid> (pg/pgprepared.h)
 *   sink_slices_wait    every thread ended: all PREPARED, or the failure
 *                       (the prepared ones stay prepared)
 *   (sink_pg.c: the batch_log row and COMMIT in its own session: the
 *    decision)
 *   sink_slices_finish  COMMIT PREPARED (or ROLLBACK PREPARED) of every
 *                       prepared slice, all at once, each on its own
 *                       session (one whose session is gone: through the
 *                       sink's)
 *
 * Sessions: application_name '<the sink's> [slice k/n]'; each holds the
 * fence of pg/pglock.h shared while it lives, joined while the sink's
 * session held the processor lock. Not thread-safe: one caller (the sink
 * thread); the slice threads live only inside start .. wait. */
#ifndef BS_SINK_SLICES_H
#define BS_SINK_SLICES_H

#include "stream/batch.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sink_slices sink_slices_t;

/* The most slices a sink may have ([sink] connections). */
#define SINK_SLICES_MAX 32

/* n slice sessions (2 <= n <= SINK_SLICES_MAX) to the server of conninfo, not connected yet.
 * NULL when out of memory. */
sink_slices_t *sink_slices_new(const char *conninfo, int n, const char *appname);

/* Disconnect every session and free. NULL-safe. */
void sink_slices_free(sink_slices_t *sl);

/* Open every slice session and join the fence for backend lock_pid (the
 * sink's session, which holds the processor lock). Returns 0; 1 with
 * errstr (transient: a connection failed); -1 with errstr (lock_pid no
 * longer holds the lock, or the fence is held: the run stops). On
 * failure every session is closed again. */
int sink_slices_connect(sink_slices_t *sl, int lock_pid, char *errstr, size_t errsize);

/* Close every slice session (their open transactions roll back; prepared
 * ones stay, to be resolved). */
void sink_slices_disconnect(sink_slices_t *sl);

/* 1 when every slice session is connected. */
int sink_slices_connected(const sink_slices_t *sl);

/* Start phase one of batch b (see above): gids from identity and
 * database_id; the rows' created_at is created_at_us (sink_rows.h).
 * Returns 0 (then call sink_slices_wait), or -1 with errstr when a thread
 * could not be started (those started are waited for, their slices rolled
 * back). b must live until sink_slices_wait returns. */
int sink_slices_start(sink_slices_t *sl, const batch_t *b, const char *identity,
                      const char *database_id, int64_t created_at_us, char *errstr, size_t errsize);

/* Outcomes of sink_slices_wait. */
enum {
    SLICES_PREPARED = 0, /* every slice with rows is prepared */
    SLICES_FAILED = -1,  /* a slice failed on a live session (errstr) */
    SLICES_LOST = 1,     /* a slice's session was lost (errstr; transient) */
    SLICES_WAITING = 2,  /* slices waited on each other (errstr): see below */
};

/* Wait until every slice thread of the last start has ended. Every half
 * second meanwhile it asks, on home (the sink's session, inside its
 * transaction), whether a running slice waits for a lock that only a
 * prepared transaction holds while a slice of this batch is prepared: a
 * wait that cannot end, since prepared transactions keep their locks until
 * the decision and the decision waits for every slice (an INSERT trigger
 * on transacoes that writes shared rows, such as a summary table, does
 * that). Such slices are cancelled and SLICES_WAITING returned, so that
 * the caller commits the batch through one connection instead. Slices that
 * did not prepare have rolled back; the prepared ones stay prepared. */
int sink_slices_wait(sink_slices_t *sl, PGconn *home, char *errstr, size_t errsize);

/* Phase two: COMMIT PREPARED (commit 1) or ROLLBACK PREPARED (0) every
 * slice the last start prepared and not finished yet; one whose session is
 * gone is finished through home (when alive). Returns 0 when none is left;
 * 1 with errstr when some are left (sessions lost: the next resolution,
 * pg/pgprepared.h, finishes them); -1 with errstr on an error of a live
 * session. */
int sink_slices_finish(sink_slices_t *sl, int commit, PGconn *home, char *errstr, size_t errsize);

/* How many slices of the last start are prepared and not finished. */
int sink_slices_pending(const sink_slices_t *sl);

#endif
