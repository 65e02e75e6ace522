/* worker.h - a worker: its shard of users, and the one decision loop that
 * every path runs.
 *
 * The stream (rank 0 scatters each batch's rows to their payers' owners, any
 * N), replay with one rank (each window decided where it was read) and
 * replay with many ranks (rows routed to their owners by an all-to-all) all
 * hand a worker the same records, decide_row_t, get decide_result_t back,
 * and go through the same two steps:
 *
 *   worker_lookup  find each row's payer in this worker's table and its
 *                  receiver at the receiver's owner. Collective over the
 *                  workers (an all-to-all of ids and one of answers); with
 *                  one worker it is local, and safe on a second thread while
 *                  the caller decides other rows, because deciding never
 *                  adds a user or writes a user's id or region.
 *   worker_decide  per batch, in order: decide the batch's rows in event
 *                  order against each payer's balance at batch start minus
 *                  the debits approved so far in the batch (an approval
 *                  debits the payer at once and queues a credit); at the
 *                  batch's end send the credits to the receivers' owners,
 *                  which apply them. Collective over the workers: one
 *                  all-to-all per batch (local with one worker).
 *
 * Event order is (data_horario, Kafka timestamp, seq). seq is the row's
 * number in the input: in the stream, its place in the batch in (partition,
 * offset) order; in replay, its row number over the archives. Rows come as
 * runs, one per sender, each run in (batch, event) order; worker_decide
 * merges the runs. Only a payer's own debits change what its rows see, all
 * of its rows reach its owner, and credits wait for the batch's end, so
 * nothing depends on the number of workers. */
#ifndef BS_WORKER_H
#define BS_WORKER_H

#include "base/tz.h"
#include "base/txn.h"
#include "engine/exchange.h"
#include "engine/rules.h"
#include "engine/shard.h"
#include "engine/user.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* One row on the wire: what a payer's owner needs to decide a transaction. */
typedef struct decide_row {
    uint8_t payer[16], receiver[16];
    int64_t time_us;      /* data_horario */
    int64_t amount_cents; /* valor_transacao */
    int64_t kafka_ts_ms;  /* broker timestamp (0 when the rules do not read it) */
    int64_t seq;          /* event-order tie-break, unique within a batch */
    int32_t batch;        /* index of the row's batch in this call, 0.. */
    uint8_t region, modality, pad[2];
} decide_row_t;

/* One result on the wire. */
typedef struct decide_result {
    double t5, t6, t7; /* risk factors, NaN when not scored */
    uint8_t status;    /* enum txn_status */
    uint8_t reason;    /* enum txn_reason */
    uint8_t pad[6];
} decide_result_t;

/* A run of rows, in (batch, event) order, and where their results go
 * (out[i] for rows[i]). A worker takes its rows as runs, one per sender:
 * each run may lie in its own buffer (replay on one node decides the rows
 * in the memory their reader made them in, see replay.c). */
typedef struct decide_run {
    const decide_row_t *rows;
    decide_result_t *out; /* worker_lookup does not use it */
    size_t n;
} decide_run_t;

/* Where the users of the runs' rows live (worker_lookup fills it), row i of
 * run r at index first + i, first being the rows of the runs before r. */
#define WORKER_NO_USER UINT32_MAX

typedef struct worker_lookup {
    uint32_t *payer;         /* slot in this worker's table, or WORKER_NO_USER */
    uint32_t *receiver;      /* slot in the receiver's owner's table, or WORKER_NO_USER */
    int32_t *receiver_owner; /* worker index of the receiver's owner */
    size_t cap;              /* rows the arrays hold */
    /* more than one worker: how many credits each worker may send this one
     * while these rows are decided (the receivers it asked about here) */
    int *credit_caps;
    int ncaps; /* entries of credit_caps set by the last worker_lookup */
    /* more than one worker: the slots of this worker's users the others may
     * credit, by batch, in target_lists lists (one, or one per set of
     * worker_answer's queries): list l's batch k are targets[start[k] ..
     * start[k + 1]) with start = target_start + l * (target_batches + 1),
     * for k < target_batches */
    uint32_t *targets;
    size_t *target_start;
    int target_batches, target_lists;
} worker_lookup_t;

typedef struct worker_credit {
    int64_t amount_cents;
    uint32_t slot; /* in the owner's table */
    int32_t owner; /* worker index */
} worker_credit_t;

