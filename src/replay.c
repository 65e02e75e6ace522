/* replay.c - the batch engine over archives (see replay.h).
 *
 * Per window of WINDOW_ROWS rows (all collective over the world):
 *   read      every rank reads rows [lo, hi) of the window (h5archive_read)
 *   route     each row to its payer's owner (exchange_alltoall)
 *   decide    workers, batch key by batch key, in row order (worker_decide);
 *             the last key of a window waits for the next window unless the
 *             input ends there
 *   gather    decided rows to rank 0 (exchange_gather), sorted by row, output */
#include "replay.h"
#include "exchange.h"
#include "log.h"
#include "timeparse.h"

#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW_ROWS           262144
#define DEFAULT_PRODUCE_BATCH 10000

typedef struct replay_item {
    h5archive_row_t row;
    int64_t seq; /* row index over all archives, in order */
    int64_t key; /* batch key */
} replay_item_t;

typedef struct item_vec {
    replay_item_t *v;
    size_t n, cap;
} item_vec_t;

static int vec_push(item_vec_t *vec, const replay_item_t *items, size_t n)
{
    if (n == 0) return 0;
    if (vec->n + n > vec->cap) {
        size_t cap = vec->cap ? vec->cap : 4096;
        while (cap < vec->n + n)
            cap *= 2;
        replay_item_t *p = realloc(vec->v, cap * sizeof *p);
        if (p == NULL) return -1;
        vec->v = p;
        vec->cap = cap;
    }
    memcpy(vec->v + vec->n, items, n * sizeof *items);
    vec->n += n;
    return 0;
}

static int all_ok(MPI_Comm comm, int ok)
{
    int all = 0;
    if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return 0;
    return all;
}

static int cmp_seq(const void *a, const void *b)
{
    int64_t x = ((const replay_item_t *)a)->seq, y = ((const replay_item_t *)b)->seq;
    return (x > y) - (x < y);
}

/* Decide, on a worker, every item of `items` whose key is in [kfirst, klast]
 * (items sorted by seq, keys non-decreasing), appending them with their
 * results to done; the others are left for later in *rest. Collective over
 * the workers: one worker_decide per key, even when a worker has no row. */
