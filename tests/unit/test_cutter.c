/* test_cutter.c - cutter_plan (stream/cutter.h), the pure rule that says
 * when a batch is ready and how many messages each partition gives it.
 *
 * Why: batch boundaries are part of the result (DESIGN.md: the outcome
 * depends on the input and the boundaries only), so the rule must cut the
 * same batches every time; the stream tests reach it only through a broker.
 *
 * Checked: quotas (batch_size / nparts, the remainder to the lowest
 * partitions, at least 1 each) for several sizes against a table and
 * against a formula written here; ready only when every partition has its
 * quota or is at its end; the max_ms bound (ready at pending_ms ==
 * max_ms, not a ms before; never with max_ms 0); nothing buffered and
 * every partition drained -> -1; nothing buffered but not drained -> 0
 * (even past max_ms); and, over many random situations, take[] never
 * exceeds what is buffered nor the quota, and a ready batch takes
 * min(buffered, quota) from every partition; the time bound while the sink
 * is idle (cutter_time_bound); while the sink commits, a partition at its
 * end does not complete a batch (quotas, bytes and max_ms still do). */
#include "stream/cutter.h"
#include "base/rng.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define MAXP 16

/* The quota written from the contract, not from cutter.c. */
static size_t want_quota(int64_t k, int nparts, int p)
{
    int64_t base = k / nparts, extra = k % nparts;
    int64_t q = base + (p < extra ? 1 : 0);
    return q < 1 ? 1 : (size_t)q;
}

/* Every partition holds `buffered` messages, none at its end. */
/* buffered messages in each partition, no byte bound reached (fit: all). */
static void fill(cut_partition_t *parts, int nparts, size_t buffered)
{
    for (int p = 0; p < nparts; p++) {
        parts[p].buffered = buffered;
        parts[p].fit = SIZE_MAX;
        parts[p].at_end = 0;
        parts[p].drained = 0;
    }
}

static void test_quotas(void **state)
{
    static const struct {
        int64_t k;
        int nparts;
        size_t quota[8];
    } cases[] = {
        {10, 4, {3, 3, 2, 2}},
        {8, 4, {2, 2, 2, 2}},
        {1000, 3, {334, 333, 333}},
        {7, 1, {7}},
        {2, 4, {1, 1, 1, 1}}, /* fewer messages than partitions: at least 1 each */
        {1, 3, {1, 1, 1}},
        {5, 8, {1, 1, 1, 1, 1, 1, 1, 1}},
        {11, 8, {2, 2, 2, 1, 1, 1, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cut_partition_t parts[MAXP];
        size_t take[MAXP];
        int n = cases[c].nparts;
        fill(parts, n, 100000); /* plenty everywhere: take == quota */
        assert_int_equal(cutter_plan(parts, n, cases[c].k, 0, 0, 1, take), 1);
        for (int p = 0; p < n; p++) {
            if (take[p] != cases[c].quota[p])
                fail_msg("k %lld over %d partitions: partition %d takes %zu, expected %zu",
                         (long long)cases[c].k, n, p, take[p], cases[c].quota[p]);
            assert_int_equal(take[p], want_quota(cases[c].k, n, p));
        }
    }
    /* and the formula over a range of sizes */
    for (int n = 1; n <= MAXP; n++)
        for (int64_t k = 1; k <= 100; k++) {
            cut_partition_t parts[MAXP];
            size_t take[MAXP], sum = 0;
            fill(parts, n, 1000);
            assert_int_equal(cutter_plan(parts, n, k, 0, 0, 1, take), 1);
            for (int p = 0; p < n; p++) {
                assert_int_equal(take[p], want_quota(k, n, p));
                sum += take[p];
            }
            assert_int_equal(sum, k >= n ? (size_t)k : (size_t)n);
        }
}

static void test_ready_needs_every_partition(void **state)
{
    cut_partition_t parts[4];
    size_t take[4];
    /* quotas 3 3 2 2 */
    fill(parts, 4, 3);
    parts[3].buffered = 1; /* one short, not at its end: wait */
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 0, 1, take), 0);
    parts[3].buffered = 2; /* exactly its quota: ready */
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 0, 1, take), 1);
    assert_int_equal(take[0], 3);
    assert_int_equal(take[3], 2);
    parts[0].buffered = 2; /* partition 0 one short of its 3 */
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 0, 1, take), 0);
    parts[0].at_end = 1; /* but it is everything up to its end: ready */
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 0, 1, take), 1);
    assert_int_equal(take[0], 2);
    assert_int_equal(take[1], 3);
    /* an empty partition at its end (drained) does not hold the others back */
    parts[0].buffered = 0;
    parts[0].drained = 1;
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 0, 1, take), 1);
    assert_int_equal(take[0], 0);
    /* an empty partition not at its end does */
    parts[0].at_end = 0;
    parts[0].drained = 0;
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 0, 1, take), 0);
    /* more than the quota buffered: take the quota only */
    fill(parts, 4, 50);
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 0, 1, take), 1);
    size_t want[4] = {3, 3, 2, 2};
    for (int p = 0; p < 4; p++)
        assert_int_equal(take[p], want[p]);
}

