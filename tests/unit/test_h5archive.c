/* test_h5archive.c - the HDF5 transaction archive: rows written and read back
 * bit for bit (edge values, NaN and other special scores, several chunks,
 * appends of every size), slices, the root attributes, the atomic publish
 * (.partial), and the bad inputs (missing, not HDF5, foreign, root attributes
 * missing or of the wrong class, missing dataset, newer version, wrong type,
 * values out of range), each error naming the file and the dataset. The
 * damaged files are made with plain HDF5 calls here. */
#include "h5/h5archive.h"
#include "h5/h5util.h"
#include "base/regions.h"
#include "base/rng.h"
#include "engine/rules.h"

#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define CHUNK 65536 /* must match ARCH_CHUNK_ROWS only for the boundary cases to bite */

static char tmpdir[] = "/tmp/test_h5archive.XXXXXX";

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static double special_double(rng_t *r)
{
    static const double pool[] = {0.0, -0.0, 1.0, 0.5, 1e-310 /* subnormal */, 1e308};
    uint64_t k = rng_below(r, 10);
    if (k == 0) return NAN;
    if (k == 1) return INFINITY;
    if (k == 2) return -INFINITY;
    if (k < 9) return pool[k - 3];
    return rng_uniform(r);
}

/* Row i: random, with every field's edge values mixed in. calloc'd memory,
 * so padding bytes are zero and rows compare with memcmp. */
static void make_row(rng_t *r, size_t i, txn_record_t *row)
{
    static const int64_t edges64[] = {INT64_MIN, INT64_MAX, 0, -1, 1};
    static const int32_t edges32[] = {INT32_MIN, INT32_MAX, 0, -1};
    rng_uuid(r, row->txn.id);
    rng_uuid(r, row->txn.payer);
    rng_uuid(r, row->txn.receiver);
    if (i % 97 == 0) memset(row->txn.payer, 0xff, 16);
    if (i % 89 == 0) memset(row->txn.receiver, 0, 16);
    int edge = i % 7 == 0;
    row->txn.time_us = edge ? edges64[i % 5] : (int64_t)rng_next(r);
    row->txn.amount_cents = edge ? edges64[(i + 1) % 5] : (int64_t)rng_below(r, 10000000);
    row->txn.region = (uint8_t)(i % 11 == 0 ? REGION_COUNT - 1 : rng_below(r, REGION_COUNT));
    row->txn.modality = (uint8_t)rng_below(r, MOD_COUNT);
    row->partition = edge ? edges32[i % 4] : (int32_t)rng_below(r, 64);
    row->offset = edge ? edges64[(i + 2) % 5] : (int64_t)i;
    row->kafka_ts_ms = edge ? edges64[(i + 3) % 5] : (int64_t)rng_next(r) / 1000;
    row->batch_id = (int64_t)(5 + i / 1000);
    uint64_t s = rng_below(r, 4);
    row->status = s == 3 ? STATUS_NONE : (uint8_t)s;
    row->reason = (uint8_t)rng_below(r, REASON_COUNT);
    row->t5 = special_double(r);
    row->t6 = special_double(r);
    row->t7 = special_double(r);
}

static txn_record_t *make_rows(size_t n, uint64_t seed)
{
    txn_record_t *rows = calloc(n ? n : 1, sizeof *rows);
    assert_non_null(rows);
    rng_t r;
    rng_seed(&r, seed, 7);
    for (size_t i = 0; i < n; i++)
        make_row(&r, i, &rows[i]);
    return rows;
}

/* Write rows[0..n) to path in appends of varying sizes; returns 0 or fails. */
static void write_archive(const char *path, const char *source, const txn_record_t *rows, size_t n)
{
    char err[1024];
    static const size_t sizes[] = {1, 7, CHUNK - 1, 2, CHUNK, 3 * CHUNK, 1000};
    h5archive_writer_t *w = h5archive_create(path, source, "topic_x", 1234, err, sizeof err);
    if (w == NULL) fail_msg("h5archive_create: %s", err);
    size_t done = 0;
    for (size_t k = 0; done < n; k++) {
        size_t take = sizes[k % (sizeof sizes / sizeof sizes[0])];
        if (take > n - done) take = n - done;
        if (h5archive_append(w, rows + done, take, err, sizeof err) != 0)
            fail_msg("h5archive_append: %s", err);
        done += take;
        assert_int_equal(h5archive_writer_rows(w), (int64_t)done);
    }
    if (h5archive_close(w, NULL, err, sizeof err) != 0) fail_msg("h5archive_close: %s", err);
}

