/* test_h5snap.c - HDF5 snapshots on one rank (a singleton MPI run): round
 * trips from an array and from a shard, empty snapshots, listing, choosing
 * the newest usable one, and every kind of bad input. The layout is checked
 * with plain serial HDF5 calls (an independent reader), and corruption is
 * made by flipping bytes at the address HDF5 reports for a dataset.
 * Multi-rank runs are in tests/integration/80-snapshot.sh. */
#include "h5/h5snap.h"
#include "base/regions.h"
#include "base/rng.h"
#include "engine/shard.h"

#include <hdf5.h>
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

static char tmpdir[] = "/tmp/test_h5snap.XXXXXX";

static void make_users(user_state_t *u, size_t n, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed, 77);
    for (size_t i = 0; i < n; i++) {
        memset(&u[i], 0, sizeof u[i]);
        rng_uuid(&r, u[i].id);
        u[i].balance_cents = (int64_t)(rng_next(&r) % 1000000000000ULL);
        for (int k = 0; k < MOD_COUNT; k++)
            u[i].limit_cents[k] = (int64_t)(rng_next(&r) % 100000000ULL) + k;
        u[i].region = (uint8_t)rng_below(&r, REGION_COUNT);
        u[i].last_approved_us = i % 4 == 0 ? INT64_MIN : (int64_t)(rng_next(&r) >> 8);
    }
    if (n > 0) u[0].balance_cents = 0;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(((const user_state_t *)a)->id, ((const user_state_t *)b)->id, 16);
}

/* The fields a snapshot keeps are equal (the `used` byte is not kept). */
static void assert_same_users(user_state_t *a, user_state_t *b, size_t n)
{
    qsort(a, n, sizeof *a, cmp_id);
    qsort(b, n, sizeof *b, cmp_id);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(a[i].id, b[i].id, 16);
        assert_int_equal(a[i].balance_cents, b[i].balance_cents);
        assert_memory_equal(a[i].limit_cents, b[i].limit_cents, sizeof a[i].limit_cents);
        assert_int_equal(a[i].region, b[i].region);
        assert_int_equal(a[i].last_approved_us, b[i].last_approved_us);
    }
}

static void meta_init(h5snap_meta_t *m, int64_t batch, int nparts)
{
    memset(m, 0, sizeof *m);
    m->batch_id = batch;
    snprintf(m->topic, sizeof m->topic, "bank_transactions");
    snprintf(m->origin, sizeof m->origin, "db bank on 127.0.0.1:5432, seed 42");
    m->nparts = nparts;
    for (int p = 0; p < nparts; p++)
        m->end_offsets[p] = 100 * p + batch;
}

static void subdir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static void write_snapshot(const char *dir, int64_t batch, const user_state_t *u, size_t n)
{
    h5snap_meta_t m;
    char err[1024] = "";
    meta_init(&m, batch, 4);
    int rc = h5snap_write(MPI_COMM_WORLD, dir, &m, u, n, err, sizeof err);
    if (rc) fprintf(stderr, "write: %s\n", err);
    assert_int_equal(rc, 0);
}

