/* coordinator.c - rank 0: restore, cut batches, route, decide, commit.
 *
 * Batches are cut deterministically when bounded by count: partition p
 * contributes up to quota(p) = batch_size / nparts (the remainder going to
 * the lowest partitions, at least 1) and a batch is cut only once every
 * partition has its quota buffered or is read to its end. With max_ms > 0 a
 * batch is also cut max_ms after its first message arrived, whatever is
 * buffered then (timing-dependent, but recorded in batch_log like any other).
 *
 * The sink runs in its own thread so that committing batch k overlaps
 * cutting and deciding batch k+1; at most SINK_QUEUE batches wait. MPI and
 * HDF5 (snapshots, archives) are only called from the main thread: Debian's
 * parallel HDF5 is not thread-safe. Every `[snapshot] every` batches the main
 * thread drains the sink, publishes the interval's archive and has all ranks
 * write a snapshot (coord_snapshot). */
#include "stream/coordinator.h"
#include "engine/exchange.h"
#include "stream/batch.h"
#include "base/ids.h"
#include "base/json_decode.h"
#include "kafka/kafka_source.h"
#include "h5/h5archive.h"
#include "h5/h5snap.h"
#include "base/mkdirs.h"
#include "cluster/loader.h"
#include "base/log.h"
#include "stream/metrics.h"
#include "pg/pgsink.h"
#include "base/idset.h"
#include "engine/shard.h"
#include "base/timeparse.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTITIONS 1024
#define SINK_QUEUE     2

typedef struct run_totals {
    int64_t batches, messages, approved, rejected, not_processed, duplicates, dead;
    int64_t by_reason[REASON_COUNT];
    int64_t *latencies_ms;
    size_t nlat, latcap;
    int64_t first_cut_us, last_commit_us;
} run_totals_t;

typedef struct coord {
    engine_t *e;
    const job_config_t *job;
    kafka_source_t *src;
    pgsink_t *sink;
    metrics_t *metrics;
    idset_t seen;
    int64_t next_batch_id;
    int64_t last_snapshot; /* batch of the newest snapshot written or restored */
    char database_id[128]; /* snapshots carry it: never restore another database's */
    int nparts;
    int64_t pending_since_us; /* when the oldest not-yet-cut message arrived; 0 = none */

    /* sink thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch_t *queue[SINK_QUEUE];
    int qhead, qlen, busy, closing, failed;
    h5archive_writer_t *archive; /* main thread only: HDF5 is not thread-safe here */
    int64_t archive_first;       /* first batch in the open archive */
    int64_t archive_last;        /* last batch appended to it */
    int archive_off;             /* set after an archive failure: stop archiving */
    char sink_error[1200];
    run_totals_t totals;
} coord_t;

static int sink_drain(coord_t *c);
/* ---- transaction archive (main thread) ----
 * Decided transactions with their results go to DIR/archive-<first>.h5.partial;
 * at each snapshot, once the sink has committed every batch in it, the file
 * is closed and published as DIR/archive-<first>-<last>.h5 (one rename and a
 * directory fsync, in h5archive_close), one file per
 * snapshot interval (the snapshot directory). Debian's parallel HDF5 is not
 * thread-safe, so every HDF5 call stays on the main thread. A failure here is
 * reported once and archiving stops; the stream itself goes on. */

static void archive_fail(coord_t *c, const char *err)
{
    log_warn("archive: %s; archiving stops for this run (the tables are complete)", err);
    h5archive_abort(c->archive);
    c->archive = NULL;
    c->archive_off = 1;
}

static void archive_close(coord_t *c, int64_t last_batch)
{
    char err[1024], final_path[1100];
    if (c->archive == NULL) return;
    snprintf(final_path, sizeof final_path, "%s/archive-%012" PRId64 "-%012" PRId64 ".h5",
             c->job->snapshot_dir, c->archive_first, last_batch);
    int rc = h5archive_close(c->archive, final_path, err, sizeof err);
    c->archive = NULL;
    if (rc != 0) archive_fail(c, err);
}

