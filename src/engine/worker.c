/* worker.c - a worker's users and the one decision loop (see worker.h).
 *
 * Invariants:
 *   1. Within a batch a row is decided only after every row of the same
 *      payer that comes before it in event order (the runs are merged by
 *      event order; a run out of order is an error, never a silent reorder).
 *   2. A user's slot never moves while rows are being decided: deciding
 *      writes balances and last-approved times only, so the slots that
 *      worker_lookup found stay true, even on another thread. */
#include "engine/worker.h"
#include "engine/route.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFETCH_AHEAD 8 /* rows between a slot's prefetch and its use */

int worker_init(worker_t *w, MPI_Comm workers, const rules_config_t *rules, char *errstr,
                size_t errsize)
{
    memset(w, 0, sizeof *w);
    w->comm = workers;
    int rc = MPI_Comm_rank(workers, &w->index);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(workers, &w->count);
    if (rc != MPI_SUCCESS) return exchange_mpi_error(rc, "MPI_Comm_size", errstr, errsize);
    w->rules = *rules;
    if (tzhour_init(&w->tz, rules->timezone, errstr, errsize) != 0) return -1;
    if (shard_init(&w->users, 1024) != 0) {
        snprintf(errstr, errsize, "out of memory");
        tzhour_free(&w->tz);
        return -1;
    }
    return 0;
}

void worker_free(worker_t *w)
{
    shard_free(&w->users);
    tzhour_free(&w->tz);
    free(w->queries.data);
    free(w->answers.data);
    free(w->credits_in.data);
    free(w->credits);
    free(w->cursor);
    free(w->run_end);
    worker_lookup_free(&w->lookup);
}

int worker_put_users(worker_t *w, const user_state_t *users, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (shard_put(&w->users, &users[i]) == NULL) return -1;
    return 0;
}

size_t worker_apply_deltas(worker_t *w, const ledger_delta_t *deltas, size_t n)
{
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) {
        user_state_t *u = shard_find(&w->users, deltas[i].id);
        if (u == NULL) {
            missing++;
            continue;
        }
        u->balance_cents += deltas[i].delta_cents;
        if (deltas[i].last_approved_us > u->last_approved_us)
            u->last_approved_us = deltas[i].last_approved_us;
    }
    return missing;
}

/* realloc *p to n elements of size bytes; 0 or -1 (then *p is unchanged). */
static int grow(void *p, size_t n, size_t size)
{
    void *q = realloc(*(void **)p, (n ? n : 1) * size);
    if (q == NULL) return -1;
    *(void **)p = q;
    return 0;
}

int worker_lookup_reserve(worker_lookup_t *lk, size_t n)
{
    if (n <= lk->cap && lk->payer) return 0;
    if (grow(&lk->payer, n, sizeof *lk->payer) || grow(&lk->receiver, n, sizeof *lk->receiver) ||
        grow(&lk->receiver_owner, n, sizeof *lk->receiver_owner))
        return -1;
    lk->cap = n;
    return 0;
}

void worker_lookup_free(worker_lookup_t *lk)
{
    free(lk->payer);
    free(lk->receiver);
    free(lk->receiver_owner);
    memset(lk, 0, sizeof *lk);
}

static uint32_t slot_of(const worker_t *w, const user_state_t *u)
{
    return u ? (uint32_t)(u - w->users.slots) : WORKER_NO_USER;
}

/* The receivers of rows[0..n) at their owners (more than one worker): the
 * ids go to the owners, which answer with slots, in the same order. */
