/* archive_read.c - reads an HDF5 transaction archive under mpirun, for
 * tests/bench/archive_read.sh (the I/O ceiling of replay) and
 * tests/integration/85-archive.sh (parallel reads through h5archive.h).
 *
 *   plain FILE [SLICE]    every rank reads its block of rows of every column
 *                         with plain H5Dread (MPI-IO, collective) into column
 *                         buffers, SLICE rows per call (default: 16 chunks);
 *                         rank 0 prints "plain: ranks R rows N seconds S rows/s X MB/s Y";
 *                         ARCHIVE_READ_COLUMNS=/transactions/id,... reads
 *                         only those datasets (the columns replay reads)
 *   write OUT N [SLICE]   the other half of a replay's I/O: every rank writes
 *                         its block of N rows of the replay's results columns
 *                         (id, batch_id, status, reason, t5, t6, t7) with plain
 *                         H5Dwrite into contiguous datasets, SLICE rows per
 *                         call (default 131072), then rank 0 fsyncs OUT; timed
 *                         from the create to the fsync; rank 0 prints
 *                         "write: ranks R rows N seconds S rows/s X MB/s Y"
 *   api FILE [SLICE]      the same through h5archive_read into rows (default
 *                         SLICE 65536: a batch-sized buffer; 1M-row buffers,
 *                         136 MB a rank, measured 40% more CPU at -np 2)
 *   dump FILE OUT         h5archive_open + h5archive_read of the rank's block;
 *                         rank r writes its rows as text to OUT.r (one line a
 *                         row: index, ids, columns; t5..t7 as %.17g); rank 0
 *                         prints the root attributes to stdout
 *   copy IN OUT CHUNK FILTER   (one process) copy every dataset of IN into OUT
 *                         with CHUNK rows per chunk and FILTER none | deflate |
 *                         shuffle (shuffle+deflate 1 on numbers, deflate 1 on
 *                         ids) | numbers (shuffle+deflate 1 on numbers, ids
 *                         unfiltered), for measuring layouts
 *   strip FILE OBJECT     (one process) delete a link, e.g. /transactions/amount_cents
 *   set-version FILE V    (one process) overwrite the root attribute format_version
 * Rank r of R owns rows [r*n/R, (r+1)*n/R). Errors: one line on stderr, exit 1. */
#include "h5/h5archive.h"
#include "h5/h5util.h"
#include "base/ids.h"

#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <malloc.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const cols[] = {
    "/transactions/id",
    "/transactions/payer",
    "/transactions/receiver",
    "/transactions/time_us",
    "/transactions/amount_cents",
    "/transactions/region",
    "/transactions/modality",
    "/transactions/kafka_partition",
    "/transactions/kafka_offset",
    "/transactions/kafka_ts_ms",
    "/transactions/batch_id",
    "/results/status",
    "/results/reason",
    "/results/t5",
    "/results/t6",
    "/results/t7",
};
#define NCOLS ((int)(sizeof cols / sizeof cols[0]))

static int rank, size;

