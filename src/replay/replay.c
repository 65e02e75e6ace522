/* replay.c - the batch engine over archives (see replay.h).
 *
 * Per window [first, cut) of an archive, every step collective over the world:
 *   cut      the window ends on a batch boundary (window_cut_by_size, or
 *            window_cut_by_id for the archive's own batches)
 *   read     every rank reads its slice [lo, hi) (slice_of: cut at chunk
 *            boundaries), only the columns needed, and makes each row a
 *            decide_row_t (seq = the row's number over the archives)
 *   route    each row to its payer's owner; with one rank the slice stays
 *            where it is
 *   decide   the one decision loop (engine/worker.h): the lookups, then
 *            worker_decide over the window's batches, the runs being the
 *            rows from each reader
 *   return   each result to the rank that read the row
 *   write    every rank hands its slice, in row order, to the output
 * Routing and return take one of two paths:
 *   on one node   (decide_shared) the reader packs its rows by payer owner,
 *                 and the questions about their receivers by receiver
 *                 owner, in the window's MPI-3 shared buffer (nodeshm.h);
 *                 the receivers' owners answer in place, the payers' owners
 *                 decide the rows where they lie and write each result into
 *                 the reader's buffer: no row, question or result is copied
 *                 between the ranks. Agreements of the ranks order each
 *                 step's stores before the next step's loads.
 *   on several    (decide_routed) the same records go by all-to-all: rows
 *                 to the owners, questions and answers (worker_lookup),
 *                 results back.
 * While a window is decided, the I/O job reads the next one (packing its
 * rows by owner) and writes the results of the one before, on a second
 * thread (bgjob.h), when each rank has a core to spare for it, so that I/O
 * and deciding overlap; else inline between windows, each window written
 * as soon as it is decided, in two windows' buffers instead of three (two
 * threads on one core only took turns, at a cost: measured at -np 2 on 2
 * cores, 3% more CPU and 10% less rate). Each rank reads through its own
 * archive handle (h5archive_open_local) and an output with a write_local
 * (HDF5: pwrite at the datasets' offsets) writes its rows without MPI; a
 * collective write (PostgreSQL's gather) is made on the main thread before
 * the job starts. The users are looked up on the main thread, with the
 * deciding: with one rank that splits the work about evenly between the
 * threads (reading, which inflates and checksums the chunks, takes about
 * as long as the lookup and the decisions together; the lookup on the I/O
 * thread made it twice the main thread's). Without MPI_THREAD_SERIALIZED
 * the job runs inline, in the same order on every rank. */
#include "replay/replay.h"
#include "base/bgjob.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "engine/exchange.h"
#include "engine/nodeshm.h"

#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLICE_ROWS            131072   /* rows a rank reads per window (see slice_rows) */
#define SPIN_NS               1000000L /* how long a wait spins with a CPU each (replay_open) */
#define DEFAULT_PRODUCE_BATCH 10000

/* The batches of a window: batch k covers archive rows [start[k], start[k+1])
 * and is numbered id[k]; start[n] is the window's cut. */
typedef struct batch_list {
    int64_t *start, *id;
    int n;
} batch_list_t;

/* A rank's shared buffer of a window, on one node (see window_t): its
 * parts as this process maps them (shared_parts). */
typedef struct shared_parts {
    int *counts, *qcounts;
    decide_row_t *rows;
    decide_result_t *results;
    int32_t *recv_owner;
    uint32_t *qpos, *answers;
    worker_query_t *queries;
} shared_parts_t;

/* A window of one archive, this rank's slice of it as read, and the slice's
 * results. replay_run keeps three when the I/O has a thread of its own:
 * while the rows of one are decided, the next one is read and the results
 * of the one before are written; two when it runs inline. */
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
    /* the slice as the decision loop takes it (more than one rank: packed
     * by owner, counts[d] rows for rank d, as the routing sends them), and
     * their results, row for row */
    decide_row_t *rows;
    int *counts, *dest;
    decide_result_t *results;
    /* On one node (replay_t.node_shared) the rows, their results and the
     * counts lie in the window's shared buffer (shm, room for cap_shared
     * rows, laid out as shared_layout says; sh: this rank's), where the
     * owners read the rows and write the results; and beside them, the
     * questions about the rows' receivers for the receivers' owners:
     * queries, packed by that owner (qcounts[e] for rank e), their answers,
     * row p's question (qpos[p]) and its receiver's owner (recv_owner[p]).
     * rdest: each slice row's receiver's owner, as read. */
    nodeshm_t shm;
    size_t cap_shared;
    shared_parts_t sh;
    int *rdest;
    decide_row_t *scratch; /* an archive out of order, more than one rank: the rows before
                            * packing */
    size_t cap_scratch;
    /* the results as the output takes them */
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

/* One rank's routing buffers (more than one rank), grown as needed and
 * kept from window to window. */
typedef struct buffers {
    size_t cap_recv, cap_ids;
    int *rcounts, *scounts;
    size_t *run_rows;
    worker_lookup_t lookup;   /* of the rows decided here: those that arrived, or with one
                               * rank the window's slice */
    decide_result_t *results; /* theirs */
    int64_t *window_ids;      /* a window's batch_id column (the archive's own batches) */
    exchange_buf_t arrivals;
} buffers_t;

