/* test_rules.c - rules_decide (engine/rules.h), every reason and boundary.
 *
 * Why: the rules decide what happens to money; the end-to-end tests reach
 * them only through Kafka, PostgreSQL and mpirun, and only with generated
 * data that may never sit exactly on a boundary. Here each rule is hit on
 * both sides of its edge, without any service.
 *
 * Checked: the order of the checks (first failure wins: unknown payer, too
 * late when max_age_ms > 0, older than the last approved one, unknown
 * receiver, balance, limit, risk), each by a transaction that fails every
 * later check too; balance < amount rejects and balance == amount
 * approves; amount > limit * limit_percent / 100 rejects (equal passes;
 * limit_percent 50 and 0; the modality picks the limit); t6 at and one
 * centavo above t6_amount; t7 = |hour - 12| / 12 at hours 0, 12 and 23; t5
 * = Euclidean distance in degrees between the region's capital and the
 * payer's home capital, computed here from region_table's coordinates (and
 * those checked against SYSTEM.md's figures for five capitals); score =
 * (w5 t5)(w6 t6)(w7 t7) / divisor, passing while score <= threshold (the
 * equal score passes, the next double below it does not); scores are
 * present only once the rules got as far as the balance. */
#include "base/job.h"
#include "base/regions.h"
#include "base/txn.h"
#include "engine/rules.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Region indices by code, looked up once so that the tests read as codes. */
static int uf(const char *code)
{
    int i = region_index(code, 2);
    if (i < 0) fail_msg("no region %s", code);
    return i;
}

#define T0_US 1750000000000000LL /* 2025-06-15 15:06:40 UTC */

/* The defaults, but without the two rules that compare times beyond the
 * original's design (a future data_horario, and the tolerance of "older
 * than the last approved"): most tests pass a Kafka timestamp of 0 and
 * exact instants. test_future_boundary and test_older_than_last_tolerance
 * check those two with the defaults as they are. */
static rules_config_t defaults(void)
{
    rules_config_t cfg;
    rules_config_default(&cfg);
    cfg.max_future_ms = 0;
    cfg.older_than_last_ms = 0;
    return cfg;
}

/* A payer who passes every rule for the transaction below: rich, high
 * limits, at home in SP, nothing approved yet. */
static user_state_t payer_ok(void)
{
    user_state_t u;
    memset(&u, 0, sizeof u);
    u.id[0] = 1;
    u.region = (uint8_t)uf("SP");
    u.balance_cents = 1000000; /* R$ 10,000.00 */
    for (int m = 0; m < MOD_COUNT; m++)
        u.limit_cents[m] = 500000;
    u.last_approved_us = INT64_MIN;
    return u;
}

static txn_t txn_ok(void)
{
    txn_t t;
    memset(&t, 0, sizeof t);
    t.id[0] = 9;
    t.payer[0] = 1;
    t.receiver[0] = 2;
    t.time_us = T0_US;
    t.amount_cents = 10000; /* R$ 100.00 */
    t.region = (uint8_t)uf("SP");
    t.modality = MOD_PIX;
    return t;
}

/* A macro, so that a failure names the line of the check. */
#define assert_outcome(o, status, reason) check_outcome((o), (status), (reason), __FILE__, __LINE__)

static void check_outcome(rules_outcome_t o, int status, int reason, const char *file, int line)
{
    if (o.status != status || o.reason != reason) {
        print_error("expected %s/%s, got %s/%s\n", txn_status_names[status],
                    reason ? txn_reason_names[reason] : "-",
                    o.status < STATUS_COUNT ? txn_status_names[o.status] : "?",
                    o.reason && o.reason < REASON_COUNT ? txn_reason_names[o.reason] : "-");
        _fail(file, line);
    }
}

/* The independent reference for t5: distance in degrees between capitals. */
static double degrees_between(int a, int b)
{
    double dlat = region_table[a].latitude - region_table[b].latitude;
    double dlon = region_table[a].longitude - region_table[b].longitude;
    return hypot(dlat, dlon);
}

