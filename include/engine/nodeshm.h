/* nodeshm.h - the ranks that share a node: a buffer of each rank's that
 * every rank can read and write in place, when all the ranks of a
 * communicator run on one node (MPI-3 shared memory:
 * MPI_Win_allocate_shared), and the cores each rank may count on.
 *
 * Replay on one node uses it to decide rows where their reader made them,
 * and to put each result straight where the reader writes it from, instead
 * of copying both across with messages (replay.c). The job on several
 * nodes moves the same records with the all-to-all (exchange.h).
 *
 * Every buffer has the same size on every rank. Stores reach the other
 * ranks through a synchronization between them: the writer calls
 * nodeshm_sync, then a collective (or a message) orders the ranks, then
 * the reader calls nodeshm_sync (MPI's "separate" model made explicit;
 * on x86 the collective alone would do). Collective calls say so; all
 * return 0, or -1 with errstr, on every rank. */
#ifndef BS_NODESHM_H
#define BS_NODESHM_H

#include <mpi.h>
#include <stddef.h>

typedef struct nodeshm {
    MPI_Win win;  /* MPI_WIN_NULL until the first nodeshm_reserve */
    char **base;  /* base[r]: rank r's buffer, as mapped in this process */
    size_t bytes; /* of each rank's buffer */
    int size;
} nodeshm_t;

/* Collective over comm: 1 when every rank of comm runs on this node and
 * the node's ranks are numbered as in comm (then comm can share memory),
 * else 0 (also when MPI cannot tell). */
int nodeshm_available(MPI_Comm comm);

/* Collective over comm: the cores this rank may count on, at least 1: the
 * CPUs it may run on (its affinity: mpirun's --bind-to), shared evenly
 * with the other ranks of comm on this node when they may run on the
 * same ones. */
int nodeshm_cores_per_rank(MPI_Comm comm);

/* Collective over comm: 1 when this node's ranks of comm may each have a
 * CPU to themselves (no more of them than the CPUs their affinities
 * cover together), else 0. */
int nodeshm_core_each(MPI_Comm comm);

/* Collective over comm (every rank with the same bytes): give each rank a
 * buffer of at least `bytes`. A larger size replaces the buffers, their
 * contents lost; a smaller or equal one keeps them. */
int nodeshm_reserve(nodeshm_t *s, MPI_Comm comm, size_t bytes, char *errstr, size_t errsize);

/* Order this process's stores and loads of the buffers around a
 * synchronization with the other ranks (MPI_Win_sync); local. */
void nodeshm_sync(nodeshm_t *s);

/* Collective: free the buffers (a nodeshm never reserved: nothing). */
void nodeshm_free(nodeshm_t *s);

#endif
