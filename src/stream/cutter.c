/* cutter.c - when a batch is ready and what goes into it (see cutter.h). */
#include "stream/cutter.h"
#include "base/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cutter_init(cutter_t *ct, const job_config_t *job, int keep_all_ids, dedupe_lookup_fn lookup,
                void *lookup_ctx)
{
    memset(ct, 0, sizeof *ct);
    ct->job = job;
    ct->next_batch_id = 1;
    return dedupe_init(&ct->dedupe, (size_t)job->duplicate_filter_bytes, keep_all_ids, lookup,
                       lookup_ctx);
}

void cutter_free(cutter_t *ct)
{
    dedupe_free(&ct->dedupe);
}

static size_t quota(int64_t batch_size, int nparts, int p)
{
    int64_t k = batch_size / nparts + (p < batch_size % nparts);
    return k > 0 ? (size_t)k : 1;
}

int cutter_plan(const cut_partition_t *parts, int nparts, int64_t batch_size, int64_t max_ms,
                int64_t pending_ms, int sink_idle, size_t *take)
{
    size_t total = 0;
    int complete = 1, drained = 1;
    for (int p = 0; p < nparts; p++) {
        size_t q = quota(batch_size, nparts, p);
        total += parts[p].buffered;
        drained &= parts[p].drained;
        /* A partition is complete when it has its quota buffered, or,
         * while the sink is idle, everything up to its end: while it
         * commits, a batch cut at the end would only queue behind the
         * commit, and the messages after it would wait for two commits
         * (group commit: the batch grows until the sink is free). */
        size_t n = parts[p].fit < parts[p].buffered ? parts[p].fit : parts[p].buffered;
        int full = n < parts[p].buffered || n >= q; /* its byte or count quota is reached */
        if (!full && !(sink_idle && parts[p].at_end)) complete = 0;
        take[p] = n < q ? n : q;
    }
    if (total == 0) return drained ? -1 : 0;
    return complete || (max_ms > 0 && pending_ms >= max_ms) ? 1 : 0;
}

int64_t cutter_time_bound(int64_t max_ms, int64_t min_ms, int sink_idle)
{
    return sink_idle && max_ms > 0 && min_ms < max_ms ? min_ms : max_ms;
}

/* The plan for the source as it is now (cutter_plan), into take; with
 * sink_idle, the time bound is min_ms (see cutter.h). */
static int plan_now(cutter_t *ct, int sink_idle, size_t *take)
{
    cut_partition_t parts[ct->nparts];
    int64_t byte_quota = ct->job->batch_max_bytes / ct->nparts;
    for (int p = 0; p < ct->nparts; p++) {
        parts[p].buffered = kafka_source_buffered(ct->src, p);
        parts[p].fit = kafka_source_fitting(ct->src, p, byte_quota,
                                            quota(ct->job->batch_size, ct->nparts, p) + 1);
        parts[p].at_end = kafka_source_at_end(ct->src, p);
        parts[p].drained = kafka_source_drained(ct->src, p);
    }
    int64_t now = timeparse_now_us();
    int64_t bound = cutter_time_bound(ct->job->batch_max_ms, ct->job->batch_min_ms, sink_idle);
    int rc = cutter_plan(parts, ct->nparts, ct->job->batch_size, bound,
                         ct->pending_since_us ? (now - ct->pending_since_us) / 1000 : 0, sink_idle,
                         take);
    if (rc == 0 && ct->pending_since_us == 0) {
        for (int p = 0; p < ct->nparts; p++)
            if (parts[p].buffered) { /* the clock starts with the first message */
                ct->pending_since_us = now;
                break;
            }
    } else if (rc < 0) {
        ct->pending_since_us = 0;
    }
    return rc;
}

/* Can every message of the plan be decoded now (msgdecode_ready)? */
static int plan_decodable(cutter_t *ct, const size_t *take)
{
    for (int p = 0; p < ct->nparts; p++)
        for (size_t i = 0; i < take[p]; i++) {
            const rd_kafka_message_t *m = kafka_source_peek(ct->src, p, i);
            if (!msgdecode_ready(ct->dec, m->payload, m->len)) return 0;
        }
    return 1;
}

int cutter_ready(cutter_t *ct, int sink_idle)
{
    size_t take[ct->nparts];
    int rc = plan_now(ct, sink_idle, take);
    return rc == 1 && !plan_decodable(ct, take) ? 0 : rc;
}

/* One message into a row of b: decoded, or a dead letter. 0, or -1 when
 * out of memory. */
