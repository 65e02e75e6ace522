/* nodeshm.c - buffers the ranks of one node share (see nodeshm.h).
 *
 * The window is allocated with MPI_Win_allocate_shared over the
 * communicator (all of it on this node), every rank's part the same size,
 * and opened once for passive-target access from every rank
 * (MPI_Win_lock_all, MPI_MODE_NOCHECK: no lock is ever contended), so that
 * nodeshm_sync's MPI_Win_sync is all an access needs. */
#include "engine/nodeshm.h"
#include "engine/exchange.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The size of this node's part of comm and this rank's number in it
 * (MPI_Comm_split_type: the ranks that can share memory), and that part
 * as a communicator in *keep (the caller frees it) unless keep is NULL.
 * 0, or -1 when MPI cannot tell (then *keep is not set). */
static int node_part(MPI_Comm comm, int *node_size, int *node_rank, MPI_Comm *keep)
{
    MPI_Comm node;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return -1;
    int ok = MPI_Comm_size(node, node_size) == MPI_SUCCESS &&
             MPI_Comm_rank(node, node_rank) == MPI_SUCCESS;
    if (ok && keep)
        *keep = node;
    else
        MPI_Comm_free(&node);
    return ok ? 0 : -1;
}

int nodeshm_available(MPI_Comm comm)
{
    int size = 0, node_size = -1, rank = 0, node_rank = -1, same = 0;
    if (MPI_Comm_size(comm, &size) != MPI_SUCCESS || MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return 0;
    if (node_part(comm, &node_size, &node_rank, NULL) == 0)
        same = node_size == size && node_rank == rank;
    int all = 0; /* every rank must see the same answer */
    if (MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return 0;
    return all;
}

int nodeshm_core_each(MPI_Comm comm)
{
    MPI_Comm node;
    int here = 0, node_rank = 0, fit = 0;
    if (node_part(comm, &here, &node_rank, &node) != 0) return 0;
    cpu_set_t mine, all;
    CPU_ZERO(&all);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) { /* any CPU online */
        CPU_ZERO(&mine);
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        for (long c = 0; c < online && c < CPU_SETSIZE; c++)
            CPU_SET((int)c, &mine);
    }
    if (MPI_Allreduce(&mine, &all, (int)(sizeof mine / sizeof(unsigned long)), MPI_UNSIGNED_LONG,
                      MPI_BOR, node) == MPI_SUCCESS)
        fit = here <= CPU_COUNT(&all);
    MPI_Comm_free(&node);
    return fit;
}

int nodeshm_cores_per_rank(MPI_Comm comm)
{
    int here = 1, node_rank = 0;
    if (node_part(comm, &here, &node_rank, NULL) != 0 || here < 1) here = 1;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t mask;
    int mine = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : (int)online;
    int shared = online > 0 ? (int)(online / here) : 1;
    int cores = mine < shared ? mine : shared;
    return cores > 1 ? cores : 1;
}

void nodeshm_free(nodeshm_t *s)
{
    if (s->base != NULL && s->win != MPI_WIN_NULL) {
        MPI_Win_unlock_all(s->win);
        MPI_Win_free(&s->win);
    }
    free(s->base);
    s->base = NULL;
    s->win = MPI_WIN_NULL;
    s->bytes = 0;
}

int nodeshm_reserve(nodeshm_t *s, MPI_Comm comm, size_t bytes, char *errstr, size_t errsize)
{
    if (s->base != NULL && bytes <= s->bytes) return 0;
    nodeshm_free(s);
    int size = 0, mpi = MPI_Comm_size(comm, &size);
    if (mpi != MPI_SUCCESS) return exchange_mpi_error(mpi, "MPI_Comm_size", errstr, errsize);
    char **base = calloc((size_t)size, sizeof *base);
    char *mine = NULL;
    MPI_Win win = MPI_WIN_NULL;
    if (base == NULL) snprintf(errstr, errsize, "out of memory");
    if (exchange_agree(comm, base == NULL, errstr, errsize) != 0) {
        free(base);
        return -1;
    }
    mpi =
        MPI_Win_allocate_shared((MPI_Aint)(bytes ? bytes : 1), 1, MPI_INFO_NULL, comm, &mine, &win);
    if (mpi != MPI_SUCCESS) {
        free(base);
        return exchange_mpi_error(mpi, "MPI_Win_allocate_shared", errstr, errsize);
    }
    for (int r = 0; r < size && mpi == MPI_SUCCESS; r++) {
        MPI_Aint got = 0;
        int unit = 0;
        mpi = MPI_Win_shared_query(win, r, &got, &unit, &base[r]);
    }
    const char *what = "MPI_Win_shared_query";
    if (mpi == MPI_SUCCESS) {
        what = "MPI_Win_lock_all";
        mpi = MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    }
    if (mpi != MPI_SUCCESS) {
        MPI_Win_free(&win);
        free(base);
        return exchange_mpi_error(mpi, what, errstr, errsize);
    }
    s->win = win;
    s->base = base;
    s->bytes = bytes;
    s->size = size;
    return 0;
}

void nodeshm_sync(nodeshm_t *s)
{
    if (s->base != NULL) MPI_Win_sync(s->win);
}
