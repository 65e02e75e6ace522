/* test_histo.c - the fixed-memory histogram (histo.h) against the exact
 * percentile of the same values sorted: exact below 1024, within 0.2% above,
 * for uniform, heavy-tailed and constant data; empty, negative and huge
 * values. */
#include "base/histo.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>

#include <cmocka.h>

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The reference: sort, take rank floor((n - 1) * p). */
static int64_t exact_percentile(int64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_i64);
    return v[(size_t)((double)(n - 1) * p)];
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_against_sorted(int64_t (*gen)(void))
{
    enum { N = 200000 };
    int64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    histo_t h;
    assert_int_equal(histo_init(&h), 0);
    for (size_t i = 0; i < N; i++) {
        v[i] = gen();
        histo_add(&h, v[i]);
    }
    static const double ps[] = {0, 0.01, 0.5, 0.9, 0.99, 0.999, 1};
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        int64_t want = exact_percentile(v, N, ps[k]), got = histo_percentile(&h, ps[k]);
        if (want < 1024) {
            assert_int_equal(got, want);
        } else {
            assert_true(got <= want);
            assert_true((double)(want - got) <= (double)want * 0.002);
        }
    }
    histo_free(&h);
    free(v);
}

static int64_t uniform_small(void)
{
    return (int64_t)(next() % 2000);
}
static int64_t heavy_tail(void) /* mostly tens of ms, a tail to hours */
{
    uint64_t r = next();
    return (int64_t)((r % 100) << (r >> 58) % 24);
}
static int64_t constant(void)
{
    return 91;
}

static void matches_sorted_uniform(void **state)
{
    (void)state;
    check_against_sorted(uniform_small);
}

static void matches_sorted_heavy_tail(void **state)
{
    (void)state;
    check_against_sorted(heavy_tail);
}

static void matches_sorted_constant(void **state)
{
    (void)state;
    check_against_sorted(constant);
}

static void edges(void **state)
{
    (void)state;
    histo_t h;
    assert_int_equal(histo_init(&h), 0);
    assert_int_equal(histo_percentile(&h, 0.5), 0); /* empty */
    histo_add(&h, -5);                              /* a clock step back counts as 0 */
    assert_int_equal(histo_percentile(&h, 1), 0);
    histo_add(&h, INT64_MAX);
    int64_t top = histo_percentile(&h, 1);
    assert_true(top <= INT64_MAX && top >= INT64_MAX - INT64_MAX / 500);
    assert_int_equal(h.max, INT64_MAX);
    assert_int_equal(h.n, 2);
    histo_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_sorted_uniform),
        cmocka_unit_test(matches_sorted_heavy_tail),
        cmocka_unit_test(matches_sorted_constant),
        cmocka_unit_test(edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
