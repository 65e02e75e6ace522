/* test_decide.c - the one decision loop (engine/worker.h) on one worker:
 * worker_lookup + worker_decide over hand-built users and batches.
 *
 * Why: the stream, replay -np 1 and replay -np N all decide through this
 * loop; its batch semantics (DESIGN.md: debits at once in decision order,
 * credits when the batch ends) decide every balance, and the end-to-end
 * tests only see them through PostgreSQL. One worker on MPI_COMM_SELF needs
 * no mpirun and no service.
 *
 * Checked (default rules, rules_config_default):
 *   - debits in decision order within a batch: balance 100, two rows of 60:
 *     the first approved, the second saldo_insuficiente (and a third row of
 *     exactly what is left is approved);
 *   - credits only at the batch's end: a receiver with balance 0 paid in
 *     batch 0 cannot pay in batch 0, but can in batch 1 of the same call;
 *   - unknown payer, unknown receiver (and both: the payer comes first),
 *     with no scores and no balance change;
 *   - the last-approved time: a row older than the payer's last approval
 *     (from an earlier batch, or from the loaded state) is not processed,
 *     one at the same instant is; an approval moves the time forward only;
 *   - several runs are merged by event order: runs interleaved in any way
 *     give the results of the one sorted run, and each result lands at its
 *     row's index;
 *   - nbatches with empty batches (credits still land between them), and
 *     no rows at all;
 *   - a run out of order, or a row naming a batch past nbatches, is an
 *     error (-1 and a message);
 *   - money is conserved: worker_totals are unchanged by any set of
 *     decisions, and every user's balance is its start plus the approved
 *     credits minus the approved debits the results report;
 *   - worker_put_users refuses the nil id, worker_apply_deltas applies
 *     deltas and counts the unknown users.
 * The rows of one batch are given increasing data_horario along with seq,
 * so that these tests hold whether event order reads the time or only seq:
 * worker.h names (data_horario, Kafka timestamp, seq), worker_event_cmp
 * compares seq only, the README and the serial reference decide in
 * (partition, offset) order, and issue 11 (item 3) is to change that. */
#include "base/job.h"
#include "base/regions.h"
#include "base/rng.h"
#include "engine/worker.h"

#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define T0_US    1750000000000000LL /* 2025-06-15 12:06:40 in São Paulo */
#define REAIS(x) ((int64_t)(x)*100)

typedef struct fixture {
    worker_t w;
    worker_lookup_t lk;
    char err[512];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL) return -1;
    rules_config_t rules;
    rules_config_default(&rules);
    if (worker_init(&f->w, MPI_COMM_SELF, &rules, f->err, sizeof f->err) != 0) {
        fprintf(stderr, "worker_init: %s\n", f->err);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    worker_lookup_free(&f->lk);
    worker_free(&f->w);
    free(f);
    return 0;
}

/* User n's id: never nil, distinct for n < 65536. */
static void uid(int n, uint8_t id[16])
{
    memset(id, 0, 16);
    id[0] = 0xa0;
    id[14] = (uint8_t)(n >> 8);
    id[15] = (uint8_t)n;
}

static void add_user(fixture_t *f, int n, int64_t balance_cents)
{
    user_state_t u;
    memset(&u, 0, sizeof u);
    uid(n, u.id);
    u.region = (uint8_t)region_index("SP", 2);
    u.balance_cents = balance_cents;
    for (int m = 0; m < MOD_COUNT; m++)
        u.limit_cents[m] = REAIS(1000000);
    u.last_approved_us = INT64_MIN;
    assert_int_equal(worker_put_users(&f->w, &u, 1), 0);
}

static user_state_t *user(fixture_t *f, int n)
{
    uint8_t id[16];
    uid(n, id);
    user_state_t *u = shard_find(&f->w.users, id);
    assert_non_null(u);
    return u;
}

static int64_t balance(fixture_t *f, int n)
{
    return user(f, n)->balance_cents;
}

/* A row of batch `batch`, number `seq`, at T0 + seq seconds. */
static decide_row_t row(int payer, int receiver, int64_t amount_cents, int64_t seq, int batch)
{
    decide_row_t r;
    memset(&r, 0, sizeof r);
    uid(payer, r.payer);
    uid(receiver, r.receiver);
    r.time_us = T0_US + seq * 1000000;
    r.amount_cents = amount_cents;
    r.kafka_ts_ms = r.time_us / 1000;
    r.seq = seq;
    r.batch = batch;
    r.region = (uint8_t)region_index("SP", 2);
    r.modality = MOD_PIX;
    return r;
}