static void test_max_ms(void **state)
{
    cut_partition_t parts[3];
    size_t take[3];
    fill(parts, 3, 0);
    parts[1].buffered = 2; /* quotas 4 4 4 (k = 12): far from complete */
    assert_int_equal(cutter_plan(parts, 3, 12, 500, 499, 1, take), 0);
    assert_int_equal(cutter_plan(parts, 3, 12, 500, 500, 1, take), 1); /* at the bound */
    assert_int_equal(take[0], 0);
    assert_int_equal(take[1], 2);
    assert_int_equal(take[2], 0);
    assert_int_equal(cutter_plan(parts, 3, 12, 500, 100000, 1, take), 1);
    /* max_ms 0: count-bounded only, however long it waited */
    assert_int_equal(cutter_plan(parts, 3, 12, 0, INT64_MAX / 2, 1, take), 0);
    /* the bound never takes more than a quota */
    parts[1].buffered = 9;
    assert_int_equal(cutter_plan(parts, 3, 12, 500, 600, 1, take), 1);
    assert_int_equal(take[1], 4);
}

static void test_nothing_buffered(void **state)
{
    cut_partition_t parts[3];
    size_t take[3];
    fill(parts, 3, 0);
    /* nothing buffered, more may come: wait, whatever the clock says */
    assert_int_equal(cutter_plan(parts, 3, 12, 0, 0, 1, take), 0);
    assert_int_equal(cutter_plan(parts, 3, 12, 10, 1000, 1, take), 0);
    /* two drained, one at its end... still nothing buffered but one not drained */
    parts[0].at_end = parts[0].drained = 1;
    parts[1].at_end = parts[1].drained = 1;
    assert_int_equal(cutter_plan(parts, 3, 12, 10, 1000, 1, take), 0);
    /* every partition drained: nothing left */
    parts[2].at_end = parts[2].drained = 1;
    assert_int_equal(cutter_plan(parts, 3, 12, 0, 0, 1, take), -1);
    assert_int_equal(cutter_plan(parts, 3, 12, 10, 1000, 1, take), -1);
    /* the last messages of a partition at its end: one more batch */
    parts[2].drained = 0;
    parts[2].buffered = 1;
    assert_int_equal(cutter_plan(parts, 3, 12, 0, 0, 1, take), 1);
    assert_int_equal(take[2], 1);
    assert_int_equal(take[0] + take[1], 0);
}

/* The byte bound: a partition whose next message would not fit its share
 * of max_bytes is complete with what fits (at least one message). */
static void test_byte_quota(void **state)
{
    cut_partition_t parts[2];
    size_t take[2];
    fill(parts, 2, 3); /* quotas 5 5 (k = 10): not complete by count */
    assert_int_equal(cutter_plan(parts, 2, 10, 0, 0, 1, take), 0);
    parts[0].fit = 2; /* partition 0's byte share is full after 2 messages */
    assert_int_equal(cutter_plan(parts, 2, 10, 0, 0, 1, take), 0); /* partition 1 still waits */
    parts[1].fit = 1;
    assert_int_equal(cutter_plan(parts, 2, 10, 0, 0, 1, take), 1);
    assert_int_equal(take[0], 2);
    assert_int_equal(take[1], 1);
}

/* While the sink commits, only quotas (count or bytes) and the time bound
 * cut: a batch complete only because partitions are at their ends waits
 * for the sink (it would queue behind the commit). */
