/* mpi_tally.c - what bankstream's ranks send each other, by step, measured
 * through MPI's profiling interface (LD_PRELOAD; tests/bench/hosts.sh).
 *
 *   mpicc -shared -fPIC -o mpi_tally.so mpi_tally.c
 *   BS_TALLY_OUT=FILE LD_PRELOAD=mpi_tally.so mpirun ... bankstream run ...
 *
 * Counts the payload bytes each rank hands MPI for other ranks, split by
 * whether the destination runs on the same host (MPI_Get_processor_name)
 * and by step of a batch, as src/engine/exchange.c issues them:
 *   scatter        MPI_Scatterv on MPI_COMM_WORLD (rank 0 -> the payers' owners)
 *   lookup_query   1st MPI_Alltoallv of a decision on the workers' communicator
 *                  (receiver ids to their owners)
 *   lookup_answer  2nd (the owners' answers)
 *   credits        3rd (credits to the receivers' owners)
 *   gather         MPI_Gatherv on MPI_COMM_WORLD (results back to rank 0)
 *   control        the counts and commands around them (MPI_Iscatter,
 *                  MPI_Igather, MPI_Ialltoall, MPI_Ibcast, MPI_Iallreduce),
 *                  counted as count * type size per peer
 * At MPI_Finalize, rank 0 appends one line per step to $BS_TALLY_OUT:
 * "STEP CALLS SAME_HOST_BYTES OTHER_HOST_BYTES" (CALLS: the most any rank
 * made; bytes: summed over the ranks). Payload only: MPI's own headers and
 * TCP/IP are what the interfaces' counters add on top. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_SCATTER, T_QUERY, T_ANSWER, T_CREDITS, T_GATHER, T_CONTROL, T_COUNT };
static const char *const tally_names[T_COUNT] = {"scatter", "lookup_query", "lookup_answer",
                                                 "credits", "gather",       "control"};

static double tally[T_COUNT][3]; /* calls, same-host bytes, other-host bytes */
static int *host_of;             /* world rank -> host index */
static int world_rank = -1;
static long alltoallv_calls; /* on communicators other than the world */

/* Host index of rank r of comm (world ranks known from MPI_Init). */
static int tally_host(MPI_Comm comm, int r)
{
    if (comm == MPI_COMM_WORLD) return host_of[r];
    MPI_Group g, w;
    int wr = 0;
    PMPI_Comm_group(comm, &g);
    PMPI_Comm_group(MPI_COMM_WORLD, &w);
    PMPI_Group_translate_ranks(g, 1, &r, w, &wr);
    PMPI_Group_free(&g);
    PMPI_Group_free(&w);
    return host_of[wr];
}

static void tally_send(int step, MPI_Comm comm, int to, double bytes)
{
    int me;
    PMPI_Comm_rank(comm, &me);
    if (to == me || bytes <= 0) return;
    tally[step][tally_host(comm, me) == tally_host(comm, to) ? 1 : 2] += bytes;
}

static int tally_size(MPI_Datatype t)
{
    int s = 0;
    PMPI_Type_size(t, &s);
    return s;
}

static void tally_setup(void)
{
    char name[MPI_MAX_PROCESSOR_NAME] = "";
    int len, size;
    PMPI_Get_processor_name(name, &len);
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    char *all = calloc((size_t)size, MPI_MAX_PROCESSOR_NAME);
    host_of = calloc((size_t)size, sizeof *host_of);
    PMPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                   MPI_COMM_WORLD);
    for (int r = 0; r < size; r++) {
        host_of[r] = r;
        for (int q = 0; q < r; q++)
            if (!strcmp(all + (size_t)q * MPI_MAX_PROCESSOR_NAME,
                        all + (size_t)r * MPI_MAX_PROCESSOR_NAME)) {
                host_of[r] = host_of[q];
                break;
            }
    }
    free(all);
}

int MPI_Init(int *argc, char ***argv)
{
    int rc = PMPI_Init(argc, argv);
    if (rc == MPI_SUCCESS) tally_setup();
    return rc;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    int rc = PMPI_Init_thread(argc, argv, required, provided);
    if (rc == MPI_SUCCESS) tally_setup();
    return rc;
}

