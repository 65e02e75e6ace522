/* decide_driver.c - the engine's two MPI paths on one seeded input, for
 * tests/integration/45-engine.sh.
 *
 * Why: the result of a batch must not depend on the number of ranks nor on
 * which path decides it (DESIGN.md). The stream and replay reach the one
 * decision loop (engine/worker.h) differently; this driver runs both on the
 * same users and transactions, without Kafka or PostgreSQL, and prints a
 * canonical digest that the test compares across -np and with a serial
 * Python reference (tests/reference/decide_ref.py).
 *
 *   decide_driver dump SEED         the input as text, for the reference
 *                                   (no MPI)
 *   decide_driver run SEED OUTDIR   under mpirun: OUTDIR/stream.txt and
 *                                   OUTDIR/replay.txt (rank 0 writes them)
 *
 * The stream's path: cluster_init with rank0_works = 0; rank 0 drives
 * (CLUSTER_CMD_USERS, then one CLUSTER_CMD_DECIDE per batch with seq = the
 * row's place in its batch, then CLUSTER_CMD_STOP), the other ranks are in
 * cluster_serve. The replay's path: cluster_init with rank0_works = 1;
 * every rank takes a contiguous slice of the rows (seq = the row number),
 * sends each row to its payer's owner (exchange_alltoall by
 * cluster_owner_rank), decides every batch in one worker_lookup +
 * worker_decide with one run per source rank, and sends the results back.
 * Each path ends by gathering every worker's users to rank 0.
 *
 * Digest (one line each, tab-separated): `row I STATUS REASON T5 T6 T7` for
 * every row in input order (\N for no reason, no score), then `user ID
 * BALANCE` sorted by id. Floats as %.12g, as the project's reference does.
 *
 * The input: USERS users (balances, limits and homes drawn as the original
 * generator does, limits lower so that limits bite, but every fifth user
 * rich with high limits, so that risk decides some) and ROWS transactions
 * in batches of the sizes in batch_rows (one of them empty); some payers
 * and receivers unknown, payers skewed toward a few users, data_horario
 * anywhere in the batch's day (so rows older than the payer's last
 * approval are common, and every hour of t7 occurs), and Kafka timestamps
 * up to 6 s after data_horario with max_age_ms = 1000 (and rows exactly at
 * 1000 and 1001 ms). */
#include "base/ids.h"
#include "base/job.h"
#include "base/regions.h"
#include "base/rng.h"
#include "base/txn.h"
#include "cluster/cluster.h"
#include "engine/exchange.h"
#include "engine/worker.h"

#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS      300
#define MAX_AGE_MS 1000
#define T0_US      1750000000000000LL /* 2025-06-15 */
#define DAY_US     86400000000LL

static const int batch_rows[] = {900, 700, 0, 1200, 800, 1000, 600, 800};
#define NBATCHES ((int)(sizeof batch_rows / sizeof batch_rows[0]))
#define ROWS     6000

/* Print where and what, and end the whole job: a driver, not a module. */
#define DIE(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "decide_driver: %s:%d: ", __FILE__, __LINE__);                             \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        MPI_Abort(MPI_COMM_WORLD, 1);                                                              \
        exit(1);                                                                                   \
    } while (0)

typedef struct input {
    user_state_t users[USERS];
    txn_t txn[ROWS];
    int64_t kafka_ts_ms[ROWS];
    int batch[ROWS];
    int first[NBATCHES + 1]; /* batch k is rows [first[k], first[k + 1]) */
} input_t;

static int64_t cents_of(double reais)
{
    int64_t c = (int64_t)(reais * 100.0 + 0.5);
    return c < 1 ? 1 : c;
}

