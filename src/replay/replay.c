/* replay.c - the batch engine over archives (see replay.h).
 *
 * Per window [first, cut) of an archive, every step collective over the world:
 *   cut        the window ends on a batch boundary (window_cut_by_size, or
 *              window_cut_by_id for the archive's own batches)
 *   read       every rank reads its slice [lo, hi) (slice_of: cut at chunk
 *              boundaries), only the columns needed
 *   route      each row to its payer's owner (all-to-all of routed_row_t)
 *   receivers  looked up at their owners once for the whole window (users
 *              are never added during a replay, so the answers stay true)
 *   decide     batch by batch in row order (worker_decide_one), the credits
 *              of each batch applied at its end (worker_apply_credits)
 *   return     each result to the rank that read the row (all-to-all back)
 *   write      every rank hands its slice, in row order, to the output
 * While a window is decided, the I/O job reads the next one and writes the
 * results of the one before: with one rank on a second thread (bgjob.h), so
 * that I/O and deciding overlap on two cores; with more, inline before the
 * decision, in the same order on every rank. With one rank, route,
 * receivers, decide and return are one local pass over the slice's columns
 * (decide_local). */
#include "replay/replay.h"
#include "base/bgjob.h"
#include "engine/exchange.h"
#include "base/log.h"
#include "base/timeparse.h"

#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLICE_ROWS            131072 /* rows a rank reads per window (see slice_rows) */
#define DEFAULT_PRODUCE_BATCH 10000
#define PREFETCH_AHEAD        8 /* rows between a payer's prefetch and its lookup */

/* What a row's reader sends to its payer's owner. */
typedef struct routed_row {
    uint8_t payer[16], receiver[16];
    int64_t time_us, amount_cents, kafka_ts_ms;
    int32_t batch; /* index into the window's batch list */
    uint8_t region, modality, pad[2];
} routed_row_t;

/* What the owner sends back. */
typedef struct routed_result {
    double t5, t6, t7; /* NaN when not scored */
    uint8_t status, reason, pad[6];
} routed_result_t;

/* The batches of a window: batch k covers archive rows [start[k], start[k+1])
 * and is numbered id[k]; start[n] is the window's cut. */
typedef struct batch_list {
    int64_t *start, *id;
    int n;
} batch_list_t;

/* A window of one archive, this rank's slice of it as read, and the slice's
 * results. replay_run keeps three: while the rows of one are decided, the
 * next one is read and the results of the one before are written. */
typedef struct window {
    int archive;
    int64_t base;       /* rows of the archives before this one */
    int64_t first, cut; /* the window: archive rows [first, cut) */
    int64_t lo, hi;     /* this rank's slice of it (slice_of) */
    int reversed;       /* the ranks' slices in reverse order */
    batch_list_t batches;
    size_t cap_batches, cap_slice;
    /* the slice's columns, as read */
    uint8_t (*id)[16], (*payer)[16], (*receiver)[16];
    int64_t *time_us, *amount, *kafka_ts;
    uint8_t *region, *modality;
    /* one rank: each payer's slot in the user table, or WORKER_NO_USER
     * (find_payers) */
    uint32_t *payer_slot;
    /* the slice's results, handed to the output */
    int64_t *out_batch;
    uint8_t *status, *reason;
    double *t5, *t6, *t7;
} window_t;

/* Where the next window starts. */
typedef struct cursor {
    int archive;
    int64_t base, first;
    int64_t window;  /* rows per window (window_cut_by_id may double it) */
    int64_t prev_id; /* last batch id of the previous window (own batches) */
    int64_t next_id; /* the next batch's number (batches of batch_size rows) */
    int64_t count;   /* windows so far */
} cursor_t;

/* One rank's working buffers, grown as needed and kept from window to window. */
typedef struct buffers {
    size_t cap_slice, cap_recv, cap_ids;
    /* routing */
    int32_t *batch; /* each slice row's index in the batch list */
    int *dest, *counts, *rcounts, *scounts;
    size_t *pos;
    routed_row_t *packed;
    /* at the owner */
    uint32_t *rslot;
    int32_t *rowner;
    routed_result_t *results;
    worker_credit_t *credits;
    size_t *cursor, *seg_end;
    /* a window's batch_id column (the archive's own batches) */
    int64_t *window_ids;
    /* what the all-to-alls bring: rows at their owners, results back home */
    exchange_buf_t arrivals, returned;
} buffers_t;