/* Open the archive of the interval that starts at batch `first`. */
static int archive_open(coord_t *c, int64_t first)
{
    char path[1100], err[1024];
    if (mkdirs(c->job->snapshot_dir) != 0) {
        snprintf(err, sizeof err, "cannot create %s: %s", c->job->snapshot_dir, strerror(errno));
        archive_fail(c, err);
        return -1;
    }
    c->archive_first = first;
    snprintf(path, sizeof path, "%s/archive-%012" PRId64 ".h5", c->job->snapshot_dir, first);
    c->archive = h5archive_create(path, "stream", c->job->topic, 0, err, sizeof err);
    if (c->archive == NULL) {
        archive_fail(c, err);
        return -1;
    }
    return 0;
}

static int on_archive_row(void *ctx, const txn_record_t *row)
{
    coord_t *c = ctx;
    char err[1024];
    if (h5archive_append(c->archive, row, 1, err, sizeof err) != 0) {
        archive_fail(c, err);
        return -1;
    }
    c->archive_last = row->batch_id;
    return 0;
}

/* After a restart that found batches committed after the newest snapshot
 * (a crash cut that interval short), rebuild their archive from the
 * committed rows, so that the interval's archive stays complete. */
static void archive_rebuild(coord_t *c, int64_t last_committed)
{
    char err[1024];
    if (c->job->snapshot_dir[0] == '\0' || c->job->sink_off || last_committed <= c->last_snapshot ||
        archive_open(c, c->last_snapshot + 1) != 0)
        return;
    if (pgsink_each_archive_row(c->sink, c->last_snapshot, on_archive_row, c, err, sizeof err) !=
            0 &&
        c->archive != NULL)
        archive_fail(c, err);
    if (c->archive)
        log_info("archive of batches %" PRId64 "..%" PRId64 " rebuilt from the database",
                 c->archive_first, c->archive_last);
}

static void archive_batch(coord_t *c, const batch_t *b)
{
    char err[1024];
    if (c->job->snapshot_dir[0] == '\0' || c->archive_off) return;
    if (c->archive == NULL && archive_open(c, b->id) != 0) return;
    txn_record_t rows[512];
    size_t n = 0;
    for (size_t i = 0; i <= b->nrows; i++) {
        if (n == 512 || (i == b->nrows && n > 0)) {
            if (h5archive_append(c->archive, rows, n, err, sizeof err) != 0) {
                archive_fail(c, err);
                return;
            }
            n = 0;
        }
        if (i == b->nrows) break;
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_TXN) continue;
        txn_record_t *a = &rows[n++];
        a->txn = r->txn;
        a->partition = r->partition;
        a->offset = r->offset;
        a->kafka_ts_ms = r->kafka_ts_ms;
        a->batch_id = b->id;
        a->status = r->status;
        a->reason = r->reason;
        a->t5 = r->has_scores ? r->t5 : NAN;
        a->t6 = r->has_scores ? r->t6 : NAN;
        a->t7 = r->has_scores ? r->t7 : NAN;
    }
    c->archive_last = b->id;
}

/* ---------------------------------------------------------------- restore */

static int on_seen(void *ctx, const uint8_t id[16])
{
    return idset_add(ctx, id) < 0 ? -1 : 0;
}

/* Load the newest usable snapshot into the shards. A snapshot is usable when
 * batch_log holds its batch for our topic with the same end offsets (so it
 * belongs to this database and stream, and that batch committed) and it reads
 * back intact; others are skipped with a warning naming the file. Returns the
 * snapshot's batch id, 0 when none was usable, -1 on failure (logged). */
