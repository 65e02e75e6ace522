/* mpi_latency.c - the cost of one MPI round trip and of moving a megabyte
 * between ranks, for tests/bench/hosts.sh (the snapshot's cost across hosts
 * is a number of round trips times the first figure).
 *
 *   mpirun -np N mpi_latency [REPS]
 *
 * Rank 0 prints, as medians of 5 series of REPS (default 200):
 *   barrier: MPI_Barrier over all ranks, µs
 *   allreduce: MPI_Allreduce of one int, µs
 *   pingpong: 8 bytes from rank 0 to rank N-1 and back, µs
 *   bandwidth: 1 MiB from rank 0 to rank N-1 (and 1 byte back), MB/s */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define SERIES 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, SERIES, sizeof *v, cmp_double);
    return v[SERIES / 2];
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, reps = argc > 1 ? atoi(argv[1]) : 200;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (reps < 1) reps = 200;
    int last = size - 1, x = 1, y;
    char small[8] = {0};
    char *big = calloc(1 << 20, 1);
    double bar[SERIES], red[SERIES], pp[SERIES], bw[SERIES];
    for (int s = 0; s < SERIES; s++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t = MPI_Wtime();
        for (int i = 0; i < reps; i++)
            MPI_Barrier(MPI_COMM_WORLD);
        bar[s] = (MPI_Wtime() - t) / reps * 1e6;
        t = MPI_Wtime();
        for (int i = 0; i < reps; i++)
            MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        red[s] = (MPI_Wtime() - t) / reps * 1e6;
        MPI_Barrier(MPI_COMM_WORLD);
        t = MPI_Wtime();
        for (int i = 0; i < reps && size > 1; i++) {
            if (rank == 0) {
                MPI_Send(small, 8, MPI_CHAR, last, 0, MPI_COMM_WORLD);
                MPI_Recv(small, 8, MPI_CHAR, last, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else if (rank == last) {
                MPI_Recv(small, 8, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(small, 8, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
            }
        }
        pp[s] = (MPI_Wtime() - t) / reps * 1e6;
        MPI_Barrier(MPI_COMM_WORLD);
        t = MPI_Wtime();
        int n = reps / 10 > 0 ? reps / 10 : 1;
        for (int i = 0; i < n && size > 1; i++) {
            if (rank == 0) {
                MPI_Send(big, 1 << 20, MPI_CHAR, last, 1, MPI_COMM_WORLD);
                MPI_Recv(small, 1, MPI_CHAR, last, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else if (rank == last) {
                MPI_Recv(big, 1 << 20, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(small, 1, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
            }
        }
        bw[s] = n * (double)(1 << 20) / 1e6 / (MPI_Wtime() - t);
    }
    if (rank == 0)
        printf("barrier %.1f us, allreduce %.1f us, pingpong %.1f us, bandwidth %.0f MB/s\n",
               median(bar), median(red), median(pp), median(bw));
    free(big);
    MPI_Finalize();
    return 0;
}
