/* exchange.c - scatter, gather and all-to-all of byte records (exchange.h).
 * Counts travel first, then the payload with the v-variant in MPI_BYTE.
 * The counts step is where a rank waits for the others: it is started
 * non-blocking and completed by exchange_wait, which tests without pause
 * for 20 µs, then naps between tests (with more ranks than cores, and
 * PostgreSQL on the same machine, a rank spinning through a long wait would
 * take the CPU the others need). Scatter and gather then move the payload
 * with the blocking call, every rank being past the counts. The all-to-all,
 * which replay runs once per batch and a few times per window, moves it
 * with point-to-point messages completed the same way (tests, then naps):
 * a rank descheduled between the two steps (2 ranks on 2 busy cores) left
 * its peer spinning in the blocking MPI_Alltoallv for a whole time slice,
 * and that spinning was most of the CPU time replay added at -np 2
 * (measured, 10M rows: 0.8-1.3 CPU s per rank in MPI_Alltoallv, a few ms of
 * copying); the rows a rank keeps are copied here, never through MPI.
 * Measured on 2 busy cores, 2 ranks, per exchange, CPU of both ranks:
 * 4.7 MB, 0.9-1.1 ms point-to-point against 1.3-4.2 ms blocking; 48 kB,
 * 0.02-0.1 ms against 0.04-0.25 ms.
 * A worker's wait for rank 0's next command (exchange_wait_idle) lasts as
 * long as the stream is quiet, so its naps double up to 1 ms: at 50 µs, a
 * worker of an idle `run` took 18% of a core (the tests and the wake-ups),
 * and at 20,000 tx/s that was nearly all of its CPU. */
#include "engine/exchange.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define SPIN_NS              20000L   /* 20 µs of tests before the first nap (exchange_set_spin) */
#define NAP_NS               50000L   /* then 50 µs naps between tests */
#define TIMER_SLACK_NS       1000UL   /* how late a nap may end (Linux's default: 50 µs) */
#define IDLE_NAP_MAX_NS      1000000L /* exchange_wait_idle's naps double up to 1 ms */
#define EXCHANGE_TAG         0x5bb    /* the all-to-all's point-to-point messages */
#define EXCHANGE_TAG_BOUNDED 0x5bc    /* exchange_alltoall_bounded's */

static long spin_ns = SPIN_NS;

void exchange_set_spin(long ns)
{
    spin_ns = ns > 0 ? ns : SPIN_NS;
}

/* Complete n requests (their statuses into st, or MPI_STATUSES_IGNORE):
 * tests for spin_ns, then tests with naps between, of NAP_NS doubling up
 * to max_nap_ns.
 *
 * A nap ends when asked, not up to 50 µs later (Linux's default timer
 * slack, set here once per thread): two ranks that each wait for the
 * other otherwise fell into step, each collective costing a long nap of
 * the rank that was late (measured, replay at -np 2, 10M rows: agreements
 * of ranks that arrived together took 0.3-0.5 ms each; with the slack at
 * 1 µs, 10% more rows/s for the same CPU). */
static int wait_all(int n, MPI_Request *reqs, MPI_Status *st, long max_nap_ns)
{
    static _Thread_local int slack_set;
    if (!slack_set) {
        prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0UL, 0UL, 0UL); /* a hint: fine if refused */
        slack_set = 1;
    }
    struct timespec nap = {0, NAP_NS}, start, now;
    unsigned tests = 0;
    int done = 0, napping = 0, rc = MPI_SUCCESS;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (rc == MPI_SUCCESS && !done) {
        rc = MPI_Testall(n, reqs, &done, st);
        if (done) break;
        if (napping) {
            nanosleep(&nap, NULL);
            nap.tv_nsec = nap.tv_nsec * 2 < max_nap_ns ? nap.tv_nsec * 2 : max_nap_ns;
            continue;
        }
        if (++tests % 16 == 0) { /* read the clock now and then only */
            clock_gettime(CLOCK_MONOTONIC, &now);
            napping =
                (now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) > spin_ns;
        }
    }
    return rc;
}

int exchange_wait(MPI_Request *req)
{
    return wait_all(1, req, MPI_STATUSES_IGNORE, NAP_NS);
}

int exchange_wait_idle(MPI_Request *req)
{
    return wait_all(1, req, MPI_STATUSES_IGNORE, IDLE_NAP_MAX_NS);
}

int exchange_mpi_error(int rc, const char *what, char *errstr, size_t errsize)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    snprintf(errstr, errsize, "%s failed: %s", what, msg);
    return -1;
}

