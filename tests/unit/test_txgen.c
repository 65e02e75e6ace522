/* test_txgen.c - the transaction generator: its statistics, its clock, and
 * its draw order replayed by a separate reference written from txgen.h. */
#include "base/money.h"
#include "base/regions.h"
#include "base/rng.h"
#include "base/txgen.h"
#include "base/txn.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define N_TXN    200000
#define START_MS 1750000000000LL

/* Synthetic users: ids from their own rng, balances from saldo_of(i). */
static txgen_user_t *make_users(size_t n, int64_t (*saldo_of)(rng_t *, size_t))
{
    txgen_user_t *u = calloc(n, sizeof *u);
    assert_non_null(u);
    rng_t r;
    rng_seed(&r, 99, 1000);
    for (size_t i = 0; i < n; i++) {
        rng_uuid(&r, u[i].id);
        u[i].saldo_cents = saldo_of(&r, i);
    }
    return u;
}

static int64_t saldo_huge(rng_t *r, size_t i)
{
    return 100000000000000LL; /* R$ 1 trillion: never replaced */
}

static int64_t saldo_small(rng_t *r, size_t i)
{
    if (i % 10 == 0) return 0;            /* empty accounts: minimum 1 centavo */
    return (int64_t)rng_below(r, 300000); /* up to R$ 3,000: often replaced */
}

static void gen_init(txgen_t *g, const txgen_user_t *u, size_t n, uint64_t seed, double rate,
                     int64_t historic)
{
    char err[256];
    txgen_config_t cfg = {.seed = seed, .start_ms = START_MS, .rate = rate, .historic = historic};
    if (txgen_init(g, u, n, &cfg, err, sizeof err) != 0) fail_msg("txgen_init: %s", err);
}

static void test_round_product(void **state)
{
    assert_int_equal(txgen_round_product(1.005, 100), 100); /* 100.4999999999999893... */
    assert_int_equal(txgen_round_product(2.675, 100), 267);
    assert_int_equal(txgen_round_product(0.125, 100), 13); /* exact tie: up */
    assert_int_equal(txgen_round_product(3, 0.5), 2);
    assert_int_equal(txgen_round_product(0, 0.7), 0);
    assert_int_equal(txgen_round_product(1e-9, 100), 0);
    assert_int_equal(txgen_round_product(123.40, 100), 12340);
    /* The double products are exact halves (1.5, 4.5, 0.5, 2.5); the exact
     * products lie below or above. */
    assert_int_equal(txgen_round_product(0.015, 100), 1);
    assert_int_equal(txgen_round_product(0.045, 100), 4);
    assert_int_equal(txgen_round_product(0.005, 100), 1);
    assert_int_equal(txgen_round_product(0.025, 100), 3);
    /* Against money_from_double (printf of the exact binary value) on random
     * amounts, which never land on an exact tie. */
    rng_t r;
    rng_seed(&r, 3, 1001);
    for (int i = 0; i < 200000; i++) {
        double reais = rng_exponential(&r, i % 2 ? 1000.0 : 1e7);
        int64_t want;
        assert_int_equal(money_from_double(reais, &want), MONEY_OK);
        int64_t got = txgen_round_product(reais, 100);
        if (got != want)
            fail_msg("%.17g reais: %lld, want %lld", reais, (long long)got, (long long)want);
    }
}