static int64_t load_snapshot(coord_t *c, int64_t last_committed)
{
    char **paths = NULL, err[1024];
    int n = 0;
    int64_t loaded = 0;
    struct stat st;
    if (c->job->snapshot_dir[0] == '\0') return 0;
    if (stat(c->job->snapshot_dir, &st) != 0 && errno == ENOENT) return 0; /* first run */
    if (h5snap_list(c->job->snapshot_dir, &paths, &n, err, sizeof err) != 0) {
        log_warn("%s; starting from the reference data", err);
        return 0;
    }
    for (int i = 0; i < n && loaded == 0; i++) {
        h5snap_meta_t meta;
        int64_t logged[MAX_PARTITIONS];
        int nlogged = 0;
        if (h5snap_read_meta(paths[i], 0, &meta, err, sizeof err) != 0) {
            log_warn("skipping snapshot: %s", err);
            continue;
        }
        if (meta.batch_id > last_committed || strcmp(meta.topic, c->job->topic) != 0) continue;
        if (strcmp(meta.origin, c->database_id) != 0) {
            log_warn("skipping snapshot %s: it belongs to database %s, not this one (%s); give "
                     "each database its own [snapshot] dir",
                     paths[i], meta.origin[0] ? meta.origin : "(unknown)", c->database_id);
            continue;
        }
        int found = pgsink_batch_offsets(c->sink, meta.batch_id, logged, MAX_PARTITIONS, &nlogged,
                                         err, sizeof err);
        if (found < 0) {
            log_error("%s", err);
            loaded = -1;
            break;
        }
        if (found != 0 || nlogged != meta.nparts ||
            memcmp(logged, meta.end_offsets, sizeof(int64_t) * (size_t)nlogged) != 0) {
            log_warn("skipping snapshot %s: batch_log has no batch %" PRId64
                     " of topic %s with the same offsets (a snapshot of another database?)",
                     paths[i], meta.batch_id, meta.topic);
            continue;
        }
        if (engine_send_command(c->e, ENGINE_CMD_SNAP_READ) != MPI_SUCCESS) {
            loaded = -1;
            break;
        }
        if (engine_step_snap_read(c->e, paths[i], &meta, err, sizeof err) != 0) {
            log_warn("skipping snapshot: %s", err);
            continue;
        }
        log_info("restored %" PRId64 " users from %s (batch %" PRId64 ")", meta.n_users, paths[i],
                 meta.batch_id);
        loaded = meta.batch_id;
    }
    h5snap_list_free(paths, n);
    return loaded;
}

/* Restore the state of the last committed batch: the newest usable snapshot
 * (or usuarios), then the ledger of the batches after it, then the ids of
 * every committed transaction. Returns 0 or -1 (logged). */
static int coord_restore(coord_t *c, int64_t *start_offsets, int *nstart)
{
    char err[1024] = "";
    int64_t last = 0, t0 = timeparse_now_us();
    if (pgsink_last_batch(c->sink, &last, start_offsets, MAX_PARTITIONS, nstart, err, sizeof err) !=
        0) {
        log_error("%s", err);
        return -1;
    }
    c->next_batch_id = last + 1;
    if (pgsink_database_id(c->sink, c->database_id, sizeof c->database_id, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    c->last_snapshot = load_snapshot(c, last);
    if (c->last_snapshot < 0) return -1;
    int rc = c->last_snapshot > 0 ? 0 : loader_users(c->e, c->sink, err, sizeof err);
    if (rc == 0) rc = loader_deltas(c->e, c->sink, c->last_snapshot, err, sizeof err);
    if (rc == 0) rc = pgsink_each_seen_id(c->sink, on_seen, &c->seen, err, sizeof err);
    if (rc != 0) {
        log_error("restoring state from the database failed: %s", err);
        return -1;
    }
    archive_rebuild(c, last);
    log_info("restored state as of batch %" PRId64 " in %.1f s (%s, %zu committed transactions)",
             last, (double)(timeparse_now_us() - t0) / 1e6,
             c->last_snapshot > 0 ? "snapshot + ledger" : "usuarios + ledger", c->seen.count);
    return 0;
}

/* Write a snapshot of the state after the last decided batch (collective).
 * A failure is reported and the stream goes on: the ledger still has it all. */
static void coord_snapshot(coord_t *c)
{
    int64_t batch = c->next_batch_id - 1;
    if (c->job->snapshot_dir[0] == '\0' || batch <= c->last_snapshot) return;
    /* The archive of this interval is published only once all of it is committed. */
    if (sink_drain(c) != 0) return;
    archive_close(c, c->archive_last);
    h5snap_meta_t meta;
    char err[1024];
    memset(&meta, 0, sizeof meta);
    meta.batch_id = batch;
    snprintf(meta.topic, sizeof meta.topic, "%s", c->job->topic);
    snprintf(meta.origin, sizeof meta.origin, "%s", c->database_id);
    meta.nparts = c->nparts;
    for (int p = 0; p < c->nparts; p++)
        meta.end_offsets[p] = kafka_source_position(c->src, p);
    int64_t t0 = timeparse_now_us();
    if (engine_send_command(c->e, ENGINE_CMD_SNAP_WRITE) != MPI_SUCCESS ||
        engine_step_snap_write(c->e, &meta, err, sizeof err) != 0) {
        log_warn("snapshot of batch %" PRId64 " failed: %s", batch, err);
        return;
    }
    c->last_snapshot = batch;
    log_info("snapshot of batch %" PRId64 " written in %.2f s", batch,
             (double)(timeparse_now_us() - t0) / 1e6);
}

/* -------------------------------------------------------------- sink thread */

static void totals_add(run_totals_t *t, const batch_t *b)
{
    t->batches++;
    t->messages += (int64_t)b->nrows;
    t->approved += b->n_approved;
    t->rejected += b->n_rejected;
    t->not_processed += b->n_not_processed;
    t->duplicates += b->n_duplicates;
    t->dead += b->n_dead;
    if (t->nlat + b->nrows > t->latcap) {
        size_t cap = t->latcap ? t->latcap : 65536;
        while (cap < t->nlat + b->nrows)
            cap *= 2;
        int64_t *p = realloc(t->latencies_ms, cap * sizeof *p);
        if (p) {
            t->latencies_ms = p;
            t->latcap = cap;
        }
    }
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_TXN) continue;
        t->by_reason[r->reason]++;
        if (t->nlat < t->latcap) t->latencies_ms[t->nlat++] = b->result_us / 1000 - r->kafka_ts_ms;
    }
    t->last_commit_us = timeparse_now_us();
}