static void test_check_order(void **state)
{
    rules_config_t cfg = defaults();
    cfg.max_age_ms = 1000;
    /* A transaction that fails every rule: it arrived 5 s late, is older
     * than the payer's last approval, its receiver is unknown, it exceeds
     * the balance and the limit, and it is risky (far from home at
     * midnight, above t6_amount). */
    user_state_t p = payer_ok();
    p.region = (uint8_t)uf("RS");
    p.balance_cents = 100;
    p.limit_cents[MOD_PIX] = 100;
    p.last_approved_us = T0_US + 1;
    txn_t t = txn_ok();
    t.region = (uint8_t)uf("RR");
    t.amount_cents = 900000;
    int64_t late_ts = T0_US / 1000 + 5000;
    int hour = 0;

    rules_outcome_t o = rules_decide(&cfg, &t, NULL, 0, hour, late_ts);
    assert_outcome(o, STATUS_REJECTED, REASON_UNKNOWN_PAYER);
    o = rules_decide(&cfg, &t, &p, 0, hour, late_ts);
    assert_outcome(o, STATUS_NOT_PROCESSED, REASON_TOO_LATE);
    o = rules_decide(&cfg, &t, &p, 0, hour, T0_US / 1000); /* on time */
    assert_outcome(o, STATUS_NOT_PROCESSED, REASON_OLDER_THAN_LAST);
    p.last_approved_us = INT64_MIN;
    o = rules_decide(&cfg, &t, &p, 0, hour, T0_US / 1000);
    assert_outcome(o, STATUS_REJECTED, REASON_UNKNOWN_RECEIVER);
    o = rules_decide(&cfg, &t, &p, 1, hour, T0_US / 1000);
    assert_outcome(o, STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS);
    p.balance_cents = 1000000;
    o = rules_decide(&cfg, &t, &p, 1, hour, T0_US / 1000);
    assert_outcome(o, STATUS_REJECTED, REASON_OVER_LIMIT);
    p.limit_cents[MOD_PIX] = 1000000;
    o = rules_decide(&cfg, &t, &p, 1, hour, T0_US / 1000);
    assert_outcome(o, STATUS_REJECTED, REASON_RISK);
    o = rules_decide(&cfg, &t, &p, 1, 12, T0_US / 1000); /* noon: t7 = 0 */
    assert_outcome(o, STATUS_APPROVED, REASON_NONE);

    /* The same transaction with the late rule off (max_age_ms 0): a
     * timestamp years after data_horario changes nothing. */
    cfg.max_age_ms = 0;
    o = rules_decide(&cfg, &t, &p, 1, 12, T0_US / 1000 + 86400000LL * 365 * 3);
    assert_outcome(o, STATUS_APPROVED, REASON_NONE);
}

static void test_too_late_boundary(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    int64_t ms = T0_US / 1000;
    cfg.max_age_ms = 1000;
    /* kafka ts - data_horario == max_age_ms is on time; one ms more is late */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms + 1000), STATUS_APPROVED, REASON_NONE);
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms + 1001), STATUS_NOT_PROCESSED,
                   REASON_TOO_LATE);
    /* a broker timestamp before data_horario is never late */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms - 60000), STATUS_APPROVED, REASON_NONE);
    /* data_horario has µs; only whole ms count (ms = floor(us / 1000)) */
    t.time_us = T0_US + 999;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms + 1000), STATUS_APPROVED, REASON_NONE);
}

static void test_older_than_last_boundary(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    p.last_approved_us = T0_US;
    /* same µs as the last approval: processed */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_APPROVED, REASON_NONE);
    t.time_us = T0_US - 1;
    rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 12, 0);
    assert_outcome(o, STATUS_NOT_PROCESSED, REASON_OLDER_THAN_LAST);
    assert_int_equal(o.has_scores, 0);
    t.time_us = T0_US + 1;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_APPROVED, REASON_NONE);
}

