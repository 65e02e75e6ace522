/* worker.c - shard-local state and the per-batch decision (see worker.h). */
#include "worker.h"
#include "exchange.h"
#include "route.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

typedef struct credit {
    uint8_t receiver[16];
    int64_t amount_cents;
} credit_t;

int worker_init(worker_t *w, MPI_Comm workers, const rules_config_t *rules, char *errstr,
                size_t errsize)
{
    memset(w, 0, sizeof *w);
    w->comm = workers;
    MPI_Comm_rank(workers, &w->index);
    MPI_Comm_size(workers, &w->count);
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
}

int worker_put_users(worker_t *w, const user_state_t *users, int n)
{
    for (int i = 0; i < n; i++)
        if (shard_put(&w->users, &users[i]) == NULL) return -1;
    return 0;
}

int worker_apply_deltas(worker_t *w, const ledger_delta_t *deltas, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        user_state_t *u = shard_find(&w->users, deltas[i].id);
        if (u == NULL) {
            rc = -2;
            continue;
        }
        u->balance_cents += deltas[i].delta_cents;
        if (deltas[i].last_approved_us > u->last_approved_us)
            u->last_approved_us = deltas[i].last_approved_us;
    }
    return rc;
}

/* Step 1: for each item, does its receiver exist? known[i] = 0/1. */
static int check_receivers(worker_t *w, const work_item_t *items, int n, uint8_t *known)
{
    int rc = MPI_ERR_NO_MEM, nq = 0, na = 0;
    int *dest = malloc((size_t)(n ? n : 1) * sizeof *dest);
    uint8_t(*ids)[16] = malloc((size_t)(n ? n : 1) * 16);
    uint8_t(*packed)[16] = malloc((size_t)(n ? n : 1) * 16);
    size_t *pos = malloc((size_t)(n ? n : 1) * sizeof *pos);
    int *counts = malloc((size_t)w->count * sizeof *counts);
    int *qcounts = malloc((size_t)w->count * sizeof *qcounts);
    int *acounts = malloc((size_t)w->count * sizeof *acounts);
    uint8_t(*queries)[16] = NULL;
    uint8_t *answers = NULL, *replies = NULL;
    if (!dest || !ids || !packed || !pos || !counts || !qcounts || !acounts) goto out;

    for (int i = 0; i < n; i++) {
        memcpy(ids[i], items[i].txn.receiver, 16);
        dest[i] = route_owner(items[i].txn.receiver, w->count);
    }
    rc = exchange_pack(ids, (size_t)n, 16, dest, w->count, packed, counts, pos);
    if (rc != MPI_SUCCESS) goto out;
    rc = exchange_alltoall(w->comm, packed, counts, 16, (void **)&queries, &nq, qcounts);
    if (rc != MPI_SUCCESS) goto out;
    rc = MPI_ERR_NO_MEM;
    if ((answers = malloc((size_t)(nq ? nq : 1))) == NULL) goto out;
    for (int i = 0; i < nq; i++)
        answers[i] = shard_find(&w->users, queries[i]) != NULL;
    /* Answers go back to where the queries came from, in the same order. */
    rc = exchange_alltoall(w->comm, answers, qcounts, 1, (void **)&replies, &na, acounts);
    if (rc != MPI_SUCCESS) goto out;
    for (int i = 0; i < n; i++)
        known[i] = replies[pos[i]];
out:
    free(dest);
    free(ids);
    free(packed);
    free(pos);
    free(counts);
    free(qcounts);
    free(acounts);
    free(queries);
    free(answers);
    free(replies);
    return rc;
}

/* Step 3: send credits to the receivers' owners and apply those we own. */
static int apply_credits(worker_t *w, const credit_t *credits, int n)
{
    int rc = MPI_ERR_NO_MEM, nin = 0;
    int *dest = malloc((size_t)(n ? n : 1) * sizeof *dest);
    credit_t *packed = malloc((size_t)(n ? n : 1) * sizeof *packed);
    int *counts = malloc((size_t)w->count * sizeof *counts);
    int *rcounts = malloc((size_t)w->count * sizeof *rcounts);
    credit_t *incoming = NULL;
    if (!dest || !packed || !counts || !rcounts) goto out;
    for (int i = 0; i < n; i++)
        dest[i] = route_owner(credits[i].receiver, w->count);
    rc = exchange_pack(credits, (size_t)n, sizeof *credits, dest, w->count, packed, counts, NULL);
    if (rc != MPI_SUCCESS) goto out;
    rc = exchange_alltoall(w->comm, packed, counts, sizeof *packed, (void **)&incoming, &nin,
                           rcounts);
    if (rc != MPI_SUCCESS) goto out;
    for (int i = 0; i < nin; i++) {
        user_state_t *u = shard_find(&w->users, incoming[i].receiver);
        if (u) u->balance_cents += incoming[i].amount_cents; /* existence was checked */
    }
out:
    free(dest);
    free(packed);
    free(counts);
    free(rcounts);
    free(incoming);
    return rc;
}

int worker_decide(worker_t *w, const work_item_t *items, int n, work_result_t *results)
{
    int rc = MPI_ERR_NO_MEM, ncredits = 0;
    uint8_t *known = malloc((size_t)(n ? n : 1));
    credit_t *credits = malloc((size_t)(n ? n : 1) * sizeof *credits);
    if (known == NULL || credits == NULL) goto out;
    rc = check_receivers(w, items, n, known);
    if (rc != MPI_SUCCESS) goto out;

    for (int i = 0; i < n; i++) {
        const txn_t *t = &items[i].txn;
        user_state_t *payer = shard_find(&w->users, t->payer);
        int hour = tzhour_hour(&w->tz, t->time_us);
        rules_outcome_t o = rules_decide(&w->rules, t, payer, known[i], hour, items[i].kafka_ts_ms);
        if (o.status == STATUS_APPROVED) {
            payer->balance_cents -= t->amount_cents;
            if (t->time_us > payer->last_approved_us) payer->last_approved_us = t->time_us;
            memcpy(credits[ncredits].receiver, t->receiver, 16);
            credits[ncredits++].amount_cents = t->amount_cents;
        }
        work_result_t *r = &results[i];
        memset(r, 0, sizeof *r);
        r->seq = items[i].seq;
        r->status = o.status;
        r->reason = o.reason;
        r->has_scores = o.has_scores;
        r->t5 = o.t5;
        r->t6 = o.t6;
        r->t7 = o.t7;
    }
    rc = apply_credits(w, credits, ncredits);
out:
    free(known);
    free(credits);
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