static int decide_keys(worker_t *w, item_vec_t *items, int64_t kfirst, int64_t klast,
                       item_vec_t *done, item_vec_t *rest)
{
    size_t at = 0;
    int rc = MPI_SUCCESS;
    work_item_t *work = malloc((items->n ? items->n : 1) * sizeof *work);
    work_result_t *res = malloc((items->n ? items->n : 1) * sizeof *res);
    if (work == NULL || res == NULL) rc = MPI_ERR_NO_MEM;
    for (int64_t k = kfirst; rc == MPI_SUCCESS && k <= klast; k++) {
        size_t from = at;
        while (at < items->n && items->v[at].key == k)
            at++;
        size_t n = at - from;
        for (size_t i = 0; i < n; i++) {
            memset(&work[i], 0, sizeof work[i]);
            work[i].txn = items->v[from + i].row.txn;
            work[i].kafka_ts_ms = items->v[from + i].row.kafka_ts_ms;
            work[i].seq = (uint32_t)i;
        }
        rc = worker_decide(w, work, (int)n, res);
        for (size_t i = 0; rc == MPI_SUCCESS && i < n; i++) {
            h5archive_row_t *r = &items->v[from + i].row;
            r->status = res[i].status;
            r->reason = res[i].reason;
            r->t5 = res[i].has_scores ? res[i].t5 : NAN;
            r->t6 = res[i].has_scores ? res[i].t6 : NAN;
            r->t7 = res[i].has_scores ? res[i].t7 : NAN;
        }
        if (rc == MPI_SUCCESS && vec_push(done, items->v + from, n) != 0) rc = MPI_ERR_NO_MEM;
    }
    if (rc == MPI_SUCCESS && vec_push(rest, items->v + at, items->n - at) != 0) rc = MPI_ERR_NO_MEM;
    free(work);
    free(res);
    return rc;
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

int replay_run(engine_t *e, char *const *archives, int narchives, int64_t batch_size,
               const replay_out_t *out, replay_stats_t *stats, char *errstr, size_t errsize)
{
    h5archive_reader_t **readers = calloc((size_t)narchives, sizeof *readers);
    item_vec_t pending = {0}, incoming = {0}, done = {0}, rest = {0};
    replay_item_t *mine = NULL, *packed = NULL, *gathered = NULL;
    h5archive_row_t *rows = NULL, *outrows = NULL;
    int *dest = NULL, *counts = calloc((size_t)e->size, sizeof(int)),
        *rcounts = calloc((size_t)e->size, sizeof(int));
    int rc = -1, ok = readers && counts && rcounts;
    int64_t total = 0, base = 0, t0 = timeparse_now_us(), prev_kmax = INT64_MIN;
    memset(stats, 0, sizeof *stats);
    /* Every window allocates and frees buffers of tens of MB; keep them in the
     * heap instead of unmapping them, so that each window does not pay page
     * faults on fresh memory again (a quarter of the time before). */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    if (!all_ok(e->world, ok)) {
        snprintf(errstr, errsize, "out of memory");
        goto out;
    }

    /* Open every archive first: a bad one fails before anything is written. */
    for (int a = 0; a < narchives; a++) {
        readers[a] = h5archive_open(e->world, archives[a], errstr, errsize);
        if (!all_ok(e->world, readers[a] != NULL)) {
            if (readers[a]) snprintf(errstr, errsize, "%s could not be opened", archives[a]);
            goto out;
        }
        total += h5archive_rows(readers[a]);
        if (batch_size == 0 && strcmp(h5archive_info(readers[a])->source, "stream") != 0) {
            batch_size = DEFAULT_PRODUCE_BATCH;
            if (e->rank == 0)
                log_info("%s has no stream batches: replaying in batches of %d rows", archives[a],
                         DEFAULT_PRODUCE_BATCH);
        }
    }
    int64_t window = WINDOW_ROWS;
    if (batch_size > 0 && batch_size < window) window = window / batch_size * batch_size;
    rows = malloc((size_t)window * sizeof *rows);
    mine = malloc((size_t)window * sizeof *mine);
    packed = malloc((size_t)window * sizeof *packed);
    dest = malloc((size_t)window * sizeof *dest);
    if (!all_ok(e->world, rows && mine && packed && dest)) {
        snprintf(errstr, errsize, "out of memory");
        goto out;
    }

    for (int a = 0; a < narchives; a++) {
        int64_t n = h5archive_rows(readers[a]);
        for (int64_t first = 0; first < n || (n == 0 && first == 0); first += window) {
            int64_t count = n - first < window ? n - first : window;
            int64_t lo = first + count * e->rank / e->size;
            int64_t hi = first + count * (e->rank + 1) / e->size;
            int last_window = a == narchives - 1 && first + count >= n;
            if (!all_ok(e->world,
                        h5archive_read(readers[a], lo, hi - lo, rows, errstr, errsize) == 0)) {
                if (errstr[0] == '\0') snprintf(errstr, errsize, "reading %s failed", archives[a]);
                goto out;
            }
            /* Keys of what this rank read; all ranks agree on the window's range. */
            int64_t kmin = INT64_MAX, kmax = INT64_MIN, range[2];
            for (int64_t i = 0; i < hi - lo; i++) {
                replay_item_t *it = &mine[i];
                it->row = rows[i];
                it->seq = base + lo + i;
                it->key = batch_size > 0 ? it->seq / batch_size : rows[i].batch_id;
                if (it->key < kmin) kmin = it->key;
                if (it->key > kmax) kmax = it->key;
                dest[i] = engine_owner_rank(e, rows[i].txn.payer);
            }
            int64_t local[2] = {-kmin, kmax};
            if (MPI_Allreduce(local, range, 2, MPI_INT64_T, MPI_MAX, e->world) != MPI_SUCCESS)
                goto mpi_fail;
            kmin = -range[0];
            kmax = range[1];
            if (count > 0 && prev_kmax != INT64_MIN && kmin < prev_kmax) {
                snprintf(errstr, errsize,
                         "%s: dataset /transactions/batch_id is not in ascending order "
                         "(batch %" PRId64 " after %" PRId64 "); replay it with --batch-size",
                         archives[a], kmin, prev_kmax);
                goto out;
            }
            if (exchange_pack(mine, (size_t)(hi - lo), sizeof *mine, dest, e->size, packed, counts,
                              NULL) != MPI_SUCCESS)
                goto mpi_fail;
            replay_item_t *recv = NULL;
            int nrecv = 0;
            if (exchange_alltoall(e->world, packed, counts, sizeof *packed, (void **)&recv, &nrecv,
                                  rcounts) != MPI_SUCCESS)
                goto mpi_fail;
            /* Arrivals come in source-rank order, which is row order. */
            incoming.n = 0;
            ok = vec_push(&incoming, pending.v, pending.n) == 0 &&
                 vec_push(&incoming, recv, (size_t)nrecv) == 0;
            free(recv);
            if (!all_ok(e->world, ok)) goto oom;

            int64_t kfirst = prev_kmax != INT64_MIN ? prev_kmax : kmin;
            int64_t klast = last_window ? kmax : kmax - 1;
            int decide = count > 0;
            if (count == 0 && last_window && prev_kmax != INT64_MIN) {
                kfirst = klast = prev_kmax; /* the rows held back by the previous window */
                decide = 1;
            }
            done.n = rest.n = 0;
            if (e->is_worker && decide &&
                decide_keys(&e->worker, &incoming, kfirst, klast, &done, &rest) != MPI_SUCCESS)
                goto mpi_fail;
            if (decide) {
                pending.n = 0;
                if (!all_ok(e->world, vec_push(&pending, rest.v, rest.n) == 0)) goto oom;
                stats->batches += klast - kfirst + 1;
                if (count > 0) prev_kmax = kmax;
            }

            int ngathered = 0;
            free(gathered);
            gathered = NULL;
            if (exchange_gather(e->world, 0, done.v, (int)done.n, sizeof *done.v,
                                (void **)&gathered, &ngathered) != MPI_SUCCESS)
                goto mpi_fail;
            int wrote = 1;
            if (e->rank == 0 && ngathered > 0) {
                qsort(gathered, (size_t)ngathered, sizeof *gathered, cmp_seq);
                free(outrows);
                outrows = malloc((size_t)ngathered * sizeof *outrows);
                wrote = outrows != NULL;
                for (int i = 0; wrote && i < ngathered; i++) {
                    outrows[i] = gathered[i].row;
                    if (outrows[i].status < 3) stats->by_status[outrows[i].status]++;
                }
                wrote = wrote &&
                        out->write(out->state, outrows, (size_t)ngathered, errstr, errsize) == 0;
                stats->rows += ngathered;
                progress(stats->rows, total, t0, 0);
            }
            if (!all_ok(e->world, wrote)) {
                if (e->rank != 0) snprintf(errstr, errsize, "writing the results failed");
                goto out;
            }
            if (n == 0) break;
        }
        base += n;
    }
    if (e->rank == 0) progress(stats->rows, total, t0, 1);
    stats->seconds = (double)(timeparse_now_us() - t0) / 1e6;
    rc = 0;
    goto out;
oom:
    snprintf(errstr, errsize, "out of memory");
    goto out;
mpi_fail:
    snprintf(errstr, errsize, "MPI failure while replaying");
out:
    for (int a = 0; readers && a < narchives; a++)
        h5archive_close_reader(readers[a]);
    free(readers);
    free(pending.v);
    free(incoming.v);
    free(done.v);
    free(rest.v);
    free(mine);
    free(packed);
    free(gathered);
    free(rows);
    free(outrows);
    free(dest);
    free(counts);
    free(rcounts);
    return rc;
}