struct replay {
    engine_t *e;
    h5archive_reader_t **readers;
    char *const *archives;
    int narchives;
    int64_t batch_size;
    int64_t total;
    int threads_ok; /* MPI allows a second thread to call it (serialized) */
};

/* Rows a rank reads per window: SLICE_ROWS, or BANKSTREAM_REPLAY_SLICE_ROWS
 * (tests use a few hundred, so that small archives span many windows and
 * batches straddle them). */
static int64_t slice_rows(void)
{
    const char *v = getenv("BANKSTREAM_REPLAY_SLICE_ROWS");
    long long n = v ? atoll(v) : 0;
    return n > 0 ? (int64_t)n : SLICE_ROWS;
}

static int all_ok(MPI_Comm comm, int ok)
{
    int all = 0;
    if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return 0;
    return all;
}

static double now_seconds(void)
{
    return (double)timeparse_now_us() / 1e6;
}

/* realloc *p to n elements of size bytes; 0 or -1 (then *p is unchanged). */
static int grow(void *p, size_t n, size_t size)
{
    void *q = realloc(*(void **)p, (n ? n : 1) * size);
    if (q == NULL) return -1;
    *(void **)p = q;
    return 0;
}

/* Room for a slice of n rows in a window; 0 or -1. */
static int window_slice(window_t *w, size_t n)
{
    if (n <= w->cap_slice) return 0;
    int rc = grow(&w->id, n, 16) | grow(&w->payer, n, 16) | grow(&w->receiver, n, 16) |
             grow(&w->time_us, n, 8) | grow(&w->amount, n, 8) | grow(&w->kafka_ts, n, 8) |
             grow(&w->region, n, 1) | grow(&w->modality, n, 1) | grow(&w->payer_slot, n, 4) |
             grow(&w->out_batch, n, 8) | grow(&w->status, n, 1) | grow(&w->reason, n, 1) |
             grow(&w->t5, n, 8) | grow(&w->t6, n, 8) | grow(&w->t7, n, 8);
    if (rc == 0) w->cap_slice = n;
    return rc;
}

/* Room for n batches in a window; 0 or -1. */
static int window_batches(window_t *w, size_t n)
{
    if (n <= w->cap_batches) return 0;
    int rc = grow(&w->batches.start, n + 1, 8) | grow(&w->batches.id, n + 1, 8);
    if (rc == 0) w->cap_batches = n;
    return rc;
}

