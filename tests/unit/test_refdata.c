/* test_refdata.c - the reference users and regions: distributions over large
 * samples, whole centavos, the documented draw order (rebuilt here from the
 * rng primitives as an independent reference) and reproducibility. */
#include "base/refdata.h"
#include "base/regions.h"
#include "base/rng.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SAMPLE 200000

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* |cents - reais*100| <= 1/2 (plus double noise): a correct rounding to cents. */
static void assert_rounded(int64_t cents, double reais)
{
    double diff = fabs((double)cents - reais * 100.0);
    if (diff > 0.5 + 1e-6)
        fail_msg("%lld cents is not %.6f reais rounded", (long long)cents, reais);
}

static void test_users_distribution(void **state)
{
    rng_t r;
    refdata_users_seed(&r, REFDATA_DEFAULT_SEED);
    long per_region[REGION_COUNT] = {0};
    double sum_saldo = 0, sum_limit = 0;
    uint8_t(*ids)[16] = malloc((size_t)SAMPLE * 16);
    assert_non_null(ids);
    for (int i = 0; i < SAMPLE; i++) {
        refdata_user_t u;
        memset(&u, 0xa5, sizeof u);
        refdata_user_next(&r, &u);
        assert_true(u.saldo_cents >= 0);
        assert_true(u.limite_cents >= 10000); /* R$ 100.00 */
        assert_true(u.region >= 0 && u.region < REGION_COUNT);
        assert_int_equal(u.id[6] >> 4, 4);      /* version 4 */
        assert_int_equal(u.id[8] & 0xc0, 0x80); /* RFC 4122 variant */
        per_region[u.region]++;
        sum_saldo += (double)u.saldo_cents / 100.0;
        sum_limit += (double)u.limite_cents / 100.0;
        memcpy(ids[i], u.id, 16);
    }
    double mean_saldo = sum_saldo / SAMPLE, mean_limit = sum_limit / SAMPLE;
    if (fabs(mean_saldo - 5000.0) > 0.02 * 5000.0) fail_msg("mean saldo %.2f", mean_saldo);
    if (fabs(mean_limit - 5100.0) > 0.02 * 5100.0) fail_msg("mean limit %.2f", mean_limit);
    double expect = (double)SAMPLE / REGION_COUNT;
    for (int k = 0; k < REGION_COUNT; k++)
        if (fabs((double)per_region[k] - expect) > 0.10 * expect)
            fail_msg("region %s has %ld users, expected about %.0f", region_table[k].code,
                     per_region[k], expect);
    qsort(ids, SAMPLE, 16, cmp_id);
    for (int i = 1; i < SAMPLE; i++)
        if (memcmp(ids[i - 1], ids[i], 16) == 0) fail_msg("duplicate user id");
    free(ids);
}

/* The documented order of draws, rebuilt from the rng primitives. */
static void test_users_draw_order(void **state)
{
    rng_t r, ref;
    refdata_users_seed(&r, 1234);
    rng_seed(&ref, 1234, RNG_STREAM_USERS);
    for (int i = 0; i < 20000; i++) {
        refdata_user_t u;
        refdata_user_next(&r, &u);
        uint8_t id[16];
        rng_uuid(&ref, id);
        double saldo = rng_exponential(&ref, 5000.0);
        double limit = 100.0 + rng_exponential(&ref, 5000.0);
        uint32_t region = rng_below(&ref, REGION_COUNT);
        assert_memory_equal(u.id, id, 16);
        assert_rounded(u.saldo_cents, saldo);
        assert_rounded(u.limite_cents, limit);
        assert_int_equal(u.region, region);
    }
    /* Both generators are at the same place afterwards. */
    assert_true(rng_next(&r) == rng_next(&ref));
}

static void test_users_reproducible(void **state)
{
    rng_t a, b, c;
    refdata_users_seed(&a, 42);
    refdata_users_seed(&b, 42);
    refdata_users_seed(&c, 43);
    int same_as_other_seed = 0;
    for (int i = 0; i < 5000; i++) {
        refdata_user_t ua, ub, uc;
        refdata_user_next(&a, &ua);
        refdata_user_next(&b, &ub);
        refdata_user_next(&c, &uc);
        assert_memory_equal(ua.id, ub.id, 16);
        assert_true(ua.saldo_cents == ub.saldo_cents);
        assert_true(ua.limite_cents == ub.limite_cents);
        assert_int_equal(ua.region, ub.region);
        same_as_other_seed += memcmp(ua.id, uc.id, 16) == 0 || ua.saldo_cents == uc.saldo_cents;
    }
    /* Equal cents can happen by chance now and then; equal ids never. */
    assert_true(same_as_other_seed < 50);
}

/* Field by field: the struct has padding. */
static int regions_equal(const refdata_region_t *a, const refdata_region_t *b)
{
    for (int i = 0; i < REGION_COUNT; i++)
        if (a[i].media_cents != b[i].media_cents || a[i].fraudes != b[i].fraudes) return 0;
    return 1;
}

static void test_regions(void **state)
{
    refdata_region_t a[REGION_COUNT], b[REGION_COUNT];
    refdata_regions_generate(42, a);
    refdata_regions_generate(42, b);
    assert_true(regions_equal(a, b));

    /* Order of draws: per region, media (rng_below over the cent range), fraud count. */
    rng_t ref;
    rng_seed(&ref, 42, RNG_STREAM_REGIONS);
    for (int i = 0; i < REGION_COUNT; i++) {
        int64_t media = 100000 + (int64_t)rng_below(&ref, 3000001);
        int fraudes = (int)rng_below(&ref, 100);
        assert_true(a[i].media_cents == media);
        assert_int_equal(a[i].fraudes, fraudes);
    }

    /* Uniform ranges, over many seeds. */
    double sum_media = 0, sum_fraudes = 0;
    int64_t min_media = INT64_MAX, max_media = 0;
    int min_f = 100, max_f = -1, differs = 0;
    const int seeds = 10000;
    for (int s = 0; s < seeds; s++) {
        refdata_regions_generate((uint64_t)s, b);
        for (int i = 0; i < REGION_COUNT; i++) {
            assert_true(b[i].media_cents >= REFDATA_MEDIA_MIN_CENTS);
            assert_true(b[i].media_cents <= REFDATA_MEDIA_MAX_CENTS);
            assert_true(b[i].fraudes >= 0 && b[i].fraudes <= REFDATA_FRAUDES_MAX);
            sum_media += (double)b[i].media_cents / 100.0;
            sum_fraudes += b[i].fraudes;
            if (b[i].media_cents < min_media) min_media = b[i].media_cents;
            if (b[i].media_cents > max_media) max_media = b[i].media_cents;
            if (b[i].fraudes < min_f) min_f = b[i].fraudes;
            if (b[i].fraudes > max_f) max_f = b[i].fraudes;
        }
        if (s == 43) differs = !regions_equal(a, b);
    }
    double n = (double)seeds * REGION_COUNT;
    if (fabs(sum_media / n - 16000.0) > 0.01 * 16000.0) fail_msg("mean media %.2f", sum_media / n);
    if (fabs(sum_fraudes / n - 49.5) > 0.01 * 49.5) fail_msg("mean fraudes %.2f", sum_fraudes / n);
    assert_true(min_media < 100000 + 1000 && max_media > 3100000 - 1000);
    assert_int_equal(min_f, 0);
    assert_int_equal(max_f, 99);
    assert_true(differs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_distribution),
        cmocka_unit_test(test_users_draw_order),
        cmocka_unit_test(test_users_reproducible),
        cmocka_unit_test(test_regions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