static void test_init_rejects(void **state)
{
    txgen_user_t *u = make_users(2, saldo_huge);
    txgen_t g;
    char err[256] = "";
    txgen_config_t cfg = {.seed = 1, .start_ms = START_MS, .rate = 0, .historic = 0};
    assert_int_equal(txgen_init(&g, u, 1, &cfg, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    assert_int_equal(txgen_init(&g, u, 0, &cfg, err, sizeof err), -1);
    cfg.historic = -1;
    assert_int_equal(txgen_init(&g, u, 2, &cfg, err, sizeof err), -1);
    cfg.historic = 0;
    cfg.rate = -1;
    assert_int_equal(txgen_init(&g, u, 2, &cfg, err, sizeof err), -1);
    cfg.rate = 0;
    assert_int_equal(txgen_init(&g, u, 2, &cfg, err, sizeof err), 0);
    /* Two users: every transaction goes from one to the other. */
    for (int i = 0; i < 1000; i++) {
        txn_t t;
        txgen_next(&g, &t);
        assert_memory_not_equal(t.payer, t.receiver, 16);
    }
    free(u);
}

static void test_statistics_huge_balances(void **state)
{
    const size_t n = 1000;
    txgen_user_t *u = make_users(n, saldo_huge);
    txgen_t g;
    gen_init(&g, u, n, 42, 0, 0);
    long mod_count[MOD_COUNT] = {0}, reg_count[REGION_COUNT] = {0};
    double sum = 0;
    for (int i = 0; i < N_TXN; i++) {
        txn_t t;
        txgen_next(&g, &t);
        assert_memory_not_equal(t.payer, t.receiver, 16);
        assert_true(t.amount_cents >= 1);
        assert_true(t.modality < MOD_COUNT);
        assert_true(t.region < REGION_COUNT);
        mod_count[t.modality]++;
        reg_count[t.region]++;
        sum += (double)t.amount_cents;
        /* No historic: the live clock, 1 ms apart at rate 0. */
        assert_int_equal(t.time_us, (START_MS + i) * 1000);
    }
    double mean = sum / N_TXN;
    if (fabs(mean - 100000.0) > 0.02 * 100000.0) fail_msg("mean amount %.2f cents", mean);
    for (int m = 0; m < MOD_COUNT; m++) {
        double want = (double)N_TXN / MOD_COUNT;
        if (fabs(mod_count[m] - want) > 0.1 * want)
            fail_msg("modality %d drawn %ld times, want ~%.0f", m, mod_count[m], want);
    }
    for (int k = 0; k < REGION_COUNT; k++) {
        double want = (double)N_TXN / REGION_COUNT;
        if (fabs(reg_count[k] - want) > 0.1 * want)
            fail_msg("region %s drawn %ld times, want ~%.0f", region_table[k].code, reg_count[k],
                     want);
    }
    free(u);
}

static const txgen_user_t *find_user(const txgen_user_t *u, size_t n, const uint8_t id[16])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(u[i].id, id, 16) == 0) return &u[i];
    return NULL;
}

static void test_amounts_small_balances(void **state)
{
    const size_t n = 50;
    txgen_user_t *u = make_users(n, saldo_small);
    txgen_t g;
    gen_init(&g, u, n, 7, 0, 0);
    long replaced = 0;
    for (int i = 0; i < N_TXN; i++) {
        txn_t t;
        txgen_next(&g, &t);
        const txgen_user_t *payer = find_user(u, n, t.payer);
        assert_non_null(payer);
        assert_non_null(find_user(u, n, t.receiver));
        assert_memory_not_equal(t.payer, t.receiver, 16);
        assert_true(t.amount_cents >= 1);
        int64_t cap = payer->saldo_cents > 1 ? payer->saldo_cents : 1;
        if (t.amount_cents > cap)
            fail_msg("amount %lld above balance %lld", (long long)t.amount_cents,
                     (long long)payer->saldo_cents);
        if (payer->saldo_cents < 100000) replaced++;
    }
    assert_true(replaced > N_TXN / 4); /* the replacement path was exercised */
    free(u);
}

/* The reference: txgen.h's draw order, re-implemented with other rounding
 * helpers (money_from_double, llroundl). */