/* lookup + decide of rows[0..n) as nruns runs of run_rows[] rows. */
static int decide_runs(fixture_t *f, const decide_row_t *rows, size_t n, const size_t *run_rows,
                       int nruns, int nbatches, decide_result_t *out)
{
    f->err[0] = 0;
    assert_int_equal(worker_lookup_reserve(&f->lk, n), 0);
    decide_run_t runs[nruns > 0 ? nruns : 1];
    worker_runs_of(rows, out, run_rows, nruns, runs);
    assert_int_equal(worker_lookup(&f->w, runs, nruns, &f->lk, f->err, sizeof f->err), 0);
    return worker_decide(&f->w, runs, nruns, nbatches, &f->lk, f->err, sizeof f->err);
}

/* ... as one run; must succeed. */
static void decide_one_run(fixture_t *f, const decide_row_t *rows, size_t n, int nbatches,
                           decide_result_t *out)
{
    size_t run = n;
    if (decide_runs(f, rows, n, &run, 1, nbatches, out) != 0) fail_msg("decide: %s", f->err);
}

/* A macro, so that a failure names the line of the check. */
#define assert_result(r, status, reason) check_result((r), (status), (reason), __FILE__, __LINE__)

static void check_result(const decide_result_t *r, int status, int reason, const char *file,
                         int line)
{
    if (r->status != status || r->reason != reason) {
        print_error("expected %s/%s, got %s/%s\n", txn_status_names[status],
                    reason ? txn_reason_names[reason] : "-",
                    r->status < STATUS_COUNT ? txn_status_names[r->status] : "?",
                    r->reason && r->reason < REASON_COUNT ? txn_reason_names[r->reason] : "-");
        _fail(file, line);
    }
    int scored =
        status == STATUS_APPROVED || (status == STATUS_REJECTED && reason != REASON_UNKNOWN_PAYER &&
                                      reason != REASON_UNKNOWN_RECEIVER);
    int nans = (isnan(r->t5) != 0) + (isnan(r->t6) != 0) + (isnan(r->t7) != 0);
    if (nans != (scored ? 0 : 3)) {
        print_error("scores %g %g %g, expected %s\n", r->t5, r->t6, r->t7,
                    scored ? "numbers" : "none (NaN)");
        _fail(file, line);
    }
}

static void test_debits_in_decision_order(void **state)
{
    fixture_t *f = *state;
    add_user(f, 1, REAIS(100));
    add_user(f, 2, 0);
    decide_row_t rows[] = {row(1, 2, REAIS(60), 0, 0), row(1, 2, REAIS(60), 1, 0),
                           row(1, 2, REAIS(40), 2, 0)};
    decide_result_t out[3];
    decide_one_run(f, rows, 3, 1, out);
    assert_result(&out[0], STATUS_APPROVED, REASON_NONE);
    assert_result(&out[1], STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS);
    assert_result(&out[2], STATUS_APPROVED, REASON_NONE); /* exactly what is left */
    assert_int_equal(balance(f, 1), 0);
    assert_int_equal(balance(f, 2), REAIS(100));
    /* scores of an approval at 12:06 in São Paulo, at home, under R$ 2,000 */
    assert_true(out[0].t5 == 0.0 && out[0].t6 == 0.0 && out[0].t7 == 0.0);
}

static void test_credits_at_batch_end(void **state)
{
    fixture_t *f = *state;
    add_user(f, 1, 0); /* A: pays only with what it is paid */
    add_user(f, 2, REAIS(100));
    add_user(f, 3, 0);
    decide_row_t rows[] = {
        row(2, 1, REAIS(50), 0, 0), /* B pays A */
        row(1, 3, REAIS(30), 1, 0), /* A cannot pay yet: the credit waits for the batch end */
        row(1, 3, REAIS(30), 2, 1), /* batch 1: now A can */
        row(3, 2, REAIS(30), 3, 1), /* C was credited in batch 1: cannot pay in batch 1 */
    };
    decide_result_t out[4];
    decide_one_run(f, rows, 4, 2, out);
    assert_result(&out[0], STATUS_APPROVED, REASON_NONE);
    assert_result(&out[1], STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS);
    assert_result(&out[2], STATUS_APPROVED, REASON_NONE);
    assert_result(&out[3], STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS);
    assert_int_equal(balance(f, 1), REAIS(20));
    assert_int_equal(balance(f, 2), REAIS(50));
    assert_int_equal(balance(f, 3), REAIS(30)); /* landed at the end of batch 1 */
}

