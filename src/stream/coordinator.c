/* coordinator.c - rank 0 of `run`: moves each batch through its lifecycle
 * (stream/batch.h) and puts a snapshot barrier every `[snapshot] every`
 * batches and at a clean stop.
 *
 * Start-up: metrics, the database, the sink and the archiver, then restore
 * (restore.h) and the Kafka source at the logged offsets, then the commit
 * queue's thread. The loop: poll while no batch is ready; batch_cut ->
 * stream_decide -> archiver->append_batch -> commitq_submit; the sink
 * thread commits and acknowledges behind it. MPI and HDF5 calls stay on this
 * thread (Debian's parallel HDF5 is not thread-safe). */
#include "stream/coordinator.h"
#include "base/log.h"
#include "base/stop.h"
#include "base/timeparse.h"
#include "kafka/kafka_source.h"
#include "pg/pgconn.h"
#include "pg/pgprepared.h"
#include "pg/pgstate.h"
#include "stream/archiver.h"
#include "stream/commitq.h"
#include "stream/cutter.h"
#include "stream/decide.h"
#include "stream/metrics.h"
#include "stream/msgdecode.h"
#include "stream/report.h"
#include "stream/restore.h"
#include "stream/sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_QUEUE_DEPTH 2 /* decided batches that may wait for the sink */

typedef struct coord {
    cluster_t *c;
    const job_config_t *job;
    metrics_t *metrics;
    const char *conninfo;
    PGconn *db; /* the state reads of restore, then the duplicate filter's lookups */
    stream_sink_t *sink;
    archiver_t *arch;
    kafka_source_t *src;
    msgdecode_t *dec; /* JSON and Avro, the schema registry's cache */
    cutter_t cut;
    commitq_t *q;
    run_totals_t totals;
    restored_t restored;
    int64_t last_snapshot;    /* batch of the newest snapshot written or restored */
    int64_t last_snapshot_us; /* when this run wrote its last one (or started) */
    char gap_note[1100];      /* what --accept-gap accepted, for the next batch's batch_log row */
    int noted;                /* ... and that batch was cut */
} coord_t;

/* Sink thread, ACKED: the batch's ids are in the database now (the
 * duplicate filter may forget them), its offsets go to Kafka (monitoring
 * only). */
static void on_ack(void *arg, const batch_t *b)
{
    coord_t *co = arg;
    dedupe_committed(&co->cut.dedupe, b->id);
    kafka_source_commit(co->src, b->end_offsets, b->nparts);
}

static int add_found(void *ctx, const uint8_t id[16])
{
    return idset_add(ctx, id) < 0 ? -1 : 0;
}

/* The duplicate filter's lookup (dedupe.h) on co->db. A lost connection is
 * opened again, waiting for the database as the sink does (a database that
 * is down stops the commits anyway). */
static int lookup_ids(void *arg, const uint8_t (*ids)[16], size_t n, idset_t *found, char *errstr,
                      size_t errsize)
{
    coord_t *co = arg;
    for (;;) {
        if (pgstate_ids_present(co->db, ids, n, add_found, found, errstr, errsize) == 0) return 0;
        if (PQstatus(co->db) == CONNECTION_OK) return -1;
        log_warn("duplicate filter: lost the database (%s); connecting again", errstr);
        PQfinish(co->db);
        co->db = pgconn_open_wait(co->conninfo, (int)co->job->sink_retry_seconds, errstr, errsize);
        if (co->db == NULL) return -1;
    }
}

/* Sink thread, after ACKED: count the batch. */
static void on_done(void *arg, const batch_t *b, double commit_seconds)
{
    coord_t *co = arg;
    metrics_batch_committed(co->metrics, b->id, &b->counts, b->cut_decide_seconds, commit_seconds);
    totals_add(&co->totals, b);
}

/* The snapshot barrier: every decided batch committed, the interval's
 * archive published, then every rank writes its users. A failure is
 * reported and the stream goes on: the ledger still has it all. */
static void coord_snapshot(coord_t *co)
{
    int64_t batch = co->cut.next_batch_id - 1;
    if (co->job->snapshot_dir[0] == '\0' || batch <= co->last_snapshot) return;
    int64_t t_drain = timeparse_now_us();
    if (commitq_drain(co->q) != 0) return;
    int64_t t_publish = timeparse_now_us();
    co->arch->publish(co->arch);
    h5snap_meta_t meta;
    char err[1024];
    memset(&meta, 0, sizeof meta);
    meta.batch_id = batch;
    snprintf(meta.topic, sizeof meta.topic, "%s", co->job->topic);
    snprintf(meta.origin, sizeof meta.origin, "%s", co->restored.database_id);
    meta.nparts = co->cut.nparts;
    for (int p = 0; p < co->cut.nparts; p++)
        meta.end_offsets[p] = kafka_source_position(co->src, p);
    int64_t t0 = timeparse_now_us();
    if (cluster_command(co->c, CLUSTER_CMD_SNAP_WRITE, err, sizeof err) != 0 ||
        cluster_step_snap_write(co->c, &meta, err, sizeof err) != 0) {
        log_warn("snapshot of batch %" PRId64 " failed: %s", batch, err);
        return;
    }
    int64_t t_end = timeparse_now_us();
    co->last_snapshot = batch;
    co->last_snapshot_us = t_end;
    log_info("snapshot of batch %" PRId64 " written in %.2f s (the stream paused %.2f s: "
             "%.2f s for the batches in flight to commit, %.2f s to publish their archive)",
             batch, (double)(t_end - t0) / 1e6, (double)(t_end - t_drain) / 1e6,
             (double)(t_publish - t_drain) / 1e6, (double)(t0 - t_publish) / 1e6);
}