/* Print "archive_read: <what> <name>" and abort the job. */
static void die(const char *what, const char *name)
{
    fprintf(stderr, "archive_read: %s %s\n", what, name);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* CPU seconds (user + system) of all ranks so far, on rank 0. */
static double cpu_all(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mine = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6,
           all = 0;
    MPI_Reduce(&mine, &all, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    return all;
}

static void block(int64_t n, int64_t *first, int64_t *count)
{
    *first = n * rank / size;
    *count = n * (rank + 1) / size - *first;
}

/* Element size of a dataset's rows (16 for the ids). */
static size_t row_bytes(hid_t d)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int nd = H5Sget_simple_extent_dims(s, dims, NULL);
    size_t b = H5Tget_size(t) * (nd == 2 ? dims[1] : 1);
    H5Tclose(t);
    H5Sclose(s);
    return b;
}

static int plain(const char *file, int64_t slice)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), dxpl = H5Pcreate(H5P_DATASET_XFER);
    /* With more than one rank: MPI-IO with independent transfers, as
     * h5archive_open does (ARCHIVE_READ_IO=collective or posix to compare);
     * one rank: the default (sec2) driver, as h5archive_open does. */
    const char *io = getenv("ARCHIVE_READ_IO");
    if (io == NULL) io = "independent";
    if (size > 1 && strcmp(io, "posix") != 0) {
        H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
        H5Pset_dxpl_mpio(dxpl, strcmp(io, "collective") == 0 ? H5FD_MPIO_COLLECTIVE
                                                             : H5FD_MPIO_INDEPENDENT);
    }
    double c0 = cpu_all();
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, fapl);
    if (f < 0) die("cannot open", file);
    hid_t d[NCOLS];
    const char *name[NCOLS];
    size_t rb[NCOLS], total_rb = 0;
    hsize_t dims[2];
    const char *only = getenv("ARCHIVE_READ_COLUMNS");
    int ncols = 0;
    for (int c = 0; c < NCOLS; c++) {
        if (only) { /* keep cols[c] when it is one of the comma-separated names */
            size_t len = strlen(cols[c]);
            const char *at = strstr(only, cols[c]);
            while (at && !((at == only || at[-1] == ',') && (at[len] == ',' || at[len] == '\0')))
                at = strstr(at + 1, cols[c]);
            if (at == NULL) continue;
        }
        name[ncols] = cols[c];
        d[ncols] = H5Dopen2(f, cols[c], H5P_DEFAULT);
        if (d[ncols] < 0) die("cannot open dataset", cols[c]);
        rb[ncols] = row_bytes(d[ncols]);
        total_rb += rb[ncols++];
    }
    if (ncols == 0) die("ARCHIVE_READ_COLUMNS names no dataset of the archive:", only);
    hid_t s0 = H5Dget_space(d[0]);
    H5Sget_simple_extent_dims(s0, dims, NULL);
    H5Sclose(s0);
    int64_t n = (int64_t)dims[0], first, count;
    block(n, &first, &count);
    int64_t rounds = (count + slice - 1) / slice, maxrounds;
    MPI_Allreduce(&rounds, &maxrounds, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    char *buf = malloc((size_t)slice * 16);
    uint64_t checksum = 0;
    for (int64_t k = 0; k < maxrounds; k++) {
        int64_t at = first + k * slice, m = count - k * slice;
        if (m > slice) m = slice;
        if (m < 0) m = 0;
        for (int c = 0; c < ncols; c++) {
            int two = rb[c] == 16;
            hid_t type = H5Dget_type(d[c]);
            hid_t mt = H5Tget_native_type(type, H5T_DIR_ASCEND);
            hid_t fs, ms;
            if (h5util_select_rows(d[c], at, m, two ? 16 : 1, &fs, &ms) != 0)
                die("cannot select rows of", name[c]);
            if (H5Dread(d[c], mt, ms, fs, dxpl, buf) < 0) die("H5Dread failed on", name[c]);
            if (m) checksum += (uint64_t)(unsigned char)buf[(size_t)m * rb[c] - 1];
            H5Sclose(ms);
            H5Sclose(fs);
            H5Tclose(mt);
            H5Tclose(type);
        }
    }
    for (int c = 0; c < ncols; c++)
        H5Dclose(d[c]);
    H5Fclose(f);
    MPI_Barrier(MPI_COMM_WORLD);
    double secs = MPI_Wtime() - t0, cpu = cpu_all() - c0;
    if (rank == 0)
        printf("plain: ranks %d rows %" PRId64 " seconds %.3f rows/s %.0f MB/s %.0f cpu_s %.3f "
               "rows/cpu_s %.0f (%" PRIu64 ")\n",
               size, n, secs, (double)n / secs, (double)n * (double)total_rb / secs / 1e6, cpu,
               (double)n / cpu, checksum);
    free(buf);
    H5Pclose(fapl);
    H5Pclose(dxpl);
    return 0;
}