/* Complete the non-blocking operation `what` just started (rc is its
 * start's return code). 0 or -1 with errstr. */
static int finish(int rc, MPI_Request *req, const char *what, char *errstr, size_t errsize)
{
    if (rc == MPI_SUCCESS) rc = exchange_wait(req);
    return rc == MPI_SUCCESS ? 0 : exchange_mpi_error(rc, what, errstr, errsize);
}

/* Record counts -> byte counts and displacements (arrays of n). Returns 0,
 * or -1 when a count or the total does not fit MPI's int (2 GiB). */
static int byte_counts(const int *counts, int n, size_t record_size, int *bytes, int *displs)
{
    long long off = 0;
    for (int i = 0; i < n; i++) {
        long long b = (long long)counts[i] * (long long)record_size;
        if (counts[i] < 0 || b > INT_MAX || off + b > INT_MAX) return -1;
        bytes[i] = (int)b;
        displs[i] = (int)off;
        off += b;
    }
    return 0;
}

/* The rank and size of comm; 0 or -1 with errstr. */
static int comm_shape(MPI_Comm comm, int *rank, int *size, char *errstr, size_t errsize)
{
    int rc = MPI_Comm_rank(comm, rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(comm, size);
    return rc == MPI_SUCCESS ? 0 : exchange_mpi_error(rc, "MPI_Comm_size", errstr, errsize);
}

/* Room for n bytes of what the other ranks are already sending. When it
 * cannot be had, waiting would leave them in the collective forever, so the
 * job ends here, saying why. */
static void *receive_buffer(void *old, size_t n, MPI_Comm comm, const char *what)
{
    void *p = realloc(old, n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "bankstream: out of memory receiving %zu bytes in %s; aborting the job\n",
                n, what);
        MPI_Abort(comm, 1);
    }
    return p;
}

/* Post the payload of an all-to-all, point to point (see the top of the
 * file): sbytes[r] bytes from send + sdispl[r] to each rank r, x->rbytes[r]
 * bytes from each rank r into recv + rdispl[r]; this rank's own bytes are
 * copied now. Bounded: every pair exchanges a message, empty or not,
 * x->rbytes being only room; otherwise sizes are exact and empty messages
 * are not sent. A message that cannot be started is remembered in x->err
 * (round_finish reports it once the others are complete). */
static void round_post(exchange_round_t *x, const void *send, const int *sbytes, const int *sdispl,
                       void *recv, const int *rdispl)
{
    int tag = x->bounded ? EXCHANGE_TAG_BOUNDED : EXCHANGE_TAG;
    char *in = recv;
    const char *out = send;
    x->nreq = 0;
    x->err = MPI_SUCCESS;
    x->done = 0;
    x->active = 1;
    for (int r = 0; r < x->size; r++) {
        if (r == x->rank) {
            if (sbytes[r] > x->rbytes[r]) {
                x->err = MPI_ERR_TRUNCATE;
                x->rbytes[r] = 0;
            } else {
                if (sbytes[r] > 0) memcpy(in + rdispl[r], out + sdispl[r], (size_t)sbytes[r]);
                x->rbytes[r] = sbytes[r];
            }
            continue;
        }
        int mpi;
        if (x->bounded || x->rbytes[r] > 0) {
            x->from[x->nreq] = r;
            mpi = MPI_Irecv(in + rdispl[r], x->rbytes[r], MPI_BYTE, r, tag, x->comm,
                            &x->reqs[x->nreq]);
            if (mpi == MPI_SUCCESS)
                x->nreq++;
            else if (x->err == MPI_SUCCESS)
                x->err = mpi;
        }
        if (x->bounded || sbytes[r] > 0) {
            x->from[x->nreq] = -1;
            mpi =
                MPI_Isend(out + sdispl[r], sbytes[r], MPI_BYTE, r, tag, x->comm, &x->reqs[x->nreq]);
            if (mpi == MPI_SUCCESS)
                x->nreq++;
            else if (x->err == MPI_SUCCESS)
                x->err = mpi;
        }
    }
}

/* Complete a posted round: wait (tests, then naps) unless round_test saw
 * it done; bounded, x->rbytes[r] becomes the size that came from r.
 * 0 or -1 with errstr. */