static void test_future_boundary(void **state)
{
    rules_config_t cfg;
    rules_config_default(&cfg); /* max_future_ms 60000 */
    assert_int_equal(cfg.max_future_ms, 60000);
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    int64_t ms = T0_US / 1000;
    /* data_horario - kafka ts == max_future_ms is processed; one ms more is not */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms - 60000), STATUS_APPROVED, REASON_NONE);
    rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 12, ms - 60001);
    assert_outcome(o, STATUS_NOT_PROCESSED, REASON_FUTURE);
    assert_int_equal(o.has_scores, 0);
    /* it comes before "older than the last approved" and everything after */
    p.last_approved_us = T0_US + 3600000000LL;
    p.balance_cents = 0;
    assert_outcome(rules_decide(&cfg, &t, &p, 0, 12, ms - 60001), STATUS_NOT_PROCESSED,
                   REASON_FUTURE);
    /* and after "too late" and the unknown payer */
    assert_outcome(rules_decide(&cfg, &t, NULL, 1, 12, ms - 60001), STATUS_REJECTED,
                   REASON_UNKNOWN_PAYER);
    cfg.max_future_ms = 0; /* off */
    p = payer_ok();
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_APPROVED, REASON_NONE);
}

static void test_older_than_last_tolerance(void **state)
{
    rules_config_t cfg;
    rules_config_default(&cfg); /* older_than_last_ms 1000 */
    assert_int_equal(cfg.older_than_last_ms, 1000);
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    int64_t ms = T0_US / 1000;
    p.last_approved_us = T0_US + 1000000; /* one second after data_horario: within */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms), STATUS_APPROVED, REASON_NONE);
    p.last_approved_us = T0_US + 1000001; /* 1 µs more: not processed */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms), STATUS_NOT_PROCESSED,
                   REASON_OLDER_THAN_LAST);
    cfg.older_than_last_ms = 0; /* no tolerance: any older transaction */
    p.last_approved_us = T0_US + 1;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, ms), STATUS_NOT_PROCESSED,
                   REASON_OLDER_THAN_LAST);
}

static void test_balance_boundary(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    p.balance_cents = t.amount_cents; /* balance == amount approves */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_APPROVED, REASON_NONE);
    p.balance_cents = t.amount_cents - 1; /* one centavo short rejects */
    rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 12, 0);
    assert_outcome(o, STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS);
    assert_int_equal(o.has_scores, 1);
    p.balance_cents = 0;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_REJECTED,
                   REASON_INSUFFICIENT_FUNDS);
    p.balance_cents = -500; /* a negative balance (restored state) pays nothing */
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_REJECTED,
                   REASON_INSUFFICIENT_FUNDS);
}

static void test_limit_boundary(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    /* each modality reads its own limit */
    for (int m = 0; m < MOD_COUNT; m++) {
        for (int k = 0; k < MOD_COUNT; k++)
            p.limit_cents[k] = k == m ? 10000 : 1;
        t.modality = (uint8_t)m;
        t.amount_cents = 10000; /* == limit passes */
        assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_APPROVED, REASON_NONE);
        t.amount_cents = 10001; /* one centavo over */
        rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 12, 0);
        assert_outcome(o, STATUS_REJECTED, REASON_OVER_LIMIT);
        assert_int_equal(o.has_scores, 1);
    }

    /* limit_percent 50: the limit counts at half (in centavos, rounded down) */
    t.modality = MOD_TED;
    p.limit_cents[MOD_TED] = 1000;
    cfg.limit_percent = 50;
    t.amount_cents = 500;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_APPROVED, REASON_NONE);
    t.amount_cents = 501;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_REJECTED, REASON_OVER_LIMIT);
    p.limit_cents[MOD_TED] = 1001; /* 500.5 centavos -> 500 */
    t.amount_cents = 500;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_APPROVED, REASON_NONE);
    t.amount_cents = 501;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_REJECTED, REASON_OVER_LIMIT);

    /* limit_percent 0: nothing passes, even one centavo */
    cfg.limit_percent = 0;
    t.amount_cents = 1;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_REJECTED, REASON_OVER_LIMIT);

    /* balance comes before limit: short of both is saldo_insuficiente */
    cfg.limit_percent = 100;
    p.balance_cents = 0;
    t.amount_cents = 5000;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 12, 0), STATUS_REJECTED,
                   REASON_INSUFFICIENT_FUNDS);
}

