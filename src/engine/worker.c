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
    free(w->credits_packed);
    free(w->pending);
    free(w->mark);
    exchange_round_free(&w->credit_round);
    free(w->cursor);
    free(w->run_end);
    free(w->run_first);
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
    n += n / 4; /* the rows vary a little from call to call: grown to fit exactly, the
                 * arrays moved to new pages at each new largest count, and the kernel
                 * maps each page when first touched */
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
    free(lk->credit_caps);
    free(lk->targets);
    free(lk->target_start);
    memset(lk, 0, sizeof *lk);
}

static uint32_t slot_of(const worker_t *w, const user_state_t *u)
{
    return u ? (uint32_t)(u - w->users.slots) : WORKER_NO_USER;
}

/* The queries of nsets sets (q[s][0..n[s]), answered in a[s]) that name a
 * user found here for another asker: the others may credit that user. */
#define TARGET(s, i) (q[s][i].asker != self && a[s][i] != WORKER_NO_USER && q[s][i].batch >= 0)

/* The receivers this worker was asked about by the others, by batch
 * (lk->targets as one list, see worker.h), from nsets sets of queries
 * answered here, in any order: each batch's number, then each in its
 * place. 0, or -1 out of memory (then there are none, and worker_decide
 * waits for each batch's credits before the next batch). */
static int collect_targets(worker_lookup_t *lk, int self, int nsets, const worker_query_t *const *q,
                           const uint32_t *const *a, const size_t *n)
{
    int nb = 0;
    size_t all = 0;
    lk->target_batches = 0;
    lk->target_lists = 1;
    for (int s = 0; s < nsets; s++) {
        all += n[s];
        for (size_t i = 0; i < n[s]; i++)
            if (q[s][i].batch >= nb) nb = q[s][i].batch + 1;
    }
    if (grow(&lk->target_start, (size_t)nb + 1, sizeof *lk->target_start) != 0 ||
        grow(&lk->targets, all, sizeof *lk->targets) != 0)
        return -1;
    size_t *start = lk->target_start;
    memset(start, 0, ((size_t)nb + 1) * sizeof *start);
    for (int s = 0; s < nsets; s++)
        for (size_t i = 0; i < n[s]; i++)
            if (TARGET(s, i)) start[q[s][i].batch + 1]++;
    for (int k = 0; k < nb; k++)
        start[k + 1] += start[k];
    for (int s = 0; s < nsets; s++)
        for (size_t i = 0; i < n[s]; i++)
            if (TARGET(s, i)) lk->targets[start[q[s][i].batch]++] = a[s][i];
    for (int k = nb; k > 0; k--) /* the fill moved each start to the next one's */
        start[k] = start[k - 1];
    start[0] = 0;
    lk->target_batches = nb;
    return 0;
}
#undef TARGET

/* The slots of the users n queries ask about (this worker's), into out. */
static void answer_queries(worker_t *w, const worker_query_t *q, size_t n, uint32_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) shard_prefetch(&w->users, q[i + PREFETCH_AHEAD].id);
        out[i] = slot_of(w, shard_find(&w->users, q[i].id));
    }
}