static int round_finish(exchange_round_t *x, char *errstr, size_t errsize)
{
    int mpi = MPI_SUCCESS;
    if (!x->active) return 0;
    x->active = 0;
    if (!x->done && x->nreq > 0) mpi = wait_all(x->nreq, x->reqs, x->st, NAP_NS);
    if (mpi == MPI_ERR_IN_STATUS)
        for (int i = 0; i < x->nreq; i++)
            if (x->st[i].MPI_ERROR != MPI_SUCCESS) {
                mpi = x->st[i].MPI_ERROR;
                break;
            }
    for (int i = 0; i < x->nreq && x->bounded; i++) {
        int got = 0;
        if (x->from[i] < 0) continue;
        if (mpi != MPI_SUCCESS || MPI_Get_count(&x->st[i], MPI_BYTE, &got) != MPI_SUCCESS) got = 0;
        x->rbytes[x->from[i]] = got;
    }
    if (mpi == MPI_SUCCESS) mpi = x->err;
    if (mpi == MPI_ERR_TRUNCATE && x->err == MPI_ERR_TRUNCATE) {
        snprintf(errstr, errsize, "all-to-all: more records than the room its receiver gave");
        return -1;
    }
    return mpi == MPI_SUCCESS
               ? 0
               : exchange_mpi_error(mpi, "the all-to-all's MPI_Isend/MPI_Irecv", errstr, errsize);
}