static int lookup_remote_receivers(worker_t *w, const decide_row_t *rows, size_t n,
                                   worker_lookup_t *lk, char *errstr, size_t errsize)
{
    int size = w->count, nq = 0, na = 0, rc = -1;
    int counts[size], qcounts[size], acounts[size];
    size_t next[size];
    uint8_t(*packed)[16] = malloc((n ? n : 1) * 16);
    size_t *pos = malloc((n ? n : 1) * sizeof *pos);
    uint32_t *answers = NULL;
    if (packed == NULL || pos == NULL) goto oom;
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++)
        counts[lk->receiver_owner[i] = route_owner(rows[i].receiver, size)]++;
    next[0] = 0;
    for (int d = 1; d < size; d++)
        next[d] = next[d - 1] + (size_t)counts[d - 1];
    for (size_t i = 0; i < n; i++) {
        pos[i] = next[lk->receiver_owner[i]]++;
        memcpy(packed[pos[i]], rows[i].receiver, 16);
    }
    if (exchange_alltoall(w->comm, packed, counts, 16, &w->queries, &nq, qcounts, errstr,
                          errsize) != 0)
        goto out;
    const uint8_t(*queries)[16] = w->queries.data;
    if ((answers = malloc((size_t)(nq ? nq : 1) * sizeof *answers)) == NULL) goto oom;
    for (int i = 0; i < nq; i++) {
        if (i + PREFETCH_AHEAD < nq) shard_prefetch(&w->users, queries[i + PREFETCH_AHEAD]);
        answers[i] = slot_of(w, shard_find(&w->users, queries[i]));
    }
    if (exchange_alltoall(w->comm, answers, qcounts, sizeof *answers, &w->answers, &na, acounts,
                          errstr, errsize) != 0)
        goto out;
    const uint32_t *replies = w->answers.data;
    for (size_t i = 0; i < n; i++)
        lk->receiver[i] = replies[pos[i]];
    rc = 0;
    goto out;
oom:
    snprintf(errstr, errsize, "out of memory");
out:
    free(packed);
    free(pos);
    free(answers);
    return rc;
}

int worker_lookup(worker_t *w, const decide_row_t *rows, size_t n, worker_lookup_t *lk,
                  char *errstr, size_t errsize)
{
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            shard_prefetch(&w->users, rows[i + PREFETCH_AHEAD].payer);
            if (w->count == 1) shard_prefetch(&w->users, rows[i + PREFETCH_AHEAD].receiver);
        }
        lk->payer[i] = slot_of(w, shard_find(&w->users, rows[i].payer));
        if (w->count == 1) { /* one worker: every receiver is ours */
            lk->receiver[i] = slot_of(w, shard_find(&w->users, rows[i].receiver));
            lk->receiver_owner[i] = 0;
        }
    }
    return w->count == 1 ? 0 : lookup_remote_receivers(w, rows, n, lk, errstr, errsize);
}