struct replay {
    cluster_t *c;
    h5archive_reader_t **readers;
    char *const *archives;
    int narchives;
    int64_t batch_size;
    int64_t total;
    int io_thread;   /* the I/O job runs on a second thread: MPI allows a second thread to
                      * call it (serialized), and each rank has a core for it */
    int node_shared; /* more than one rank, all on one node: the windows' rows and results
                      * are shared (nodeshm.h) instead of sent */
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

/* Every rank learns whether all found memory (ok on each). 0 or -1. */
static int agree_memory(MPI_Comm comm, int ok, char *errstr, size_t errsize)
{
    if (!ok) snprintf(errstr, errsize, "out of memory");
    return exchange_agree(comm, !ok, errstr, errsize);
}

/* Room for a slice of n rows in a window of `ranks` ranks, but for the
 * rows, results and counts when they are shared (window_share); 0 or -1.
 * A slice's length varies from window to window (slice_of, even_window:
 * by a few percent, up to a chunk), and each time a window's columns grew
 * to fit exactly, realloc moved them to new pages, each of which the
 * kernel maps when first touched (1.3 us a page on this VM), so they grow
 * with a quarter to spare (measured, 10M rows: 87,000 page faults instead
 * of 97,000 at -np 2, 159,000 instead of 174,000 at -np 4). */
static int window_slice(window_t *w, size_t n, int ranks, int shared)
{
    if (!shared && w->counts == NULL && grow(&w->counts, (size_t)ranks, sizeof(int)) != 0)
        return -1;
    if (n <= w->cap_slice) return 0;
    n += n / 4;
    int rc = (ranks > 1 ? grow(&w->dest, n, sizeof(int)) : 0) | grow(&w->id, n, 16) |
             grow(&w->payer, n, 16) | grow(&w->receiver, n, 16) | grow(&w->time_us, n, 8) |
             grow(&w->amount, n, 8) | grow(&w->kafka_ts, n, 8) | grow(&w->region, n, 1) |
             grow(&w->modality, n, 1) | grow(&w->out_batch, n, 8) | grow(&w->status, n, 1) |
             grow(&w->reason, n, 1) | grow(&w->t5, n, 8) | grow(&w->t6, n, 8) | grow(&w->t7, n, 8);
    if (shared) rc |= grow(&w->rdest, n, sizeof(int));
    if (!shared)
        rc |=
            grow(&w->rows, n, sizeof(decide_row_t)) | grow(&w->results, n, sizeof(decide_result_t));
    if (rc == 0) w->cap_slice = n;
    return rc;
}

/* A window's shared buffer (nodeshm.h), as every rank lays it out for a
 * room of cap rows: the byte offset of each part, each part on cache lines
 * of its own, and the size. */
typedef struct shared_layout {
    size_t counts, qcounts, rows, results, recv_owner, qpos, queries, answers, bytes;
} shared_layout_t;

static shared_layout_t shared_layout(int ranks, size_t cap)
{
    shared_layout_t l;
    size_t at = 0;
#define PART(field, bytes_)                                                                        \
    l.field = at;                                                                                  \
    at += ((bytes_) + 63) / 64 * 64
    PART(counts, (size_t)ranks * sizeof(int));
    PART(qcounts, (size_t)ranks * sizeof(int));
    PART(rows, cap * sizeof(decide_row_t));
    PART(results, cap * sizeof(decide_result_t));
    PART(recv_owner, cap * sizeof(int32_t));
    PART(qpos, cap * sizeof(uint32_t));
    PART(queries, cap * sizeof(worker_query_t));
    PART(answers, cap * sizeof(uint32_t));
#undef PART
    l.bytes = at;
    return l;
}

/* Rank `rank`'s shared buffer of window w, as this process maps it. */
static shared_parts_t shared_parts(const window_t *w, int ranks, int rank)
{
    char *base = w->shm.base[rank];
    shared_layout_t l = shared_layout(ranks, w->cap_shared);
    return (shared_parts_t){.counts = (int *)(base + l.counts),
                            .qcounts = (int *)(base + l.qcounts),
                            .rows = (decide_row_t *)(base + l.rows),
                            .results = (decide_result_t *)(base + l.results),
                            .recv_owner = (int32_t *)(base + l.recv_owner),
                            .qpos = (uint32_t *)(base + l.qpos),
                            .queries = (worker_query_t *)(base + l.queries),
                            .answers = (uint32_t *)(base + l.answers)};
}

/* Collective: room in window w's shared buffers for `most` rows, the
 * largest of the ranks' slices (the same on every rank), and w->counts,
 * rows and results pointed at this rank's. 0, or -1 with errstr on every
 * rank. */
static int window_share(const cluster_t *c, window_t *w, size_t most, char *errstr, size_t errsize)
{
    size_t cap = most > 0 ? most : 1;
    if (cap > w->cap_shared || w->shm.base == NULL) {
        cap += cap / 4; /* windows that double (window_cut_by_id) take a few steps */
        if (nodeshm_reserve(&w->shm, c->world, shared_layout(c->size, cap).bytes, errstr,
                            errsize) != 0)
            return -1;
        w->cap_shared = cap;
    }
    w->sh = shared_parts(w, c->size, c->rank);
    w->counts = w->sh.counts;
    w->rows = w->sh.rows;
    w->results = w->sh.results;
    return 0;
}

/* Room for n batches in a window; 0 or -1. */
static int window_batches(window_t *w, size_t n)
{
    if (n <= w->cap_batches) return 0;
    int rc = grow(&w->batches.start, n + 1, 8) | grow(&w->batches.id, n + 1, 8);
    if (rc == 0) w->cap_batches = n;
    return rc;
}

/* Collective when the window's buffers are shared. */
static void window_free(window_t *w)
{
    if (w->cap_shared > 0) { /* in the shared buffer */
        w->rows = NULL;
        w->results = NULL;
        w->counts = NULL;
    }
    nodeshm_free(&w->shm);
    void *all[] = {w->batches.start,
                   w->batches.id,
                   w->id,
                   w->payer,
                   w->receiver,
                   w->time_us,
                   w->amount,
                   w->kafka_ts,
                   w->region,
                   w->modality,
                   w->rows,
                   w->counts,
                   w->dest,
                   w->scratch,
                   w->results,
                   w->out_batch,
                   w->status,
                   w->reason,
                   w->t5,
                   w->t6,
                   w->t7,
                   w->rdest};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* Room for n rows arriving at this owner; 0 or -1. */
static int buffers_recv(buffers_t *b, size_t n)
{
    if (n <= b->cap_recv) return 0;
    n += n / 4; /* as window_slice */
    int rc = worker_lookup_reserve(&b->lookup, n) | grow(&b->results, n, sizeof(decide_result_t));
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
    void *all[] = {b->rcounts, b->scounts,    b->run_rows,
                   b->results, b->window_ids, b->arrivals.data};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    worker_lookup_free(&b->lookup);
}

/* The stream archives among the inputs must follow each other batch after
 * batch (what `allow` does not let through). 0, or -1 with errstr naming
 * both files. Same on every rank: the attributes are. */
static int check_ranges(const replay_t *r, unsigned allow, char *errstr, size_t errsize)
{
    int prev = -1;
    for (int a = 0; a < r->narchives; a++) {
        const h5archive_info_t *in = h5archive_info(r->readers[a]);
        if (strcmp(in->source, "stream") != 0 || in->first_batch_id < 0) continue;
        if (prev >= 0) {
            const h5archive_info_t *p = h5archive_info(r->readers[prev]);
            int64_t want = p->last_batch_id + 1;
            if (in->first_batch_id < want && !(allow & REPLAY_ALLOW_OVERLAP)) {
                snprintf(errstr, errsize,
                         "%s (batches %" PRId64 "..%" PRId64 ") overlaps %s (batches %" PRId64
                         "..%" PRId64 "), or comes before it: give each batch once, in order "
                         "(or --allow-overlap)",
                         r->archives[a], in->first_batch_id, in->last_batch_id, r->archives[prev],
                         p->first_batch_id, p->last_batch_id);
                return -1;
            }
            if (in->first_batch_id > want && !(allow & REPLAY_ALLOW_GAPS)) {
                snprintf(errstr, errsize,
                         "batches %" PRId64 "..%" PRId64 " are missing between %s and %s: "
                         "give their archive too (or --allow-gaps)",
                         want, in->first_batch_id - 1, r->archives[prev], r->archives[a]);
                return -1;
            }
        }
        prev = a;
    }
    return 0;
}

replay_t *replay_open(cluster_t *c, char *const *archives, int narchives, int64_t batch_size,
                      unsigned allow, char *errstr, size_t errsize)
{
    replay_t *r = calloc(1, sizeof *r);
    int ok = r != NULL && (r->readers = calloc((size_t)narchives, sizeof *r->readers)) != NULL;
    if (agree_memory(c->world, ok, errstr, errsize) != 0) {
        if (r) free(r->readers);
        free(r);
        return NULL;
    }
    r->c = c;
    r->archives = archives;
    r->narchives = narchives;
    r->batch_size = batch_size;
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Query_thread(&provided) != MPI_SUCCESS) provided = MPI_THREAD_SINGLE;
    r->io_thread = provided >= MPI_THREAD_SERIALIZED && nodeshm_cores_per_rank(c->world) >= 2;
    r->node_shared = c->size > 1 && c->first_worker == 0 && c->nworkers == c->size &&
                     nodeshm_available(c->world);
    /* The ranks wait for each other often and briefly (the agreements of
     * each window, a batch's credits). With a CPU each, a wait spins for up
     * to 1 ms before it naps: a rank that napped woke up to 50 µs after the
     * other had arrived (measured at -np 2, 10M rows: 10-13% more rows/s,
     * no more CPU). With more ranks than CPUs a spinning rank may hold the
     * CPU of the rank it waits for (at -np 8 on 2 cores: 3% slower), so
     * the short default stays. */
    if (c->size > 1 && nodeshm_core_each(c->world)) exchange_set_spin(SPIN_NS);
    for (int a = 0; a < narchives; a++) {
        r->readers[a] = h5archive_open_local(c->world, archives[a], errstr, errsize);
        if (r->readers[a] == NULL) {
            replay_close(r);
            return NULL;
        }
        r->total += h5archive_rows(r->readers[a]);
        if (r->batch_size == 0 && strcmp(h5archive_info(r->readers[a])->source, "stream") != 0) {
            r->batch_size = DEFAULT_PRODUCE_BATCH;
            if (c->rank == 0)
                log_info("%s has no stream batches: replaying in batches of %d rows", archives[a],
                         DEFAULT_PRODUCE_BATCH);
        }
    }
    if (check_ranges(r, allow, errstr, errsize) != 0) {
        replay_close(r);
        return NULL;
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
        if (agree_memory(r->c->world, ok, errstr, errsize) != 0) return -1;
        h5archive_columns_t cols = {.batch_id = b->window_ids};
        if (exchange_agree(
                r->c->world,
                h5archive_read_columns(r->readers[a], first, count, &cols, errstr, errsize), errstr,
                errsize) != 0)
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
 * split evenly, with the inner boundaries moved to the nearest whole chunk
 * of `chunk` rows when every share holds a chunk or more: a chunk that two
 * ranks each read part of would be inflated by both (measured at -np 2:
 * slices of 130,000 rows read in 1.9 s what slices of 131,072 read in
 * 0.45 s). even_window picks the window's length that makes the slices
 * even. Every other window lists the ranks in reverse, so that the chunk a
 * window's last slice ends in is read again, at the start of the next
 * window, by the same rank, from its chunk cache. */
static void slice_of(int64_t first, int64_t cut, int rank, int size, int reversed, int64_t chunk,
                     int64_t *lo, int64_t *hi)
{
    int pos = reversed ? size - 1 - rank : rank;
    int64_t bound[2];
    for (int k = 0; k < 2; k++) {
        int p = pos + k;
        int64_t at = first + (cut - first) * p / size;
        if (p > 0 && p < size && chunk > 1 && (cut - first) / size >= chunk)
            at = (at + chunk / 2) / chunk * chunk;
        bound[k] = p == 0 ? first : p == size ? cut : at < first ? first : at > cut ? cut : at;
    }
    *lo = bound[0];
    *hi = bound[1];
}

/* The largest of the ranks' slices of the window [first, cut): the same
 * whichever order the ranks take them in. */
static int64_t largest_slice(int64_t first, int64_t cut, int size, int64_t chunk)
{
    int64_t largest = 0;
    for (int rank = 0; rank < size; rank++) {
        int64_t lo, hi;
        slice_of(first, cut, rank, size, 0, chunk, &lo, &hi);
        if (hi - lo > largest) largest = hi - lo;
    }
    return largest;
}

/* The length, in whole batches of k rows within a chunk of `window`, of
 * the window from row `first` of n whose slices (slice_of) are the most
 * even: where the inner boundaries fall, moved to whole chunks, depends on
 * it. Every rank waits for the largest slice's read before the window's
 * next step: windows of 260,000 rows on 2 ranks, chunks of 65,536, made
 * slices of 65,536 and 194,464 rows when the boundaries were rounded down,
 * the other rank waiting 10 ms of 30 (measured, 10M rows: with this and
 * the rounding to the nearest chunk, 15-20% more rows/s). */
static int64_t even_window(int64_t first, int64_t n, int64_t window, int64_t k, int size,
                           int64_t chunk)
{
    if (size < 2 || chunk <= 1 || k <= 0 || n - first <= window) return window;
    int64_t steps = chunk / k, stride = steps > 32 ? (steps + 31) / 32 : 1; /* 65 tries at most */
    int64_t best = window, best_excess = INT64_MAX;
    for (int64_t j = -steps; j <= steps; j += stride) {
        int64_t len = window + j * k, cut = first + len < n ? first + len : n;
        if (len < k) continue;
        int64_t largest = largest_slice(first, cut, size, chunk);
        /* the largest slice over an even share, in parts per million */
        int64_t excess = (largest * size - (cut - first)) * 1000000 / (cut - first);
        if (excess < best_excess ||
            (excess == best_excess && llabs(len - window) < llabs(best - window))) {
            best = len;
            best_excess = excess;
        }
    }
    return best;
}

/* Rows per window at the start of an archive: slice_rows() a rank, rounded
 * to whole batches of batch_size rows (at least one). */
static int64_t first_window(const replay_t *r)
{
    int64_t window = slice_rows() * (int64_t)r->c->size, k = r->batch_size;
    if (k > 0) window = window < k ? k : window / k * k;
    return window;
}

/* Collective: cut the next window at the cursor into w (batches, this
 * rank's slice, room for it) and move the cursor past it. 1, 0 when every
 * archive is done, or -1 with errstr. */
static int next_window(replay_t *r, cursor_t *cur, buffers_t *b, window_t *w, char *errstr,
                       size_t errsize)
{
    cluster_t *c = r->c;
    while (cur->archive < r->narchives && cur->first >= h5archive_rows(r->readers[cur->archive])) {
        cur->base += h5archive_rows(r->readers[cur->archive++]);
        cur->first = 0;
        cur->prev_id = INT64_MIN;
        cur->window = first_window(r);
    }
    if (cur->archive == r->narchives) return 0;
    int a = cur->archive, ok = 1;
    int64_t n = h5archive_rows(r->readers[a]), chunk = h5archive_info(r->readers[a])->chunk_rows;
    if (r->batch_size > 0) {
        int64_t len = even_window(cur->first, n, cur->window, r->batch_size, c->size, chunk);
        ok = window_cut_by_size(cur->first, n, len, r->batch_size, &cur->next_id, w) == 0;
    } else if (window_cut_by_id(r, a, cur->first, n, &cur->window, &cur->prev_id, b, w, errstr,
                                errsize) != 0) {
        return -1;
    }
    size_t most = 0; /* the largest slice of any rank: every rank works it out alike */
    if (ok) {
        w->archive = a;
        w->base = cur->base;
        w->first = cur->first;
        w->cut = w->batches.start[w->batches.n];
        w->reversed = (int)(cur->count++ % 2);
        slice_of(w->first, w->cut, c->rank, c->size, w->reversed, chunk, &w->lo, &w->hi);
        most = (size_t)largest_slice(w->first, w->cut, c->size, chunk);
        size_t m = (size_t)(w->hi - w->lo);
        ok = window_slice(w, m, c->size, r->node_shared) == 0 &&
             (c->size > 1 || worker_lookup_reserve(&b->lookup, m) == 0);
    }
    /* one agreement a window (each costs a wait for the slowest rank) */
    if (agree_memory(c->world, ok, errstr, errsize) != 0) return -1;
    if (r->node_shared && window_share(c, w, most, errstr, errsize) != 0) return -1;
    cur->first = w->cut;
    return 1;
}

static int batch_event_order(const void *pa, const void *pb)
{
    const decide_row_t *a = pa, *b = pb;
    if (a->batch != b->batch) return a->batch < b->batch ? -1 : 1;
    return worker_event_cmp(a, b);
}

/* Slice row i, of the window's batch k, as the decision loop takes it. */
static void slice_row(const window_t *w, size_t i, int k, decide_row_t *row)
{
    memcpy(row->payer, w->payer[i], 16);
    memcpy(row->receiver, w->receiver[i], 16);
    row->time_us = w->time_us[i];
    row->amount_cents = w->amount[i];
    row->kafka_ts_ms = w->kafka_ts[i];
    row->seq = w->base + w->lo + (int64_t)i;
    row->batch = k;
    row->region = w->region[i];
    row->modality = w->modality[i];
    row->pad[0] = row->pad[1] = 0;
}

/* 1 when the slice's rows, as read, are in (batch, event) order: within a
 * batch data_horario, then the Kafka timestamp ascend (seq, the row
 * number, breaks ties). */
static int slice_in_order(const window_t *w, size_t m)
{
    const batch_list_t *bl = &w->batches;
    int k = 0;
    for (size_t i = 1; i < m; i++) {
        while (w->lo + (int64_t)i >= bl->start[k + 1])
            k++;
        if (w->lo + (int64_t)i == bl->start[k]) continue; /* a batch's first row */
        if (w->time_us[i] < w->time_us[i - 1] ||
            (w->time_us[i] == w->time_us[i - 1] && w->kafka_ts[i] < w->kafka_ts[i - 1]))
            return 0;
    }
    return 1;
}

/* On one node: count the questions about the receivers of the slice's m
 * rows by the receivers' owners (w->rdest) into w->sh.qcounts, and where each
 * owner's start (qnext). */
static void queries_start(window_t *w, size_t m, int size, size_t *qnext)
{
    memset(w->sh.qcounts, 0, (size_t)size * sizeof *w->sh.qcounts);
    for (size_t i = 0; i < m; i++)
        w->sh.qcounts[w->rdest[i]]++;
    qnext[0] = 0;
    for (int e = 1; e < size; e++)
        qnext[e] = qnext[e - 1] + (size_t)w->sh.qcounts[e - 1];
}

/* On one node: the question about the receiver of the row packed at p (of
 * the window's batch k, decided at rank `asker`) for the receiver's owner,
 * at its place among that owner's questions (qnext). */
static void ask_receiver(window_t *w, const uint8_t receiver[16], int k, int asker, int owner,
                         size_t p, size_t *qnext)
{
    size_t q = qnext[owner]++;
    worker_query_t *x = &w->sh.queries[q];
    memcpy(x->id, receiver, 16);
    x->batch = k;
    x->asker = asker;
    w->sh.qpos[p] = (uint32_t)q;
    w->sh.recv_owner[p] = owner;
}

/* Read window w's slice (only the columns the rules and the output need;
 * batch_id was read by window_cut_by_id when the archive's own batches are
 * used) and make each row a decide_row_t with seq = its row number over the
 * archives, in (batch, event) order, the order the decision loop takes,
 * and with more than one rank packed by payer owner (w->counts), as the
 * routing sends them. A stream's archive is stored in that order already
 * (and so is produce's, whose times ascend), so that is only checked and
 * each row is made once, in its place; an archive of older versions, in
 * (partition, offset) order, is sorted here, which gives the stream's own
 * order, its rows being numbered in (partition, offset) order. Local (no
 * MPI call: it runs on replay_run's I/O thread): 0, or -1 with errstr on
 * this rank. */
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
        .kafka_ts_ms = w->kafka_ts,
    };
    if (h5archive_read_columns(r->readers[w->archive], w->lo, w->hi - w->lo, &cols, errstr,
                               errsize) != 0)
        return -1;
    const cluster_t *c = r->c;
    const batch_list_t *bl = &w->batches;
    size_t m = (size_t)(w->hi - w->lo);
    int size = c->size, in_order = slice_in_order(w, m);
    memset(w->counts, 0, (size_t)size * sizeof *w->counts);
    if (!in_order || size == 1) {
        /* one rank: the rows in place; more: in the scratch rows, then
         * packed by owner into place */
        if (size > 1 && m > w->cap_scratch) {
            if (grow(&w->scratch, m, sizeof *w->scratch) != 0) {
                snprintf(errstr, errsize, "out of memory sorting %s", r->archives[w->archive]);
                return -1;
            }
            w->cap_scratch = m;
        }
        decide_row_t *made = size == 1 ? w->rows : w->scratch;
        int k = 0;
        for (size_t i = 0; i < m; i++) {
            while (w->lo + (int64_t)i >= bl->start[k + 1])
                k++;
            slice_row(w, i, k, &made[i]);
        }
        if (!in_order) qsort(made, m, sizeof *made, batch_event_order);
        w->counts[0] = (int)m;
        if (size == 1) return 0;
        size_t *pos = r->node_shared ? malloc((m ? m : 1) * sizeof *pos) : NULL;
        if (r->node_shared && pos == NULL) {
            snprintf(errstr, errsize, "out of memory sorting %s", r->archives[w->archive]);
            return -1;
        }
        if (m > 0) cluster_owner_ranks(c, made[0].payer, sizeof *made, m, w->dest);
        int rc = exchange_pack(made, m, sizeof *made, w->dest, size, w->rows, w->counts, pos,
                               errstr, errsize);
        if (rc == 0 && r->node_shared) {
            size_t qnext[size];
            if (m > 0) cluster_owner_ranks(c, made[0].receiver, sizeof *made, m, w->rdest);
            queries_start(w, m, size, qnext);
            for (size_t i = 0; i < m; i++)
                ask_receiver(w, made[i].receiver, made[i].batch, w->dest[i], w->rdest[i], pos[i],
                             qnext);
        }
        free(pos);
        return rc;
    }
    /* In order, more than one rank: each row made once, at its owner's place. */
    size_t next[size], qnext[size];
    cluster_owner_ranks(c, w->payer, sizeof *w->payer, m, w->dest);
    for (size_t i = 0; i < m; i++)
        w->counts[w->dest[i]]++;
    next[0] = 0;
    for (int d = 1; d < size; d++)
        next[d] = next[d - 1] + (size_t)w->counts[d - 1];
    if (r->node_shared) {
        cluster_owner_ranks(c, w->receiver, sizeof *w->receiver, m, w->rdest);
        queries_start(w, m, size, qnext);
    }
    int k = 0;
    for (size_t i = 0; i < m; i++) {
        while (w->lo + (int64_t)i >= bl->start[k + 1])
            k++;
        size_t p = next[w->dest[i]]++;
        slice_row(w, i, k, &w->rows[p]);
        if (r->node_shared) ask_receiver(w, w->receiver[i], k, w->dest[i], w->rdest[i], p, qnext);
    }
    return 0;
}

/* The I/O job (bgjob.h): hand the results of window `write` to the output,
 * then read window `read` (read_slice); either may be NULL. It runs on the
 * I/O thread (when MPI gives threads), where it makes no MPI call while the
 * main thread may: the archive is read through each rank's own handle
 * (h5archive_open_local) and the output's write_local makes none; with one
 * rank the output's collective write may run there too (the Postgres
 * output's MPI_Gatherv to itself, which MPI_THREAD_SERIALIZED allows: the
 * main thread then makes no MPI call while the job runs). The job fails on
 * its own rank only: io_finish makes the ranks agree. */
typedef struct io_job {
    replay_t *r;
    const replay_out_t *out;
    window_t *write, *read;
    double write_seconds, read_seconds; /* this job's */
    int64_t by_status[STATUS_COUNT];    /* of the rows written */
    char err[1024];
} io_job_t;

/* Lay window w's results out as the output takes them, in slice order
 * (row i's result belongs to the slice row its seq names), counting them. */
static void results_to_columns(window_t *w, int64_t *by_status)
{
    size_t m = (size_t)(w->hi - w->lo);
    for (size_t i = 0; i < m; i++) {
        const decide_result_t *res = &w->results[i];
        size_t at = (size_t)(w->rows[i].seq - w->base - w->lo);
        w->status[at] = res->status;
        w->reason[at] = res->reason;
        w->t5[at] = res->t5;
        w->t6[at] = res->t6;
        w->t7[at] = res->t7;
        w->out_batch[at] = w->batches.id[w->rows[i].batch];
        if (res->status < STATUS_COUNT) by_status[res->status]++;
    }
}

/* Hand window w's results to the output: with its write_local when it has
 * one (this rank's rows, no MPI), else with its collective write. 0, or -1
 * with job->err. */
static int io_write(io_job_t *job, window_t *w)
{
    double t = now_seconds();
    results_to_columns(w, job->by_status);
    replay_rows_t rows = {.first = w->base + w->lo,
                          .n = (size_t)(w->hi - w->lo),
                          .id = (const uint8_t(*)[16])w->id,
                          .batch_id = w->out_batch,
                          .status = w->status,
                          .reason = w->reason,
                          .t5 = w->t5,
                          .t6 = w->t6,
                          .t7 = w->t7};
    const replay_out_t *o = job->out;
    int rc =
        (o->write_local ? o->write_local : o->write)(o->state, &rows, job->err, sizeof job->err);
    job->write_seconds += now_seconds() - t;
    return rc;
}

/* The ranks write one results file, whose writes the file system takes
 * one at a time (ext4 locks the file for each): odd ranks read first and
 * even ranks write first, so that the ranks, which start their jobs
 * together, seldom write at the same time (measured at -np 2: a rank
 * spinning on the other's lock took 3% of the replay's CPU). */
static int run_io_job(void *arg)
{
    io_job_t *job = arg;
    int read_first = job->r->c->rank % 2;
    for (int step = 0; step < 2; step++) {
        if (step == read_first && job->write && io_write(job, job->write) != 0) return -1;
        if (step != read_first && job->read) {
            double t = now_seconds();
            if (read_slice(job->r, job->read, job->err, sizeof job->err) != 0) return -1;
            job->read_seconds = now_seconds() - t;
        }
    }
    return 0;
}

/* Start the I/O job: on the thread, or inline (then it is done here).
 * First, on this thread, the write the job may not make there: the
 * output's collective write with more than one rank (it makes MPI calls,
 * and this thread will be making others while the job runs). */
static int io_start(bgjob_t *io, io_job_t *job, replay_stats_t *stats, char *errstr, size_t errsize)
{
    double t = now_seconds();
    job->write_seconds = job->read_seconds = 0;
    if (job->write && job->r->c->size > 1 && job->out->write_local == NULL) {
        int rc = io_write(job, job->write);
        job->write = NULL;
        if (rc != 0) { /* collective: failed on every rank */
            snprintf(errstr, errsize, "%s", job->err);
            return -1;
        }
    }
    bgjob_submit(io, run_io_job, job);
    stats->io_wait_seconds += now_seconds() - t;
    return 0;
}

/* Wait for the I/O job, adding its times and counts to stats; collective:
 * 0, or -1 with errstr on every rank. */
static int io_finish(bgjob_t *io, io_job_t *job, replay_stats_t *stats, char *errstr,
                     size_t errsize)
{
    double t = now_seconds();
    int rc = bgjob_wait(io, NULL);
    stats->read_seconds += job->read_seconds;
    stats->write_seconds += job->write_seconds;
    for (int s = 0; s < STATUS_COUNT; s++) {
        stats->by_status[s] += job->by_status[s];
        job->by_status[s] = 0;
    }
    if (rc != 0) snprintf(errstr, errsize, "%s", job->err);
    if (job->read) nodeshm_sync(&job->read->shm); /* its rows, for the owners (decide_shared) */
    rc = exchange_agree(job->r->c->world, rc, errstr, errsize);
    stats->io_wait_seconds += now_seconds() - t; /* the other ranks' I/O too */
    return rc;
}

/* Decide window w with more than one rank: route the slice's rows (packed
 * by owner by read_slice) to their payers' owners, decide what arrived here
 * (one run per reader), and send the results back to the readers, into
 * w->results row for row. */
static int decide_routed(replay_t *r, window_t *w, buffers_t *b, char *errstr, size_t errsize)
{
    cluster_t *c = r->c;
    size_t m = (size_t)(w->hi - w->lo);
    int nrecv = 0, nback = 0;
    if (exchange_alltoall(c->world, w->rows, w->counts, sizeof *w->rows, &b->arrivals, &nrecv,
                          b->rcounts, errstr, errsize) != 0)
        return -1;
    if (agree_memory(c->world, buffers_recv(b, (size_t)nrecv) == 0, errstr, errsize) != 0)
        return -1;
    const decide_row_t *arrived = b->arrivals.data;
    for (int s = 0; s < c->size; s++)
        b->run_rows[s] = (size_t)b->rcounts[s];
    worker_t *wk = &c->worker;
    decide_run_t runs[c->size];
    worker_runs_of(arrived, b->results, b->run_rows, c->size, runs);
    int rc = worker_lookup(wk, runs, c->size, &b->lookup, errstr, errsize);
    if (worker_decide(wk, runs, c->size, w->batches.n, &b->lookup, errstr, errsize) != 0) rc = -1;
    /* Back to the readers, in one step: each awaits what it sent. */
    if (exchange_alltoall_bounded(c->world, b->results, b->rcounts, sizeof *b->results, w->results,
                                  w->counts, b->scounts, errstr, errsize) != 0)
        return -1;
    for (int s = 0; s < c->size; s++)
        nback += b->scounts[s];
    if ((size_t)nback != m && rc == 0) {
        snprintf(errstr, errsize, "replay: %d results came back for %zu rows", nback, m);
        rc = -1;
    }
    return exchange_agree(c->world, rc, errstr, errsize);
}

/* Where rank `me`'s part of counts[0..size) starts: the sum before it. */
static size_t part_at(const int *counts, int me)
{
    size_t at = 0;
    for (int d = 0; d < me; d++)
        at += (size_t)counts[d];
    return at;
}

/* Decide window w with more than one rank on one node. Every reader left
 * in its shared buffer (read_slice) its slice's rows packed by payer owner
 * and the questions about their receivers packed by receiver owner. In
 * two steps, each ended by an agreement of the ranks that orders its
 * writes before the next step's reads (io_finish's ordered the readers'):
 *   answer  this rank answers the questions for it, in place
 *   decide  it decides the rows for it, one run per reader, where they lie,
 *           the receivers' slots and owners taken from the answers, and
 *           writes each result in the reader's w->results, row for row,
 *           where the reader's write takes it.
 * No row, question or result is copied between the ranks; a batch's
 * credits still travel as messages (worker_decide). */
static int decide_shared(replay_t *r, window_t *w, buffers_t *b, char *errstr, size_t errsize)
{
    cluster_t *c = r->c;
    worker_t *wk = &c->worker;
    int size = c->size, me = c->rank;
    shared_parts_t t[size];
    decide_run_t runs[size];
    const worker_query_t *queries[size];
    uint32_t *answers[size];
    size_t asked[size], n = 0;
    nodeshm_sync(&w->shm);
    for (int s = 0; s < size; s++) {
        t[s] = shared_parts(w, size, s);
        size_t at = part_at(t[s].qcounts, me);
        queries[s] = t[s].queries + at;
        answers[s] = t[s].answers + at;
        asked[s] = (size_t)t[s].qcounts[me];
        at = part_at(t[s].counts, me);
        runs[s] = (decide_run_t){t[s].rows + at, t[s].results + at, (size_t)t[s].counts[me]};
        n += runs[s].n;
    }
    int ok = worker_lookup_reserve(&b->lookup, n) == 0 &&
             worker_answer(wk, queries, answers, asked, size, &b->lookup) == 0;
    nodeshm_sync(&w->shm);
    if (agree_memory(c->world, ok, errstr, errsize) != 0) return -1;
    nodeshm_sync(&w->shm);

    worker_lookup_t *lk = &b->lookup;
    worker_lookup_payers(wk, runs, size, lk);
    size_t g = 0;
    for (int s = 0; s < size; s++) {
        size_t at = (size_t)(runs[s].rows - t[s].rows); /* this rank's part of s's rows */
        for (size_t j = 0; j < runs[s].n; j++, g++) {
            lk->receiver[g] = t[s].answers[t[s].qpos[at + j]];
            lk->receiver_owner[g] = t[s].recv_owner[at + j];
        }
    }
    int rc = worker_decide(wk, runs, size, w->batches.n, lk, errstr, errsize);
    nodeshm_sync(&w->shm);
    rc = exchange_agree(c->world, rc, errstr, errsize);
    nodeshm_sync(&w->shm);
    return rc;
}

/* Decide window w's slice into w->results. 0, or -1 with errstr on every
 * rank. */
static int decide_window(replay_t *r, window_t *w, buffers_t *b, char *errstr, size_t errsize)
{
    if (r->node_shared) return decide_shared(r, w, b, errstr, errsize);
    if (r->c->size > 1) return decide_routed(r, w, b, errstr, errsize);
    /* one rank: decided where it was read */
    decide_run_t run = {w->rows, w->results, (size_t)(w->hi - w->lo)};
    if (worker_lookup(&r->c->worker, &run, 1, &b->lookup, errstr, errsize) != 0) return -1;
    return worker_decide(&r->c->worker, &run, 1, w->batches.n, &b->lookup, errstr, errsize);
}

int replay_run(replay_t *r, const replay_out_t *out, replay_stats_t *stats, char *errstr,
               size_t errsize)
{
    cluster_t *c = r->c;
    buffers_t b;
    window_t win[3];
    int rc = -1;
    int64_t t0 = timeparse_now_us();
    memset(&b, 0, sizeof b);
    memset(win, 0, sizeof win);
    memset(stats, 0, sizeof *stats);
    /* The window-sized scratch arrays: keep such blocks in the heap rather
     * than unmapping them, so that each window does not pay page faults on
     * fresh memory again. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    /* A second thread does the I/O while this one decides (run_io_job);
     * this thread then makes no HDF5 call (the library is not thread-safe),
     * and with one rank no MPI call, until the job is done. */
    bgjob_t *io = bgjob_start(r->io_thread);
    io_job_t job = {.r = r, .out = out};
    size_t sz = (size_t)c->size;
    int ok = io != NULL && grow(&b.rcounts, sz, sizeof(int)) == 0 &&
             grow(&b.scounts, sz, sizeof(int)) == 0 && grow(&b.run_rows, sz, sizeof(size_t)) == 0;
    if (agree_memory(c->world, ok, errstr, errsize) != 0) goto out;

    /* With the I/O on a second thread, window k is decided in win[k % 3]
     * while the I/O job writes the results of window k-1 and reads window
     * k+1. With the I/O inline on every rank nothing overlaps, so window k
     * is decided, then written, and window k+1 read into the other of two:
     * a third window only cost memory, whose pages the kernel maps one at
     * a time when first touched (measured, 10M rows on 2 cores, medians of
     * 6 alternated runs: at -np 4 125,000 page faults instead of 159,000,
     * 7% less CPU, 9% more rows/s; at -np 2 69,000 instead of 87,000, 4%
     * less CPU). The ranks agree on one way, so that their collective steps
     * come in the same order. */
    uint64_t threaded = 0;
    if (exchange_max(c->world, (uint64_t)bgjob_threaded(io), &threaded, errstr, errsize) != 0)
        goto out;
    int nwin = threaded ? 3 : 2;
    cursor_t cur = {.prev_id = INT64_MIN, .window = first_window(r)};
    int have = next_window(r, &cur, &b, &win[0], errstr, errsize);
    if (have < 0) goto out;
    job.read = have ? &win[0] : NULL;
    if (io_start(io, &job, stats, errstr, errsize) != 0) goto out;
    if (io_finish(io, &job, stats, errstr, errsize) != 0) goto out;
    window_t *decided = NULL; /* its results not yet written */
    for (int64_t k = 0; have; k++) {
        window_t *w = &win[k % nwin], *next = &win[(k + 1) % nwin];
        int more = next_window(r, &cur, &b, next, errstr, errsize);
        if (more < 0) goto out;
        if (threaded) {
            job.write = decided;
            job.read = more ? next : NULL;
            if (io_start(io, &job, stats, errstr, errsize) != 0) goto out;
        }
        double t = now_seconds();
        char derr[1024];
        int step = decide_window(r, w, &b, derr, sizeof derr);
        stats->decide_seconds += now_seconds() - t;
        if (!threaded) {
            if (step != 0) { /* failed on every rank, no job running */
                snprintf(errstr, errsize, "%s", derr);
                goto out;
            }
            job.write = w;
            job.read = more ? next : NULL;
            if (io_start(io, &job, stats, errstr, errsize) != 0) goto out;
        }
        int io_rc = io_finish(io, &job, stats, errstr, errsize);
        if (step != 0) {
            snprintf(errstr, errsize, "%s", derr);
            goto out;
        }
        if (io_rc != 0) goto out;
        stats->batches += w->batches.n;
        stats->rows += w->cut - w->first;
        if (c->rank == 0) progress(w->base + w->cut, r->total, t0, 0);
        decided = threaded ? w : NULL;
        have = more;
    }
    job.write = decided; /* the last window's results, with a second thread */
    job.read = NULL;
    if (threaded && io_start(io, &job, stats, errstr, errsize) != 0) goto out;
    if (threaded && io_finish(io, &job, stats, errstr, errsize) != 0) goto out;
    int64_t mine[STATUS_COUNT];
    memcpy(mine, stats->by_status, sizeof mine);
    int mpi = MPI_Reduce(mine, stats->by_status, STATUS_COUNT, MPI_INT64_T, MPI_SUM, 0, c->world);
    if (mpi != MPI_SUCCESS) {
        exchange_mpi_error(mpi, "MPI_Reduce", errstr, errsize);
        goto out;
    }
    if (c->rank == 0) progress(stats->rows, r->total, t0, 1);
    stats->seconds = (double)(timeparse_now_us() - t0) / 1e6;
    stats->io_threaded = bgjob_threaded(io);
    stats->routing = r->node_shared ? "shared memory, one node"
                     : c->size > 1  ? "all-to-all"
                                    : "none, one rank";
    rc = 0;
out:
    bgjob_stop(io); /* waits for a job still running */
    for (int i = 0; i < 3; i++)
        window_free(&win[i]);
    buffers_free(&b);
    return rc;
}
