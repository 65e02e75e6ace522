/* test_ids_money.c - ids (UUID text) and money (centavos) against independent
 * references: libuuid's uuid_unparse_lower for formatting, strtod and known
 * binary expansions for the double boundary. */
#include "base/ids.h"
#include "base/money.h"
#include "base/rng.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid.h>

#include <cmocka.h>

static void random_bytes(rng_t *r, uint8_t out[16])
{
    uint64_t a = rng_next(r), b = rng_next(r);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

static void test_ids_format_matches_libuuid(void **state)
{
    rng_t r;
    rng_seed(&r, 7, 99);
    for (int i = 0; i < 100000; i++) {
        uint8_t id[16];
        char mine[IDS_TEXT_LEN + 1], ref[37];
        random_bytes(&r, id);
        if (i == 0) memset(id, 0, 16);
        if (i == 1) memset(id, 0xff, 16);
        memset(mine, 'x', sizeof mine);
        ids_format(id, mine);
        uuid_unparse_lower(id, ref);
        assert_int_equal(strlen(mine), IDS_TEXT_LEN);
        assert_string_equal(mine, ref);
    }
}

static void test_ids_parse_round_trip(void **state)
{
    rng_t r;
    rng_seed(&r, 8, 99);
    for (int i = 0; i < 100000; i++) {
        uint8_t id[16], back[16];
        char text[IDS_TEXT_LEN + 1], upper[37];
        random_bytes(&r, id);
        ids_format(id, text);
        memset(back, 0, 16);
        assert_int_equal(ids_parse(text, IDS_TEXT_LEN, back), 0);
        assert_memory_equal(back, id, 16);
        /* Upper case is accepted too (libuuid reference). */
        uuid_unparse_upper(id, upper);
        memset(back, 0, 16);
        assert_int_equal(ids_parse(upper, IDS_TEXT_LEN, back), 0);
        assert_memory_equal(back, id, 16);
    }
}

static void test_ids_parse_rejects_malformed(void **state)
{
    const char *good = "123e4567-e89b-42d3-a456-426614174000";
    static const char *const bad[] = {
        "",
        "123e4567-e89b-42d3-a456-42661417400",   /* 35 chars */
        "123e4567-e89b-42d3-a456-4266141740000", /* 37 chars */
        "123e4567e89b-42d3-a456-4266141740001",  /* dash missing, still 36 */
        "123e4567-e89b-42d3-a456-42661417400g",  /* not hex */
        "{23e4567-e89b-42d3-a456-426614174000",  /* brace */
        "123e4567-e89b-42d3-a456_426614174000",  /* wrong separator */
        " 23e4567-e89b-42d3-a456-426614174000",  /* space */
        "123e45678e89b-42d3-a456-42661417400",   /* dash moved */
        "123e4567-e89b-42d3-a456-4266141740-0",  /* extra dash */
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
    };
    uint8_t out[16];
    assert_int_equal(ids_parse(good, strlen(good), out), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ids_parse(bad[i], strlen(bad[i]), out) != -1) fail_msg("accepted '%s'", bad[i]);
    }
    /* Length is taken from the argument, not from a NUL: a valid prefix is
     * not enough, and a valid text with a wrong length is refused. */
    assert_int_equal(ids_parse(good, 35, out), -1);
    assert_int_equal(ids_parse(good, 0, out), -1);
    char padded[64];
    snprintf(padded, sizeof padded, "%sX", good);
    assert_int_equal(ids_parse(padded, 37, out), -1);
    assert_int_equal(ids_parse(padded, 36, out), 0);
    /* An embedded NUL within the 36 bytes is refused. */
    char withnul[37];
    memcpy(withnul, good, 36);
    withnul[20] = '\0';
    assert_int_equal(ids_parse(withnul, 36, out), -1);
}

static void expect_cents(double reais, int64_t want)
{
    int64_t got = -777;
    int rc = money_from_double(reais, &got);
    if (rc != MONEY_OK || got != want)
        fail_msg("money_from_double(%.17g): rc %d cents %lld, want %lld", reais, rc, (long long)got,
                 (long long)want);
}

static void expect_rc(double reais, int want_rc)
{
    int64_t got = -777;
    int rc = money_from_double(reais, &got);
    if (rc != want_rc) fail_msg("money_from_double(%.17g): rc %d, want %d", reais, rc, want_rc);
    assert_int_equal(got, -777); /* untouched on failure */
}