static void gen_input(uint64_t seed, input_t *in)
{
    rng_t r;
    memset(in, 0, sizeof *in);
    rng_seed(&r, seed, RNG_STREAM_USERS);
    for (int u = 0; u < USERS; u++) {
        user_state_t *s = &in->users[u];
        rng_uuid(&r, s->id);
        s->region = (uint8_t)rng_below(&r, REGION_COUNT);
        int rich = u % 5 == 0; /* high limits: their large payments meet the risk rule */
        s->balance_cents = u % 17 == 0 ? 0 : cents_of(rng_exponential(&r, rich ? 50000.0 : 5000.0));
        for (int m = 0; m < MOD_COUNT; m++)
            s->limit_cents[m] = cents_of(100.0 + rng_exponential(&r, rich ? 20000.0 : 1500.0));
        s->last_approved_us = INT64_MIN;
    }
    rng_seed(&r, seed, RNG_STREAM_TRANSACTIONS);
    int i = 0;
    for (int k = 0; k < NBATCHES; k++) {
        in->first[k] = i;
        for (int j = 0; j < batch_rows[k]; j++, i++) {
            txn_t *t = &in->txn[i];
            rng_uuid(&r, t->id);
            /* payers: a third among the first 30 users (several rows per
             * batch each), 4% unknown */
            int payer = rng_below(&r, 3) == 0 ? (int)rng_below(&r, 30) : (int)rng_below(&r, USERS);
            if (rng_below(&r, 25) == 0)
                rng_uuid(&r, t->payer);
            else
                memcpy(t->payer, in->users[payer].id, 16);
            int receiver = (payer + 1 + (int)rng_below(&r, USERS - 1)) % USERS;
            if (rng_below(&r, 25) == 0)
                rng_uuid(&r, t->receiver);
            else
                memcpy(t->receiver, in->users[receiver].id, 16);
            /* one row in 8 dated the day before its batch's: older than
             * approvals of the batch before (anterior_a_ultima) */
            int day = k > 0 && rng_below(&r, 8) == 0 ? k - 1 : k;
            t->time_us = T0_US + day * DAY_US + (int64_t)(rng_uniform(&r) * (double)DAY_US);
            t->amount_cents = cents_of(rng_exponential(&r, payer % 5 == 0 ? 4000.0 : 1000.0));
            t->region = (uint8_t)rng_below(&r, REGION_COUNT);
            t->modality = (uint8_t)rng_below(&r, MOD_COUNT);
            uint32_t lag = rng_below(&r, 20);
            int64_t lag_ms = lag == 0   ? MAX_AGE_MS
                             : lag == 1 ? MAX_AGE_MS + 1
                             : lag <= 3 ? MAX_AGE_MS + 1 + (int64_t)rng_below(&r, 5000)
                             : lag == 4 ? -60001 - (int64_t)rng_below(&r, 5000) /* data_futura */
                             : lag == 5 ? -60000                                /* just in time */
                                        : (int64_t)rng_below(&r, MAX_AGE_MS);
            in->kafka_ts_ms[i] = t->time_us / 1000 + lag_ms;
            in->batch[i] = k;
        }
    }
    in->first[NBATCHES] = i;
    if (i != ROWS) DIE("batch_rows add up to %d, not %d", i, ROWS);
}

static void job_of(job_config_t *job)
{
    job_config_default(job);
    job->rules.max_age_ms = MAX_AGE_MS;
}

static int event_order(const void *a, const void *b)
{
    return worker_event_cmp(a, b);
}

static int batch_event_order(const void *pa, const void *pb)
{
    const decide_row_t *a = pa, *b = pb;
    if (a->batch != b->batch) return a->batch < b->batch ? -1 : 1;
    return worker_event_cmp(a, b);
}

/* Row i of the input as a decide_row_t. */
static decide_row_t decide_row_of(const input_t *in, int i, int64_t seq, int batch)
{
    decide_row_t d;
    memset(&d, 0, sizeof d);
    memcpy(d.payer, in->txn[i].payer, 16);
    memcpy(d.receiver, in->txn[i].receiver, 16);
    d.time_us = in->txn[i].time_us;
    d.amount_cents = in->txn[i].amount_cents;
    d.kafka_ts_ms = in->kafka_ts_ms[i];
    d.seq = seq;
    d.batch = batch;
    d.region = in->txn[i].region;
    d.modality = in->txn[i].modality;
    return d;
}