/* Every second: the partitions' lag into the metrics; every 5 s a line. */
static void coord_progress(coord_t *co, int64_t *last_lag, int64_t *last_log)
{
    int64_t now = timeparse_now_us();
    if (now - *last_lag > 1000000) {
        for (int p = 0; p < co->cut.nparts; p++)
            metrics_set_lag(co->metrics, p, kafka_source_lag(co->src, p));
        *last_lag = now;
    }
    if (now - *last_log > 5000000) {
        int64_t batches, messages;
        totals_progress(&co->totals, &batches, &messages);
        log_info("committed %" PRId64 " batches, %" PRId64 " messages", batches, messages);
        *last_log = now;
    }
}

/* Is a periodic snapshot due after batch id, since_us after the last one?
 * Every `every` batches, but not sooner than min_seconds after the last:
 * a snapshot pauses the stream for 0.1-0.2 s (the batches in flight commit,
 * the interval's archive is compressed and published, every rank writes),
 * and adaptive cuts make batches small at high rates, so a count alone
 * would snapshot every few seconds and set the latency's tail. */
static int snapshot_due(const job_config_t *job, int64_t id, int64_t since_us)
{
    return job->snapshot_every > 0 && id % job->snapshot_every == 0 &&
           since_us >= job->snapshot_min_seconds * 1000000;
}

/* One batch from CUT to QUEUED. 0, or -1 (logged: the run stops). */
static int coord_batch(coord_t *co)
{
    char err[1024];
    int64_t t0 = timeparse_now_us();
    batch_t *b = batch_cut(&co->cut, co->c->size, err, sizeof err);
    if (b == NULL) {
        log_error("cutting batch %" PRId64 ": %s", co->cut.next_batch_id, err);
        return -1;
    }
    if (co->gap_note[0] && !co->noted) { /* the first batch after an accepted gap says so */
        b->note = co->gap_note;
        co->noted = 1;
    }
    if (stream_decide(co->c, b, err, sizeof err) != 0) {
        log_error("deciding batch %" PRId64 ": %s", b->id, err);
        batch_free(b);
        return -1;
    }
    int64_t t1 = timeparse_now_us(), id = b->id;
    size_t rows = b->nrows;
    b->cut_decide_seconds = (double)(t1 - t0) / 1e6;
    co->arch->append_batch(co->arch, b);
    if (commitq_submit(co->q, b) != 0) return -1;
    log_debug("batch %" PRId64 ": %zu rows cut and decided in %.1f ms, waited %.1f ms for the sink",
              id, rows, (double)(t1 - t0) / 1e3, (double)(timeparse_now_us() - t1) / 1e3);
    if (snapshot_due(co->job, id, timeparse_now_us() - co->last_snapshot_us)) coord_snapshot(co);
    return 0;
}

static int coord_loop(coord_t *co)
{
    char err[1024];
    int64_t last_log = timeparse_now_us(), last_lag = 0;
    for (;;) {
        if (stop_requested) {
            log_info("stop requested: finishing the batch in flight");
            return 0;
        }
        if (commitq_failed(co->q, err, sizeof err)) return -1;
        int ready = cutter_ready(&co->cut, commitq_idle(co->q));
        if (ready < 0 && co->job->until_idle) return 0;
        if (ready <= 0) {
            /* short naps while a message waits: its time bound is checked here */
            int nap_ms = cutter_pending(&co->cut) ? 2 : 50;
            if (kafka_source_poll(co->src, nap_ms, err, sizeof err) < 0) {
                log_error("%s", err);
                return -1;
            }
            co->cut.nparts = kafka_source_refresh(co->src);
            coord_progress(co, &last_lag, &last_log);
            continue;
        }
        if (coord_batch(co) != 0) return -1;
        coord_progress(co, &last_lag, &last_log);
        /* Keep the fetch queue moving while batches are being decided. */
        if (kafka_source_poll(co->src, 0, err, sizeof err) < 0) {
            log_error("%s", err);
            return -1;
        }
    }
}