static void test_unknown_users(void **state)
{
    fixture_t *f = *state;
    add_user(f, 1, REAIS(100));
    add_user(f, 2, REAIS(100));
    decide_row_t rows[] = {
        row(7, 2, REAIS(10), 0, 0), /* unknown payer */
        row(1, 8, REAIS(10), 1, 0), /* unknown receiver */
        row(7, 8, REAIS(10), 2, 0), /* both: the payer is checked first */
        row(1, 2, REAIS(10), 3, 0),
    };
    decide_result_t out[4];
    decide_one_run(f, rows, 4, 1, out);
    assert_result(&out[0], STATUS_REJECTED, REASON_UNKNOWN_PAYER);
    assert_result(&out[1], STATUS_REJECTED, REASON_UNKNOWN_RECEIVER);
    assert_result(&out[2], STATUS_REJECTED, REASON_UNKNOWN_PAYER);
    assert_result(&out[3], STATUS_APPROVED, REASON_NONE);
    assert_int_equal(balance(f, 1), REAIS(90));
    assert_int_equal(balance(f, 2), REAIS(110));
    /* the failed rows left no user behind */
    int64_t users, money;
    worker_totals(&f->w, &users, &money);
    assert_int_equal(users, 2);
    assert_int_equal(money, REAIS(200));
}

static void test_last_approved_time(void **state)
{
    fixture_t *f = *state;
    add_user(f, 1, REAIS(1000));
    add_user(f, 2, 0);
    add_user(f, 3, REAIS(1000));
    user(f, 3)->last_approved_us = T0_US + 100 * 1000000LL; /* from the ledger */
    decide_row_t rows[] = {
        row(1, 2, REAIS(10), 10, 0), /* approved at T0 + 10 s */
        row(1, 2, REAIS(10), 5, 1),  /* batch 1, dated T0 + 5 s: 5 s older */
        row(1, 2, REAIS(10), 10, 1), /* the same instant as the last approval */
        row(3, 2, REAIS(10), 98, 1), /* 2 s older than the loaded last approval (tolerance 1 s) */
        row(3, 2, REAIS(10), 100, 1),
    };
    decide_result_t out[5];
    decide_one_run(f, rows, 5, 2, out);
    assert_result(&out[0], STATUS_APPROVED, REASON_NONE);
    assert_result(&out[1], STATUS_NOT_PROCESSED, REASON_OLDER_THAN_LAST);
    assert_result(&out[2], STATUS_APPROVED, REASON_NONE);
    assert_result(&out[3], STATUS_NOT_PROCESSED, REASON_OLDER_THAN_LAST);
    assert_result(&out[4], STATUS_APPROVED, REASON_NONE);
    assert_int_equal(balance(f, 1), REAIS(980));
    assert_int_equal(balance(f, 3), REAIS(990));
    assert_int_equal(user(f, 1)->last_approved_us, T0_US + 10 * 1000000LL);
    assert_int_equal(user(f, 3)->last_approved_us, T0_US + 100 * 1000000LL);
    assert_int_equal(user(f, 2)->last_approved_us, INT64_MIN); /* receiving is not paying */
    /* a rejected row does not move it */
    decide_row_t late = row(1, 2, REAIS(5000), 50, 0);
    decide_one_run(f, &late, 1, 1, out);
    assert_result(&out[0], STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS);
    assert_int_equal(user(f, 1)->last_approved_us, T0_US + 10 * 1000000LL);
}

static void test_results_at_row_indices(void **state)
{
    fixture_t *f = *state;
    add_user(f, 1, REAIS(100));
    add_user(f, 2, 0);
    /* run 0 holds seq 1 and 3, run 1 holds seq 0 and 2: the merge decides
     * seq 0 (index 2) first */
    decide_row_t rows[] = {
        row(1, 2, REAIS(60), 1, 0), row(1, 2, REAIS(1), 3, 0),  /* run 0 */
        row(1, 2, REAIS(60), 0, 0), row(1, 2, REAIS(30), 2, 0), /* run 1 */
    };
    size_t runs[] = {2, 2};
    decide_result_t out[4];
    memset(out, 0xee, sizeof out);
    assert_int_equal(decide_runs(f, rows, 4, runs, 2, 1, out), 0);
    assert_result(&out[2], STATUS_APPROVED, REASON_NONE);               /* seq 0: 100 -> 40 */
    assert_result(&out[0], STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS); /* seq 1: 60 > 40 */
    assert_result(&out[3], STATUS_APPROVED, REASON_NONE);               /* seq 2: 40 -> 10 */
    assert_result(&out[1], STATUS_APPROVED, REASON_NONE);               /* seq 3: 10 -> 9 */
    assert_int_equal(balance(f, 1), REAIS(9));
    assert_int_equal(balance(f, 2), REAIS(91));
}