static void do_dump(const input_t *in)
{
    printf("rules\tmax_age_ms\t%d\n", MAX_AGE_MS);
    for (int g = 0; g < REGION_COUNT; g++)
        printf("region\t%s\t%.17g\t%.17g\n", region_table[g].code, region_table[g].latitude,
               region_table[g].longitude);
    char id[IDS_TEXT_LEN + 1], rid[IDS_TEXT_LEN + 1];
    for (int u = 0; u < USERS; u++) {
        const user_state_t *s = &in->users[u];
        ids_format(s->id, id);
        printf("user\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
               id, region_table[s->region].code, s->balance_cents, s->limit_cents[MOD_PIX],
               s->limit_cents[MOD_TED], s->limit_cents[MOD_DOC], s->limit_cents[MOD_BOLETO]);
    }
    for (int i = 0; i < ROWS; i++) {
        const txn_t *t = &in->txn[i];
        ids_format(t->payer, id);
        ids_format(t->receiver, rid);
        printf("row\t%d\t%d\t%s\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", i,
               in->batch[i], id, rid, region_table[t->region].code, modality_names[t->modality],
               t->time_us, t->amount_cents, in->kafka_ts_ms[i]);
    }
}

static int cmp_user_id(const void *a, const void *b)
{
    return memcmp(((const user_state_t *)a)->id, ((const user_state_t *)b)->id, 16);
}

/* Every worker's users to rank 0 (collective over c->world); on rank 0
 * returns them sorted by id (malloc'd) with their count in *n. */
static user_state_t *gather_users(cluster_t *c, int *n)
{
    char err[1024];
    user_state_t *mine = NULL, *all = NULL;
    size_t count = 0;
    if (c->is_worker) {
        mine = malloc((c->worker.users.count + 1) * sizeof *mine);
        if (mine == NULL) DIE("out of memory");
        size_t pos = 0;
        long i;
        while ((i = shard_next(&c->worker.users, &pos)) >= 0)
            mine[count++] = c->worker.users.slots[i];
    }
    if (exchange_gather(c->world, 0, mine, (int)count, sizeof *mine, (void **)&all, n, err,
                        sizeof err) != 0)
        DIE("gathering users: %s", err);
    free(mine);
    if (c->rank == 0) qsort(all, (size_t)*n, sizeof *all, cmp_user_id);
    return all;
}

/* Rank 0: the users packed by owner rank, for cluster_step_users. */
static user_state_t *pack_users(const cluster_t *c, const input_t *in, int *counts)
{
    char err[1024];
    int dest[USERS];
    user_state_t *packed = malloc(sizeof in->users);
    if (packed == NULL) DIE("out of memory");
    for (int u = 0; u < USERS; u++)
        dest[u] = cluster_owner_rank(c, in->users[u].id);
    if (exchange_pack(in->users, USERS, sizeof *in->users, dest, c->size, packed, counts, NULL, err,
                      sizeof err) != 0)
        DIE("packing users: %s", err);
    return packed;
}

/* The stream's path: results into out[ROWS] and the final users (rank 0). */
static user_state_t *run_stream(const input_t *in, decide_result_t *out, int *nusers)
{
    char err[1024];
    job_config_t job;
    job_of(&job);
    cluster_t c;
    if (cluster_init(&c, MPI_COMM_WORLD, &job, 0, err, sizeof err) != 0)
        DIE("cluster_init (stream): %s", err);
    if (c.rank != 0) {
        if (cluster_serve(&c, err, sizeof err) != 0) DIE("rank %d serving: %s", c.rank, err);
    } else {
        int counts[c.size];
        user_state_t *packed = pack_users(&c, in, counts);
        if (cluster_command(&c, CLUSTER_CMD_USERS, err, sizeof err) != 0 ||
            cluster_step_users(&c, packed, counts, err, sizeof err) != 0)
            DIE("loading users: %s", err);
        free(packed);
        decide_row_t *rows = malloc(ROWS * sizeof *rows);
        decide_result_t *res = malloc(ROWS * sizeof *res);
        if (rows == NULL || res == NULL) DIE("out of memory");
        for (int k = 0; k < NBATCHES; k++) {
            int first = in->first[k], n = in->first[k + 1] - first;
            for (int j = 0; j < n; j++) /* a batch per step: batch 0, seq = place in the batch */
                rows[j] = decide_row_of(in, first + j, j, 0);
            qsort(rows, (size_t)n, sizeof *rows, event_order); /* as stream_decide does */
            if (cluster_command(&c, CLUSTER_CMD_DECIDE, err, sizeof err) != 0 ||
                cluster_step_decide(&c, rows, (size_t)n, res, err, sizeof err) != 0)
                DIE("deciding batch %d: %s", k, err);
            for (int j = 0; j < n; j++)
                out[first + rows[j].seq] = res[j];
        }
        free(rows);
        free(res);
        if (cluster_command(&c, CLUSTER_CMD_STOP, err, sizeof err) != 0) DIE("stopping: %s", err);
    }
    user_state_t *users = gather_users(&c, nusers);
    cluster_free(&c);
    return users;
}