typedef struct worker {
    MPI_Comm comm; /* the workers only */
    int index, count;
    shard_t users;
    rules_config_t rules;
    tzhour_t tz;
    /* kept from call to call: receive buffers, the credits of a batch, the
     * run cursors, the stream's lookups */
    exchange_buf_t queries, answers, credits_in;
    worker_credit_t *credits, *credits_packed;
    size_t *pending;    /* the rows of a batch waiting for the credits of the one before */
    size_t credits_cap; /* rows credits, credits_packed and pending hold */
    exchange_round_t credit_round; /* a batch's credits on their way */
    uint64_t *mark;                /* a bit per slot: a batch's credit targets (worker_decide) */
    size_t mark_words;
    size_t *cursor, *run_end, *run_first;
    worker_lookup_t lookup;
} worker_t;

/* Returns 0, or -1 with errstr (bad time zone, out of memory). */
int worker_init(worker_t *w, MPI_Comm workers, const rules_config_t *rules, char *errstr,
                size_t errsize);
void worker_free(worker_t *w);

/* Load users (overwrite), local. 0, or -1 out of memory (or a nil id). */
int worker_put_users(worker_t *w, const user_state_t *users, size_t n);

/* Apply ledger deltas, local. Returns 0, or the number of deltas whose user
 * this worker does not have (they are skipped). */
size_t worker_apply_deltas(worker_t *w, const ledger_delta_t *deltas, size_t n);

/* Room for n rows in lk (grown, never shrunk). 0, or -1 out of memory. */
int worker_lookup_reserve(worker_lookup_t *lk, size_t n);
void worker_lookup_free(worker_lookup_t *lk);

/* runs[0..nruns) over contiguous arrays: run r is the run_rows[r] rows of
 * rows (and results of out) after the runs before it. */
void worker_runs_of(const decide_row_t *rows, decide_result_t *out, const size_t *run_rows,
                    int nruns, decide_run_t *runs);

/* Step 1: where the payers and receivers of the nruns runs' rows live,
 * into lk (room for all their rows). Collective over w->comm (every worker
 * calls it, with no rows maybe). Returns 0, or -1 with errstr. */
int worker_lookup(worker_t *w, const decide_run_t *runs, int nruns, worker_lookup_t *lk,
                  char *errstr, size_t errsize);

/* A question to a receiver's owner: is this user yours, and at which
 * slot? Asked for a row of batch `batch` (of the decide step) that worker
 * `asker` decides. */
typedef struct worker_query {
    uint8_t id[16];
    int32_t batch;
    int32_t asker;
} worker_query_t;

/* Step 1 without messages, for workers that share memory (replay on one
 * node), in two halves with a synchronization of the workers between them:
 *   worker_answer        at the receivers' owner: answer nsets sets of
 *                        queries about its users (queries[s][i] into
 *                        answers[s][i]: the slot, or WORKER_NO_USER), and
 *                        note in lk which of them the askers may credit,
 *                        and when (credit_caps, targets), as worker_lookup
 *                        does. 0, or -1 out of memory.
 *   worker_lookup_payers at the payers' owner: lk->payer for the runs' rows;
 *                        the caller sets lk->receiver and receiver_owner
 *                        from the answers to its rows' queries.
 * Both local; lk is the same worker_lookup_t that worker_decide takes. */
int worker_answer(worker_t *w, const worker_query_t *const *queries, uint32_t *const *answers,
                  const size_t *n, int nsets, worker_lookup_t *lk);
void worker_lookup_payers(worker_t *w, const decide_run_t *runs, int nruns, worker_lookup_t *lk);

/* Step 2: decide the rows of the nruns runs into their runs' out, batch 0 to
 * nbatches - 1 (the same nbatches on every worker; a worker may have no row
 * of a batch). Every run is in (batch, time_us, kafka_ts_ms, seq) order; lk
 * is what worker_lookup found for them. Collective over w->comm. Returns 0,
 * or -1 with errstr (a run out of order, MPI); the users may then be
 * half-way through a batch. */
int worker_decide(worker_t *w, const decide_run_t *runs, int nruns, int nbatches,
                  const worker_lookup_t *lk, char *errstr, size_t errsize);

/* The event order of two rows of one batch: <0, 0 or >0. */
int worker_event_cmp(const decide_row_t *a, const decide_row_t *b);

/* Totals over this worker's shard (for snapshots, summaries and tests). */
void worker_totals(const worker_t *w, int64_t *users, int64_t *money_cents);

#endif