int worker_answer(worker_t *w, const worker_query_t *const *queries, uint32_t *const *answers,
                  const size_t *n, int nsets, worker_lookup_t *lk)
{
    int nb = 0, in_order = 1, self = w->index;
    size_t all = 0, nt = 0;
    lk->ncaps = 0;
    lk->target_batches = 0;
    if (grow(&lk->credit_caps, (size_t)w->count, sizeof(int)) != 0) return -1;
    memset(lk->credit_caps, 0, (size_t)w->count * sizeof(int));
    for (int s = 0; s < nsets; s++) { /* the last batch, when each set is in order */
        all += n[s];
        if (n[s] > 0 && queries[s][n[s] - 1].batch >= nb) nb = queries[s][n[s] - 1].batch + 1;
    }
    int lists =
        grow(&lk->target_start, (size_t)nsets * ((size_t)nb + 1), sizeof *lk->target_start) == 0 &&
        grow(&lk->targets, all, sizeof *lk->targets) == 0;
    /* A set's answers first, then its targets in batch order (its list:
     * target_start[s * (nb + 1) + k] is where batch k's start), the set
     * being in batch order: in one loop, where each answer decided where
     * the next target went, the lookups waited for each other (measured
     * at -np 2: 10% longer). */
    for (int s = 0; s < nsets; s++) {
        const worker_query_t *q = queries[s];
        uint32_t *a = answers[s];
        answer_queries(w, q, n[s], a);
        for (size_t i = 0; i < n[s]; i++)
            lk->credit_caps[q[i].asker]++;
        size_t *start = lists ? lk->target_start + (size_t)s * ((size_t)nb + 1) : NULL;
        int k = 0;
        if (start) start[0] = nt;
        for (size_t i = 0; i < n[s] && start; i++) {
            int b = q[i].batch;
            if (b < 0) continue;
            if (b < k || b >= nb) { /* out of order: counted below instead */
                in_order = 0;
                break;
            }
            while (k < b)
                start[++k] = nt;
            if (q[i].asker != self && a[i] != WORKER_NO_USER) lk->targets[nt++] = a[i];
        }
        while (start && k < nb)
            start[++k] = nt;
    }
    lk->ncaps = w->count;
    if (lists && in_order) {
        lk->target_lists = nsets;
        lk->target_batches = nb;
    } else if (lists) {
        collect_targets(lk, self, nsets, queries, (const uint32_t *const *)answers, n);
    }
    return 0;
}

/* The receivers of the runs' rows (n in all) at their owners (more than
 * one worker): the ids go to the owners, which answer with slots, in the
 * same order (one step: each rank knows how many answers it awaits). What a
 * worker is asked also tells it which of its users the others may credit,
 * and when: lk->credit_caps bounds the credits from each worker (an
 * approved row credits its receiver once), so that worker_decide exchanges
 * a batch's credits in one step, and lk->targets lists them by batch, so
 * that it can decide a batch's other payers while the credits of the batch
 * before travel. */