static void test_t6_threshold(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    t.amount_cents = cfg.t6_amount_cents; /* R$ 2,000.00 exactly */
    assert_int_equal(cfg.t6_amount_cents, 200000);
    rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 12, 0);
    assert_true(o.has_scores);
    assert_true(o.t6 == 0.0);
    t.amount_cents++;
    o = rules_decide(&cfg, &t, &p, 1, 12, 0);
    assert_true(o.t6 == 1.0);
    /* a configured threshold moves the edge */
    cfg.t6_amount_cents = 50;
    t.amount_cents = 50;
    assert_true(rules_decide(&cfg, &t, &p, 1, 12, 0).t6 == 0.0);
    t.amount_cents = 51;
    assert_true(rules_decide(&cfg, &t, &p, 1, 12, 0).t6 == 1.0);
}

static void test_t7_hours(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    static const struct {
        int hour;
        double t7;
    } cases[] = {{0, 1.0}, {12, 0.0}, {23, 11.0 / 12.0}, {6, 0.5}, {18, 0.5}, {11, 1.0 / 12.0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, cases[i].hour, 0);
        assert_true(o.has_scores);
        if (fabs(o.t7 - cases[i].t7) > 1e-15)
            fail_msg("hour %d: t7 %.17g, expected %.17g", cases[i].hour, o.t7, cases[i].t7);
    }
}

/* SYSTEM.md gives these capitals' coordinates; the table must hold them. */
static void test_region_table_capitals(void **state)
{
    static const struct {
        const char *code;
        double lat, lon;
    } sys[] = {{"SP", -23.55, -46.63},
               {"RJ", -22.91, -43.17},
               {"DF", -15.79, -47.88},
               {"AM", -3.12, -60.02},
               {"RS", -30.03, -51.23}};
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
        const region_info_t *r = &region_table[uf(sys[i].code)];
        assert_string_equal(r->code, sys[i].code);
        assert_true(r->latitude == sys[i].lat);
        assert_true(r->longitude == sys[i].lon);
    }
    /* The order of SYSTEM.md, which is the index on the wire and on disk. */
    const char *order = "AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC "
                        "SP SE TO";
    for (int i = 0; i < REGION_COUNT; i++)
        assert_memory_equal(region_table[i].code, order + 3 * i, 2);
}

static void test_t5_distance(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    /* SP -> RJ by hand from SYSTEM.md's figures: (0.64, 3.46) degrees */
    p.region = (uint8_t)uf("SP");
    t.region = (uint8_t)uf("RJ");
    rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 12, 0);
    assert_true(fabs(o.t5 - sqrt(0.64 * 0.64 + 3.46 * 3.46)) < 1e-12);
    /* every pair, both directions, against the table */
    for (int home = 0; home < REGION_COUNT; home++)
        for (int at = 0; at < REGION_COUNT; at++) {
            p.region = (uint8_t)home;
            t.region = (uint8_t)at;
            o = rules_decide(&cfg, &t, &p, 1, 12, 0);
            assert_true(o.has_scores);
            double want = degrees_between(at, home);
            if (fabs(o.t5 - want) > 1e-12)
                fail_msg("t5 %s->%s: %.17g, expected %.17g", region_table[home].code,
                         region_table[at].code, o.t5, want);
            if (home == at) assert_true(o.t5 == 0.0);
        }
}

