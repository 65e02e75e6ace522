/* archive_reorder.c - an archive in the order older bankstream versions
 * stored the stream's: not event order within a batch. For
 * tests/integration/88-replay.sh.
 *
 * Why: replay decides each batch in event order (data_horario, Kafka
 * timestamp, row number). Archives of this version are stored in that
 * order, so replay only checks it; an archive of an older version, in
 * (partition, offset) order, is sorted by the rank that reads it
 * (read_slice), before the rows go to their owners. No tool of this
 * version writes such an archive: this driver makes one from any archive.
 *
 *   archive_reorder IN OUT K   OUT holds IN's rows with each block of K rows
 *                              (the batches of `replay --batch-size K`)
 *                              reversed; every column, batch_id included,
 *                              moves with its row. Run under mpirun -np 1. */
#include "h5/h5archive.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char err[1024];
    int rc = 1;
    MPI_Init(&argc, &argv);
    if (argc != 4 || atoll(argv[3]) <= 0) {
        fprintf(stderr, "usage: archive_reorder IN OUT K\n");
        MPI_Finalize();
        return 2;
    }
    int64_t k = atoll(argv[3]);
    h5archive_reader_t *in = h5archive_open(MPI_COMM_SELF, argv[1], err, sizeof err);
    if (in == NULL) {
        fprintf(stderr, "archive_reorder: %s\n", err);
        MPI_Finalize();
        return 1;
    }
    const h5archive_info_t *info = h5archive_info(in);
    int64_t n = h5archive_rows(in);
    txn_record_t *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
    txn_record_t *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    h5archive_writer_t *w = NULL;
    if (rows == NULL || out == NULL) {
        fprintf(stderr, "archive_reorder: out of memory\n");
        goto done;
    }
    if (h5archive_read(in, 0, n, rows, err, sizeof err) != 0) {
        fprintf(stderr, "archive_reorder: %s\n", err);
        goto done;
    }
    for (int64_t b = 0; b < n; b += k) {
        int64_t end = b + k < n ? b + k : n;
        for (int64_t i = b; i < end; i++)
            out[b + (end - 1 - i)] = rows[i];
    }
    w = h5archive_create(argv[2], info->source, info->topic, info->seed, err, sizeof err);
    if (w != NULL && h5archive_append(w, out, (size_t)n, err, sizeof err) != 0) {
        h5archive_abort(w);
        w = NULL;
    } else if (w != NULL) {
        rc = h5archive_close(w, NULL, err, sizeof err) == 0 ? 0 : 1;
    }
    if (rc != 0) fprintf(stderr, "archive_reorder: %s\n", err);
done:
    free(rows);
    free(out);
    h5archive_close_reader(in);
    MPI_Finalize();
    return rc;
}