static int lookup_remote_receivers(worker_t *w, const decide_run_t *runs, int nruns, size_t n,
                                   worker_lookup_t *lk, char *errstr, size_t errsize)
{
    int size = w->count, nq = 0, rc = 0;
    int counts[size], qcounts[size], acounts[size];
    size_t next[size], room = n * sizeof(uint32_t), all = n;
    worker_query_t *packed = malloc((n ? n : 1) * sizeof *packed);
    size_t *pos = malloc((n ? n : 1) * sizeof *pos);
    uint32_t *answers = NULL;
    lk->ncaps = 0;
    lk->target_batches = 0;
    if (packed == NULL || pos == NULL || grow(&lk->credit_caps, (size_t)size, sizeof(int)) != 0 ||
        ((room > w->answers.cap || w->answers.data == NULL) &&
         grow(&w->answers.data, n, sizeof(uint32_t)) != 0)) {
        snprintf(errstr, errsize, "out of memory");
        rc = -1;
        n = 0; /* still take part, asking nothing */
        nruns = 0;
    } else if (room > w->answers.cap) {
        w->answers.cap = room;
    }
    memset(counts, 0, sizeof counts);
    size_t g = 0;
    for (int r = 0; r < nruns; g += runs[r++].n)
        if (runs[r].n > 0)
            route_owners(runs[r].rows[0].receiver, sizeof *runs[r].rows, runs[r].n, size,
                         lk->receiver_owner + g);
    for (size_t i = 0; i < n; i++)
        counts[lk->receiver_owner[i]]++;
    next[0] = 0;
    for (int d = 1; d < size; d++)
        next[d] = next[d - 1] + (size_t)counts[d - 1];
    g = 0;
    for (int r = 0; r < nruns; r++)
        for (size_t j = 0; j < runs[r].n; j++, g++) {
            worker_query_t *q = &packed[pos[g] = next[lk->receiver_owner[g]]++];
            memcpy(q->id, runs[r].rows[j].receiver, 16);
            q->batch = runs[r].rows[j].batch;
            q->asker = w->index;
        }
    if (exchange_alltoall(w->comm, packed, counts, sizeof *packed, &w->queries, &nq, qcounts,
                          errstr, errsize) != 0) {
        rc = -1;
        goto out;
    }
    const worker_query_t *queries = w->queries.data;
    if ((answers = malloc((size_t)(nq ? nq : 1) * sizeof *answers)) == NULL) {
        snprintf(errstr, errsize, "out of memory");
        rc = -1;
        nq = 0;
        memset(qcounts, 0, sizeof qcounts); /* answer nothing: the askers see it */
    }
    answer_queries(w, queries, (size_t)nq, answers);
    if (lk->credit_caps) { /* an earlier call's, when growing it failed: same size */
        for (int s = 0; s < size; s++)
            lk->credit_caps[s] = qcounts[s];
        lk->ncaps = size;
    }
    if (rc == 0) {
        const uint32_t *a = answers;
        size_t all_queries = (size_t)nq;
        collect_targets(lk, w->index, 1, &queries, &a, &all_queries);
    }
    if (exchange_alltoall_bounded(w->comm, answers, qcounts, sizeof *answers, w->answers.data,
                                  counts, acounts, errstr, errsize) != 0) {
        rc = -1;
        goto out;
    }
    for (int d = 0; d < size && rc == 0; d++)
        if (acounts[d] != counts[d]) {
            snprintf(errstr, errsize, "lookup: worker %d answered %d of %d queries", d, acounts[d],
                     counts[d]);
            rc = -1;
        }
    const uint32_t *replies = w->answers.data;
    for (size_t i = 0; i < n && rc == 0; i++)
        lk->receiver[i] = replies[pos[i]];
out:
    for (size_t i = 0; i < all && rc != 0; i++) /* no credit to a receiver not found */
        lk->receiver[i] = WORKER_NO_USER;
    free(packed);
    free(pos);
    free(answers);
    return rc;
}

void worker_runs_of(const decide_row_t *rows, decide_result_t *out, const size_t *run_rows,
                    int nruns, decide_run_t *runs)
{
    size_t at = 0;
    for (int r = 0; r < nruns; r++) {
        runs[r] = (decide_run_t){rows + at, out ? out + at : NULL, run_rows[r]};
        at += run_rows[r];
    }
}

void worker_lookup_payers(worker_t *w, const decide_run_t *runs, int nruns, worker_lookup_t *lk)
{
    size_t g = 0;
    for (int r = 0; r < nruns; r++) {
        const decide_row_t *rows = runs[r].rows;
        size_t n = runs[r].n;
        for (size_t i = 0; i < n; i++, g++) {
            if (i + PREFETCH_AHEAD < n) shard_prefetch(&w->users, rows[i + PREFETCH_AHEAD].payer);
            lk->payer[g] = slot_of(w, shard_find(&w->users, rows[i].payer));
        }
    }
}

int worker_lookup(worker_t *w, const decide_run_t *runs, int nruns, worker_lookup_t *lk,
                  char *errstr, size_t errsize)
{
    size_t g = 0;
    if (w->count > 1) {
        worker_lookup_payers(w, runs, nruns, lk);
        for (int r = 0; r < nruns; r++)
            g += runs[r].n;
        return lookup_remote_receivers(w, runs, nruns, g, lk, errstr, errsize);
    }
    /* one worker: every receiver is ours, looked up beside its payer */
    for (int r = 0; r < nruns; r++) {
        const decide_row_t *rows = runs[r].rows;
        size_t n = runs[r].n;
        for (size_t i = 0; i < n; i++, g++) {
            if (i + PREFETCH_AHEAD < n) {
                shard_prefetch(&w->users, rows[i + PREFETCH_AHEAD].payer);
                shard_prefetch(&w->users, rows[i + PREFETCH_AHEAD].receiver);
            }
            lk->payer[g] = slot_of(w, shard_find(&w->users, rows[i].payer));
            lk->receiver[g] = slot_of(w, shard_find(&w->users, rows[i].receiver));
            lk->receiver_owner[g] = 0;
        }
    }
    return 0;
}