static void test_money_from_double_cases(void **state)
{
    expect_cents(0.1 + 0.2, 30); /* 0.30000000000000004 */
    expect_cents(1.005, 100);    /* binary value is 1.00499999999999989... */
    expect_cents(2.675, 267);    /* 2.67499999999999982... */
    expect_cents(1.015, 101);    /* 1.01499999999999990... */
    expect_cents(1.025, 102);    /* 1.02499999999999991... */
    expect_cents(0.015, 1);      /* 0.01499999999999999944... */
    expect_cents(0.005, 1);      /* 0.005000000000000000104... */
    expect_cents(1e-3, 0);
    expect_cents(0.0, 0);
    expect_cents(-0.0, 0);
    expect_cents(123.40, 12340);
    expect_cents(999.995, 100000); /* 999.995000000000004547... */
    expect_cents(9999999999999.99, MONEY_MAX_CENTS);
    expect_rc(1e20, MONEY_TOO_BIG);
    expect_rc(10000000000000.0, MONEY_TOO_BIG);
    expect_rc(NAN, MONEY_NAN);
    expect_rc(INFINITY, MONEY_NAN);
    expect_rc(-INFINITY, MONEY_NAN);
    expect_rc(-1.0, MONEY_NEGATIVE);
    expect_rc(-0.001, MONEY_NEGATIVE);
}

/* The wire round trip: cents -> "X.YZ" -> strtod -> money_from_double. */
static void test_money_wire_round_trip(void **state)
{
    rng_t r;
    rng_seed(&r, 9, 99);
    for (int i = 0; i < 200000; i++) {
        int64_t c = (int64_t)(rng_next(&r) % (uint64_t)(i % 2 ? 1000000 : MONEY_MAX_CENTS));
        char text[64];
        money_format(c, text, sizeof text);
        double d = strtod(text, NULL);
        int64_t back = -1;
        assert_int_equal(money_from_double(d, &back), MONEY_OK);
        if (back != c) fail_msg("%lld -> %s -> %lld", (long long)c, text, (long long)back);
    }
}

static void test_money_format_parse(void **state)
{
    static const struct {
        int64_t cents;
        const char *text;
    } cases[] = {{0, "0.00"},          {5, "0.05"},
                 {50, "0.50"},         {-50, "-0.50"},
                 {-5, "-0.05"},        {100, "1.00"},
                 {123456, "1234.56"},  {MONEY_MAX_CENTS, "9999999999999.99"},
                 {-123400, "-1234.00"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        int n = money_format(cases[i].cents, buf, sizeof buf);
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(n, (int)strlen(cases[i].text));
        int64_t back = 0;
        assert_int_equal(money_parse(buf, &back), 0);
        assert_int_equal(back, cases[i].cents);
    }
    /* Shorter fractions are accepted. */
    int64_t v = 0;
    assert_int_equal(money_parse("12", &v), 0);
    assert_int_equal(v, 1200);
    assert_int_equal(money_parse("12.3", &v), 0);
    assert_int_equal(v, 1230);
    assert_int_equal(money_parse("-0.1", &v), 0);
    assert_int_equal(v, -10);

    rng_t r;
    rng_seed(&r, 10, 99);
    for (int i = 0; i < 100000; i++) {
        int64_t c = (int64_t)(rng_next(&r) % (uint64_t)(MONEY_MAX_CENTS + 1));
        if (i % 3 == 0) c = -c;
        char buf[64], ref[64];
        money_format(c, buf, sizeof buf);
        /* Independent reference: printf of the same integer split. */
        snprintf(ref, sizeof ref, "%s%lld.%02lld", c < 0 ? "-" : "", llabs(c) / 100,
                 llabs(c) % 100);
        assert_string_equal(buf, ref);
        int64_t back = 0;
        assert_int_equal(money_parse(buf, &back), 0);
        assert_int_equal(back, c);
    }
}

static void test_money_parse_rejects(void **state)
{
    static const char *const bad[] = {"",
                                      "-",
                                      "abc",
                                      "1.234",
                                      "1.",
                                      ".5",
                                      "1,00",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1e3",
                                      "0x10",
                                      "12.3.4",
                                      "--1",
                                      "1234567890123456",  /* 16 integer digits */
                                      "10000000000000.00", /* above MONEY_MAX_CENTS */
                                      "NaN",
                                      "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 4242;
        if (money_parse(bad[i], &v) != -1) fail_msg("money_parse accepted '%s'", bad[i]);
        assert_int_equal(v, 4242);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_format_matches_libuuid),
        cmocka_unit_test(test_ids_parse_round_trip),
        cmocka_unit_test(test_ids_parse_rejects_malformed),
        cmocka_unit_test(test_money_from_double_cases),
        cmocka_unit_test(test_money_wire_round_trip),
        cmocka_unit_test(test_money_format_parse),
        cmocka_unit_test(test_money_parse_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
