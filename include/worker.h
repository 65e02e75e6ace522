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

#include "pgsink.h"
#include "rules.h"
#include "shard.h"
#include "timeparse.h"
#include "txn.h"

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

/* Totals over this worker's shard (for snapshots, summaries and tests). */
void worker_totals(const worker_t *w, int64_t *users, int64_t *money_cents);

#endif