int worker_event_cmp(const decide_row_t *a, const decide_row_t *b)
{
    if (a->time_us != b->time_us) return a->time_us < b->time_us ? -1 : 1;
    if (a->kafka_ts_ms != b->kafka_ts_ms) return a->kafka_ts_ms < b->kafka_ts_ms ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Add n credits at their slots (this worker's). */
static void add_credits(worker_t *w, const worker_credit_t *c, size_t n)
{
    user_state_t *slots = w->users.slots;
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            __builtin_prefetch(&slots[c[i + PREFETCH_AHEAD].slot].balance_cents, 1);
        slots[c[i].slot].balance_cents += c[i].amount_cents;
    }
}

/* The end of a batch with more than one worker: its n credits (w->credits)
 * to their owners. This worker's own are added now; the others' leave in
 * a round (w->credit_round) that credits_finish completes, each worker
 * receiving at most caps[s] credits from worker s (lookup_remote_receivers),
 * none when caps is NULL (its room could not be had: more is an error).
 * 0, or -1 with errstr (the round is started all the same). */
static int credits_start(worker_t *w, size_t n, const int *caps, char *errstr, size_t errsize)
{
    int size = w->count, counts[size], none[size], rc = 0;
    size_t next[size];
    /* packed by owner (a loop of its own: a credit is 16 bytes, which
     * exchange_pack's memcpy of any size took longer to copy) */
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++)
        counts[w->credits[i].owner]++;
    next[0] = 0;
    for (int d = 1; d < size; d++)
        next[d] = next[d - 1] + (size_t)counts[d - 1];
    for (size_t i = 0; i < n; i++)
        w->credits_packed[next[w->credits[i].owner]++] = w->credits[i];
    memset(none, 0, sizeof none);
    if (exchange_round_start(&w->credit_round, w->comm, w->credits_packed, counts,
                             sizeof *w->credits, w->credits_in.data, caps ? caps : none, errstr,
                             errsize) != 0)
        return -1;
    /* this worker's own credits were copied at the start: add them now */
    const worker_credit_t *in = w->credits_in.data;
    for (int s = 0; s < w->index && caps; s++)
        in += caps[s];
    size_t mine = (size_t)w->credit_round.rbytes[w->index] / sizeof *w->credits;
    add_credits(w, in, mine);
    return rc;
}

/* Complete the round credits_start began and add the credits of the other
 * workers. 0, or -1 with errstr. */
