/* exchange.h - the MPI collectives the engine is built from, over arrays of
 * fixed-size records sent as bytes (every rank runs the same binary).
 *
 * This is where MPI's return codes become bankstream's convention: every
 * function but exchange_wait is collective over the communicator given and
 * returns 0, or -1 with a one-line errstr naming the MPI call and MPI's own
 * message (or "out of memory"). Communicators must use MPI_ERRORS_RETURN
 * (cluster_init sets it) so that a failed call returns here at all.
 * Received arrays that are malloc'd belong to the caller.
 *
 * A rank that cannot allocate its receive buffer once the others are in the
 * collective ends the job with MPI_Abort and one line on stderr: the others
 * would otherwise wait forever. A send that cannot be described (more than
 * 2 GiB for one rank) is refused on every rank instead. */
#ifndef BS_EXCHANGE_H
#define BS_EXCHANGE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* Complete a non-blocking MPI operation without spinning through long
 * waits: test without pause for 20 µs (each test moves a transfer along),
 * then nap 50 µs between tests. Returns an MPI code (the raw primitive the
 * others, and the HDF5 layer's agreement, are built on). */
int exchange_wait(MPI_Request *req);

/* How long exchange_wait and the rounds test without pause before their
 * first nap, for this process: ns, or the default 20 µs when ns <= 0. A
 * job whose ranks each have a core to themselves, and wait for each other
 * only briefly and often (replay), spins longer: see replay_open. */
void exchange_set_spin(long ns);

/* The same for a wait that may last as long as the stream is quiet (a
 * worker waiting for rank 0's next command): the naps double from 50 µs
 * up to 1 ms, so an idle rank costs about 2% of a core instead of 18%, and
 * wakes at most 1 ms late. */
int exchange_wait_idle(MPI_Request *req);

/* Root sends counts[r] records (packed in rank order in `send`) to each rank
 * r; every rank receives its records in *recv (malloc'd, non-NULL on success)
 * and their number in *nrecv. counts and send are read on the root only. */
int exchange_scatter(MPI_Comm comm, int root, const void *send, const int *counts,
                     size_t record_size, void **recv, int *nrecv, char *errstr, size_t errsize);

/* Every rank sends n records; the root receives all of them concatenated in
 * rank order (*recv malloc'd, *nrecv); other ranks get *recv = NULL. */
int exchange_gather(MPI_Comm comm, int root, const void *send, int n, size_t record_size,
                    void **recv, int *nrecv, char *errstr, size_t errsize);

/* A receive buffer kept from call to call (grown, never shrunk): arrays
 * malloc'd afresh for every exchange of megabytes cost more than the
 * transfer (measured: 1 MB to each of 2 ranks, 1.5 ms against 0.12 ms into
 * a buffer used before). Start with {NULL, 0}; free data when done. */
typedef struct exchange_buf {
    void *data;
    size_t cap; /* bytes */
} exchange_buf_t;

/* All-to-all: rank r sends counts[d] records (packed in destination order)
 * to each rank d and receives, in source order, *nrecv records into
 * into->data (grown when too small); recv_counts (size: comm size) receives
 * how many came from each rank. */
int exchange_alltoall(MPI_Comm comm, const void *send, const int *counts, size_t record_size,
                      exchange_buf_t *into, int *nrecv, int *recv_counts, char *errstr,
                      size_t errsize);

/* All-to-all in one step, for when each rank knows a bound on what every
 * other rank sends it (an answer to a request, or what an earlier exchange
 * bounds): rank r sends counts[d] records (packed in destination order) to
 * each rank d, where counts[d] must not exceed the caps[r] that rank d
 * passes. The records from rank s land in recv (room for the sum of caps)
 * at record offset caps[0] + ... + caps[s-1], and their number in
 * recv_counts[s]; with exact caps they arrive packed, in source order.
 * Every pair exchanges one message, empty or not, so there is no counts
 * step. More than caps[s] from rank s is an error (MPI's "truncated") on
 * the receiving rank; caps that do not fit 2 GiB end the job. */
int exchange_alltoall_bounded(MPI_Comm comm, const void *send, const int *counts,
                              size_t record_size, void *recv, const int *caps, int *recv_counts,
                              char *errstr, size_t errsize);

/* The same, in flight, so that a rank can work while its records travel:
 * exchange_round_start posts the messages (this rank's own records are
 * copied at once), exchange_round_test moves them along without waiting,
 * exchange_round_finish completes the round (tests, then naps, as
 * exchange_wait) and gives recv_counts (may be NULL). send and recv must
 * stay untouched until the finish; every rank must finish each round it
 * started before starting the next. A round is kept from one to the next
 * (its arrays grow to the communicator's size): start from {0}, free with
 * exchange_round_free. A round that cannot get its arrays ends the job
 * (the others are already sending). start and finish return 0, or -1 with
 * errstr (finish still completes every message). */
typedef struct exchange_round {
    MPI_Comm comm;
    int rank, size, cap;
    int nreq, active, done, bounded, refused;
    int err; /* MPI code of a message that could not be started */
    size_t record_size;
    MPI_Request *reqs;
    MPI_Status *st;
    int *from, *rbytes;
} exchange_round_t;

int exchange_round_start(exchange_round_t *x, MPI_Comm comm, const void *send, const int *counts,
                         size_t record_size, void *recv, const int *caps, char *errstr,
                         size_t errsize);
void exchange_round_test(exchange_round_t *x);
int exchange_round_finish(exchange_round_t *x, int *recv_counts, char *errstr, size_t errsize);
void exchange_round_free(exchange_round_t *x);

/* Sort n records by destination: dest[i] in [0, nranks). Writes the packed
 * records to out (n * record_size bytes), their counts to counts[nranks] and,
 * if pos is not NULL, each record's index in out to pos[i]. Stable: records
 * for one destination keep their order. Local; 0, or -1 when out of memory. */
int exchange_pack(const void *records, size_t n, size_t record_size, const int *dest, int nranks,
                  void *out, int *counts, size_t *pos, char *errstr, size_t errsize);

/* The largest of the ranks' values into *most, on every rank. */
int exchange_max(MPI_Comm comm, uint64_t mine, uint64_t *most, char *errstr, size_t errsize);

/* Every rank learns whether all ranks succeeded (rc == 0 on each) and, when
 * not, gets the message of the lowest failing rank in errstr. Waits without
 * spinning; with one rank it costs nothing. Returns 0 when all succeeded,
 * else -1 (also when the agreement itself fails, with MPI's reason). */
int exchange_agree(MPI_Comm comm, int rc, char *errstr, size_t errsize);

/* Format MPI error code rc for `what` ("MPI_Bcast") into errstr; returns -1
 * (so that callers can write `return exchange_mpi_error(...)`). */
int exchange_mpi_error(int rc, const char *what, char *errstr, size_t errsize);

#endif