static void *sink_main(void *arg)
{
    coord_t *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->qlen == 0 && !c->closing)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->qlen == 0) break;
        batch_t *b = c->queue[c->qhead];
        c->busy = 1;
        pthread_mutex_unlock(&c->mu);

        char err[1024];
        int64_t tc0 = timeparse_now_us();
        int rc = c->failed ? -1 : c->job->sink_off ? 0 : pgsink_commit(c->sink, b, err, sizeof err);
        log_debug("batch %" PRId64 ": %zu rows committed in %.1f ms", b->id, b->nrows,
                  (double)(timeparse_now_us() - tc0) / 1e3);
        if (rc == 0 && !c->job->sink_off) kafka_source_commit(c->src, b->end_offsets, b->nparts);

        pthread_mutex_lock(&c->mu);
        if (rc == 0) {
            int64_t by_reason[REASON_COUNT] = {0};
            for (size_t i = 0; i < b->nrows; i++)
                if (b->rows[i].kind == ROW_TXN) by_reason[b->rows[i].reason]++;
            metrics_batch_committed(c->metrics, b->id, (int64_t)b->nrows, b->n_approved,
                                    b->n_rejected, b->n_not_processed, b->n_duplicates, b->n_dead,
                                    by_reason, b->cut_decide_seconds,
                                    (double)(timeparse_now_us() - tc0) / 1e6);
            totals_add(&c->totals, b);
        } else if (!c->failed) {
            c->failed = 1;
            snprintf(c->sink_error, sizeof c->sink_error, "batch %" PRId64 " not committed: %s",
                     b->id, err);
        }
        batch_free(b);
        c->qhead = (c->qhead + 1) % SINK_QUEUE;
        c->qlen--;
        c->busy = 0;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Queue a decided batch for commit (takes ownership). Returns -1 if the sink
 * has failed. */
