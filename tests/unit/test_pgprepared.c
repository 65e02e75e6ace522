/* test_pgprepared.c - the names of a sliced batch's prepared transactions
 * (pg/pgprepared.h): the identity digest against an independent SHA-256
 * (Python's hashlib), gids that parse back to what made them, names that
 * are not ours refused, and the slices of stream/sink_rows.h covering
 * every transaction row exactly once. No database: resolution itself is
 * tested against a real server by tests/integration/77-slices.sh. */
#include "pg/pgprepared.h"
#include "stream/batch.h"
#include "stream/sink_rows.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <string.h>

#include <cmocka.h>

static void identity_is_sha256_prefix(void **state)
{
    (void)state;
    char id[17];
    /* python3 -c "import hashlib; print(hashlib.sha256(b't\n{0,5}\n{10,20}').hexdigest()[:16])" */
    pgprepared_identity("t", "{0,5}", "{10,20}", id);
    assert_string_equal(id, "4fa6ed282c3cdc69");
    char other[17];
    pgprepared_identity("t", "{0,5}", "{10,21}", other);
    assert_string_not_equal(id, other);
}

static void gid_round_trip(void **state)
{
    (void)state;
    char gid[PGPREPARED_GID_SIZE];
    pgprepared_name_t n;
    assert_int_equal(
        pgprepared_gid(gid, 1234567, "4fa6ed282c3cdc69", 2, 3, "2026-12-05 15:00:00.123+00 9f1c"),
        0);
    assert_string_equal(gid,
                        "bankstream:1234567:4fa6ed282c3cdc69:2/3:2026-12-05 15:00:00.123+00 9f1c");
    assert_int_equal(pgprepared_parse(gid, &n), 0);
    assert_int_equal(n.batch, 1234567);
    assert_string_equal(n.identity, "4fa6ed282c3cdc69");
    assert_int_equal(n.slice, 2);
    assert_int_equal(n.slices, 3);
    assert_string_equal(n.database_id, "2026-12-05 15:00:00.123+00 9f1c");
}

static void gid_refused(void **state)
{
    (void)state;
    char gid[PGPREPARED_GID_SIZE], big[PGPREPARED_GID_SIZE];
    pgprepared_name_t n;
    assert_int_equal(pgprepared_gid(gid, 1, "4fa6ed282c3cdc69", 0, 2, "it's"), -1);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(pgprepared_gid(gid, 1, "4fa6ed282c3cdc69", 0, 2, big), -1);
    static const char *const not_ours[] = {
        "other:1:4fa6ed282c3cdc69:0/2:db",      /* prefix */
        "bankstream:0:4fa6ed282c3cdc69:0/2:db", /* batch 0 */
        "bankstream:1:4fa6ed282c3cdc6:0/2:db",  /* 15 digits */
        "bankstream:1:4fa6ed282c3cdc69:2/2:db", /* slice past slices */
        "bankstream:1:4fa6ed282c3cdc69:0/0:db", /* no slices */
        "bankstream:1:4FA6ED282C3CDC69:0/2:db", /* not our hex */
        "bankstream:1:4fa6ed282c3cdc69-0/2:db", /* separator */
    };
    for (size_t i = 0; i < sizeof not_ours / sizeof *not_ours; i++)
        if (pgprepared_parse(not_ours[i], &n) == 0) fail_msg("'%s' parsed", not_ours[i]);
}

/* Every transaction row is in exactly one slice, for any number of slices;
 * the other rows (duplicates, dead letters) in none. */
static void slices_partition_rows(void **state)
{
    (void)state;
    batch_t *b = batch_new(1);
    assert_non_null(b);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 1000; i++) {
        batch_row_t *r = batch_add_row(b);
        assert_non_null(r);
        memset(r, 0, sizeof *r);
        r->kind = i % 10 == 9 ? ROW_DUPLICATE : ROW_TXN;
        for (int h = 0; h < 2; h++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(r->rec.txn.payer + 8 * h, &x, 8);
        }
    }
    for (int slices = 1; slices <= 5; slices++) {
        size_t total = 0, nonempty = 0;
        for (int k = 0; k < slices; k++) {
            size_t n = sink_rows_count(b, k, slices);
            total += n;
            nonempty += n > 0;
        }
        assert_int_equal(total, 900);
        assert_int_equal(nonempty, (size_t)slices);
        for (size_t i = 0; i < b->nrows; i++) {
            int in = 0;
            for (int k = 0; k < slices; k++)
                in += sink_rows_in_slice(&b->rows[i], k, slices);
            assert_int_equal(in, b->rows[i].kind == ROW_TXN ? 1 : 0);
        }
    }
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_is_sha256_prefix),
        cmocka_unit_test(gid_round_trip),
        cmocka_unit_test(gid_refused),
        cmocka_unit_test(slices_partition_rows),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