/* Random users and rows in several batches, rows sorted by (batch, seq). */
typedef struct scenario {
    int nusers, nrows, nbatches;
    int64_t *start; /* balances */
    decide_row_t *rows;
} scenario_t;

static scenario_t make_scenario(uint64_t seed, int nusers, int nrows, int nbatches)
{
    scenario_t s = {nusers, nrows, nbatches, calloc((size_t)nusers, sizeof(int64_t)),
                    calloc((size_t)nrows, sizeof(decide_row_t))};
    assert_non_null(s.start);
    assert_non_null(s.rows);
    rng_t r;
    rng_seed(&r, seed, RNG_STREAM_TRANSACTIONS);
    for (int u = 0; u < nusers; u++)
        s.start[u] = (int64_t)rng_below(&r, 3) == 0 ? 0 : 100 + rng_below(&r, REAIS(500));
    for (int i = 0; i < nrows; i++) {
        int batch = (int)((int64_t)i * nbatches / nrows);
        /* users nusers..nusers+4 do not exist: a few unknown payers and receivers */
        int payer = (int)rng_below(&r, (uint32_t)nusers + 5);
        int receiver = (int)rng_below(&r, (uint32_t)nusers + 5);
        s.rows[i] = row(payer + 1, receiver + 1, 1 + rng_below(&r, REAIS(300)), i, batch);
        s.rows[i].region = (uint8_t)rng_below(&r, REGION_COUNT);
        s.rows[i].modality = (uint8_t)rng_below(&r, MOD_COUNT);
    }
    return s;
}

static void free_scenario(scenario_t *s)
{
    free(s->start);
    free(s->rows);
}

static void load_scenario(fixture_t *f, const scenario_t *s)
{
    for (int u = 0; u < s->nusers; u++)
        add_user(f, u + 1, s->start[u]);
}

static void test_runs_merged(void **state)
{
    fixture_t *f = *state;
    scenario_t s = make_scenario(21, 30, 3000, 4);
    load_scenario(f, &s);
    decide_result_t *one = malloc((size_t)s.nrows * sizeof *one);
    decide_result_t *merged = malloc((size_t)s.nrows * sizeof *merged);
    decide_row_t *split = malloc((size_t)s.nrows * sizeof *split);
    int *index_of = malloc((size_t)s.nrows * sizeof *index_of); /* split position -> row */
    assert_true(one && merged && split && index_of);
    decide_one_run(f, s.rows, (size_t)s.nrows, s.nbatches, one);

    int statuses[STATUS_COUNT] = {0};
    for (int i = 0; i < s.nrows; i++)
        statuses[one[i].status]++;
    assert_true(statuses[STATUS_APPROVED] > 100 && statuses[STATUS_REJECTED] > 100);

    /* the same rows dealt at random into 1, 2, 3 and 5 runs, each keeping
     * the rows' order: a second worker gets the same results */
    for (int nruns = 1; nruns <= 5; nruns += 1 + (nruns >= 3)) {
        rng_t r;
        rng_seed(&r, 100 + (uint64_t)nruns, 1);
        int *run_of = malloc((size_t)s.nrows * sizeof *run_of);
        assert_non_null(run_of);
        size_t run_rows[5] = {0};
        for (int i = 0; i < s.nrows; i++) {
            run_of[i] = (int)rng_below(&r, (uint32_t)nruns);
            run_rows[run_of[i]]++;
        }
        size_t at = 0;
        for (int k = 0; k < nruns; k++)
            for (int i = 0; i < s.nrows; i++)
                if (run_of[i] == k) {
                    split[at] = s.rows[i];
                    index_of[at++] = i;
                }
        fixture_t *g = NULL;
        assert_int_equal(setup((void **)&g), 0);
        load_scenario(g, &s);
        if (decide_runs(g, split, (size_t)s.nrows, run_rows, nruns, s.nbatches, merged) != 0)
            fail_msg("%d runs: %s", nruns, g->err);
        for (int j = 0; j < s.nrows; j++) {
            const decide_result_t *a = &one[index_of[j]], *b = &merged[j];
            if (a->status != b->status || a->reason != b->reason)
                fail_msg("%d runs: row %d decided %d/%d, one run %d/%d", nruns, index_of[j],
                         b->status, b->reason, a->status, a->reason);
            assert_memory_equal(a, b, sizeof *a); /* scores too, NaN bits included */
        }
        for (int u = 1; u <= s.nusers; u++)
            assert_int_equal(balance(g, u), balance(f, u));
        teardown((void **)&g);
        free(run_of);
    }
    free(one);
    free(merged);
    free(split);
    free(index_of);
    free_scenario(&s);
}