static int credits_finish(worker_t *w, const int *caps, char *errstr, size_t errsize)
{
    int size = w->count, got[size];
    memset(got, 0, sizeof got);
    if (exchange_round_finish(&w->credit_round, got, errstr, errsize) != 0) return -1;
    const worker_credit_t *in = w->credits_in.data;
    for (int s = 0; s < size && caps; s++) {
        if (s != w->index) add_credits(w, in, (size_t)got[s]);
        in += caps[s];
    }
    return 0;
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

/* Mark (set) or unmark the users the other workers may credit in batch k
 * (lk->targets: its lists' part for batch k) in the bitmap w->mark, one bit
 * per slot. Returns 1 when there are any. */
static int mark_targets(worker_t *w, const worker_lookup_t *lk, int k, int set)
{
    if (k < 0 || k >= lk->target_batches) return 0;
    int any = 0;
    for (int l = 0; l < lk->target_lists; l++) {
        const size_t *start = lk->target_start + (size_t)l * ((size_t)lk->target_batches + 1);
        for (size_t t = start[k]; t < start[k + 1]; t++) {
            uint32_t s = lk->targets[t];
            any = 1;
            if (set)
                w->mark[s / 64] |= (uint64_t)1 << (s % 64);
            else
                w->mark[s / 64] &= ~((uint64_t)1 << (s % 64));
        }
    }
    return any;
}

static int marked(const worker_t *w, uint32_t slot)
{
    return slot != WORKER_NO_USER && (w->mark[slot / 64] >> (slot % 64) & 1);
}

int worker_decide(worker_t *w, const decide_run_t *runs, int nruns, int nbatches,
                  const worker_lookup_t *lk, char *errstr, size_t errsize)
{
    int rc = 0, many = w->count > 1;
    size_t n = 0;
    for (int r = 0; r < nruns; r++)
        n += runs[r].n;
    char err[512];
    /* Room for the credits from the others (their bound, see credits_start) */
    const int *caps = many && lk->ncaps == w->count ? lk->credit_caps : NULL;
    size_t in_room = 0;
    for (int s = 0; caps && s < w->count; s++)
        in_room += (size_t)caps[s];
    in_room *= sizeof(worker_credit_t);
    if (caps && (in_room > w->credits_in.cap || w->credits_in.data == NULL)) {
        void *p = realloc(w->credits_in.data, in_room ? in_room : 1);
        if (p) {
            w->credits_in.data = p;
            w->credits_in.cap = in_room ? in_room : 1;
        } else {
            caps = NULL;
        }
    }
    /* marks: a bit per slot of the table (which deciding never grows), all
     * clear between batches */
    int lookahead = many && lk->target_batches > 0;
    size_t words = (w->users.capacity + 63) / 64;
    if (lookahead && w->mark_words < words) {
        uint64_t *m = calloc(words, sizeof *m);
        if (m) {
            free(w->mark);
            w->mark = m;
            w->mark_words = words;
        } else {
            lookahead = 0; /* wait for each batch's credits instead */
        }
    }
    size_t room = n + n / 4; /* as worker_lookup_reserve */
    if (grow(&w->cursor, (size_t)nruns, sizeof *w->cursor) ||
        grow(&w->run_end, (size_t)nruns, sizeof *w->run_end) ||
        grow(&w->run_first, (size_t)nruns, sizeof *w->run_first) ||
        (n > w->credits_cap && (grow(&w->credits, room, sizeof *w->credits) ||
                                grow(&w->credits_packed, room, sizeof *w->credits_packed) ||
                                grow(&w->pending, room, sizeof *w->pending))) ||
        (many && caps == NULL)) {
        snprintf(errstr, errsize, "out of memory");
        rc = -1; /* still take part in every batch's credits, sending none */
        nruns = 0;
        lookahead = 0;
    } else if (n > w->credits_cap) {
        w->credits_cap = room;
    }
    /* cursor[r], end[r] and first[r]: where run r is, as an index over
     * all the runs' rows (the index into lk); ROW(r, i) is row i there */
    size_t *cursor = w->cursor, *end = w->run_end, *first = w->run_first, at = 0;
    for (int r = 0; r < nruns; r++) {
        first[r] = cursor[r] = at;
        at += runs[r].n;
        end[r] = at;
    }
#define ROW(r, i) (&runs[r].rows[(i)-first[r]])
#define OUT(r, i) (&runs[r].out[(i)-first[r]])
    const user_state_t *slots = w->users.slots;
    int inflight = 0; /* the credits of batch k - 1 are travelling */
    for (int k = 0; k < nbatches; k++) {
        size_t ncredits = 0, npending = 0, since = 0;
        /* Rows whose payer the others may credit in batch k - 1 wait for
         * those credits (the pending rows); the others go first. Within a
         * batch a row depends on its own payer's state only, so this order
         * decides every row as event order does. */
        int gen = inflight && lookahead ? mark_targets(w, lk, k - 1, 1) : 0;
        if (inflight && !lookahead) { /* no list: wait now */
            if (credits_finish(w, caps, err, sizeof err) != 0 && rc == 0) {
                snprintf(errstr, errsize, "%s", err);
                rc = -1;
            }
            inflight = 0;
        }
        for (;;) {
            /* The run whose next row of batch k comes first, and the first
             * of the other runs' next rows: rows are taken from that run
             * until they pass that one (runs of readers' slices, whose
             * times follow each other, rarely interleave). */
            int best = -1;
            const decide_row_t *second = NULL;
            for (int r = 0; r < nruns; r++) {
                if (cursor[r] >= end[r] || ROW(r, cursor[r])->batch != k) continue;
                const decide_row_t *head = ROW(r, cursor[r]);
                if (best < 0) {
                    best = r;
                } else if (worker_event_cmp(head, ROW(best, cursor[best])) < 0) {
                    const decide_row_t *was = ROW(best, cursor[best]);
                    if (second == NULL || worker_event_cmp(was, second) < 0) second = was;
                    best = r;
                } else if (second == NULL || worker_event_cmp(head, second) < 0) {
                    second = head;
                }
            }
            if (best < 0) break;
            for (;;) {
                size_t i = cursor[best]++;
                if (i + PREFETCH_AHEAD < end[best] &&
                    lk->payer[i + PREFETCH_AHEAD] != WORKER_NO_USER) {
                    const user_state_t *ahead = &slots[lk->payer[i + PREFETCH_AHEAD]];
                    __builtin_prefetch(&ahead->balance_cents, 1);
                    __builtin_prefetch(&ahead->last_approved_us, 1);
                }
                const decide_row_t *row = ROW(best, i);
                if (i + 1 < end[best] && !in_order(row, row + 1) && rc == 0) {
                    snprintf(errstr, errsize,
                             "decide: rows out of (batch, event) order at row %zu of a run", i + 1);
                    rc = -1;
                }
                if (gen && marked(w, lk->payer[i])) {
                    w->pending[npending++] = i;
                } else {
                    decide_one(w, row, i, lk, OUT(best, i), &ncredits);
                    if (inflight && ++since == 1024) { /* keep the credits moving */
                        since = 0;
                        exchange_round_test(&w->credit_round);
                    }
                }
                if (cursor[best] >= end[best] || row[1].batch != k ||
                    (second && worker_event_cmp(row + 1, second) > 0))
                    break;
            }
        }
        if (inflight) {
            if (credits_finish(w, caps, err, sizeof err) != 0 && rc == 0) {
                snprintf(errstr, errsize, "%s", err);
                rc = -1;
            }
            inflight = 0;
        }
        for (size_t p = 0, r = 0; p < npending; p++) {
            size_t i = w->pending[p];
            while (r > 0 && i < first[r]) /* to the run of row i */
                r--;
            while ((int)r + 1 < nruns && i >= end[r])
                r++;
            decide_one(w, ROW(r, i), i, lk, OUT(r, i), &ncredits);
        }
        if (gen) mark_targets(w, lk, k - 1, 0);
        if (!many) {
            add_credits(w, w->credits, ncredits);
            continue;
        }
        if (credits_start(w, ncredits, caps, err, sizeof err) != 0 && rc == 0) {
            snprintf(errstr, errsize, "%s", err);
            rc = -1;
        }
        inflight = 1;
    }
    if (inflight && credits_finish(w, caps, err, sizeof err) != 0 && rc == 0) {
        snprintf(errstr, errsize, "%s", err);
        rc = -1;
    }
    for (int r = 0; r < nruns && rc == 0; r++)
        if (cursor[r] < end[r]) {
            snprintf(errstr, errsize, "decide: a row names batch %d of %d, or comes out of order",
                     (int)ROW(r, cursor[r])->batch, nbatches);
            rc = -1;
        }
#undef ROW
#undef OUT
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
