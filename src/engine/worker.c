/* worker.c - shard-local state and the per-batch decision (see worker.h). */
#include "engine/worker.h"
#include "engine/exchange.h"
#include "engine/route.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

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
    free(w->queries.data);
    free(w->answers.data);
    free(w->credits.data);
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

int worker_find_users(worker_t *w, const void *ids, size_t stride, int n, uint32_t *slot,
                      int32_t *owner)
{
    const uint8_t *id = ids;
    if (w->count == 1) { /* one worker: no exchange */
        for (int i = 0; i < n; i++) {
            if (i + 8 < n) shard_prefetch(&w->users, id + (size_t)(i + 8) * stride);
            const user_state_t *u = shard_find(&w->users, id + (size_t)i * stride);
            slot[i] = u ? (uint32_t)(u - w->users.slots) : WORKER_NO_USER;
            owner[i] = 0;
        }
        return MPI_SUCCESS;
    }
    int rc = MPI_ERR_NO_MEM, nq = 0, na = 0;
    int *dest = malloc((size_t)(n ? n : 1) * sizeof *dest);
    uint8_t(*packed)[16] = malloc((size_t)(n ? n : 1) * 16);
    size_t *pos = malloc((size_t)(n ? n : 1) * sizeof *pos);
    int *counts = malloc((size_t)w->count * sizeof *counts);
    int *qcounts = malloc((size_t)w->count * sizeof *qcounts);
    int *acounts = malloc((size_t)w->count * sizeof *acounts);
    uint32_t *answers = NULL;
    if (!dest || !packed || !pos || !counts || !qcounts || !acounts) goto out;

    for (int i = 0; i < n; i++)
        owner[i] = dest[i] = route_owner(id + (size_t)i * stride, w->count);
    rc = exchange_pack_strided(id, (size_t)n, stride, 16, dest, w->count, packed, counts, pos);
    if (rc != MPI_SUCCESS) goto out;
    rc = exchange_alltoall_into(w->comm, packed, counts, 16, &w->queries, &nq, qcounts);
    if (rc != MPI_SUCCESS) goto out;
    const uint8_t(*queries)[16] = w->queries.data;
    rc = MPI_ERR_NO_MEM;
    if ((answers = malloc((size_t)(nq ? nq : 1) * sizeof *answers)) == NULL) goto out;
    for (int i = 0; i < nq; i++) {
        if (i + 8 < nq) shard_prefetch(&w->users, queries[i + 8]);
        const user_state_t *u = shard_find(&w->users, queries[i]);
        answers[i] = u ? (uint32_t)(u - w->users.slots) : WORKER_NO_USER;
    }
    /* Answers go back to where the queries came from, in the same order. */
    rc = exchange_alltoall_into(w->comm, answers, qcounts, sizeof *answers, &w->answers, &na,
                                acounts);
    if (rc != MPI_SUCCESS) goto out;
    const uint32_t *replies = w->answers.data;
    for (int i = 0; i < n; i++)
        slot[i] = replies[pos[i]];
out:
    free(dest);
    free(packed);
    free(pos);
    free(counts);
    free(qcounts);
    free(acounts);
    free(answers);
    return rc;
}

rules_outcome_t worker_decide_one(worker_t *w, const txn_t *t, int receiver_known,
                                  int64_t kafka_ts_ms)
{
    return worker_decide_found(w, t, shard_find(&w->users, t->payer), receiver_known, kafka_ts_ms);
}

rules_outcome_t worker_decide_found(worker_t *w, const txn_t *t, user_state_t *payer,
                                    int receiver_known, int64_t kafka_ts_ms)
{
    int hour = tzhour_hour(&w->tz, t->time_us);
    rules_outcome_t o = rules_decide(&w->rules, t, payer, receiver_known, hour, kafka_ts_ms);
    if (o.status == STATUS_APPROVED) {
        payer->balance_cents -= t->amount_cents;
        if (t->time_us > payer->last_approved_us) payer->last_approved_us = t->time_us;
    }
    return o;
}

int worker_apply_credits(worker_t *w, const worker_credit_t *credits, int n)
{
    if (w->count == 1) { /* one worker: every credit is ours */
        for (int i = 0; i < n; i++) {
            if (i + 8 < n) __builtin_prefetch(&w->users.slots[credits[i + 8].slot].balance_cents);
            w->users.slots[credits[i].slot].balance_cents += credits[i].amount_cents;
        }
        return MPI_SUCCESS;
    }
    int rc = MPI_ERR_NO_MEM, nin = 0;
    int *dest = malloc((size_t)(n ? n : 1) * sizeof *dest);
    worker_credit_t *packed = malloc((size_t)(n ? n : 1) * sizeof *packed);
    int *counts = malloc((size_t)w->count * sizeof *counts);
    int *rcounts = malloc((size_t)w->count * sizeof *rcounts);
    if (!dest || !packed || !counts || !rcounts) goto out;
    for (int i = 0; i < n; i++)
        dest[i] = credits[i].owner;
    rc = exchange_pack(credits, (size_t)n, sizeof *credits, dest, w->count, packed, counts, NULL);
    if (rc != MPI_SUCCESS) goto out;
    rc =
        exchange_alltoall_into(w->comm, packed, counts, sizeof *packed, &w->credits, &nin, rcounts);
    if (rc != MPI_SUCCESS) goto out;
    const worker_credit_t *incoming = w->credits.data;
    for (int i = 0; i < nin; i++)
        w->users.slots[incoming[i].slot].balance_cents += incoming[i].amount_cents;
out:
    free(dest);
    free(packed);
    free(counts);
    free(rcounts);
    return rc;
}

int worker_decide(worker_t *w, const work_item_t *items, int n, work_result_t *results)
{
    int rc = MPI_ERR_NO_MEM, ncredits = 0;
    uint32_t *slot = malloc((size_t)(n ? n : 1) * sizeof *slot);
    int32_t *owner = malloc((size_t)(n ? n : 1) * sizeof *owner);
    worker_credit_t *credits = malloc((size_t)(n ? n : 1) * sizeof *credits);
    if (slot == NULL || owner == NULL || credits == NULL) goto out;
    rc = worker_find_users(w, n ? items[0].txn.receiver : NULL, sizeof *items, n, slot, owner);
    if (rc != MPI_SUCCESS) goto out;

    for (int i = 0; i < n; i++) {
        const txn_t *t = &items[i].txn;
        rules_outcome_t o =
            worker_decide_one(w, t, slot[i] != WORKER_NO_USER, items[i].kafka_ts_ms);
        if (o.status == STATUS_APPROVED)
            credits[ncredits++] = (worker_credit_t){t->amount_cents, slot[i], owner[i]};
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
    rc = worker_apply_credits(w, credits, ncredits);
out:
    free(slot);
    free(owner);
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