static void reference_next(rng_t *r, const txgen_user_t *u, size_t n, int64_t i, int64_t historic,
                           double rate, txn_t *t)
{
    memset(t, 0, sizeof *t);
    rng_uuid(r, t->id);
    uint32_t p = rng_below(r, (uint32_t)n);
    uint32_t q = rng_below(r, (uint32_t)n - 1);
    if (q >= p) q++;
    memcpy(t->payer, u[p].id, 16);
    memcpy(t->receiver, u[q].id, 16);
    int64_t cents;
    assert_int_equal(money_from_double(rng_exponential(r, 1000.0), &cents), MONEY_OK);
    if (cents > u[p].saldo_cents) {
        double x = rng_uniform(r);
        cents = llroundl((long double)u[p].saldo_cents * (long double)x);
    }
    if (cents < 1) cents = 1;
    t->amount_cents = cents;
    t->modality = (uint8_t)rng_below(r, 4);
    t->region = (uint8_t)rng_below(r, 27);
    const int64_t year = 365LL * 86400 * 1000;
    int64_t ms;
    if (i < historic) {
        double x = rng_uniform(r);
        ms = START_MS - year + (int64_t)floor(((double)i + x) * (double)year / (double)historic);
    } else {
        int64_t k = i - historic;
        ms = START_MS + (rate > 0 ? (int64_t)floor((double)k * 1000.0 / rate) : k);
    }
    t->time_us = ms * 1000;
}

static void test_matches_reference(void **state)
{
    const size_t n = 300;
    txgen_user_t *u = make_users(n, saldo_small);
    const int64_t historic = 500;
    const double rates[] = {0, 3, 2, 1000, 7.5};
    for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
        txgen_t g;
        gen_init(&g, u, n, 42 + ri, rates[ri], historic);
        rng_t ref;
        rng_seed(&ref, 42 + ri, RNG_STREAM_TRANSACTIONS);
        for (int64_t i = 0; i < 20000; i++) {
            txn_t got, want;
            txgen_next(&g, &got);
            reference_next(&ref, u, n, i, historic, rates[ri], &want);
            if (memcmp(&got, &want, sizeof got) != 0)
                fail_msg("rate %g, transaction %lld differs from the reference (amount %lld vs "
                         "%lld, time %lld vs %lld)",
                         rates[ri], (long long)i, (long long)got.amount_cents,
                         (long long)want.amount_cents, (long long)got.time_us,
                         (long long)want.time_us);
        }
    }
    free(u);
}

static void test_clock(void **state)
{
    const size_t n = 100;
    txgen_user_t *u = make_users(n, saldo_huge);
    const int64_t historic = 5000, year = 365LL * 86400 * 1000;
    txgen_t g;
    gen_init(&g, u, n, 42, 3, historic);
    int64_t prev = INT64_MIN;
    for (int64_t i = 0; i < historic; i++) {
        txn_t t;
        txgen_next(&g, &t);
        assert_int_equal(t.time_us % 1000, 0);
        int64_t ms = t.time_us / 1000;
        assert_true(ms >= START_MS - year && ms < START_MS);
        assert_true(ms > prev); /* 5000 slots of ~6307 s each: strictly ascending */
        /* Slot i of the year. */
        assert_true(ms >= START_MS - year + i * (year / historic));
        assert_true(ms <= START_MS - year + (i + 1) * (year / historic) + 1);
        prev = ms;
    }
    /* Live at rate 3: +0, +333, +666, +1000, +1333 ... never drifting. */
    for (int64_t k = 0; k < 30000; k++) {
        txn_t t;
        txgen_next(&g, &t);
        assert_int_equal(t.time_us / 1000, START_MS + (k * 1000) / 3);
    }
    free(u);
}

static void test_determinism(void **state)
{
    const size_t n = 500;
    txgen_user_t *u = make_users(n, saldo_small);
    txgen_t a, b, c;
    gen_init(&a, u, n, 42, 0, 100);
    gen_init(&b, u, n, 42, 0, 100);
    gen_init(&c, u, n, 43, 0, 100);
    int differ = 0;
    for (int i = 0; i < N_TXN; i++) {
        txn_t ta, tb, tc;
        txgen_next(&a, &ta);
        txgen_next(&b, &tb);
        txgen_next(&c, &tc);
        assert_memory_equal(&ta, &tb, sizeof ta);
        if (memcmp(ta.id, tc.id, 16) != 0) differ++;
    }
    assert_int_equal(differ, N_TXN);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_product),
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_statistics_huge_balances),
        cmocka_unit_test(test_amounts_small_balances),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