/* Everything before the first batch. 0, or -1 (logged). */
static int coord_open(coord_t *co, const char *conninfo)
{
    const job_config_t *job = co->job;
    char err[1024];
    co->metrics = metrics_start_on(job->metrics_listen, (int)job->metrics_port, err, sizeof err);
    if (co->metrics == NULL) goto fail;
    metrics_set_ranks(co->metrics, co->c->size);
    co->dec = msgdecode_new(job, err, sizeof err);
    if (co->dec == NULL) goto fail;
    co->conninfo = conninfo;
    co->db = pgconn_open_wait(conninfo, (int)job->sink_retry_seconds, err, sizeof err);
    if (co->db == NULL) goto fail;
    if (job->sink_off) {
        /* The sink resolves what an interrupted sliced commit left before
         * restore reads anything (pg/pgprepared.h); without a sink, refuse
         * to read a state that may lack a decided batch's rows. */
        int left = pgprepared_count(co->db, err, sizeof err);
        if (left < 0) goto fail;
        if (left > 0) {
            snprintf(err, sizeof err,
                     "%d prepared transaction(s) of an interrupted batch commit are in the "
                     "database; --sink none does not resolve them: run 'bankstream run' with "
                     "the sink, or 'bankstream init', first",
                     left);
            goto fail;
        }
    }
    int connections = (int)job->sink_connections, fallback = connections == 0;
    if (connections == 0) /* auto */
        connections = pgconn_resolves_embedded(job->conninfo_set ? job->conninfo : NULL)
                          ? SINK_PG_EMBEDDED_CONNECTIONS
                          : 1;
    co->sink = job->sink_off ? sink_none()
                             : sink_pg_open(conninfo, connections, fallback, job->sink_pipeline,
                                            job->sink_retry_seconds, job->topic, err, sizeof err);
    if (co->sink == NULL) goto fail;
    if (cutter_init(&co->cut, job, !co->sink->durable, lookup_ids, co) != 0) {
        snprintf(err, sizeof err,
                 "out of memory (the duplicate filter: [batch] "
                 "duplicate_filter_bytes = %" PRId64 ")",
                 job->duplicate_filter_bytes);
        goto fail;
    }
    co->cut.dec = co->dec;
    co->arch = job->sink_off || job->snapshot_dir[0] == '\0'
                   ? archiver_none()
                   : archiver_h5_open(job->snapshot_dir, job->topic);
    if (co->arch == NULL) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (stream_restore(co->c, co->db, job, &co->cut, co->arch, &co->restored, err, sizeof err) != 0)
        goto fail;
    co->last_snapshot = co->restored.last_snapshot;
    co->last_snapshot_us = timeparse_now_us();
    co->src = kafka_source_open(job, co->restored.start_offsets, co->restored.last_ts_ms,
                                co->restored.nstart, (size_t)job->batch_size * 4 + 1024,
                                co->gap_note, sizeof co->gap_note, err, sizeof err);
    if (co->src == NULL) goto fail;
    co->cut.src = co->src;
    co->cut.nparts = kafka_source_partitions(co->src);
    commitq_hooks_t hooks = {on_ack, on_done, co};
    co->q = commitq_start(co->sink, COMMIT_QUEUE_DEPTH, &hooks, err, sizeof err);
    if (co->q == NULL) goto fail;
    return 0;
fail:
    log_error("%s", err);
    return -1;
}

int coordinator_run(cluster_t *c, const job_config_t *job, const char *conninfo)
{
    coord_t co;
    char err[1024];
    int status = 1;
    memset(&co, 0, sizeof co);
    co.c = c;
    co.job = job;
    if (totals_init(&co.totals) != 0) {
        log_error("out of memory");
        totals_free(&co.totals);
        return 1;
    }
    if (coord_open(&co, conninfo) == 0) {
        log_info("consuming %s (%d partitions) from batch %" PRId64
                 " with %d rank(s), %d worker(s)",
                 job->topic, co.cut.nparts, co.cut.next_batch_id, c->size, c->nworkers);
        int rc = coord_loop(&co);
        if (commitq_drain(co.q) != 0 || rc != 0) {
            if (commitq_failed(co.q, err, sizeof err)) log_error("%s", err);
        } else {
            coord_snapshot(&co);
            status = 0;
        }
    }
    commitq_stop(co.q);
    metrics_stop(co.metrics);
    cluster_rank_stats_t *stats = NULL;
    if (cluster_command(c, CLUSTER_CMD_STATS, err, sizeof err) != 0 ||
        cluster_step_stats(c, &stats, err, sizeof err) != 0)
        stats = NULL;
    if (status == 0 && !job->quiet) {
        report_print(&co.totals, stats, c->size);
        const dedupe_t *d = &co.cut.dedupe;
        printf("duplicate filter: %" PRIu64 " MiB, %" PRIu64
               " ids, %zu held exactly, expected false positives %.2g; %" PRId64
               " database lookups of %" PRId64 " ids, %" PRId64 " found\n",
               d->seen.nbits / 8 >> 20, d->seen.added, dedupe_pending_ids(d), dedupe_fp_rate(d),
               d->lookups, d->looked_up, d->found);
        fflush(stdout);
    }
    free(stats);
    cluster_command(c, CLUSTER_CMD_STOP, err, sizeof err);
    archiver_close(co.arch);
    kafka_source_close(co.src);
    sink_close(co.sink);
    if (co.db) PQfinish(co.db);
    cutter_free(&co.cut);
    msgdecode_free(co.dec);
    totals_free(&co.totals);
    return status;
}