static void assert_rows_equal(const txn_record_t *got, const txn_record_t *want, size_t n,
                              int64_t first)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0)
            fail_msg("row %lld differs (amount %lld vs %lld, t5 %g vs %g)",
                     (long long)(first + (int64_t)i), (long long)got[i].txn.amount_cents,
                     (long long)want[i].txn.amount_cents, got[i].t5, want[i].t5);
}

static void test_round_trip(void **state)
{
    size_t n = 2 * CHUNK + 1234;
    char path[512], partial[600], err[1024];
    path_of(path, sizeof path, "rt.h5");
    snprintf(partial, sizeof partial, "%s.partial", path);
    txn_record_t *rows = make_rows(n, 11);
    write_archive(path, "stream", rows, n);
    assert_true(exists(path));
    assert_false(exists(partial));

    h5archive_reader_t *r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    if (r == NULL) fail_msg("h5archive_open: %s", err);
    assert_int_equal(h5archive_rows(r), (int64_t)n);
    const h5archive_info_t *in = h5archive_info(r);
    assert_int_equal(in->format_version, 1);
    assert_string_equal(in->source, "stream");
    assert_string_equal(in->topic, "topic_x");
    assert_int_equal(in->first_batch_id, 5);
    assert_int_equal(in->last_batch_id, (int64_t)(5 + (n - 1) / 1000));
    assert_int_equal(in->have_seed, 0);
    assert_int_equal(in->n_rows, (int64_t)n);
    assert_int_equal(in->chunk_rows, CHUNK);
    assert_true(in->created_us > 1700000000000000LL);

    txn_record_t *got = calloc(n, sizeof *got);
    assert_non_null(got);
    memset(got, 0xab, n * sizeof *got); /* the reader must clear padding itself */
    if (h5archive_read(r, 0, (int64_t)n, got, err, sizeof err) != 0) fail_msg("read: %s", err);
    assert_rows_equal(got, rows, n, 0);

    /* Slices: inside a chunk, across chunk boundaries, the last row, empty. */
    static const int64_t slices[][2] = {{0, 1},
                                        {5, 100},
                                        {CHUNK - 3, 7},
                                        {CHUNK, CHUNK},
                                        {CHUNK - 1, CHUNK + 2},
                                        {2 * CHUNK + 1233, 1},
                                        {2 * CHUNK + 1234, 0},
                                        {100, 0}};
    for (size_t k = 0; k < sizeof slices / sizeof slices[0]; k++) {
        int64_t f = slices[k][0], c = slices[k][1];
        memset(got, 0x5a, n * sizeof *got);
        if (h5archive_read(r, f, c, got, err, sizeof err) != 0)
            fail_msg("read %lld+%lld: %s", (long long)f, (long long)c, err);
        assert_rows_equal(got, rows + f, (size_t)c, f);
    }
    /* Outside the file: an error naming the file, nothing else happens. */
    assert_int_equal(h5archive_read(r, (int64_t)n - 1, 2, got, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, "holds");
    assert_int_equal(h5archive_read(r, -1, 1, got, err, sizeof err), -1);
    h5archive_close_reader(r);
    free(got);
    free(rows);
}

/* h5archive_read_columns: every column, read straight into arrays over
 * slices that cut chunks, equals the rows written; a column left NULL is not
 * touched; the range check and the enum check are those of h5archive_read. */
static void test_read_columns(void **state)
{
    (void)state;
    size_t n = 2 * CHUNK + 77;
    char path[512], err[1024];
    path_of(path, sizeof path, "cols.h5");
    txn_record_t *rows = make_rows(n, 29);
    write_archive(path, "stream", rows, n);
    h5archive_reader_t *r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    if (r == NULL) fail_msg("h5archive_open: %s", err);
    uint8_t(*id)[16] = malloc(n * 16), (*payer)[16] = malloc(n * 16),
    (*receiver)[16] = malloc(n * 16);
    int64_t *time_us = malloc(n * 8), *amount = malloc(n * 8), *offset = malloc(n * 8),
            *ts = malloc(n * 8), *batch = malloc(n * 8);
    int32_t *partition = malloc(n * 4);
    uint8_t *region = malloc(n), *modality = malloc(n), *status = malloc(n), *reason = malloc(n);
    double *t5 = malloc(n * 8), *t6 = malloc(n * 8), *t7 = malloc(n * 8);
    h5archive_columns_t all = {id,       payer,     receiver, time_us, amount, region,
                               modality, partition, offset,   ts,      batch,  status,
                               reason,   t5,        t6,       t7};
    static const int64_t slices[][2] = {{0, 1}, {CHUNK - 5, 10}, {1, 2 * CHUNK + 76}, {9, 0}};
    for (size_t k = 0; k < sizeof slices / sizeof slices[0]; k++) {
        int64_t f = slices[k][0], c = slices[k][1];
        if (h5archive_read_columns(r, f, c, &all, err, sizeof err) != 0)
            fail_msg("read_columns %lld+%lld: %s", (long long)f, (long long)c, err);
        for (int64_t i = 0; i < c; i++) {
            const txn_record_t *w = &rows[f + i];
            if (memcmp(id[i], w->txn.id, 16) || memcmp(payer[i], w->txn.payer, 16) ||
                memcmp(receiver[i], w->txn.receiver, 16) || time_us[i] != w->txn.time_us ||
                amount[i] != w->txn.amount_cents || region[i] != w->txn.region ||
                modality[i] != w->txn.modality || partition[i] != w->partition ||
                offset[i] != w->offset || ts[i] != w->kafka_ts_ms || batch[i] != w->batch_id ||
                status[i] != w->status || reason[i] != w->reason || memcmp(&t5[i], &w->t5, 8) ||
                memcmp(&t6[i], &w->t6, 8) || memcmp(&t7[i], &w->t7, 8))
                fail_msg("row %lld differs", (long long)(f + i));
        }
    }
    /* Only two columns: the others are not written to. */
    memset(amount, 0x5a, n * 8);
    h5archive_columns_t two = {.time_us = time_us, .batch_id = batch};
    assert_int_equal(h5archive_read_columns(r, 3, 50, &two, err, sizeof err), 0);
    assert_int_equal(time_us[49], rows[52].txn.time_us);
    assert_int_equal(batch[0], rows[3].batch_id);
    assert_int_equal(amount[0], 0x5a5a5a5a5a5a5a5aLL);
    assert_int_equal(h5archive_read_columns(r, (int64_t)n - 1, 2, &two, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, "holds");
    h5archive_close_reader(r);
    void *bufs[] = {id,     payer,    receiver, time_us, amount, offset, ts, batch, partition,
                    region, modality, status,   reason,  t5,     t6,     t7, rows};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

static void test_produce_and_empty(void **state)
{
    char path[512], err[1024];
    path_of(path, sizeof path, "prod.h5");
    txn_record_t *rows = make_rows(10, 3);
    write_archive(path, "produce", rows, 10);
    h5archive_reader_t *r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    if (r == NULL) fail_msg("open: %s", err);
    assert_string_equal(h5archive_info(r)->source, "produce");
    assert_int_equal(h5archive_info(r)->have_seed, 1);
    assert_int_equal(h5archive_info(r)->seed, 1234);
    assert_int_equal(h5archive_info(r)->first_batch_id, -1);
    assert_int_equal(h5archive_info(r)->last_batch_id, -1);
    h5archive_close_reader(r);

    /* Replay results: batch ids tracked as for the stream, no seed. */
    path_of(path, sizeof path, "replay.h5");
    write_archive(path, "replay", rows, 10);
    r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    if (r == NULL) fail_msg("open replay: %s", err);
    assert_string_equal(h5archive_info(r)->source, "replay");
    assert_int_equal(h5archive_info(r)->have_seed, 0);
    assert_int_equal(h5archive_info(r)->first_batch_id, 5);
    assert_int_equal(h5archive_info(r)->last_batch_id, 5);
    h5archive_close_reader(r);

    path_of(path, sizeof path, "empty.h5");
    write_archive(path, "stream", rows, 0);
    r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    if (r == NULL) fail_msg("open empty: %s", err);
    assert_int_equal(h5archive_rows(r), 0);
    assert_int_equal(h5archive_info(r)->first_batch_id, -1);
    assert_int_equal(h5archive_read(r, 0, 0, rows, err, sizeof err), 0);
    h5archive_close_reader(r);
    free(rows);
}

static void test_partial_and_abort(void **state)
{
    char path[512], partial[600], err[1024];
    path_of(path, sizeof path, "pub.h5");
    snprintf(partial, sizeof partial, "%s.partial", path);
    txn_record_t *rows = make_rows(100, 5);

    /* Published over an older archive only at close. */
    write_archive(path, "stream", rows, 50);
    h5archive_writer_t *w = h5archive_create(path, "stream", "t", 0, err, sizeof err);
    assert_non_null(w);
    assert_int_equal(h5archive_append(w, rows, 100, err, sizeof err), 0);
    assert_true(exists(partial));
    h5archive_reader_t *r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(h5archive_rows(r), 50); /* still the old one */
    h5archive_close_reader(r);
    assert_int_equal(h5archive_close(w, NULL, err, sizeof err), 0);
    assert_false(exists(partial));
    r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(h5archive_rows(r), 100);
    h5archive_close_reader(r);

    /* Abort: the .partial goes, the published file stays. */
    w = h5archive_create(path, "stream", "t", 0, err, sizeof err);
    assert_non_null(w);
    assert_int_equal(h5archive_append(w, rows, 10, err, sizeof err), 0);
    assert_true(exists(partial));
    h5archive_abort(w);
    assert_false(exists(partial));
    r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(h5archive_rows(r), 100);
    h5archive_close_reader(r);
    h5archive_abort(NULL);
    assert_int_equal(h5archive_close(NULL, NULL, err, sizeof err), 0);

    /* A bad row appends nothing; the writer goes on. */
    w = h5archive_create(path, "stream", "t", 0, err, sizeof err);
    assert_non_null(w);
    rows[3].txn.region = REGION_COUNT;
    assert_int_equal(h5archive_append(w, rows, 10, err, sizeof err), -1);
    assert_contains(err, "/transactions/region");
    assert_int_equal(h5archive_writer_rows(w), 0);
    rows[3].txn.region = 0;
    rows[4].status = 3;
    assert_int_equal(h5archive_append(w, rows, 10, err, sizeof err), -1);
    assert_contains(err, "/results/status");
    rows[4].status = 0;
    rows[5].reason = REASON_COUNT;
    assert_int_equal(h5archive_append(w, rows, 10, err, sizeof err), -1);
    assert_contains(err, "/results/reason");
    rows[5].reason = 0;
    rows[6].txn.modality = MOD_COUNT;
    assert_int_equal(h5archive_append(w, rows, 10, err, sizeof err), -1);
    assert_contains(err, "/transactions/modality");
    rows[6].txn.modality = 0;
    assert_int_equal(h5archive_append(w, rows, 10, err, sizeof err), 0);
    assert_int_equal(h5archive_writer_rows(w), 10);
    h5archive_abort(w);

    /* Cannot create: directory missing; nothing left behind. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.h5", tmpdir);
    assert_null(h5archive_create(bad, "stream", "t", 0, err, sizeof err));
    assert_contains(err, "x.h5.partial");
    assert_contains(err, "No such file or directory");
    assert_null(h5archive_create(path, "other", "t", 0, err, sizeof err));
    free(rows);
}

/* Open must fail with a message holding every needle. */
static void expect_open_error(const char *path, const char *n1, const char *n2)
{
    char err[1024] = "";
    h5archive_reader_t *r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    if (r != NULL) {
        h5archive_close_reader(r);
        fail_msg("%s opened, expected an error with '%s'", path, n1);
    }
    assert_non_null(strstr(err, path));
    assert_contains(err, n1);
    if (n2) assert_contains(err, n2);
    assert_null(strchr(err, '\n'));
}

static void test_bad_input(void **state)
{
    char good[512], path[512];
    path_of(good, sizeof good, "good.h5");
    txn_record_t *rows = make_rows(300, 9);
    for (int i = 0; i < 300; i++)
        rows[i].txn.region = 1;
    write_archive(good, "produce", rows, 300);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    path_of(path, sizeof path, "missing.h5");
    expect_open_error(path, "No such file or directory", NULL);

    path_of(path, sizeof path, "text.h5");
    FILE *f = fopen(path, "w");
    fputs("id,amount\n1,2\n", f);
    fclose(f);
    expect_open_error(path, "not an HDF5 file", NULL);

    /* A foreign HDF5 file: one dataset, no attributes. */
    path_of(path, sizeof path, "foreign.h5");
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d = 4;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t ds = H5Dcreate2(fid, "x", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(fid);
    expect_open_error(path, "not a bankstream transaction archive", "kind");

    /* Missing dataset. */
    path_of(path, sizeof path, "nodset.h5");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(fid, "/transactions/amount_cents", H5P_DEFAULT) >= 0);
    H5Fclose(fid);
    char want[600];
    snprintf(want, sizeof want, "%s: dataset /transactions/amount_cents is missing", path);
    expect_open_error(path, want, NULL);

    /* Missing group. */
    path_of(path, sizeof path, "nogroup.h5");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(fid, "/results", H5P_DEFAULT) >= 0);
    H5Fclose(fid);
    expect_open_error(path, "dataset /results/status is missing", NULL);

    /* Newer format version. */
    path_of(path, sizeof path, "v2.h5");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(fid, "format_version", H5P_DEFAULT);
    int32_t v = 2;
    assert_true(H5Awrite(a, H5T_NATIVE_INT32, &v) >= 0);
    H5Aclose(a);
    H5Fclose(fid);
    snprintf(want, sizeof want, "format version 2 of %s is newer than this bankstream supports (1)",
             path);
    expect_open_error(path, want, NULL);

    /* Root attributes of the wrong class (h5util_attr_read_*): n_rows as a
     * string, then source as an integer. */
    path_of(path, sizeof path, "attrclass.h5");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete(fid, "n_rows") >= 0);
    assert_int_equal(h5util_attr_str(fid, "n_rows", "300"), 0);
    H5Fclose(fid);
    expect_open_error(path, "attribute n_rows of / is not an integer scalar",
                      "not a bankstream transaction archive");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete(fid, "source") >= 0);
    assert_int_equal(h5util_attr_i64(fid, "source", 1), 0);
    H5Fclose(fid);
    expect_open_error(path, "attribute source of / is not a scalar string", NULL);
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete(fid, "topic") >= 0);
    H5Fclose(fid);
    expect_open_error(path, "attribute topic of / is missing", NULL);

    /* A dataset of the wrong type, and one of the wrong length. */
    path_of(path, sizeof path, "wrongtype.h5");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(fid, "/results/t6", H5P_DEFAULT) >= 0);
    d = 300;
    sp = H5Screate_simple(1, &d, NULL);
    ds = H5Dcreate2(fid, "/results/t6", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(ds);
    assert_true(H5Ldelete(fid, "/transactions/batch_id", H5P_DEFAULT) >= 0);
    H5Fclose(fid);
    expect_open_error(path, "dataset /transactions/batch_id is missing", NULL);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ds = H5Dcreate2(fid, "/transactions/batch_id", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                    H5P_DEFAULT);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(fid);
    expect_open_error(path, "dataset /results/t6 has the wrong type", "float64");

    path_of(path, sizeof path, "short.h5");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ds = H5Dopen2(fid, "/transactions/time_us", H5P_DEFAULT);
    hsize_t shorter = 299;
    assert_true(H5Dset_extent(ds, &shorter) >= 0);
    H5Dclose(ds);
    H5Fclose(fid);
    expect_open_error(path, "dataset /transactions/time_us has 299 rows", "n_rows says 300");

    /* Values out of range: caught at read, naming the dataset and row. */
    path_of(path, sizeof path, "region.h5");
    copy_file(good, path);
    fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ds = H5Dopen2(fid, "/transactions/region", H5P_DEFAULT);
    sp = H5Dget_space(ds);
    hsize_t at = 123, one = 1;
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, &at, NULL, &one, NULL);
    hid_t ms = H5Screate_simple(1, &one, NULL);
    uint8_t bad = 200;
    assert_true(H5Dwrite(ds, H5T_NATIVE_UINT8, ms, sp, H5P_DEFAULT, &bad) >= 0);
    H5Sclose(ms);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(fid);
    char err[1024];
    h5archive_reader_t *r = h5archive_open(MPI_COMM_SELF, path, err, sizeof err);
    if (r == NULL) fail_msg("open: %s", err);
    assert_int_equal(h5archive_read(r, 0, 100, rows, err, sizeof err), 0);
    assert_int_equal(h5archive_read(r, 100, 100, rows, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, "dataset /transactions/region, row 123: value 200");
    uint8_t regions[100];
    h5archive_columns_t only_region = {.region = regions};
    assert_int_equal(h5archive_read_columns(r, 100, 100, &only_region, err, sizeof err), -1);
    assert_contains(err, "dataset /transactions/region, row 123: value 200");
    h5archive_close_reader(r);

    /* A damaged file (truncated) fails at open with the path. */
    path_of(path, sizeof path, "trunc.h5");
    copy_file(good, path);
    assert_int_equal(truncate(path, 2000), 0);
    expect_open_error(path, "", NULL);
    free(rows);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_read_columns),
        cmocka_unit_test(test_produce_and_empty), cmocka_unit_test(test_partial_and_abort),
        cmocka_unit_test(test_bad_input),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    } else {
        fprintf(stderr, "files kept in %s\n", tmpdir);
    }
    MPI_Finalize();
    return failed ? 1 : 0;
}