static void test_empty_batches(void **state)
{
    fixture_t *f = *state;
    add_user(f, 1, 0);
    add_user(f, 2, REAIS(100));
    add_user(f, 3, 0);
    decide_row_t rows[] = {
        row(2, 1, REAIS(70), 0, 1), /* batch 1 */
        row(1, 3, REAIS(70), 1, 3), /* batch 3: the credit of batch 1 is there */
        row(3, 2, REAIS(1), 2, 3),  /* C is credited only at the end of batch 3 */
    };
    decide_result_t out[3];
    decide_one_run(f, rows, 3, 5, out); /* batches 0, 2 and 4 are empty */
    assert_result(&out[0], STATUS_APPROVED, REASON_NONE);
    assert_result(&out[1], STATUS_APPROVED, REASON_NONE);
    assert_result(&out[2], STATUS_REJECTED, REASON_INSUFFICIENT_FUNDS);
    assert_int_equal(balance(f, 1), 0);
    assert_int_equal(balance(f, 2), REAIS(30));
    assert_int_equal(balance(f, 3), REAIS(70));

    /* no rows at all, with batches and without, with runs and without */
    size_t none = 0;
    assert_int_equal(decide_runs(f, rows, 0, &none, 1, 3, out), 0);
    assert_int_equal(decide_runs(f, rows, 0, &none, 1, 0, out), 0);
    assert_int_equal(decide_runs(f, rows, 0, NULL, 0, 2, out), 0);
    assert_int_equal(balance(f, 2), REAIS(30));
}

static void test_out_of_order_is_an_error(void **state)
{
    fixture_t *f = *state;
    add_user(f, 1, REAIS(100));
    add_user(f, 2, 0);
    decide_result_t out[3];
    size_t run = 2;

    /* seq going back inside a batch */
    decide_row_t back[] = {row(1, 2, REAIS(1), 5, 0), row(1, 2, REAIS(1), 3, 0)};
    assert_int_equal(decide_runs(f, back, 2, &run, 1, 1, out), -1);
    assert_true(strlen(f->err) > 0);
    if (strstr(f->err, "order") == NULL) fail_msg("message: %s", f->err);

    /* a batch going back */
    decide_row_t batch_back[] = {row(1, 2, REAIS(1), 0, 1), row(1, 2, REAIS(1), 1, 0)};
    assert_int_equal(decide_runs(f, batch_back, 2, &run, 1, 2, out), -1);
    if (strstr(f->err, "order") == NULL) fail_msg("message: %s", f->err);

    /* the same seq twice in a batch (seq is unique within a batch) */
    decide_row_t twice[] = {row(1, 2, REAIS(1), 4, 0), row(1, 2, REAIS(1), 4, 0)};
    assert_int_equal(decide_runs(f, twice, 2, &run, 1, 1, out), -1);

    /* in order in each run, but the second run out of order */
    decide_row_t two_runs[] = {row(1, 2, REAIS(1), 0, 0), row(1, 2, REAIS(1), 9, 0),
                               row(1, 2, REAIS(1), 4, 0)};
    size_t runs[] = {1, 2};
    assert_int_equal(decide_runs(f, two_runs, 3, runs, 2, 1, out), -1);
    assert_true(strlen(f->err) > 0);

    /* a row of a batch past nbatches */
    decide_row_t past[] = {row(1, 2, REAIS(1), 0, 0), row(1, 2, REAIS(1), 1, 2)};
    assert_int_equal(decide_runs(f, past, 2, &run, 1, 2, out), -1);
    if (strstr(f->err, "batch 2") == NULL) fail_msg("message: %s", f->err);

    /* in order again (and later than what the failed calls decided): the
     * worker still decides */
    decide_row_t ok[] = {row(1, 2, REAIS(1), 100, 0), row(1, 2, REAIS(1), 101, 1)};
    assert_int_equal(decide_runs(f, ok, 2, &run, 1, 2, out), 0);
    assert_result(&out[1], STATUS_APPROVED, REASON_NONE);
}

