/* exchange.h - the MPI collectives the engine is built from, over arrays of
 * fixed-size records sent as bytes (every rank runs the same binary).
 *
 * All functions are collective over the communicator given and return
 * MPI_SUCCESS or an MPI error code (communicators use MPI_ERRORS_RETURN).
 * Received arrays are malloc'd; the caller frees them. */
#ifndef BS_EXCHANGE_H
#define BS_EXCHANGE_H

#include <mpi.h>
#include <stddef.h>

/* Complete a non-blocking MPI operation without spinning through long
 * waits: test without pause for 20 µs (each test moves a transfer along),
 * then nap 50 µs between tests. Returns an MPI code. */
int exchange_wait(MPI_Request *req);

/* Root sends counts[r] records (packed in rank order in `send`) to each rank
 * r; every rank receives its records in *recv and their number in *nrecv.
 * counts and send are read on the root only. */
int exchange_scatter(MPI_Comm comm, int root, const void *send, const int *counts,
                     size_t record_size, void **recv, int *nrecv);

/* Every rank sends n records; the root receives all of them concatenated in
 * rank order (*recv, *nrecv); other ranks get *recv = NULL. */
int exchange_gather(MPI_Comm comm, int root, const void *send, int n, size_t record_size,
                    void **recv, int *nrecv);

/* All-to-all: rank r sends counts[d] records (packed in destination order)
 * to each rank d and receives, in source order, *nrecv records in *recv;
 * recv_counts (size: comm size) receives how many came from each rank. */
int exchange_alltoall(MPI_Comm comm, const void *send, const int *counts, size_t record_size,
                      void **recv, int *nrecv, int *recv_counts);

/* A receive buffer kept from call to call (grown, never shrunk): arrays
 * malloc'd afresh for every exchange of megabytes cost more than the
 * transfer (measured: 1 MB to each of 2 ranks, 1.5 ms against 0.12 ms into
 * a buffer used before). Start with {NULL, 0}; free data when done. */
typedef struct exchange_buf {
    void *data;
    size_t cap; /* bytes */
} exchange_buf_t;

/* exchange_alltoall, receiving into->data (grown when too small). */
int exchange_alltoall_into(MPI_Comm comm, const void *send, const int *counts, size_t record_size,
                           exchange_buf_t *into, int *nrecv, int *recv_counts);

/* Sort n records by destination: dest[i] in [0, nranks). Writes the packed
 * records to out (n * record_size bytes), their counts to counts[nranks] and,
 * if pos is not NULL, each record's index in out to pos[i]. Stable.
 * Returns MPI_SUCCESS, or MPI_ERR_NO_MEM with out and counts unspecified. */
int exchange_pack(const void *records, size_t n, size_t record_size, const int *dest, int nranks,
                  void *out, int *counts, size_t *pos);

/* exchange_pack of n records of record_size bytes that lie stride bytes
 * apart in records (a field of an array of structs). */
int exchange_pack_strided(const void *records, size_t n, size_t stride, size_t record_size,
                          const int *dest, int nranks, void *out, int *counts, size_t *pos);

#endif