int worker_event_cmp(const decide_row_t *a, const decide_row_t *b)
{
    if (a->time_us != b->time_us) return a->time_us < b->time_us ? -1 : 1;
    if (a->kafka_ts_ms != b->kafka_ts_ms) return a->kafka_ts_ms < b->kafka_ts_ms ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Each credit to its owner, which adds it at the slot (collective; local
 * with one worker). */
static int apply_credits(worker_t *w, size_t n, char *errstr, size_t errsize)
{
    const worker_credit_t *credits = w->credits;
    user_state_t *slots = w->users.slots;
    if (w->count == 1) {
        for (size_t i = 0; i < n; i++) {
            if (i + PREFETCH_AHEAD < n)
                __builtin_prefetch(&slots[credits[i + PREFETCH_AHEAD].slot].balance_cents, 1);
            slots[credits[i].slot].balance_cents += credits[i].amount_cents;
        }
        return 0;
    }
    int size = w->count, counts[size], rcounts[size], nin = 0, rc = -1;
    int *dest = malloc((n ? n : 1) * sizeof *dest);
    worker_credit_t *packed = malloc((n ? n : 1) * sizeof *packed);
    if (dest == NULL || packed == NULL) {
        snprintf(errstr, errsize, "out of memory");
        /* still take part, sending nothing, so that no worker waits forever */
        n = 0;
    }
    for (size_t i = 0; i < n; i++)
        dest[i] = credits[i].owner;
    if (packed && dest &&
        exchange_pack(credits, n, sizeof *credits, dest, size, packed, counts, NULL, errstr,
                      errsize) != 0)
        n = 0;
    if (n == 0) memset(counts, 0, sizeof counts);
    if (exchange_alltoall(w->comm, packed, counts, sizeof *packed, &w->credits_in, &nin, rcounts,
                          errstr, errsize) == 0 &&
        dest && packed) {
        const worker_credit_t *in = w->credits_in.data;
        for (int i = 0; i < nin; i++)
            slots[in[i].slot].balance_cents += in[i].amount_cents;
        rc = 0;
    }
    free(dest);
    free(packed);
    return rc;
}

/* Decide row i (the payer's and receiver's slots in lk) into *out; an
 * approval debits the payer and queues the credit. */
static void decide_one(worker_t *w, const decide_row_t *r, size_t i, const worker_lookup_t *lk,
                       decide_result_t *out, size_t *ncredits)
{
    user_state_t *payer = lk->payer[i] == WORKER_NO_USER ? NULL : &w->users.slots[lk->payer[i]];
    txn_t t = {.time_us = r->time_us,
               .amount_cents = r->amount_cents,
               .region = r->region,
               .modality = r->modality};
    rules_outcome_t o = rules_decide(&w->rules, &t, payer, lk->receiver[i] != WORKER_NO_USER,
                                     tzhour_hour(&w->tz, r->time_us), r->kafka_ts_ms);
    if (o.status == STATUS_APPROVED) {
        payer->balance_cents -= r->amount_cents;
        if (r->time_us > payer->last_approved_us) payer->last_approved_us = r->time_us;
        w->credits[(*ncredits)++] =
            (worker_credit_t){r->amount_cents, lk->receiver[i], lk->receiver_owner[i]};
    }
    memset(out, 0, sizeof *out);
    out->status = o.status;
    out->reason = o.reason;
    out->t5 = o.has_scores ? o.t5 : NAN;
    out->t6 = o.has_scores ? o.t6 : NAN;
    out->t7 = o.has_scores ? o.t7 : NAN;
}

/* 1 when row j may follow row i in a run: a later batch, or the same batch
 * later in event order. */
static int in_order(const decide_row_t *i, const decide_row_t *j)
{
    return j->batch > i->batch || (j->batch == i->batch && worker_event_cmp(i, j) < 0);
}

int worker_decide(worker_t *w, const decide_row_t *rows, size_t n, const size_t *run_rows,
                  int nruns, int nbatches, const worker_lookup_t *lk, decide_result_t *out,
                  char *errstr, size_t errsize)
{
    int rc = 0;
    if (grow(&w->cursor, (size_t)nruns, sizeof *w->cursor) ||
        grow(&w->run_end, (size_t)nruns, sizeof *w->run_end) ||
        (n > w->credits_cap && grow(&w->credits, n, sizeof *w->credits))) {
        snprintf(errstr, errsize, "out of memory");
        rc = -1; /* still take part in every batch's credits, sending none */
        nruns = 0;
    } else if (n > w->credits_cap) {
        w->credits_cap = n;
    }
    size_t *cursor = w->cursor, *end = w->run_end, at = 0;
    for (int r = 0; r < nruns; r++) {
        cursor[r] = at;
        at += run_rows[r];
        end[r] = at;
    }
    const user_state_t *slots = w->users.slots;
    for (int k = 0; k < nbatches; k++) {
        size_t ncredits = 0;
        for (;;) {
            int best = -1; /* the run whose next row of batch k comes first */
            for (int r = 0; r < nruns; r++)
                if (cursor[r] < end[r] && rows[cursor[r]].batch == k &&
                    (best < 0 || worker_event_cmp(&rows[cursor[r]], &rows[cursor[best]]) < 0))
                    best = r;
            if (best < 0) break;
            size_t i = cursor[best]++;
            if (i + PREFETCH_AHEAD < end[best] && lk->payer[i + PREFETCH_AHEAD] != WORKER_NO_USER) {
                const user_state_t *ahead = &slots[lk->payer[i + PREFETCH_AHEAD]];
                __builtin_prefetch(&ahead->balance_cents, 1);
                __builtin_prefetch(&ahead->last_approved_us, 1);
            }
            if (i + 1 < end[best] && !in_order(&rows[i], &rows[i + 1]) && rc == 0) {
                snprintf(errstr, errsize,
                         "decide: rows out of (batch, event) order at row %zu of a run", i + 1);
                rc = -1;
            }
            decide_one(w, &rows[i], i, lk, &out[i], &ncredits);
        }
        char err[512];
        if (apply_credits(w, ncredits, err, sizeof err) != 0 && rc == 0) {
            snprintf(errstr, errsize, "%s", err);
            rc = -1;
        }
    }
    for (int r = 0; r < nruns && rc == 0; r++)
        if (cursor[r] < end[r]) {
            snprintf(errstr, errsize, "decide: a row names batch %d of %d, or comes out of order",
                     (int)rows[cursor[r]].batch, nbatches);
            rc = -1;
        }
    return rc;
}

void worker_totals(const worker_t *w, int64_t *users, int64_t *money_cents)
{
    size_t pos = 0;
    long i;
    *users = 0;
    *money_cents = 0;
    while ((i = shard_next(&w->users, &pos)) >= 0) {
        (*users)++;
        *money_cents += w->users.slots[i].balance_cents;
    }
}
