/* test_bloom.c - the Bloom filter (bloom.h): no false negatives ever, a
 * false-positive rate measured on ids never added that matches the theory
 * (and bloom_fp_rate) at a light and a heavy fill, the size rounding. The
 * ids are random UUIDs, as transaction ids are. */
#include "base/bloom.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <math.h>
#include <string.h>

#include <cmocka.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static void random_id(uint8_t id[16])
{
    for (int h = 0; h < 2; h++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        memcpy(id + 8 * h, &rng, 8);
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* variant */
}

/* Add n ids, check all of them, then probe 200,000 others. */
static void fill_and_measure(size_t bytes, size_t n, double *measured, double *expected)
{
    bloom_t b;
    assert_int_equal(bloom_init(&b, bytes), 0);
    uint64_t seed = rng;
    uint8_t id[16];
    for (size_t i = 0; i < n; i++) {
        random_id(id);
        bloom_add(&b, id);
    }
    rng = seed; /* the same ids again: every one is found */
    for (size_t i = 0; i < n; i++) {
        random_id(id);
        assert_true(bloom_maybe(&b, id));
    }
    size_t fp = 0, probes = 200000;
    for (size_t i = 0; i < probes; i++) {
        random_id(id);
        fp += (size_t)bloom_maybe(&b, id);
    }
    *measured = (double)fp / (double)probes;
    *expected = bloom_fp_rate(&b);
    double k = 7, m = (double)b.nbits;
    double theory = pow(1 - exp(-k * (double)n / m), k);
    assert_true(fabs(*expected - theory) <= theory * 0.01 + 1e-12);
    bloom_free(&b);
}

static void light_fill_rarely_false(void **state)
{
    (void)state;
    double measured, expected;
    fill_and_measure(1 << 20, 200000, &measured, &expected); /* 8 Mbit, 0.024 ids/bit */
    assert_true(expected < 1e-5);
    assert_true(measured <= 1e-4); /* at most 20 of 200,000 */
}

static void heavy_fill_matches_theory(void **state)
{
    (void)state;
    double measured, expected;
    fill_and_measure(1 << 16, 100000, &measured, &expected); /* 512 Kbit, 0.19 ids/bit */
    assert_true(expected > 0.05 && expected < 0.2);
    assert_true(fabs(measured - expected) <= expected * 0.15);
}

static void size_rounds_down_to_a_power_of_two(void **state)
{
    (void)state;
    bloom_t b;
    assert_int_equal(bloom_init(&b, 100), 0); /* at least 4 KiB */
    assert_int_equal(b.nbits, 4096 * 8);
    bloom_free(&b);
    assert_int_equal(bloom_init(&b, (3 << 20) - 1), 0);
    assert_int_equal(b.nbits, (uint64_t)(2 << 20) * 8);
    assert_int_equal(bloom_fp_rate(&b), 0);
    bloom_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(light_fill_rarely_false),
        cmocka_unit_test(heavy_fill_matches_theory),
        cmocka_unit_test(size_rounds_down_to_a_power_of_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