static void test_sink_busy(void **state)
{
    cut_partition_t parts[4];
    size_t take[4];
    fill(parts, 4, 1); /* quotas 3 3 2 2, one message each, every partition at its end */
    for (int p = 0; p < 4; p++)
        parts[p].at_end = 1;
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 20, 1, take), 1);  /* idle: cut */
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 20, 0, take), 0);  /* busy: wait */
    assert_int_equal(cutter_plan(parts, 4, 10, 0, 20, 0, take), 0);    /* count-bounded too */
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 500, 0, take), 1); /* max_ms still cuts */
    assert_int_equal(take[0] + take[1] + take[2] + take[3], 4);
    /* three partitions have their quota, the fourth is at its end short of it */
    fill(parts, 4, 3);
    parts[3].buffered = 1;
    parts[3].at_end = 1;
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 20, 0, take), 0);
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 20, 1, take), 1);
    /* every quota there: cut, busy or not */
    parts[3].buffered = 2;
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 20, 0, take), 1);
    /* a partition whose byte share is full counts as full while busy */
    fill(parts, 4, 3);
    parts[3].buffered = 2;
    parts[3].fit = 1; /* its next message would not fit (fit < buffered) */
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 20, 0, take), 1);
    /* nothing buffered and every partition drained: nothing left, busy or not */
    fill(parts, 4, 0);
    for (int p = 0; p < 4; p++)
        parts[p].at_end = parts[p].drained = 1;
    assert_int_equal(cutter_plan(parts, 4, 10, 500, 20, 0, take), -1);
}

/* Random situations: the invariants of every answer. */
static void test_random_invariants(void **state)
{
    rng_t r;
    rng_seed(&r, 11, 5);
    int ready = 0, waiting = 0, done = 0;
    for (int iter = 0; iter < 200000; iter++) {
        int n = 1 + (int)rng_below(&r, 8);
        int64_t k = 1 + rng_below(&r, 40);
        int64_t max_ms = rng_below(&r, 3) == 0 ? 0 : 1 + rng_below(&r, 100);
        int64_t pending = rng_below(&r, 150);
        int idle = rng_below(&r, 2) == 0;
        cut_partition_t parts[MAXP];
        size_t take[MAXP];
        for (int p = 0; p < n; p++) {
            parts[p].buffered = rng_below(&r, 4) == 0 ? 0 : rng_below(&r, 12);
            /* a third of the partitions reach their byte quota first */
            parts[p].fit = rng_below(&r, 3) == 0 && parts[p].buffered
                               ? 1 + rng_below(&r, parts[p].buffered)
                               : parts[p].buffered;
            parts[p].at_end = rng_below(&r, 3) == 0;
            parts[p].drained = parts[p].at_end && parts[p].buffered == 0;
        }
        memset(take, 0xab, sizeof take);
        int rc = cutter_plan(parts, n, k, max_ms, pending, idle, take);
        size_t total = 0;
        int complete = 1, drained = 1;
        for (int p = 0; p < n; p++) {
            size_t q = want_quota(k, n, p);
            total += parts[p].buffered;
            drained &= parts[p].drained;
            /* full: the byte quota stops it, or the count quota is there */
            int full = parts[p].fit < parts[p].buffered || parts[p].buffered >= q;
            if (!full && !(idle && parts[p].at_end)) complete = 0;
        }
        int want = total == 0 ? (drained ? -1 : 0)
                              : (complete || (max_ms > 0 && pending >= max_ms) ? 1 : 0);
        if (rc != want) fail_msg("iteration %d: plan says %d, expected %d", iter, rc, want);
        if (rc != 1) {
            if (rc == 0)
                waiting++;
            else
                done++;
            continue;
        }
        ready++;
        for (int p = 0; p < n; p++) {
            size_t q = want_quota(k, n, p);
            assert_true(take[p] <= parts[p].buffered);
            assert_true(take[p] <= q);
            size_t fits = parts[p].fit < parts[p].buffered ? parts[p].fit : parts[p].buffered;
            assert_int_equal(take[p], fits < q ? fits : q);
        }
    }
    assert_true(ready > 1000 && waiting > 1000 && done > 100);
}

/* min_ms replaces max_ms only while the sink is idle, only when smaller,
 * and never turns a count-bounded job (max_ms 0) into a timed one. */
static void test_time_bound(void **state)
{
    (void)state;
    assert_int_equal(cutter_time_bound(500, 10, 1), 10);
    assert_int_equal(cutter_time_bound(500, 10, 0), 500);
    assert_int_equal(cutter_time_bound(500, 800, 1), 500);
    assert_int_equal(cutter_time_bound(500, 500, 1), 500);
    assert_int_equal(cutter_time_bound(0, 10, 1), 0);
    assert_int_equal(cutter_time_bound(0, 10, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quotas),
        cmocka_unit_test(test_ready_needs_every_partition),
        cmocka_unit_test(test_max_ms),
        cmocka_unit_test(test_nothing_buffered),
        cmocka_unit_test(test_byte_quota),
        cmocka_unit_test(test_sink_busy),
        cmocka_unit_test(test_random_invariants),
        cmocka_unit_test(test_time_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
