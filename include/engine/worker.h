/* worker.h - a worker rank: its shard of users and the per-batch decision.
 *
 * Per batch, collective over the workers' communicator (worker_decide):
 *   1. receiver check: the receivers of this worker's transactions are
 *      looked up at their owners (all-to-all of ids, all-to-all of answers);
 *   2. decide: in (partition, offset) order, each transaction against its
 *      payer's balance at batch start minus the debits approved so far;
 *      an approval debits the payer at once and queues a credit;
 *   3. credits: all-to-all to the receivers' owners, applied at batch end.
 * The outcome depends on the batch only, never on the number of workers. */
#ifndef BS_WORKER_H
#define BS_WORKER_H

#include "engine/exchange.h"
#include "engine/rules.h"
#include "engine/shard.h"
#include "engine/user.h"
#include "base/tz.h"
#include "base/txn.h"

#include <mpi.h>
#include <stdint.h>

/* What rank 0 sends a worker for each transaction. */
typedef struct work_item {
    txn_t txn;
    int64_t kafka_ts_ms;
    uint32_t seq; /* index of the row in rank 0's batch */
    uint32_t pad;
} work_item_t;

/* What a worker returns for each transaction. */
typedef struct work_result {
    uint32_t seq;
    uint8_t status, reason, has_scores, pad;
    double t5, t6, t7;
} work_result_t;

typedef struct worker {
    MPI_Comm comm; /* the workers only */
    int index, count;
    shard_t users;
    rules_config_t rules;
    tzhour_t tz;
    exchange_buf_t queries, answers, credits; /* receive buffers, reused */
} worker_t;

/* Returns 0, or -1 with errstr (bad time zone, out of memory). */
int worker_init(worker_t *w, MPI_Comm workers, const rules_config_t *rules, char *errstr,
                size_t errsize);
void worker_free(worker_t *w);

/* Load users (overwrite) and apply ledger deltas; local, not collective.
 * Return 0 or -1 when out of memory / -2 for a delta of an unknown user. */
int worker_put_users(worker_t *w, const user_state_t *users, int n);
int worker_apply_deltas(worker_t *w, const ledger_delta_t *deltas, int n);

/* Decide items[0..n) (in seq order) as described above; results[i] belongs
 * to items[i]. Collective over w->comm. Returns MPI_SUCCESS or an error. */
int worker_decide(worker_t *w, const work_item_t *items, int n, work_result_t *results);

/* ---- the steps of worker_decide, for replay (replay.c), which looks up
 * the receivers of a whole window at once and decides batch by batch ---- */

/* Where a user lives: its owner's worker index and its slot in the owner's
 * shard (stable while no user is added), or slot WORKER_NO_USER. */
#define WORKER_NO_USER UINT32_MAX

typedef struct worker_credit {
    int64_t amount_cents;
    uint32_t slot; /* in the owner's shard */
    int32_t owner; /* worker index */
} worker_credit_t;

/* Step 1, collective over w->comm: find the n user ids at ids, ids + stride,
 * ... at their owners: slot[i] and owner[i] as above. MPI_SUCCESS or an error. */
int worker_find_users(worker_t *w, const void *ids, size_t stride, int n, uint32_t *slot,
                      int32_t *owner);

/* Step 2, local: decide one transaction whose payer this worker owns (or
 * that no worker knows), against the payer's current state; an approval
 * debits the payer at once. The caller queues the credit. */
rules_outcome_t worker_decide_one(worker_t *w, const txn_t *t, int receiver_known,
                                  int64_t kafka_ts_ms);

/* worker_decide_one with the payer already looked up in this worker's shard
 * (NULL: unknown); t->payer is not read. */
rules_outcome_t worker_decide_found(worker_t *w, const txn_t *t, user_state_t *payer,
                                    int receiver_known, int64_t kafka_ts_ms);

/* Step 3, collective over w->comm, at batch end: each credit goes to its
 * owner, which adds it to the user at its slot. MPI_SUCCESS or an error. */
int worker_apply_credits(worker_t *w, const worker_credit_t *credits, int n);

/* Totals over this worker's shard (for snapshots, summaries and tests). */
void worker_totals(const worker_t *w, int64_t *users, int64_t *money_cents);

#endif