/* Point a round at arrays of 2 * size (a round of one call). */
#define ROUND_ON_STACK(x, comm_, rank_, size_, bounded_)                                           \
    MPI_Request x##_reqs[2 * (size_)];                                                             \
    MPI_Status x##_st[2 * (size_)];                                                                \
    int x##_from[2 * (size_)];                                                                     \
    exchange_round_t x = {.comm = (comm_),                                                         \
                          .rank = (rank_),                                                         \
                          .size = (size_),                                                         \
                          .bounded = (bounded_),                                                   \
                          .reqs = x##_reqs,                                                        \
                          .st = x##_st,                                                            \
                          .from = x##_from}

int exchange_scatter(MPI_Comm comm, int root, const void *send, const int *counts,
                     size_t record_size, void **recv, int *nrecv, char *errstr, size_t errsize)
{
    MPI_Request req;
    int rank, size;
    *recv = NULL;
    if (comm_shape(comm, &rank, &size, errstr, errsize) != 0) return -1;
    int bytes[rank == root ? size : 1], displs[rank == root ? size : 1], refused[size];
    const int *sendcounts = counts;
    if (rank == root && byte_counts(counts, size, record_size, bytes, displs) != 0) {
        for (int r = 0; r < size; r++) /* -1 tells every rank the scatter is off */
            refused[r] = -1;
        sendcounts = refused;
    }
    if (finish(MPI_Iscatter(sendcounts, 1, MPI_INT, nrecv, 1, MPI_INT, root, comm, &req), &req,
               "MPI_Iscatter", errstr, errsize) != 0)
        return -1;
    if (*nrecv < 0) {
        snprintf(errstr, errsize, "scatter: more than 2 GiB for one rank");
        *nrecv = 0;
        return -1;
    }
    *recv = receive_buffer(NULL, (size_t)*nrecv * record_size, comm, "MPI_Scatterv");
    int mpi = MPI_Scatterv(send, bytes, displs, MPI_BYTE, *recv,
                           (int)((size_t)*nrecv * record_size), MPI_BYTE, root, comm);
    if (mpi == MPI_SUCCESS) return 0;
    free(*recv);
    *recv = NULL;
    return exchange_mpi_error(mpi, "MPI_Scatterv", errstr, errsize);
}

int exchange_gather(MPI_Comm comm, int root, const void *send, int n, size_t record_size,
                    void **recv, int *nrecv, char *errstr, size_t errsize)
{
    MPI_Request req;
    int rank, size;
    *recv = NULL;
    *nrecv = 0;
    if (comm_shape(comm, &rank, &size, errstr, errsize) != 0) return -1;
    int counts[size], bytes[size], displs[size];
    if (finish(MPI_Igather(&n, 1, MPI_INT, counts, 1, MPI_INT, root, comm, &req), &req,
               "MPI_Igather", errstr, errsize) != 0)
        return -1;
    if (rank == root) {
        if (byte_counts(counts, size, record_size, bytes, displs) != 0) {
            fprintf(stderr, "bankstream: a gather of more than 2 GiB; aborting the job\n");
            MPI_Abort(comm, 1);
        }
        for (int i = 0; i < size; i++)
            *nrecv += counts[i];
        *recv = receive_buffer(NULL, (size_t)*nrecv * record_size, comm, "MPI_Gatherv");
    }
    int mpi = MPI_Gatherv(send, (int)((size_t)n * record_size), MPI_BYTE, *recv, bytes, displs,
                          MPI_BYTE, root, comm);
    if (mpi == MPI_SUCCESS) return 0;
    free(*recv);
    *recv = NULL;
    *nrecv = 0;
    return exchange_mpi_error(mpi, "MPI_Gatherv", errstr, errsize);
}

int exchange_alltoall(MPI_Comm comm, const void *send, const int *counts, size_t record_size,
                      exchange_buf_t *into, int *nrecv, int *recv_counts, char *errstr,
                      size_t errsize)
{
    MPI_Request req;
    int rank, size;
    *nrecv = 0;
    if (comm_shape(comm, &rank, &size, errstr, errsize) != 0) return -1;
    int sbytes[size], sdispl[size], rbytes[size], rdispl[size], refused[size];
    const int *sendcounts = counts;
    if (byte_counts(counts, size, record_size, sbytes, sdispl) != 0) {
        for (int r = 0; r < size; r++) /* -1 tells every rank the exchange is off */
            refused[r] = -1;
        sendcounts = refused;
    }
    if (finish(MPI_Ialltoall(sendcounts, 1, MPI_INT, recv_counts, 1, MPI_INT, comm, &req), &req,
               "MPI_Ialltoall", errstr, errsize) != 0)
        return -1;
    int refusing = sendcounts == refused;
    for (int r = 0; r < size; r++)
        refusing |= recv_counts[r] < 0;
    if (refusing || byte_counts(recv_counts, size, record_size, rbytes, rdispl) != 0) {
        snprintf(errstr, errsize, "all-to-all: more than 2 GiB between two ranks");
        return -1;
    }
    for (int i = 0; i < size; i++)
        *nrecv += recv_counts[i];
    size_t need = (size_t)*nrecv * record_size;
    if (need > into->cap || into->data == NULL) {
        into->data = receive_buffer(into->data, need, comm, "the all-to-all");
        into->cap = need ? need : 1;
    }
    ROUND_ON_STACK(x, comm, rank, size, 0);
    x.rbytes = rbytes;
    round_post(&x, send, sbytes, sdispl, into->data, rdispl);
    return round_finish(&x, errstr, errsize);
}

/* Byte counts of a bounded round: caps (room) and counts (to send). The
 * room must fit (the others are sending already: the job ends here if it
 * does not); a send that does not fit is replaced by empty messages.
 * Returns 0, or 1 when the send was refused that way. */
static int bounded_bytes(MPI_Comm comm, int size, const int *counts, const int *caps,
                         size_t record_size, int *sbytes, int *sdispl, int *rbytes, int *rdispl)
{
    if (byte_counts(caps, size, record_size, rbytes, rdispl) != 0) {
        fprintf(stderr, "bankstream: an all-to-all of more than 2 GiB; aborting the job\n");
        MPI_Abort(comm, 1);
        memset(rbytes, 0, (size_t)size * sizeof *rbytes);
        memset(rdispl, 0, (size_t)size * sizeof *rdispl);
    }
    if (byte_counts(counts, size, record_size, sbytes, sdispl) == 0) return 0;
    memset(sbytes, 0, (size_t)size * sizeof *sbytes);
    memset(sdispl, 0, (size_t)size * sizeof *sdispl);
    return 1;
}

int exchange_alltoall_bounded(MPI_Comm comm, const void *send, const int *counts,
                              size_t record_size, void *recv, const int *caps, int *recv_counts,
                              char *errstr, size_t errsize)
{
    int rank, size;
    if (comm_shape(comm, &rank, &size, errstr, errsize) != 0) return -1;
    int sbytes[size], sdispl[size], rbytes[size], rdispl[size];
    int refused =
        bounded_bytes(comm, size, counts, caps, record_size, sbytes, sdispl, rbytes, rdispl);
    ROUND_ON_STACK(x, comm, rank, size, 1);
    x.rbytes = rbytes;
    round_post(&x, send, sbytes, sdispl, recv, rdispl);
    if (round_finish(&x, errstr, errsize) != 0) return -1;
    for (int r = 0; r < size; r++)
        recv_counts[r] = (int)((size_t)rbytes[r] / record_size);
    if (refused) {
        snprintf(errstr, errsize, "all-to-all: more than 2 GiB between two ranks");
        return -1;
    }
    return 0;
}

int exchange_round_start(exchange_round_t *x, MPI_Comm comm, const void *send, const int *counts,
                         size_t record_size, void *recv, const int *caps, char *errstr,
                         size_t errsize)
{
    int rank, size;
    if (comm_shape(comm, &rank, &size, errstr, errsize) != 0) return -1;
    if (x->cap < size) {
        void *reqs = realloc(x->reqs, 2 * (size_t)size * sizeof *x->reqs);
        if (reqs) x->reqs = reqs;
        void *st = realloc(x->st, 2 * (size_t)size * sizeof *x->st);
        if (st) x->st = st;
        void *from = realloc(x->from, 2 * (size_t)size * sizeof *x->from);
        if (from) x->from = from;
        void *rb = realloc(x->rbytes, (size_t)size * sizeof *x->rbytes);
        if (rb) x->rbytes = rb;
        if (!reqs || !st || !from || !rb) { /* the others are sending already */
            fprintf(stderr, "bankstream: out of memory starting an all-to-all; aborting the job\n");
            MPI_Abort(comm, 1);
            return -1;
        }
        x->cap = size;
    }
    int sbytes[size], sdispl[size], rdispl[size];
    x->comm = comm;
    x->rank = rank;
    x->size = size;
    x->bounded = 1;
    x->record_size = record_size;
    x->refused =
        bounded_bytes(comm, size, counts, caps, record_size, sbytes, sdispl, x->rbytes, rdispl);
    round_post(x, send, sbytes, sdispl, recv, rdispl);
    return 0;
}

void exchange_round_test(exchange_round_t *x)
{
    if (!x->active || x->done || x->nreq == 0) return;
    int done = 0;
    if (MPI_Testall(x->nreq, x->reqs, &done, x->st) != MPI_SUCCESS) done = 0;
    x->done = done;
}

int exchange_round_finish(exchange_round_t *x, int *recv_counts, char *errstr, size_t errsize)
{
    if (!x->active) {
        for (int r = 0; r < x->size && recv_counts; r++)
            recv_counts[r] = 0;
        return 0;
    }
    int rc = round_finish(x, errstr, errsize);
    for (int r = 0; r < x->size && recv_counts; r++)
        recv_counts[r] = rc == 0 ? (int)((size_t)x->rbytes[r] / x->record_size) : 0;
    if (rc == 0 && x->refused) {
        snprintf(errstr, errsize, "all-to-all: more than 2 GiB between two ranks");
        rc = -1;
    }
    return rc;
}

void exchange_round_free(exchange_round_t *x)
{
    free(x->reqs);
    free(x->st);
    free(x->from);
    free(x->rbytes);
    memset(x, 0, sizeof *x);
}

int exchange_pack(const void *records, size_t n, size_t record_size, const int *dest, int nranks,
                  void *out, int *counts, size_t *pos, char *errstr, size_t errsize)
{
    size_t *next = calloc((size_t)nranks + 1, sizeof *next);
    if (next == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return -1;
    }
    memset(counts, 0, (size_t)nranks * sizeof *counts);
    for (size_t i = 0; i < n; i++)
        counts[dest[i]]++;
    for (int r = 0; r < nranks; r++)
        next[r + 1] = next[r] + (size_t)counts[r];
    for (size_t i = 0; i < n; i++) {
        size_t at = next[dest[i]]++;
        memcpy((char *)out + at * record_size, (const char *)records + i * record_size,
               record_size);
        if (pos) pos[i] = at;
    }
    free(next);
    return 0;
}

int exchange_max(MPI_Comm comm, uint64_t mine, uint64_t *most, char *errstr, size_t errsize)
{
    MPI_Request req;
    *most = mine;
    return finish(MPI_Iallreduce(&mine, most, 1, MPI_UINT64_T, MPI_MAX, comm, &req), &req,
                  "MPI_Iallreduce", errstr, errsize);
}

int exchange_agree(MPI_Comm comm, int rc, char *errstr, size_t errsize)
{
    int rank, size, first, mpi;
    char err[1024];
    if (comm_shape(comm, &rank, &size, err, sizeof err) != 0) {
        snprintf(errstr, errsize, "%s", err);
        return -1;
    }
    if (size <= 1) return rc ? -1 : 0;
    int mine = rc ? rank : size;
    MPI_Request req;
    mpi = MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm, &req);
    if (finish(mpi, &req, "MPI_Iallreduce", err, sizeof err) != 0) {
        snprintf(errstr, errsize, "%s", err);
        return -1;
    }
    if (first == size) return 0;
    char buf[1024] = "";
    if (rank == first) snprintf(buf, sizeof buf, "%s", errstr && errsize ? errstr : "");
    mpi = MPI_Ibcast(buf, sizeof buf, MPI_CHAR, first, comm, &req);
    if (finish(mpi, &req, "MPI_Ibcast", err, sizeof err) != 0) {
        snprintf(errstr, errsize, "%s", err);
        return -1;
    }
    buf[sizeof buf - 1] = '\0';
    snprintf(errstr, errsize, "%s", buf);
    return -1;
}