static void flip_byte(const char *file, long offset)
{
    FILE *f = fopen(file, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, offset, SEEK_SET), 0);
    int c = fgetc(f);
    assert_true(c != EOF);
    assert_int_equal(fseek(f, offset, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

/* File address of a dataset's data, asked from HDF5 itself. */
static long dataset_offset(const char *file, const char *dset)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    assert_true(d >= 0);
    haddr_t a = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    assert_true(a != HADDR_UNDEF);
    return (long)a;
}

static void test_round_trip_array(void **state)
{
    enum { N = 3000 };
    char dir[512], path[600], err[1024] = "";
    subdir(dir, sizeof dir, "rt/nested"); /* created with its parent */
    user_state_t *u = malloc(N * sizeof *u);
    make_users(u, N, 1);
    int64_t total = 0;
    for (int i = 0; i < N; i++)
        total += u[i].balance_cents;
    write_snapshot(dir, 42, u, N);
    h5snap_path(dir, 42, path, sizeof path);
    assert_string_equal(strrchr(path, '/') + 1, "snap-000000000042.h5");

    h5snap_meta_t m;
    user_state_t *back = NULL;
    size_t n = 0;
    int rc = h5snap_read(MPI_COMM_WORLD, path, &m, &back, &n, err, sizeof err);
    if (rc) fprintf(stderr, "read: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(n, N);
    assert_int_equal(m.format_version, 1);
    assert_int_equal(m.batch_id, 42);
    assert_int_equal(m.n_users, N);
    assert_int_equal(m.total_balance_cents, total);
    assert_int_equal(m.writer_ranks, 1);
    assert_string_equal(m.topic, "bank_transactions");
    assert_string_equal(m.origin, "db bank on 127.0.0.1:5432, seed 42");
    assert_int_equal(m.nparts, 4);
    for (int p = 0; p < 4; p++)
        assert_int_equal(m.end_offsets[p], 100 * p + 42);
    assert_same_users(u, back, N);

    /* An independent reader: plain serial HDF5 sees the documented layout. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "/users/limit_cents", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2];
    assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    assert_int_equal(dims[0], N);
    assert_int_equal(dims[1], 4);
    hid_t t = H5Dget_type(d);
    assert_true(H5Tequal(t, H5T_STD_I64LE) > 0);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    d = H5Dopen2(f, "/users/balance_cents", H5P_DEFAULT);
    int64_t *bal = malloc(N * sizeof *bal), sum = 0;
    assert_true(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, bal) >= 0);
    for (int i = 0; i < N; i++)
        sum += bal[i];
    assert_int_equal(sum, total);
    free(bal);
    H5Dclose(d);
    H5Fclose(f);

    h5snap_meta_t mm;
    assert_int_equal(h5snap_read_meta(path, 1, &mm, err, sizeof err), 0);
    assert_int_equal(mm.checksum, m.checksum);
    free(u);
    free(back);
}

/* The same users from a shard (a different order) give the same checksum. */
static void test_shard_same_checksum(void **state)
{
    enum { N = 2500 };
    char d1[512], d2[512], p1[600], p2[600], err[1024] = "";
    subdir(d1, sizeof d1, "arr");
    subdir(d2, sizeof d2, "shard");
    user_state_t *u = malloc(N * sizeof *u);
    make_users(u, N, 2);
    shard_t s;
    assert_int_equal(shard_init(&s, 16), 0);
    for (int i = N - 1; i >= 0; i--)
        assert_non_null(shard_put(&s, &u[i]));
    write_snapshot(d1, 7, u, N);
    h5snap_meta_t m;
    meta_init(&m, 7, 4);
    assert_int_equal(h5snap_write_shard(MPI_COMM_WORLD, d2, &m, &s, err, sizeof err), 0);
    h5snap_path(d1, 7, p1, sizeof p1);
    h5snap_path(d2, 7, p2, sizeof p2);
    h5snap_meta_t a, b;
    assert_int_equal(h5snap_read_meta(p1, 1, &a, err, sizeof err), 0);
    assert_int_equal(h5snap_read_meta(p2, 1, &b, err, sizeof err), 0);
    assert_int_equal(a.checksum, b.checksum);
    assert_int_equal(a.total_balance_cents, b.total_balance_cents);
    user_state_t *back = NULL;
    size_t n = 0;
    assert_int_equal(h5snap_read(MPI_COMM_WORLD, p2, &m, &back, &n, err, sizeof err), 0);
    assert_int_equal(n, N);
    assert_same_users(u, back, N);
    free(back);
    free(u);
    shard_free(&s);
}

static void test_empty_snapshot(void **state)
{
    char dir[512], path[600], err[1024] = "";
    subdir(dir, sizeof dir, "empty");
    h5snap_meta_t m;
    meta_init(&m, 0, 0);
    int rc = h5snap_write(MPI_COMM_WORLD, dir, &m, NULL, 0, err, sizeof err);
    if (rc) fprintf(stderr, "write: %s\n", err);
    assert_int_equal(rc, 0);
    h5snap_path(dir, 0, path, sizeof path);
    user_state_t *back = NULL;
    size_t n = 99;
    assert_int_equal(h5snap_read(MPI_COMM_WORLD, path, &m, &back, &n, err, sizeof err), 0);
    assert_non_null(back);
    assert_int_equal(n, 0);
    assert_int_equal(m.n_users, 0);
    assert_int_equal(m.nparts, 0);
    assert_int_equal(m.total_balance_cents, 0);
    free(back);
}

static void test_list_ignores_partial(void **state)
{
    char dir[512], other[600], err[1024] = "";
    subdir(dir, sizeof dir, "list");
    user_state_t u[10];
    make_users(u, 10, 3);
    write_snapshot(dir, 9, u, 10);
    write_snapshot(dir, 10, u, 10);
    write_snapshot(dir, 2, u, 10);
    const char *junk[] = {".snap-000000000011.h5.partial", "snap-12.h5x", "snap-.h5", "x.h5",
                          "snap-0000000000013.h5.partial"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        snprintf(other, sizeof other, "%s/%s", dir, junk[i]);
        FILE *f = fopen(other, "w");
        fclose(f);
    }
    char **paths = NULL;
    int n = 0;
    assert_int_equal(h5snap_list(dir, &paths, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_non_null(strstr(paths[0], "snap-000000000010.h5"));
    assert_non_null(strstr(paths[1], "snap-000000000009.h5"));
    assert_non_null(strstr(paths[2], "snap-000000000002.h5"));
    h5snap_list_free(paths, n);
    /* No .partial is left behind by a successful write. */
    snprintf(other, sizeof other, "%s/.snap-000000000010.h5.partial", dir);
    assert_int_equal(access(other, F_OK), -1);

    /* A later write removes .partial files left by interrupted ones. */
    write_snapshot(dir, 10, u, 10);
    snprintf(other, sizeof other, "%s/.snap-000000000011.h5.partial", dir);
    assert_int_equal(access(other, F_OK), -1);

    /* Prune keeps the newest. */
    int removed = -1;
    assert_int_equal(h5snap_prune(dir, 2, &removed, err, sizeof err), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(h5snap_list(dir, &paths, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_non_null(strstr(paths[0], "snap-000000000010.h5"));
    assert_non_null(strstr(paths[1], "snap-000000000009.h5"));
    h5snap_list_free(paths, n);
    assert_int_equal(h5snap_prune(dir, 0, &removed, err, sizeof err), -1);

    subdir(other, sizeof other, "no-such-dir");
    assert_int_equal(h5snap_list(other, &paths, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "no-such-dir"));
}

/* Expect read_meta(verify) and the collective read to fail naming file and `what`. */
static void assert_bad(const char *file, int verify, const char *what)
{
    char err[1024] = "";
    h5snap_meta_t m;
    int rc = h5snap_read_meta(file, verify, &m, err, sizeof err);
    if (rc == 0 || !strstr(err, file) || !strstr(err, what))
        fprintf(stderr, "file %s, want '%s', got rc %d: %s\n", file, what, rc, err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, what));
    user_state_t *u = (user_state_t *)&m;
    size_t n = 5;
    err[0] = '\0';
    assert_int_equal(h5snap_read(MPI_COMM_WORLD, file, &m, &u, &n, err, sizeof err), -1);
    assert_null(u);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, what));
}

static void test_bad_input(void **state)
{
    char dir[512], good[600], bad[700];
    subdir(dir, sizeof dir, "bad");
    enum { N = 1000 };
    user_state_t *u = malloc(N * sizeof *u);
    make_users(u, N, 4);
    write_snapshot(dir, 5, u, N);
    free(u);
    h5snap_path(dir, 5, good, sizeof good);

    snprintf(bad, sizeof bad, "%s/missing.h5", dir);
    assert_bad(bad, 0, "No such file");

    snprintf(bad, sizeof bad, "%s/text.h5", dir);
    FILE *f = fopen(bad, "w");
    fputs("not hdf5 at all\n", f);
    fclose(f);
    assert_bad(bad, 0, "not an HDF5 file");

    /* A foreign HDF5 file: no format_version. */
    snprintf(bad, sizeof bad, "%s/foreign.h5", dir);
    hid_t fid = H5Fcreate(bad, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {3};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(fid, "data", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(fid);
    assert_bad(bad, 0, "format_version");

    /* A newer format version. */
    snprintf(bad, sizeof bad, "%s/newer.h5", dir);
    copy_file(good, bad);
    fid = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(fid, "format_version", H5P_DEFAULT);
    int32_t two = 2;
    H5Awrite(a, H5T_NATIVE_INT32, &two);
    H5Aclose(a);
    H5Fclose(fid);
    assert_bad(bad, 0, "format version 2 is newer than this bankstream supports (1)");

    /* A dataset missing. */
    snprintf(bad, sizeof bad, "%s/nodset.h5", dir);
    copy_file(good, bad);
    fid = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(fid, "/users/region", H5P_DEFAULT);
    H5Fclose(fid);
    assert_bad(bad, 0, "/users/region");

    /* Raw data flipped: the layout is fine, the checksum names the dataset. */
    const char *dsets[] = {"/users/id", "/users/balance_cents", "/users/limit_cents",
                           "/users/region", "/users/last_approved_us"};
    for (size_t i = 0; i < sizeof dsets / sizeof dsets[0]; i++) {
        snprintf(bad, sizeof bad, "%s/flip%zu.h5", dir, i);
        copy_file(good, bad);
        flip_byte(bad, dataset_offset(bad, dsets[i]) + 501);
        h5snap_meta_t m;
        char err[1024];
        assert_int_equal(h5snap_read_meta(bad, 0, &m, err, sizeof err), 0); /* meta is intact */
        assert_bad(bad, 1, dsets[i]);
    }
    snprintf(bad, sizeof bad, "%s/offsets.h5", dir);
    copy_file(good, bad);
    flip_byte(bad, dataset_offset(bad, "/kafka/end_offsets") + 9);
    assert_bad(bad, 0, "/kafka/end_offsets");

    /* Truncated. */
    snprintf(bad, sizeof bad, "%s/trunc.h5", dir);
    copy_file(good, bad);
    struct stat st;
    stat(bad, &st);
    assert_int_equal(truncate(bad, st.st_size / 2), 0);
    assert_bad(bad, 0, "truncated");
}

static void collect_warning(void *arg, const char *msg)
{
    char *buf = arg;
    strncat(buf, msg, 4000 - strlen(buf));
    strncat(buf, "\n", 4000 - strlen(buf));
}

/* Accept snapshots up to batch *(int64_t *)arg, as a restore accepts those
 * of committed batches; fail on batch 99 (a database error, say). */
static int accept_upto(void *arg, const char *path, const h5snap_meta_t *meta, char *why,
                       size_t whysize)
{
    int64_t max = *(const int64_t *)arg;
    if (meta->batch_id == 99) {
        snprintf(why, whysize, "%s: the database is gone", path);
        return -1;
    }
    if (meta->batch_id <= max) return 1;
    snprintf(why, whysize, "%s: skipped: batch %lld is newer than the last committed batch %lld",
             path, (long long)meta->batch_id, (long long)max);
    return 0;
}

static void test_read_newest_skips_corrupt(void **state)
{
    char dir[512], p[600], err[1024] = "", chosen[600] = "", warnings[4096] = "";
    subdir(dir, sizeof dir, "newest");
    user_state_t u[50];
    make_users(u, 50, 5);
    write_snapshot(dir, 3, u, 50);
    write_snapshot(dir, 8, u, 50);
    write_snapshot(dir, 12, u, 50);
    h5snap_path(dir, 8, p, sizeof p);
    flip_byte(p, dataset_offset(p, "/users/balance_cents") + 17);

    h5snap_meta_t m;
    user_state_t *back = NULL;
    size_t n = 0;
    int64_t max = 10;
    int rc = h5snap_read_newest(MPI_COMM_WORLD, dir, accept_upto, &max, &m, &back, &n, chosen,
                                sizeof chosen, collect_warning, warnings, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(m.batch_id, 3);
    assert_int_equal(n, 50);
    assert_non_null(strstr(chosen, "snap-000000000003.h5"));
    assert_non_null(strstr(warnings, "snap-000000000012.h5")); /* newer than batch 10 */
    assert_non_null(strstr(warnings, p));                      /* corrupt */
    assert_non_null(strstr(warnings, "corrupt"));
    free(back);

    max = 2;
    rc = h5snap_read_newest(MPI_COMM_WORLD, dir, accept_upto, &max, &m, &back, &n, NULL, 0, NULL,
                            NULL, err, sizeof err);
    assert_int_equal(rc, 1);
    assert_null(back);
    subdir(p, sizeof p, "never-written");
    rc = h5snap_read_newest(MPI_COMM_WORLD, p, NULL, NULL, &m, &back, &n, NULL, 0, NULL, NULL, err,
                            sizeof err);
    assert_int_equal(rc, 1);

    /* No predicate: the newest intact one; a failing predicate fails the call. */
    rc = h5snap_read_newest(MPI_COMM_WORLD, dir, NULL, NULL, &m, &back, &n, NULL, 0, NULL, NULL,
                            err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(m.batch_id, 12);
    free(back);
    write_snapshot(dir, 99, u, 50);
    rc = h5snap_read_newest(MPI_COMM_WORLD, dir, accept_upto, &max, &m, &back, &n, NULL, 0, NULL,
                            NULL, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_null(back);
    assert_non_null(strstr(err, "the database is gone"));
}

static void test_write_failures(void **state)
{
    char file[512], dir[600], err[1024] = "";
    subdir(file, sizeof file, "plainfile");
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(dir, sizeof dir, "%s/sub", file);
    user_state_t u[3];
    make_users(u, 3, 6);
    h5snap_meta_t m;
    meta_init(&m, 1, 1);
    assert_int_equal(h5snap_write(MPI_COMM_WORLD, dir, &m, u, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, file));

    /* An invalid region index is refused, and nothing is published. */
    subdir(dir, sizeof dir, "badregion");
    u[1].region = REGION_COUNT;
    err[0] = '\0';
    assert_int_equal(h5snap_write(MPI_COMM_WORLD, dir, &m, u, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "region"));
    char **paths = NULL;
    int n = -1;
    assert_int_equal(h5snap_list(dir, &paths, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    char partial[700];
    snprintf(partial, sizeof partial, "%s/.snap-000000000001.h5.partial", dir);
    assert_int_equal(access(partial, F_OK), -1);

    meta_init(&m, 1, 0);
    m.nparts = H5SNAP_MAX_PARTS + 1;
    assert_int_equal(h5snap_write(MPI_COMM_WORLD, dir, &m, u, 0, err, sizeof err), -1);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (!mkdtemp(tmpdir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_array), cmocka_unit_test(test_shard_same_checksum),
        cmocka_unit_test(test_empty_snapshot),   cmocka_unit_test(test_list_ignores_partial),
        cmocka_unit_test(test_bad_input),        cmocka_unit_test(test_read_newest_skips_corrupt),
        cmocka_unit_test(test_write_failures),
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