int MPI_Scatterv(const void *sbuf, const int scounts[], const int displs[], MPI_Datatype stype,
                 void *rbuf, int rcount, MPI_Datatype rtype, int root, MPI_Comm comm)
{
    int me, size;
    PMPI_Comm_rank(comm, &me);
    PMPI_Comm_size(comm, &size);
    int step = comm == MPI_COMM_WORLD ? T_SCATTER : T_CONTROL;
    tally[step][0]++;
    if (me == root)
        for (int d = 0; d < size; d++)
            tally_send(step, comm, d, (double)scounts[d] * tally_size(stype));
    return PMPI_Scatterv(sbuf, scounts, displs, stype, rbuf, rcount, rtype, root, comm);
}

int MPI_Gatherv(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, const int rcounts[],
                const int displs[], MPI_Datatype rtype, int root, MPI_Comm comm)
{
    int step = comm == MPI_COMM_WORLD ? T_GATHER : T_CONTROL;
    tally[step][0]++;
    tally_send(step, comm, root, (double)scount * tally_size(stype));
    return PMPI_Gatherv(sbuf, scount, stype, rbuf, rcounts, displs, rtype, root, comm);
}

int MPI_Alltoallv(const void *sbuf, const int scounts[], const int sdispls[], MPI_Datatype stype,
                  void *rbuf, const int rcounts[], const int rdispls[], MPI_Datatype rtype,
                  MPI_Comm comm)
{
    int size, step = T_CONTROL;
    PMPI_Comm_size(comm, &size);
    if (comm != MPI_COMM_WORLD) step = T_QUERY + (int)(alltoallv_calls++ % 3);
    tally[step][0]++;
    for (int d = 0; d < size; d++)
        tally_send(step, comm, d, (double)scounts[d] * tally_size(stype));
    return PMPI_Alltoallv(sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype, comm);
}

/* The small ones: count * size to every other rank of the communicator. */
static void tally_control(MPI_Comm comm, int count, MPI_Datatype t, int root)
{
    int me, size;
    PMPI_Comm_rank(comm, &me);
    PMPI_Comm_size(comm, &size);
    tally[T_CONTROL][0]++;
    for (int d = 0; d < size; d++)
        if (root < 0 || me == root || d == root)
            tally_send(T_CONTROL, comm, root < 0 || me == root ? d : root,
                       (double)count * tally_size(t));
}

int MPI_Iscatter(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                 MPI_Datatype rtype, int root, MPI_Comm comm, MPI_Request *req)
{
    tally_control(comm, scount, stype, root);
    return PMPI_Iscatter(sbuf, scount, stype, rbuf, rcount, rtype, root, comm, req);
}

int MPI_Igather(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                MPI_Datatype rtype, int root, MPI_Comm comm, MPI_Request *req)
{
    tally_control(comm, scount, stype, root);
    return PMPI_Igather(sbuf, scount, stype, rbuf, rcount, rtype, root, comm, req);
}

int MPI_Ialltoall(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf, int rcount,
                  MPI_Datatype rtype, MPI_Comm comm, MPI_Request *req)
{
    tally_control(comm, scount, stype, -1);
    return PMPI_Ialltoall(sbuf, scount, stype, rbuf, rcount, rtype, comm, req);
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype t, int root, MPI_Comm comm, MPI_Request *req)
{
    tally_control(comm, count, t, root);
    return PMPI_Ibcast(buf, count, t, root, comm, req);
}

int MPI_Iallreduce(const void *sbuf, void *rbuf, int count, MPI_Datatype t, MPI_Op op,
                   MPI_Comm comm, MPI_Request *req)
{
    tally_control(comm, count, t, -1);
    return PMPI_Iallreduce(sbuf, rbuf, count, t, op, comm, req);
}

int MPI_Finalize(void)
{
    double all[T_COUNT][3], calls[T_COUNT], most[T_COUNT];
    for (int s = 0; s < T_COUNT; s++)
        calls[s] = tally[s][0];
    PMPI_Reduce(tally, all, T_COUNT * 3, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    PMPI_Reduce(calls, most, T_COUNT, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    const char *out = getenv("BS_TALLY_OUT");
    if (world_rank == 0 && out) {
        FILE *f = fopen(out, "a");
        if (f) {
            for (int s = 0; s < T_COUNT; s++)
                fprintf(f, "%s %.0f %.0f %.0f\n", tally_names[s], most[s], all[s][1], all[s][2]);
            fclose(f);
        }
    }
    free(host_of);
    return PMPI_Finalize();
}