static int sink_submit(coord_t *c, batch_t *b)
{
    pthread_mutex_lock(&c->mu);
    while (c->qlen == SINK_QUEUE && !c->failed)
        pthread_cond_wait(&c->cv, &c->mu);
    int failed = c->failed;
    if (!failed) {
        c->queue[(c->qhead + c->qlen) % SINK_QUEUE] = b;
        c->qlen++;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (failed) batch_free(b);
    return failed ? -1 : 0;
}

/* Wait until every queued batch is committed (or the sink failed). */
static int sink_drain(coord_t *c)
{
    pthread_mutex_lock(&c->mu);
    while ((c->qlen > 0 || c->busy) && !c->failed)
        pthread_cond_wait(&c->cv, &c->mu);
    int failed = c->failed;
    pthread_mutex_unlock(&c->mu);
    return failed ? -1 : 0;
}

static int sink_failed(coord_t *c)
{
    pthread_mutex_lock(&c->mu);
    int failed = c->failed;
    pthread_mutex_unlock(&c->mu);
    return failed;
}

/* ---------------------------------------------------------------- batches */

static size_t quota(const coord_t *c, int p)
{
    int64_t k = c->job->batch_size / c->nparts + (p < c->job->batch_size % c->nparts);
    return k > 0 ? (size_t)k : 1;
}

/* Is a batch ready? 1 = cut now, 0 = wait, -1 = nothing left (drained). */
static int batch_ready(coord_t *c)
{
    size_t total = 0;
    int complete = 1, drained = 1;
    for (int p = 0; p < c->nparts; p++) {
        size_t n = kafka_source_buffered(c->src, p);
        total += n;
        if (!kafka_source_drained(c->src, p)) drained = 0;
        /* A partition is complete when it has its quota buffered, or
         * everything up to its end. */
        if (n < quota(c, p) && !kafka_source_at_end(c->src, p)) complete = 0;
    }
    if (total == 0) {
        c->pending_since_us = 0;
        return drained ? -1 : 0;
    }
    if (c->pending_since_us == 0) c->pending_since_us = timeparse_now_us();
    if (complete) return 1;
    if (c->job->batch_max_ms > 0 &&
        timeparse_now_us() - c->pending_since_us >= c->job->batch_max_ms * 1000)
        return 1;
    return 0;
}

/* Take the next batch's messages out of the source: decode, filter
 * duplicates, record offsets. Returns the batch or NULL (out of memory). */
static batch_t *coord_cut_batch(coord_t *c)
{
    batch_t *b = batch_new(c->nparts);
    if (b == NULL) return NULL;
    b->id = c->next_batch_id;
    b->ranks = c->e->size;
    char err[JSON_DECODE_ERR_MAX + 1];
    for (int p = 0; p < c->nparts; p++) {
        size_t take = kafka_source_buffered(c->src, p);
        if (take > quota(c, p)) take = quota(c, p);
        b->start_offsets[p] = b->end_offsets[p] = kafka_source_position(c->src, p);
        for (size_t i = 0; i < take; i++) {
            const rd_kafka_message_t *m = kafka_source_peek(c->src, p, i);
            batch_row_t *r = batch_add_row(b);
            if (r == NULL) goto oom;
            r->partition = p;
            r->offset = m->offset;
            r->kafka_ts_ms = rd_kafka_message_timestamp(m, NULL);
            if (r->kafka_ts_ms < 0) r->kafka_ts_ms = timeparse_now_us() / 1000;
            b->end_offsets[p] = m->offset + 1;
            if (json_decode_txn(m->payload, m->len, &r->txn, err, sizeof err) != 0) {
                r->kind = ROW_DEAD;
                if (batch_arena_put(b, m->payload, m->len, &r->raw_off) != 0 ||
                    batch_arena_put(b, err, strlen(err), &r->err_off) != 0)
                    goto oom;
                r->raw_len = (uint32_t)m->len;
                r->err_len = (uint32_t)strlen(err);
                continue;
            }
            int added = idset_add(&c->seen, r->txn.id);
            if (added < 0) goto oom;
            if (added == 0) {
                r->kind = ROW_DUPLICATE;
                if (batch_arena_put(b, m->payload, m->len, &r->raw_off) != 0) goto oom;
                r->raw_len = (uint32_t)m->len;
            }
        }
        kafka_source_drop(c->src, p, take);
        kafka_source_advance(c->src, p, b->end_offsets[p]);
    }
    c->next_batch_id++;
    c->pending_since_us = 0;
    b->start_us = timeparse_now_us();
    return b;
oom:
    batch_free(b);
    return NULL;
}

/* Route the batch's transactions to their payers' owners, let the workers
 * decide, and store the outcomes in the rows. Returns an MPI code. */
static int coord_decide_batch(coord_t *c, batch_t *b)
{
    size_t n = 0;
    int rc = MPI_ERR_NO_MEM, nres = 0;
    work_item_t *items = malloc((b->nrows ? b->nrows : 1) * sizeof *items);
    work_item_t *packed = malloc((b->nrows ? b->nrows : 1) * sizeof *packed);
    int *dest = malloc((b->nrows ? b->nrows : 1) * sizeof *dest);
    int *counts = malloc((size_t)c->e->size * sizeof *counts);
    work_result_t *results = NULL;
    if (!items || !packed || !dest || !counts) goto out;
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_TXN) continue;
        memset(&items[n], 0, sizeof items[n]);
        items[n].txn = r->txn;
        items[n].kafka_ts_ms = r->kafka_ts_ms;
        items[n].seq = (uint32_t)i;
        dest[n] = engine_owner_rank(c->e, r->txn.payer);
        n++;
    }
    rc = exchange_pack(items, n, sizeof *items, dest, c->e->size, packed, counts, NULL);
    if (rc == MPI_SUCCESS) rc = engine_send_command(c->e, ENGINE_CMD_BATCH);
    if (rc == MPI_SUCCESS) rc = engine_step_batch(c->e, packed, counts, &results, &nres);
    if (rc != MPI_SUCCESS) goto out;
    for (int i = 0; i < nres; i++) {
        batch_row_t *r = &b->rows[results[i].seq];
        r->status = results[i].status;
        r->reason = results[i].reason;
        r->has_scores = results[i].has_scores;
        r->t5 = results[i].t5;
        r->t6 = results[i].t6;
        r->t7 = results[i].t7;
    }
    b->result_us = timeparse_now_us();
    batch_count(b);