static int plain_write(const char *file, int64_t n, int64_t slice)
{
    const struct {
        const char *name;
        hid_t type; /* file and memory type */
        int two;    /* 16 bytes a row */
    } out[] = {
        {"/transactions/id", H5T_NATIVE_UINT8, 1}, {"/results/batch_id", H5T_NATIVE_INT64, 0},
        {"/results/status", H5T_NATIVE_UINT8, 0},  {"/results/reason", H5T_NATIVE_UINT8, 0},
        {"/results/t5", H5T_NATIVE_DOUBLE, 0},     {"/results/t6", H5T_NATIVE_DOUBLE, 0},
        {"/results/t7", H5T_NATIVE_DOUBLE, 0},
    };
    enum { NOUT = sizeof out / sizeof out[0] };
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (size > 1) {
        H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
        H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_INDEPENDENT);
    }
    int64_t first, count;
    block(n, &first, &count);
    char *buf = malloc((size_t)slice * 16);
    for (size_t i = 0; i < (size_t)slice * 16; i++)
        buf[i] = (char)(i * 7);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) die("cannot create", file);
    H5Gclose(H5Gcreate2(f, "transactions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Gclose(H5Gcreate2(f, "results", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hid_t d[NOUT];
    size_t row_size = 0;
    for (int c = 0; c < NOUT; c++) {
        hsize_t dims[2] = {(hsize_t)n, 16};
        hid_t sp = H5Screate_simple(out[c].two ? 2 : 1, dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_layout(dcpl, H5D_CONTIGUOUS);
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
        d[c] = H5Dcreate2(f, out[c].name, out[c].type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (d[c] < 0) die("cannot create dataset", out[c].name);
        row_size += H5Tget_size(out[c].type) * (out[c].two ? 16 : 1);
        H5Pclose(dcpl);
        H5Sclose(sp);
    }
    int64_t rounds = (count + slice - 1) / slice, maxrounds;
    MPI_Allreduce(&rounds, &maxrounds, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    for (int64_t k = 0; k < maxrounds; k++) {
        int64_t at = first + k * slice, m = count - k * slice;
        if (m > slice) m = slice;
        if (m < 0) m = 0;
        for (int c = 0; c < NOUT; c++) {
            hid_t fs, ms;
            if (h5util_select_rows(d[c], at, m, out[c].two ? 16 : 1, &fs, &ms) != 0)
                die("cannot select rows of", out[c].name);
            if (H5Dwrite(d[c], out[c].type, ms, fs, dxpl, buf) < 0)
                die("H5Dwrite failed on", out[c].name);
            H5Sclose(ms);
            H5Sclose(fs);
        }
    }
    for (int c = 0; c < NOUT; c++)
        H5Dclose(d[c]);
    if (H5Fclose(f) < 0) die("cannot close", file);
    if (rank == 0) {
        int fd = open(file, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) die("cannot fsync", file);
        close(fd);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double secs = MPI_Wtime() - t0;
    if (rank == 0)
        printf("write: ranks %d rows %" PRId64 " seconds %.3f rows/s %.0f MB/s %.0f\n", size, n,
               secs, (double)n / secs, (double)n * (double)row_size / secs / 1e6);
    free(buf);
    H5Pclose(fapl);
    H5Pclose(dxpl);
    return 0;
}

static int api(const char *file, int64_t slice)
{
    char err[1024];
    double c0 = cpu_all();
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    h5archive_reader_t *r = h5archive_open(MPI_COMM_WORLD, file, err, sizeof err);
    if (r == NULL) die("", err);
    int64_t n = h5archive_rows(r), first, count;
    block(n, &first, &count);
    int64_t rounds = (count + slice - 1) / slice, maxrounds;
    MPI_Allreduce(&rounds, &maxrounds, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    txn_record_t *rows = malloc((size_t)slice * sizeof *rows);
    int64_t sum = 0;
    for (int64_t k = 0; k < maxrounds; k++) {
        int64_t at = first + k * slice, m = count - k * slice;
        if (m > slice) m = slice;
        if (m < 0) m = 0;
        if (h5archive_read(r, at, m, rows, err, sizeof err) != 0) die("", err);
        for (int64_t i = 0; i < m; i++)
            sum += rows[i].txn.amount_cents;
    }
    h5archive_close_reader(r);
    MPI_Barrier(MPI_COMM_WORLD);
    double secs = MPI_Wtime() - t0, cpu = cpu_all() - c0;
    int64_t all = 0;
    MPI_Reduce(&sum, &all, 1, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("api: ranks %d rows %" PRId64 " seconds %.3f rows/s %.0f cpu_s %.3f rows/cpu_s "
               "%.0f (sum of amounts %" PRId64 ")\n",
               size, n, secs, (double)n / secs, cpu, (double)n / cpu, all);
    free(rows);
    return 0;
}

static int dump(const char *file, const char *out)
{
    char err[1024];
    h5archive_reader_t *r = h5archive_open(MPI_COMM_WORLD, file, err, sizeof err);
    if (r == NULL) {
        if (rank == 0) fprintf(stderr, "archive_read: %s\n", err);
        MPI_Finalize();
        exit(1);
    }
    const h5archive_info_t *in = h5archive_info(r);
    if (rank == 0)
        printf("format_version=%d source=%s topic=%s n_rows=%" PRId64 " first_batch_id=%" PRId64
               " last_batch_id=%" PRId64 " seed=%s%" PRIu64 " chunk_rows=%" PRId64 "\n",
               in->format_version, in->source, in->topic, in->n_rows, in->first_batch_id,
               in->last_batch_id, in->have_seed ? "" : "none/", in->seed, in->chunk_rows);
    int64_t first, count;
    block(h5archive_rows(r), &first, &count);
    txn_record_t *rows = calloc(count ? (size_t)count : 1, sizeof *rows);
    int rc = h5archive_read(r, first, count, rows, err, sizeof err);
    if (rc != 0) {
        if (rank == 0) fprintf(stderr, "archive_read: %s\n", err);
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s.%d", out, rank);
        FILE *f = fopen(path, "w");
        if (f == NULL) die("cannot create", path);
        for (int64_t i = 0; i < count; i++) {
            const txn_record_t *x = &rows[i];
            char id[IDS_TEXT_LEN + 1], p[IDS_TEXT_LEN + 1], q[IDS_TEXT_LEN + 1];
            ids_format(x->txn.id, id);
            ids_format(x->txn.payer, p);
            ids_format(x->txn.receiver, q);
            fprintf(f,
                    "%" PRId64 "\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%u\t%u\t%d\t%" PRId64
                    "\t%" PRId64 "\t%" PRId64 "\t%u\t%u\t%.17g\t%.17g\t%.17g\n",
                    first + i, id, p, q, x->txn.time_us, x->txn.amount_cents, x->txn.region,
                    x->txn.modality, x->partition, x->offset, x->kafka_ts_ms, x->batch_id,
                    x->status, x->reason, x->t5, x->t6, x->t7);
        }
        if (fclose(f) != 0) die("cannot write", path);
    }
    free(rows);
    h5archive_close_reader(r);
    MPI_Finalize();
    exit(rc ? 1 : 0);
}

static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    hid_t to = *(hid_t *)data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    char buf[4096];
    H5Aread(a, t, buf);
    hid_t b = H5Acreate2(to, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(b, t, buf);
    H5Aclose(b);
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return 0;
}

static int copy(const char *in, const char *out, hsize_t chunk, const char *filter)
{
    hid_t fi = H5Fopen(in, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fi < 0) die("cannot open", in);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    hid_t fo = H5Fcreate(out, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fo < 0) die("cannot create", out);
    H5Gclose(H5Gcreate2(fo, "transactions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Gclose(H5Gcreate2(fo, "results", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    /* The root attributes, so that h5archive_open accepts the copy. */
    H5Aiterate2(fi, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &fo);
    for (int c = 0; c < NCOLS; c++) {
        hid_t d = H5Dopen2(fi, cols[c], H5P_DEFAULT);
        hid_t t = H5Dget_type(d), s = H5Dget_space(d);
        hsize_t dims[2] = {0, 16}, maxd[2] = {H5S_UNLIMITED, 16}, ch[2] = {chunk, 16};
        int nd = H5Sget_simple_extent_dims(s, dims, NULL);
        size_t rb = row_bytes(d);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, nd, ch);
        int numbers_only = strcmp(filter, "numbers") == 0;
        if (strcmp(filter, "none") != 0 && !(numbers_only && rb == 16)) {
            if ((numbers_only || strcmp(filter, "shuffle") == 0) && rb != 16) H5Pset_shuffle(dcpl);
            H5Pset_deflate(dcpl, 1);
        }
        hid_t so = H5Screate_simple(nd, dims, maxd);
        hid_t o = H5Dcreate2(fo, cols[c], t, so, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        char *buf = malloc(dims[0] * rb + 1);
        if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ||
            H5Dwrite(o, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            die("copying %s failed", cols[c]);
        free(buf);
        H5Dclose(o);
        H5Sclose(so);
        H5Pclose(dcpl);
        H5Sclose(s);
        H5Tclose(t);
        H5Dclose(d);
    }
    H5Fclose(fo);
    H5Fclose(fi);
    H5Pclose(fapl);
    return 0;
}

static int strip(const char *file, const char *obj)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0 || H5Ldelete(f, obj, H5P_DEFAULT) < 0) die("cannot delete", obj);
    H5Fclose(f);
    return 0;
}

static int set_version(const char *file, int32_t v)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = f < 0 ? -1 : H5Aopen(f, "format_version", H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, H5T_NATIVE_INT32, &v) < 0) die("cannot set format_version of", file);
    H5Aclose(a);
    H5Fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    /* As replay_run does: keep freed blocks in the heap. Otherwise HDF5's
     * chunk-sized buffers are fresh mmaps whose pages fault in at every
     * chunk (measured, 7 columns of 10M rows: 0.59 s against 0.48 s at
     * -np 1, 0.69 s against 0.38 s at -np 2). */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = 2;
    if (argc >= 3 && strcmp(argv[1], "plain") == 0)
        rc = plain(argv[2], argc > 3 ? atoll(argv[3]) : 16 * 65536);
    else if (argc >= 4 && strcmp(argv[1], "write") == 0)
        rc = plain_write(argv[2], atoll(argv[3]), argc > 4 ? atoll(argv[4]) : 131072);
    else if (argc >= 3 && strcmp(argv[1], "api") == 0)
        rc = api(argv[2], argc > 3 ? atoll(argv[3]) : 65536);
    else if (argc == 4 && strcmp(argv[1], "dump") == 0)
        rc = dump(argv[2], argv[3]);
    else if (argc == 6 && strcmp(argv[1], "copy") == 0)
        rc = copy(argv[2], argv[3], (hsize_t)atoll(argv[4]), argv[5]);
    else if (argc == 4 && strcmp(argv[1], "strip") == 0)
        rc = strip(argv[2], argv[3]);
    else if (argc == 4 && strcmp(argv[1], "set-version") == 0)
        rc = set_version(argv[2], (int32_t)atoi(argv[3]));
    if (rc == 2 && rank == 0)
        fprintf(stderr, "usage: archive_read plain|write|api|dump|copy|strip|set-version ...\n");
    MPI_Finalize();
    return rc;
}