/* The replay's path: every rank a worker, a contiguous slice each. */
static user_state_t *run_replay(const input_t *in, decide_result_t *out, int *nusers)
{
    char err[1024];
    job_config_t job;
    job_of(&job);
    cluster_t c;
    if (cluster_init(&c, MPI_COMM_WORLD, &job, 1, err, sizeof err) != 0)
        DIE("cluster_init (replay): %s", err);
    int size = c.size, counts[size], rcounts[size], bcounts[size];
    user_state_t *packed_users = c.rank == 0 ? pack_users(&c, in, counts) : NULL;
    if (cluster_step_users(&c, packed_users, counts, err, sizeof err) != 0)
        DIE("loading users: %s", err);
    free(packed_users);

    /* this rank's slice, each row for its payer's owner */
    int lo = (int)((int64_t)ROWS * c.rank / size), hi = (int)((int64_t)ROWS * (c.rank + 1) / size);
    int m = hi - lo;
    decide_row_t *slice = malloc((size_t)(m + 1) * sizeof *slice);
    decide_row_t *packed = malloc((size_t)(m + 1) * sizeof *packed);
    decide_result_t *mine = malloc((size_t)(m + 1) * sizeof *mine);
    int *dest = malloc((size_t)(m + 1) * sizeof *dest);
    size_t *pos = malloc((size_t)(m + 1) * sizeof *pos);
    if (!slice || !packed || !mine || !dest || !pos) DIE("out of memory");
    for (int i = lo; i < hi; i++)
        slice[i - lo] = decide_row_of(in, i, i, in->batch[i]);
    qsort(slice, (size_t)m, sizeof *slice, batch_event_order); /* a run: (batch, event) order */
    for (int i = 0; i < m; i++)
        dest[i] = cluster_owner_rank(&c, slice[i].payer);
    exchange_buf_t rows_in = {NULL, 0}, results_back = {NULL, 0};
    int nin = 0, nback = 0;
    if (exchange_pack(slice, (size_t)m, sizeof *slice, dest, size, packed, counts, pos, err,
                      sizeof err) != 0 ||
        exchange_alltoall(c.world, packed, counts, sizeof *packed, &rows_in, &nin, rcounts, err,
                          sizeof err) != 0)
        DIE("routing rows: %s", err);

    /* decide: one run per source rank, every batch in one call */
    size_t run_rows[size];
    for (int s = 0; s < size; s++)
        run_rows[s] = (size_t)rcounts[s];
    decide_result_t *results = malloc((size_t)(nin + 1) * sizeof *results);
    worker_lookup_t lk = {0};
    if (results == NULL || worker_lookup_reserve(&lk, (size_t)nin) != 0) DIE("out of memory");
    decide_run_t runs[size];
    worker_runs_of(rows_in.data, results, run_rows, size, runs);
    if (worker_lookup(&c.worker, runs, size, &lk, err, sizeof err) != 0 ||
        worker_decide(&c.worker, runs, size, NBATCHES, &lk, err, sizeof err) != 0)
        DIE("rank %d deciding: %s", c.rank, err);

    /* results back to where the rows came from, in the order they were sent */
    if (exchange_alltoall(c.world, results, rcounts, sizeof *results, &results_back, &nback,
                          bcounts, err, sizeof err) != 0)
        DIE("returning results: %s", err);
    if (nback != m) DIE("rank %d: %d results came back for %d rows", c.rank, nback, m);
    const decide_result_t *back = results_back.data;
    for (int i = 0; i < m; i++)
        mine[slice[i].seq - lo] = back[pos[i]];
    decide_result_t *all = NULL;
    int nall = 0;
    if (exchange_gather(c.world, 0, mine, m, sizeof *mine, (void **)&all, &nall, err, sizeof err) !=
        0)
        DIE("gathering results: %s", err);
    if (c.rank == 0) {
        if (nall != ROWS) DIE("%d results for %d rows", nall, ROWS);
        memcpy(out, all, ROWS * sizeof *out);
    }
    free(all);
    free(slice);
    free(packed);
    free(mine);
    free(dest);
    free(pos);
    free(results);
    free(rows_in.data);
    free(results_back.data);
    worker_lookup_free(&lk);
    user_state_t *users = gather_users(&c, nusers);
    cluster_free(&c);
    return users;
}