out:
    free(items);
    free(packed);
    free(dest);
    free(counts);
    free(results);
    return rc;
}

/* ------------------------------------------------------------------ report */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report(coord_t *c, engine_rank_stats_t *stats)
{
    run_totals_t *t = &c->totals;
    double secs = t->first_cut_us && t->last_commit_us > t->first_cut_us
                      ? (double)(t->last_commit_us - t->first_cut_us) / 1e6
                      : 0;
    int64_t p50 = 0, p99 = 0;
    if (t->nlat) {
        qsort(t->latencies_ms, t->nlat, sizeof *t->latencies_ms, cmp_i64);
        p50 = t->latencies_ms[t->nlat / 2];
        p99 = t->latencies_ms[(size_t)((double)(t->nlat - 1) * 0.99)];
    }
    printf("batches %" PRId64 ", messages %" PRId64 ", %.1f s, %.0f msg/s\n", t->batches,
           t->messages, secs, secs > 0 ? (double)t->messages / secs : 0.0);
    printf("approved %" PRId64 "\n", t->approved);
    printf("rejected %" PRId64, t->rejected);
    for (int r = REASON_INSUFFICIENT_FUNDS; r <= REASON_UNKNOWN_RECEIVER; r++)
        printf("%s %s %" PRId64, r == REASON_INSUFFICIENT_FUNDS ? " (" : ",", txn_reason_names[r],
               t->by_reason[r]);
    printf(")\n");
    printf("not processed %" PRId64 " (duplicada %" PRId64 ", atrasada %" PRId64
           ", anterior_a_ultima %" PRId64 ")\n",
           t->not_processed + t->duplicates, t->duplicates, t->by_reason[REASON_TOO_LATE],
           t->by_reason[REASON_OLDER_THAN_LAST]);
    printf("dead letters %" PRId64 "\n", t->dead);
    printf("latency ms p50 %" PRId64 ", p99 %" PRId64 "\n", p50, p99);
    if (stats) {
        int64_t users = 0, money = 0;
        for (int r = 0; r < c->e->size; r++) {
            printf("rank %d: %" PRId64 " MiB resident, %" PRId64 " users\n", r,
                   stats[r].rss_kib / 1024, stats[r].users);
            users += stats[r].users;
            money += stats[r].money_cents;
        }
        printf("users %" PRId64 ", total balance %" PRId64 ".%02" PRId64 "\n", users, money / 100,
               money % 100);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------- main */

static int coord_loop(coord_t *c)
{
    char err[1024];
    int64_t last_log = timeparse_now_us(), last_lag = 0;
    for (;;) {
        if (engine_stop_requested) {
            log_info("stop requested: finishing the batch in flight");
            return 0;
        }
        if (sink_failed(c)) return -1;
        int ready = batch_ready(c);
        if (ready < 0 && c->job->until_idle) return 0;
        if (ready <= 0) {
            if (kafka_source_poll(c->src, 50, err, sizeof err) < 0) {
                log_error("%s", err);
                return -1;
            }
            continue;
        }
        int64_t tt0 = timeparse_now_us();
        batch_t *b = coord_cut_batch(c);
        if (b == NULL) {
            log_error("out of memory cutting batch %" PRId64, c->next_batch_id);
            return -1;
        }
        if (c->totals.first_cut_us == 0) c->totals.first_cut_us = b->start_us;
        int rc = coord_decide_batch(c, b);
        if (rc != MPI_SUCCESS) {
            batch_free(b);
            log_error("MPI failed while deciding a batch (error %d)", rc);
            return -1;
        }
        int64_t tt1 = timeparse_now_us(), b_id = b->id;
        int snapshot_now = c->job->snapshot_every > 0 && b_id % c->job->snapshot_every == 0;
        if (!c->job->sink_off) archive_batch(c, b);
        b->cut_decide_seconds = (double)(tt1 - tt0) / 1e6;
        size_t b_rows = b->nrows;
        if (sink_submit(c, b) != 0) return -1;
        log_debug("batch %" PRId64 ": %zu rows cut and decided in %.1f ms, waited %.1f ms for the "
                  "sink",
                  b_id, b_rows, (double)(tt1 - tt0) / 1e3,
                  (double)(timeparse_now_us() - tt1) / 1e3);
        if (snapshot_now) coord_snapshot(c);
        int64_t now = timeparse_now_us();
        if (now - last_lag > 1000000) {
            for (int p = 0; p < c->nparts; p++)
                metrics_set_lag(c->metrics, p, kafka_source_lag(c->src, p));
            last_lag = now;
        }
        if (now - last_log > 5000000) {
            pthread_mutex_lock(&c->mu);
            log_info("committed %" PRId64 " batches, %" PRId64 " messages", c->totals.batches,
                     c->totals.messages);
            pthread_mutex_unlock(&c->mu);
            last_log = now;
        }
        /* Keep the fetch queue moving while batches are being decided. */
        if (kafka_source_poll(c->src, 0, err, sizeof err) < 0) {
            log_error("%s", err);
            return -1;
        }
    }
}

int coordinator_run(engine_t *e, const job_config_t *job, const char *conninfo)
{
    coord_t c;
    char err[1024];
    int64_t offsets[MAX_PARTITIONS];
    int noffsets = 0, status = 1, thread_started = 0;
    memset(&c, 0, sizeof c);
    c.e = e;
    c.job = job;
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    c.metrics = metrics_start((int)job->metrics_port, err, sizeof err);
    if (c.metrics == NULL) {
        log_error("%s", err);
        goto stop;
    }
    metrics_set_ranks(c.metrics, e->size);
    if (idset_init(&c.seen, 1 << 16) != 0) {
        log_error("out of memory");
        goto stop;
    }
    c.sink = pgsink_open(conninfo, job->sink_retry_seconds, job->topic, err, sizeof err);
    if (c.sink == NULL) {
        log_error("%s", err);
        goto stop;
    }
    if (coord_restore(&c, offsets, &noffsets) != 0) goto stop;
    c.src = kafka_source_open(job, offsets, noffsets, (size_t)job->batch_size * 4 + 1024, err,
                              sizeof err);
    if (c.src == NULL) {
        log_error("%s", err);
        goto stop;
    }
    c.nparts = kafka_source_partitions(c.src);
    if (pthread_create(&c.thread, NULL, sink_main, &c) != 0) {
        log_error("cannot start the sink thread");
        goto stop;
    }
    thread_started = 1;
    log_info("consuming %s (%d partitions) from batch %" PRId64 " with %d rank(s), %d worker(s)",
             job->topic, c.nparts, c.next_batch_id, e->size, e->nworkers);

    int rc = coord_loop(&c);
    if (sink_drain(&c) != 0 || rc != 0) {
        if (c.sink_error[0]) log_error("%s", c.sink_error);
        goto stop;
    }
    coord_snapshot(&c);
    status = 0;
stop:
    if (thread_started) {
        pthread_mutex_lock(&c.mu);
        c.closing = 1;
        pthread_cond_broadcast(&c.cv);
        pthread_mutex_unlock(&c.mu);
        pthread_join(c.thread, NULL);
    }
    metrics_stop(c.metrics);
    engine_rank_stats_t *stats = NULL;
    if (engine_send_command(e, ENGINE_CMD_STATS) == MPI_SUCCESS) engine_step_stats(e, &stats);
    if (status == 0 && !job->quiet) report(&c, stats);
    free(stats);
    engine_send_command(e, ENGINE_CMD_STOP);
    kafka_source_close(c.src);
    pgsink_close(c.sink);
    idset_free(&c.seen);
    free(c.totals.latencies_ms);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    return status;
}