static int cut_message(cutter_t *ct, batch_t *b, int p, const rd_kafka_message_t *m)
{
    char err[MSGDECODE_ERR_MAX];
    batch_row_t *r = batch_add_row(b);
    if (r == NULL) return -1;
    txn_record_t *rec = &r->rec;
    rec->partition = p;
    rec->offset = m->offset;
    rec->batch_id = b->id;
    rec->kafka_ts_ms = rd_kafka_message_timestamp(m, NULL);
    if (rec->kafka_ts_ms < 0) rec->kafka_ts_ms = timeparse_now_us() / 1000;
    rec->status = STATUS_NONE;
    if (msgdecode_txn(ct->dec, m->payload, m->len, &rec->txn, err, sizeof err) == 0) return 0;
    r->kind = ROW_DEAD;
    r->raw_len = (uint32_t)m->len;
    r->err_len = (uint32_t)strlen(err);
    return batch_arena_put(b, m->payload, m->len, &r->raw_off) != 0 ||
                   batch_arena_put(b, err, r->err_len, &r->err_off) != 0
               ? -1
               : 0;
}

/* The decoded rows of b through the duplicate filter (dedupe.h): a row
 * whose id was seen before becomes a duplicate row keeping its message.
 * msgs[i] is row i's message. 0, or -1 with errstr. */
static int cut_duplicates(cutter_t *ct, batch_t *b, const rd_kafka_message_t **msgs, char *errstr,
                          size_t errsize)
{
    uint8_t(*ids)[16] = malloc((b->nrows ? b->nrows : 1) * sizeof *ids);
    uint8_t *dup = malloc(b->nrows ? b->nrows : 1);
    size_t *row_of = malloc((b->nrows ? b->nrows : 1) * sizeof *row_of);
    int rc = ids && dup && row_of ? 0 : -1;
    if (rc != 0) snprintf(errstr, errsize, "out of memory");
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < b->nrows; i++)
        if (b->rows[i].kind == ROW_TXN) {
            memcpy(ids[n], b->rows[i].rec.txn.id, 16);
            row_of[n++] = i;
        }
    if (rc == 0)
        rc = dedupe_batch(&ct->dedupe, b->id, (const uint8_t(*)[16])ids, n, dup, errstr, errsize);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        if (!dup[k]) continue;
        batch_row_t *r = &b->rows[row_of[k]];
        r->kind = ROW_DUPLICATE;
        r->raw_len = (uint32_t)msgs[row_of[k]]->len;
        if (batch_arena_put(b, msgs[row_of[k]]->payload, r->raw_len, &r->raw_off) != 0) {
            snprintf(errstr, errsize, "out of memory");
            rc = -1;
        }
    }
    free(ids);
    free(dup);
    free(row_of);
    return rc;
}

batch_t *batch_cut(cutter_t *ct, int ranks, char *errstr, size_t errsize)
{
    batch_t *b = batch_new(ct->nparts);
    size_t take[ct->nparts], total = 0;
    plan_now(ct, 0, take); /* (what is taken depends on neither the time bound nor the sink) */
    for (int p = 0; p < ct->nparts; p++)
        total += take[p];
    const rd_kafka_message_t **msgs = malloc((total ? total : 1) * sizeof *msgs);
    if (b == NULL || msgs == NULL) {
        snprintf(errstr, errsize, "out of memory");
        goto fail;
    }
    b->id = ct->next_batch_id;
    b->ranks = ranks;
    for (int p = 0; p < ct->nparts; p++)
        for (size_t i = 0; i < take[p]; i++) {
            msgs[b->nrows] = kafka_source_peek(ct->src, p, i);
            if (cut_message(ct, b, p, msgs[b->nrows]) != 0) {
                snprintf(errstr, errsize, "out of memory");
                goto fail;
            }
        }
    if (cut_duplicates(ct, b, msgs, errstr, errsize) != 0) goto fail;
    /* The batch is whole: only now is the source advanced past it. */
    for (int p = 0; p < ct->nparts; p++) {
        b->start_offsets[p] = b->end_offsets[p] = kafka_source_position(ct->src, p);
        if (take[p] > 0) b->end_offsets[p] = kafka_source_peek(ct->src, p, take[p] - 1)->offset + 1;
        kafka_source_drop(ct->src, p, take[p]);
        b->end_offsets[p] = kafka_source_drained_end(ct->src, p, b->end_offsets[p]);
        kafka_source_advance(ct->src, p, b->end_offsets[p]);
    }
    free(msgs);
    ct->next_batch_id++;
    ct->pending_since_us = 0;
    b->start_us = timeparse_now_us();
    batch_enter(b, BATCH_CUT);
    return b;
fail:
    free(msgs);
    if (b) batch_free(b);
    return NULL;
}