/* score = (w5 t5)(w6 t6)(w7 t7) / divisor; passes while score <= threshold. */
static void test_score_and_threshold(void **state)
{
    rules_config_t cfg = defaults();
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    p.region = (uint8_t)uf("RS");
    t.region = (uint8_t)uf("RR");
    t.amount_cents = 300000; /* t6 = 1 */
    p.limit_cents[MOD_PIX] = t.amount_cents;
    double t5 = degrees_between(uf("RR"), uf("RS")); /* about 33.8 degrees */

    /* defaults: hour 0 -> t7 = 1, score = t5 / 3 > 6 -> risco */
    rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 0, 0);
    assert_true(fabs(o.score - t5 / 3.0) < 1e-12);
    assert_true(o.score > 6.0);
    assert_outcome(o, STATUS_REJECTED, REASON_RISK);
    assert_true(o.has_scores);
    /* hour 9: t7 = 0.25, score = t5 / 12 < 6 -> approved */
    o = rules_decide(&cfg, &t, &p, 1, 9, 0);
    assert_true(fabs(o.score - t5 * 0.25 / 3.0) < 1e-12);
    assert_outcome(o, STATUS_APPROVED, REASON_NONE);
    /* t6 = 0 makes the score 0 whatever the distance and hour */
    t.amount_cents = cfg.t6_amount_cents;
    o = rules_decide(&cfg, &t, &p, 1, 0, 0);
    assert_true(o.score == 0.0);
    assert_outcome(o, STATUS_APPROVED, REASON_NONE);
    t.amount_cents = 300000;

    /* weights and divisor */
    cfg.weight_t5 = 0.5;
    cfg.weight_t6 = 3.0;
    cfg.weight_t7 = 2.0;
    cfg.score_divisor = 7.0;
    cfg.risk_threshold = 1e9;
    o = rules_decide(&cfg, &t, &p, 1, 18, 0); /* t7 = 0.5 */
    double want = (0.5 * t5) * (3.0 * 1.0) * (2.0 * 0.5) / 7.0;
    if (fabs(o.score - want) > 1e-12) fail_msg("score %.17g, expected %.17g", o.score, want);
    assert_true(fabs(o.t5 - t5) < 1e-12 && o.t6 == 1.0 && o.t7 == 0.5);

    /* the threshold: a score equal to it passes, the double below fails */
    cfg.risk_threshold = o.score;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 18, 0), STATUS_APPROVED, REASON_NONE);
    cfg.risk_threshold = nextafter(o.score, 0.0);
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 18, 0), STATUS_REJECTED, REASON_RISK);

    /* risk is checked last: over the limit and risky is limite_excedido */
    p.limit_cents[MOD_PIX] = t.amount_cents - 1;
    assert_outcome(rules_decide(&cfg, &t, &p, 1, 18, 0), STATUS_REJECTED, REASON_OVER_LIMIT);
}

/* Scores exist only once the rules reached the balance check. */
static void test_has_scores(void **state)
{
    rules_config_t cfg = defaults();
    cfg.max_age_ms = 10;
    user_state_t p = payer_ok();
    txn_t t = txn_ok();
    int64_t ms = T0_US / 1000;
    assert_int_equal(rules_decide(&cfg, &t, NULL, 1, 12, ms).has_scores, 0);
    assert_int_equal(rules_decide(&cfg, &t, &p, 1, 12, ms + 11).has_scores, 0);
    p.last_approved_us = T0_US + 1;
    assert_int_equal(rules_decide(&cfg, &t, &p, 1, 12, ms).has_scores, 0);
    p.last_approved_us = INT64_MIN;
    assert_int_equal(rules_decide(&cfg, &t, &p, 0, 12, ms).has_scores, 0);
    rules_outcome_t o = rules_decide(&cfg, &t, &p, 1, 12, ms);
    assert_outcome(o, STATUS_APPROVED, REASON_NONE);
    assert_int_equal(o.has_scores, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_too_late_boundary),
        cmocka_unit_test(test_older_than_last_boundary),
        cmocka_unit_test(test_future_boundary),
        cmocka_unit_test(test_older_than_last_tolerance),
        cmocka_unit_test(test_balance_boundary),
        cmocka_unit_test(test_limit_boundary),
        cmocka_unit_test(test_t6_threshold),
        cmocka_unit_test(test_t7_hours),
        cmocka_unit_test(test_region_table_capitals),
        cmocka_unit_test(test_t5_distance),
        cmocka_unit_test(test_score_and_threshold),
        cmocka_unit_test(test_has_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