static void print_score(FILE *f, double v)
{
    if (v != v)
        fputs("\t\\N", f);
    else
        fprintf(f, "\t%.12g", v);
}

/* Rank 0: the digest of one path into dir/name; checks that money is
 * conserved. 0, or 1 with a message (no MPI_Abort: the collectives are over,
 * and the other path still runs). */
static int write_digest(const char *dir, const char *name, const input_t *in,
                        const decide_result_t *out, const user_state_t *users, int nusers,
                        int64_t by_reason[REASON_COUNT + 1])
{
    char path[4096], id[IDS_TEXT_LEN + 1];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "decide_driver: cannot write %s\n", path);
        return 1;
    }
    for (int i = 0; i < ROWS; i++) {
        const decide_result_t *r = &out[i];
        if (r->status >= STATUS_COUNT || r->reason >= REASON_COUNT) {
            fprintf(stderr, "decide_driver: %s: row %d has status %d reason %d\n", name, i,
                    r->status, r->reason);
            fclose(f);
            return 1;
        }
        fprintf(f, "row\t%d\t%s\t%s", i, txn_status_names[r->status],
                r->reason ? txn_reason_names[r->reason] : "\\N");
        print_score(f, r->t5);
        print_score(f, r->t6);
        print_score(f, r->t7);
        fputc('\n', f);
        by_reason[r->reason]++;
    }
    int64_t before = 0, after = 0;
    for (int u = 0; u < USERS; u++)
        before += in->users[u].balance_cents;
    for (int u = 0; u < nusers; u++) {
        ids_format(users[u].id, id);
        fprintf(f, "user\t%s\t%" PRId64 "\n", id, users[u].balance_cents);
        after += users[u].balance_cents;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "decide_driver: writing %s failed\n", path);
        return 1;
    }
    if (nusers != USERS || before != after) {
        fprintf(stderr,
                "decide_driver: %s: %d users with %" PRId64 " centavos after, %d with %" PRId64
                " before\n",
                name, nusers, after, USERS, before);
        return 1;
    }
    return 0;
}

static int do_run(uint64_t seed, const char *dir)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    input_t *in = malloc(sizeof *in);
    decide_result_t *out = malloc(ROWS * sizeof *out);
    if (in == NULL || out == NULL) DIE("out of memory");
    gen_input(seed, in); /* every rank draws the same input */
    static const char *const names[2] = {"stream.txt", "replay.txt"};
    int rc = 0;
    for (int path = 0; path < 2; path++) {
        int nusers = 0;
        memset(out, 0, ROWS * sizeof *out);
        double t0 = MPI_Wtime();
        user_state_t *users =
            path == 0 ? run_stream(in, out, &nusers) : run_replay(in, out, &nusers);
        double t1 = MPI_Wtime();
        if (rank == 0) {
            int64_t by_reason[REASON_COUNT + 1] = {0};
            rc |= write_digest(dir, names[path], in, out, users, nusers, by_reason);
            printf("%s -np %d: %d rows in %d batches, %.3f s:", names[path], size, ROWS, NBATCHES,
                   t1 - t0);
            for (int k = 0; k < REASON_COUNT; k++)
                printf(" %s %" PRId64, k ? txn_reason_names[k] : "aprovada", by_reason[k]);
            printf("\n");
        }
        free(users);
    }
    free(in);
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "dump")) {
        input_t *in = malloc(sizeof *in);
        if (in == NULL) return 1;
        gen_input(strtoull(argv[2], NULL, 10), in);
        do_dump(in);
        free(in);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (argc != 4 || strcmp(argv[1], "run")) {
        fprintf(stderr, "usage: decide_driver dump SEED | decide_driver run SEED OUTDIR\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    int rc = do_run(strtoull(argv[2], NULL, 10), argv[3]);
    MPI_Finalize();
    return rc;
}