static void test_money_conserved(void **state)
{
    fixture_t *f = *state;
    scenario_t s = make_scenario(33, 200, 20000, 10);
    load_scenario(f, &s);
    int64_t users0, money0, users1, money1;
    worker_totals(&f->w, &users0, &money0);
    int64_t sum = 0;
    for (int u = 0; u < s.nusers; u++)
        sum += s.start[u];
    assert_int_equal(users0, s.nusers);
    assert_int_equal(money0, sum);

    decide_result_t *out = malloc((size_t)s.nrows * sizeof *out);
    assert_non_null(out);
    decide_one_run(f, s.rows, (size_t)s.nrows, s.nbatches, out);
    worker_totals(&f->w, &users1, &money1);
    assert_int_equal(users1, users0);
    assert_int_equal(money1, money0);

    /* every balance follows from the results, and none went negative */
    int64_t *want = malloc((size_t)s.nusers * sizeof *want);
    assert_non_null(want);
    memcpy(want, s.start, (size_t)s.nusers * sizeof *want);
    int reasons[REASON_COUNT] = {0};
    for (int i = 0; i < s.nrows; i++) {
        reasons[out[i].reason]++;
        if (out[i].status != STATUS_APPROVED) continue;
        int payer = s.rows[i].payer[15] | s.rows[i].payer[14] << 8;
        int receiver = s.rows[i].receiver[15] | s.rows[i].receiver[14] << 8;
        assert_true(payer >= 1 && payer <= s.nusers && receiver >= 1 && receiver <= s.nusers);
        want[payer - 1] -= s.rows[i].amount_cents;
        want[receiver - 1] += s.rows[i].amount_cents;
    }
    for (int u = 0; u < s.nusers; u++) {
        assert_int_equal(balance(f, u + 1), want[u]);
        assert_true(want[u] >= 0);
    }
    /* the scenario reaches the reasons it is meant to */
    assert_true(reasons[REASON_NONE] > 1000);
    assert_true(reasons[REASON_INSUFFICIENT_FUNDS] > 1000);
    assert_true(reasons[REASON_UNKNOWN_PAYER] > 100);
    assert_true(reasons[REASON_UNKNOWN_RECEIVER] > 100);
    free(want);
    free(out);
    free_scenario(&s);
}

static void test_put_users_and_deltas(void **state)
{
    fixture_t *f = *state;
    user_state_t nil;
    memset(&nil, 0, sizeof nil);
    assert_int_equal(worker_put_users(&f->w, &nil, 1), -1);
    add_user(f, 1, REAIS(10));
    add_user(f, 2, REAIS(10));
    add_user(f, 2, REAIS(20)); /* overwrite */
    int64_t users, money;
    worker_totals(&f->w, &users, &money);
    assert_int_equal(users, 2);
    assert_int_equal(money, REAIS(30));

    ledger_delta_t d[3];
    memset(d, 0, sizeof d);
    uid(1, d[0].id);
    d[0].delta_cents = -REAIS(4);
    d[0].last_approved_us = T0_US;
    uid(9, d[1].id); /* nobody */
    d[1].delta_cents = REAIS(1000);
    uid(2, d[2].id);
    d[2].delta_cents = REAIS(4);
    d[2].last_approved_us = INT64_MIN; /* never paid: keeps its time */
    assert_int_equal(worker_apply_deltas(&f->w, d, 3), 1);
    assert_int_equal(balance(f, 1), REAIS(6));
    assert_int_equal(balance(f, 2), REAIS(24));
    assert_int_equal(user(f, 1)->last_approved_us, T0_US);
    assert_int_equal(user(f, 2)->last_approved_us, INT64_MIN);
    /* an older last-approved time never moves it back */
    d[0].delta_cents = 0;
    d[0].last_approved_us = T0_US - 1;
    assert_int_equal(worker_apply_deltas(&f->w, d, 1), 0);
    assert_int_equal(user(f, 1)->last_approved_us, T0_US);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_debits_in_decision_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credits_at_batch_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_approved_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_results_at_row_indices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_money_conserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_users_and_deltas, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return failed;
}