static void window_free(window_t *w)
{
    void *all[] = {
        w->batches.start, w->batches.id, w->id,     w->payer,    w->receiver,   w->time_us,
        w->amount,        w->kafka_ts,   w->region, w->modality, w->payer_slot, w->out_batch,
        w->status,        w->reason,     w->t5,     w->t6,       w->t7};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* Room for routing a slice of n rows; 0 or -1. */
static int buffers_slice(buffers_t *b, size_t n)
{
    if (n <= b->cap_slice) return 0;
    int rc = grow(&b->batch, n, 4) | grow(&b->dest, n, sizeof(int)) |
             grow(&b->pos, n, sizeof(size_t)) | grow(&b->packed, n, sizeof(routed_row_t));
    if (rc == 0) b->cap_slice = n;
    return rc;
}

/* Room for n rows arriving at this owner; 0 or -1. */
static int buffers_recv(buffers_t *b, size_t n)
{
    if (n <= b->cap_recv) return 0;
    int rc = grow(&b->rslot, n, sizeof(uint32_t)) | grow(&b->rowner, n, sizeof(int32_t)) |
             grow(&b->results, n, sizeof(routed_result_t)) |
             grow(&b->credits, n, sizeof(worker_credit_t));
    if (rc == 0) b->cap_recv = n;
    return rc;
}

/* Room for a window's batch_id column of n rows; 0 or -1. */
static int buffers_ids(buffers_t *b, size_t n)
{
    if (n <= b->cap_ids) return 0;
    int rc = grow(&b->window_ids, n, 8);
    if (rc == 0) b->cap_ids = n;
    return rc;
}

static void buffers_free(buffers_t *b)
{
    void *all[] = {b->batch,   b->dest,       b->counts,        b->rcounts,
                   b->scounts, b->pos,        b->packed,        b->rslot,
                   b->rowner,  b->results,    b->credits,       b->cursor,
                   b->seg_end, b->window_ids, b->arrivals.data, b->returned.data};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

replay_t *replay_open(engine_t *e, char *const *archives, int narchives, int64_t batch_size,
                      char *errstr, size_t errsize)
{
    replay_t *r = calloc(1, sizeof *r);
    int ok = r != NULL && (r->readers = calloc((size_t)narchives, sizeof *r->readers)) != NULL;
    if (!all_ok(e->world, ok)) {
        snprintf(errstr, errsize, "out of memory");
        if (r) free(r->readers);
        free(r);
        return NULL;
    }
    r->e = e;
    r->archives = archives;
    r->narchives = narchives;
    r->batch_size = batch_size;
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    r->threads_ok = provided >= MPI_THREAD_SERIALIZED;
    for (int a = 0; a < narchives; a++) {
        r->readers[a] = h5archive_open(e->world, archives[a], errstr, errsize);
        if (r->readers[a] == NULL) {
            replay_close(r);
            return NULL;
        }
        r->total += h5archive_rows(r->readers[a]);
        if (r->batch_size == 0 && strcmp(h5archive_info(r->readers[a])->source, "stream") != 0) {
            r->batch_size = DEFAULT_PRODUCE_BATCH;
            if (e->rank == 0)
                log_info("%s has no stream batches: replaying in batches of %d rows", archives[a],
                         DEFAULT_PRODUCE_BATCH);
        }
    }
    return r;
}

int64_t replay_total_rows(const replay_t *r)
{
    return r->total;
}

int64_t replay_batch_size(const replay_t *r)
{
    return r->batch_size;
}

void replay_close(replay_t *r)
{
    if (r == NULL) return;
    for (int a = 0; a < r->narchives; a++)
        h5archive_close_reader(r->readers[a]);
    free(r->readers);
    free(r);
}

static void progress(int64_t done, int64_t total, int64_t t0, int final)
{
    static int64_t last_print = 0;
    int64_t now = timeparse_now_us();
    double secs = (double)(now - t0) / 1e6, rate = secs > 0 ? (double)done / secs : 0;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (isatty(STDERR_FILENO)) {
        char bar[41];
        for (int i = 0; i < 40; i++)
            bar[i] = i < pct * 40 / 100 ? '#' : '.';
        bar[40] = '\0';
        fprintf(stderr, "\rreplay [%s] %3d%% %" PRId64 "/%" PRId64 " rows, %.0f rows/s%s", bar, pct,
                done, total, rate, final ? "\n" : "");
    } else if (final || now - last_print >= 5000000) {
        fprintf(stderr, "replay: %d%% %" PRId64 "/%" PRId64 " rows, %.0f rows/s\n", pct, done,
                total, rate);
        last_print = now;
    }
}

/* The next window of archive a, from row `first` of its n rows, with the
 * archive's own batches: every rank reads the window's batch_id column and
 * finds the same cut, before the first row of the window's last batch
 * (unless the archive ends with the window). A single batch larger than the
 * window doubles the window. *prev_id is the last batch id of the previous
 * window (INT64_MIN at the start). Fills w->batches; 0, or -1 with errstr. */
static int window_cut_by_id(replay_t *r, int a, int64_t first, int64_t n, int64_t *window,
                            int64_t *prev_id, buffers_t *b, window_t *w, char *errstr,
                            size_t errsize)
{
    for (;;) {
        int64_t count = n - first < *window ? n - first : *window;
        int ok = buffers_ids(b, (size_t)count) == 0 && window_batches(w, (size_t)count) == 0;
        if (!all_ok(r->e->world, ok)) goto oom;
        h5archive_columns_t cols = {.batch_id = b->window_ids};
        if (h5archive_read_columns(r->readers[a], first, count, &cols, errstr, errsize) != 0)
            return -1;
        const int64_t *ids = b->window_ids;
        batch_list_t *bl = &w->batches;
        bl->n = 0;
        for (int64_t i = 0; i < count; i++) {
            int64_t prev = i > 0 ? ids[i - 1] : *prev_id;
            if (i > 0 && ids[i] == prev) continue;
            if (ids[i] <= prev) {
                snprintf(errstr, errsize,
                         "%s: dataset /transactions/batch_id is not in ascending order at row "
                         "%" PRId64 " (batch %" PRId64 " after %" PRId64
                         "); replay it with --batch-size",
                         r->archives[a], first + i, ids[i], prev);
                return -1;
            }
            bl->start[bl->n] = first + i;
            bl->id[bl->n++] = ids[i];
        }
        if (first + count < n) {
            if (bl->n == 1) { /* one batch fills the window: take a bigger one */
                *window *= 2;
                continue;
            }
            bl->n--; /* the last batch may go on after the window: its start is the cut */
        } else {
            bl->start[bl->n] = n;
        }
        *prev_id = bl->id[bl->n - 1];
        return 0;
    }
oom:
    snprintf(errstr, errsize, "out of memory");
    return -1;
}

/* The next window with batches of K rows: [first, first + window) with the
 * window a multiple of K, batches numbered from *next_id. 0 or -1. */
static int window_cut_by_size(int64_t first, int64_t n, int64_t window, int64_t k, int64_t *next_id,
                              window_t *w)
{
    int64_t cut = n - first < window ? n : first + window;
    if (window_batches(w, (size_t)((cut - first + k - 1) / k)) != 0) return -1;
    batch_list_t *bl = &w->batches;
    bl->n = 0;
    for (int64_t s = first; s < cut; s += k) {
        bl->start[bl->n] = s;
        bl->id[bl->n++] = (*next_id)++;
    }
    bl->start[bl->n] = cut;
    return 0;
}

/* Rank `rank`'s slice [*lo, *hi) of the window [first, cut). The window is
 * split evenly, with the inner boundaries rounded down to whole chunks of
 * `chunk` rows when every share holds a chunk or more: a chunk that two
 * ranks each read part of would be inflated by both (measured at -np 2: slices of 130,000 rows read
 * in 1.9 s what slices of 131,072 read in 0.45 s). Every other window lists the ranks in reverse,
 * so that the chunk a window's last slice ends in is read again, at the start of the next window,
 * by the same rank, from its chunk cache. */
static void slice_of(int64_t first, int64_t cut, int rank, int size, int reversed, int64_t chunk,
                     int64_t *lo, int64_t *hi)
{
    int pos = reversed ? size - 1 - rank : rank;
    int64_t bound[2];
    for (int k = 0; k < 2; k++) {
        int p = pos + k;
        int64_t at = first + (cut - first) * p / size;
        if (p > 0 && p < size && chunk > 1 && (cut - first) / size >= chunk)
            at = at / chunk * chunk;
        bound[k] = p == 0 ? first : p == size ? cut : at < first ? first : at > cut ? cut : at;
    }
    *lo = bound[0];
    *hi = bound[1];
}

/* Rows per window at the start of an archive: slice_rows() a rank, rounded
 * to whole batches of batch_size rows (at least one). */
static int64_t first_window(const replay_t *r)
{
    int64_t window = slice_rows() * (int64_t)r->e->size, k = r->batch_size;
    if (k > 0) window = window < k ? k : window / k * k;
    return window;
}

/* Collective: cut the next window at the cursor into w (batches, this
 * rank's slice, room for it) and move the cursor past it. 1, 0 when every
 * archive is done, or -1 with errstr. */
static int next_window(replay_t *r, cursor_t *cur, buffers_t *b, window_t *w, char *errstr,
                       size_t errsize)
{
    engine_t *e = r->e;
    while (cur->archive < r->narchives && cur->first >= h5archive_rows(r->readers[cur->archive])) {
        cur->base += h5archive_rows(r->readers[cur->archive++]);
        cur->first = 0;
        cur->prev_id = INT64_MIN;
        cur->window = first_window(r);
    }
    if (cur->archive == r->narchives) return 0;
    int a = cur->archive;
    int64_t n = h5archive_rows(r->readers[a]);
    if (r->batch_size > 0) {
        int ok = window_cut_by_size(cur->first, n, cur->window, r->batch_size, &cur->next_id, w);
        if (!all_ok(e->world, ok == 0)) goto oom;
    } else if (window_cut_by_id(r, a, cur->first, n, &cur->window, &cur->prev_id, b, w, errstr,
                                errsize) != 0) {
        return -1;
    }
    w->archive = a;
    w->base = cur->base;
    w->first = cur->first;
    w->cut = w->batches.start[w->batches.n];
    w->reversed = (int)(cur->count++ % 2);
    slice_of(w->first, w->cut, e->rank, e->size, w->reversed,
             h5archive_info(r->readers[a])->chunk_rows, &w->lo, &w->hi);
    size_t m = (size_t)(w->hi - w->lo);
    /* the routing buffers serve more than one rank only (decide_window) */
    int ok = window_slice(w, m) == 0 && (e->size == 1 || buffers_slice(b, m) == 0);
    if (!all_ok(e->world, ok)) goto oom;
    cur->first = w->cut;
    return 1;
oom:
    snprintf(errstr, errsize, "out of memory");
    return -1;
}

/* Read window w's slice: only the columns the rules and the output need
 * (kafka_ts_ms only for max_age_ms; batch_id was read by window_cut_by_id
 * when the archive's own batches are used). Collective: 0, or -1 with errstr
 * on every rank. With one rank it runs on replay_run's I/O thread, and
 * then makes no MPI call. */
static int read_slice(replay_t *r, window_t *w, char *errstr, size_t errsize)
{
    h5archive_columns_t cols = {
        .id = w->id,
        .payer = w->payer,
        .receiver = w->receiver,
        .time_us = w->time_us,
        .amount_cents = w->amount,
        .region = w->region,
        .modality = w->modality,
        .kafka_ts_ms = r->e->worker.rules.max_age_ms > 0 ? w->kafka_ts : NULL,
    };
    return h5archive_read_columns(r->readers[w->archive], w->lo, w->hi - w->lo, &cols, errstr,
                                  errsize);
}

/* One rank: look up the slice's payers in the user table (the receivers are
 * looked up while deciding: so the two threads share the lookups about
 * evenly). Safe on the I/O thread while the main thread decides the
 * previous window: a replay never adds users, so slots do not move, and a
 * lookup reads only the slots' ids and used flags, which deciding never
 * writes. */
static void find_payers(replay_t *r, window_t *w)
{
    const shard_t *users = &r->e->worker.users;
    size_t m = (size_t)(w->hi - w->lo);
    for (size_t i = 0; i < m; i++) {
        if (i + PREFETCH_AHEAD < m) shard_prefetch(users, w->payer[i + PREFETCH_AHEAD]);
        const user_state_t *payer = shard_find(users, w->payer[i]);
        w->payer_slot[i] = payer ? (uint32_t)(payer - users->slots) : WORKER_NO_USER;
    }
}

/* The I/O job (bgjob.h): hand the results of window `write` to the output,
 * then read window `read` (read_slice, and with one rank find_payers);
 * either may be NULL. With one rank it runs on the I/O thread, where for
 * one rank the output and the archive make no MPI call but MPI_Gatherv to
 * itself (Postgres output), which MPI_THREAD_SERIALIZED allows: the main
 * thread makes no MPI call while the job runs. */
typedef struct io_job {
    replay_t *r;
    const replay_out_t *out;
    window_t *write, *read;
    double write_seconds, read_seconds; /* this job's */
    char err[1024];
} io_job_t;

static int run_io_job(void *arg)
{
    io_job_t *job = arg;
    double t = now_seconds();
    job->write_seconds = job->read_seconds = 0;
    if (job->write) {
        const window_t *w = job->write;
        replay_rows_t rows = {.first = w->base + w->lo,
                              .n = (size_t)(w->hi - w->lo),
                              .id = (const uint8_t(*)[16])w->id,
                              .batch_id = w->out_batch,
                              .status = w->status,
                              .reason = w->reason,
                              .t5 = w->t5,
                              .t6 = w->t6,
                              .t7 = w->t7};
        if (job->out->write(job->out->state, &rows, job->err, sizeof job->err) != 0) return -1;
        job->write_seconds = now_seconds() - t;
    }
    if (job->read) {
        t = now_seconds();
        if (read_slice(job->r, job->read, job->err, sizeof job->err) != 0) return -1;
        if (job->r->e->size == 1) find_payers(job->r, job->read);
        job->read_seconds = now_seconds() - t;
    }
    return 0;
}

/* Start the I/O job: on the thread, or inline (then it is done here). */
static void io_start(bgjob_t *io, io_job_t *job, replay_stats_t *stats)
{
    double t = now_seconds();
    bgjob_submit(io, run_io_job, job);
    stats->io_wait_seconds += now_seconds() - t;
}

/* Wait for the I/O job, adding its times to stats. 0, or -1 with errstr. */
static int io_finish(bgjob_t *io, io_job_t *job, replay_stats_t *stats, char *errstr,
                     size_t errsize)
{
    double t = now_seconds();
    int rc = bgjob_wait(io, NULL);
    stats->io_wait_seconds += now_seconds() - t;
    stats->read_seconds += job->read_seconds;
    stats->write_seconds += job->write_seconds;
    if (rc != 0) snprintf(errstr, errsize, "%s", job->err);
    return rc;
}

/* Route window w's slice to its payers' owners: pack the rows by owner
 * (pos[i]: where row i went), then all-to-all into b->arrivals (*recv).
 * Used with more than one rank (one rank: decide_local). MPI code. */
static int route_rows(replay_t *r, const window_t *w, buffers_t *b, routed_row_t **recv, int *nrecv)
{
    engine_t *e = r->e;
    const batch_list_t *bl = &w->batches;
    size_t m = (size_t)(w->hi - w->lo);
    int k = 0;
    memset(b->counts, 0, (size_t)e->size * sizeof *b->counts);
    for (size_t i = 0; i < m; i++) {
        while (w->lo + (int64_t)i >= bl->start[k + 1])
            k++;
        b->batch[i] = k;
        b->dest[i] = engine_owner_rank(e, w->payer[i]);
        b->counts[b->dest[i]]++;
    }
    size_t *next = b->seg_end; /* scratch: where the next row for each owner goes */
    next[0] = 0;
    for (int d = 1; d < e->size; d++)
        next[d] = next[d - 1] + (size_t)b->counts[d - 1];
    int with_ts = e->worker.rules.max_age_ms > 0;
    for (size_t i = 0; i < m; i++) {
        size_t at = next[b->dest[i]]++;
        routed_row_t *row = &b->packed[at];
        b->pos[i] = at;
        memcpy(row->payer, w->payer[i], 16);
        memcpy(row->receiver, w->receiver[i], 16);
        row->time_us = w->time_us[i];
        row->amount_cents = w->amount[i];
        row->kafka_ts_ms = with_ts ? w->kafka_ts[i] : 0;
        row->batch = b->batch[i];
        row->region = w->region[i];
        row->modality = w->modality[i];
        row->pad[0] = row->pad[1] = 0;
    }
    int rc = exchange_alltoall_into(e->world, b->packed, b->counts, sizeof *b->packed, &b->arrivals,
                                    nrecv, b->rcounts);
    *recv = b->arrivals.data;
    return rc;
}

/* Decide the nrecv rows of window w that arrived here, batch by batch of the
 * window's list, in row order: the rows of batch k from the source that read
 * the lowest rows come first (source 0, or source N-1 when the window's
 * slices are reversed), then the next source's... Collective (credits) once
 * per batch. MPI code. */
static int decide_rows(replay_t *r, const window_t *w, const routed_row_t *recv, int nrecv,
                       buffers_t *b)
{
    worker_t *wk = &r->e->worker;
    int size = r->e->size, rc;
    rc = worker_find_users(wk, recv ? recv[0].receiver : NULL, sizeof *recv, nrecv, b->rslot,
                           b->rowner);
    if (rc != MPI_SUCCESS) return rc;
    size_t at = 0;
    for (int s = 0; s < size; s++) {
        b->cursor[s] = at;
        at += (size_t)b->rcounts[s];
        b->seg_end[s] = at;
    }
    for (int k = 0; k < w->batches.n && rc == MPI_SUCCESS; k++) {
        int ncredits = 0;
        for (int i = 0; i < size; i++) {
            int s = w->reversed ? size - 1 - i : i;
            for (size_t j = b->cursor[s]; j < b->seg_end[s] && recv[j].batch == k; j++) {
                const routed_row_t *row = &recv[j];
                if (j + PREFETCH_AHEAD < b->seg_end[s])
                    shard_prefetch(&wk->users, recv[j + PREFETCH_AHEAD].payer);
                txn_t t;
                memset(&t, 0, sizeof t);
                memcpy(t.payer, row->payer, 16);
                memcpy(t.receiver, row->receiver, 16);
                t.time_us = row->time_us;
                t.amount_cents = row->amount_cents;
                t.region = row->region;
                t.modality = row->modality;
                rules_outcome_t o =
                    worker_decide_one(wk, &t, b->rslot[j] != WORKER_NO_USER, row->kafka_ts_ms);
                routed_result_t *res = &b->results[j];
                memset(res, 0, sizeof *res);
                res->status = o.status;
                res->reason = o.reason;
                res->t5 = o.has_scores ? o.t5 : NAN;
                res->t6 = o.has_scores ? o.t6 : NAN;
                res->t7 = o.has_scores ? o.t7 : NAN;
                if (o.status == STATUS_APPROVED)
                    b->credits[ncredits++] =
                        (worker_credit_t){t.amount_cents, b->rslot[j], b->rowner[j]};
                b->cursor[s] = j + 1;
            }
        }
        rc = worker_apply_credits(wk, b->credits, ncredits);
    }
    return rc;
}

/* Bring the results back to the readers and lay them out in slice order
 * (w->status... for the slice's rows), counting them in stats. More than one
 * rank. MPI code. */
static int return_results(replay_t *r, window_t *w, buffers_t *b, replay_stats_t *stats)
{
    int nback = 0;
    int rc = exchange_alltoall_into(r->e->world, b->results, b->rcounts, sizeof *b->results,
                                    &b->returned, &nback, b->scounts);
    if (rc != MPI_SUCCESS) return rc;
    const routed_result_t *back = b->returned.data;
    size_t m = (size_t)(w->hi - w->lo);
    for (size_t i = 0; i < m; i++) {
        const routed_result_t *res = &back[b->pos[i]];
        w->status[i] = res->status;
        w->reason[i] = res->reason;
        w->t5[i] = res->t5;
        w->t6[i] = res->t6;
        w->t7[i] = res->t7;
        w->out_batch[i] = w->batches.id[b->batch[i]];
        if (res->status < 3) stats->by_status[res->status]++;
    }
    return rc;
}

/* One rank: decide window w where it was read (the slice is the whole
 * window), straight from its columns and the payers' slots (find_payers),
 * batch by batch in row order, into the window's result columns: no routing
 * and no copies. Local. */
static void decide_local(replay_t *r, window_t *w, buffers_t *b, replay_stats_t *stats)
{
    worker_t *wk = &r->e->worker;
    user_state_t *slots = wk->users.slots;
    const batch_list_t *bl = &w->batches;
    size_t m = (size_t)(w->hi - w->lo), i = 0;
    int with_ts = wk->rules.max_age_ms > 0;
    for (int k = 0; k < bl->n; k++) {
        size_t end = (size_t)(bl->start[k + 1] - w->lo);
        int ncredits = 0;
        for (; i < end; i++) {
            if (i + PREFETCH_AHEAD < m) {
                shard_prefetch(&wk->users, w->receiver[i + PREFETCH_AHEAD]);
                if (w->payer_slot[i + PREFETCH_AHEAD] != WORKER_NO_USER) {
                    const user_state_t *ahead = &slots[w->payer_slot[i + PREFETCH_AHEAD]];
                    __builtin_prefetch(&ahead->balance_cents, 1);
                    __builtin_prefetch(&ahead->last_approved_us, 1);
                }
            }
            const user_state_t *found = shard_find(&wk->users, w->receiver[i]);
            uint32_t payer = w->payer_slot[i],
                     receiver = found ? (uint32_t)(found - slots) : WORKER_NO_USER;
            txn_t t = {.time_us = w->time_us[i],
                       .amount_cents = w->amount[i],
                       .region = w->region[i],
                       .modality = w->modality[i]}; /* the payer is found already */
            rules_outcome_t o =
                worker_decide_found(wk, &t, payer == WORKER_NO_USER ? NULL : &slots[payer],
                                    receiver != WORKER_NO_USER, with_ts ? w->kafka_ts[i] : 0);
            w->status[i] = o.status;
            w->reason[i] = o.reason;
            w->t5[i] = o.has_scores ? o.t5 : NAN;
            w->t6[i] = o.has_scores ? o.t6 : NAN;
            w->t7[i] = o.has_scores ? o.t7 : NAN;
            w->out_batch[i] = bl->id[k];
            if (o.status < 3) stats->by_status[o.status]++;
            if (o.status == STATUS_APPROVED)
                b->credits[ncredits++] = (worker_credit_t){t.amount_cents, receiver, 0};
        }
        worker_apply_credits(wk, b->credits, ncredits); /* local: one worker */
    }
}

/* Decide window w's slice, whose results land in w->status... MPI code. */
static int decide_window(replay_t *r, window_t *w, buffers_t *b, replay_stats_t *stats)
{
    engine_t *e = r->e;
    if (e->size == 1) {
        if (buffers_recv(b, (size_t)(w->hi - w->lo)) != 0) return MPI_ERR_NO_MEM;
        decide_local(r, w, b, stats);
        return MPI_SUCCESS;
    }
    routed_row_t *recv = NULL;
    int nrecv = 0, rc = route_rows(r, w, b, &recv, &nrecv);
    if (rc != MPI_SUCCESS) return rc;
    if (!all_ok(e->world, buffers_recv(b, (size_t)nrecv) == 0)) return MPI_ERR_NO_MEM;
    rc = decide_rows(r, w, recv, nrecv, b);
    if (rc == MPI_SUCCESS) rc = return_results(r, w, b, stats);
    return rc;
}

int replay_run(replay_t *r, const replay_out_t *out, replay_stats_t *stats, char *errstr,
               size_t errsize)
{
    engine_t *e = r->e;
    buffers_t b;
    window_t win[3];
    int rc = -1, step;
    int64_t t0 = timeparse_now_us();
    memset(&b, 0, sizeof b);
    memset(win, 0, sizeof win);
    memset(stats, 0, sizeof *stats);
    /* worker_find_users allocates window-sized scratch arrays: keep such
     * blocks in the heap rather than unmapping them, so that each window
     * does not pay page faults on fresh memory again. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    /* With one rank, a second thread does the I/O while this one decides;
     * this thread then makes no HDF5 call (the library is not thread-safe)
     * and no MPI call until the job is done. */
    bgjob_t *io = bgjob_start(e->size == 1 && r->threads_ok);
    io_job_t job = {.r = r, .out = out};
    size_t sz = (size_t)e->size;
    int ok = io != NULL && grow(&b.counts, sz, sizeof(int)) == 0 &&
             grow(&b.rcounts, sz, sizeof(int)) == 0 && grow(&b.scounts, sz, sizeof(int)) == 0 &&
             grow(&b.cursor, sz, sizeof(size_t)) == 0 && grow(&b.seg_end, sz, sizeof(size_t)) == 0;
    if (!all_ok(e->world, ok)) goto oom;

    /* Window k is decided in win[k % 3] while the I/O job writes the
     * results of window k-1 and reads window k+1. */
    cursor_t cur = {.prev_id = INT64_MIN, .window = first_window(r)};
    int have = next_window(r, &cur, &b, &win[0], errstr, errsize);
    if (have < 0) goto out;
    job.read = have ? &win[0] : NULL;
    io_start(io, &job, stats);
    if (io_finish(io, &job, stats, errstr, errsize) != 0) goto out;
    window_t *decided = NULL; /* its results not yet written */
    for (int64_t k = 0; have; k++) {
        window_t *w = &win[k % 3], *next = &win[(k + 1) % 3];
        int more = next_window(r, &cur, &b, next, errstr, errsize);
        if (more < 0) goto out;
        job.write = decided;
        job.read = more ? next : NULL;
        io_start(io, &job, stats);
        double t = now_seconds();
        step = decide_window(r, w, &b, stats);
        stats->decide_seconds += now_seconds() - t;
        int io_rc = io_finish(io, &job, stats, errstr, errsize);
        if (step == MPI_ERR_NO_MEM) goto oom;
        if (step != MPI_SUCCESS) goto mpi_fail;
        if (io_rc != 0) goto out;
        stats->batches += w->batches.n;
        stats->rows += w->cut - w->first;
        if (e->rank == 0) progress(w->base + w->cut, r->total, t0, 0);
        decided = w;
        have = more;
    }
    job.write = decided;
    job.read = NULL;
    io_start(io, &job, stats);
    if (io_finish(io, &job, stats, errstr, errsize) != 0) goto out;
    int64_t mine[3] = {stats->by_status[0], stats->by_status[1], stats->by_status[2]};
    if (MPI_Reduce(mine, stats->by_status, 3, MPI_INT64_T, MPI_SUM, 0, e->world) != MPI_SUCCESS)
        goto mpi_fail;
    if (e->rank == 0) progress(stats->rows, r->total, t0, 1);
    stats->seconds = (double)(timeparse_now_us() - t0) / 1e6;
    stats->io_threaded = bgjob_threaded(io);
    rc = 0;
    goto out;
oom:
    snprintf(errstr, errsize, "out of memory");
    goto out;
mpi_fail:
    snprintf(errstr, errsize, "MPI failure while replaying");
out:
    bgjob_stop(io); /* waits for a job still running */
    for (int i = 0; i < 3; i++)
        window_free(&win[i]);
    buffers_free(&b);
    return rc;
}
