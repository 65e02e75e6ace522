/* cutter.c - when a batch is ready and what goes into it (see cutter.h). */
#include "stream/cutter.h"
#include "base/timeparse.h"

#include <string.h>

int cutter_init(cutter_t *ct, const job_config_t *job)
{
    memset(ct, 0, sizeof *ct);
    ct->job = job;
    ct->next_batch_id = 1;
    return idset_init(&ct->seen, 1 << 16);
}

void cutter_free(cutter_t *ct)
{
    idset_free(&ct->seen);
}

static size_t quota(int64_t batch_size, int nparts, int p)
{
    int64_t k = batch_size / nparts + (p < batch_size % nparts);
    return k > 0 ? (size_t)k : 1;
}

int cutter_plan(const cut_partition_t *parts, int nparts, int64_t batch_size, int64_t max_ms,
                int64_t pending_ms, size_t *take)
{
    size_t total = 0;
    int complete = 1, drained = 1;
    for (int p = 0; p < nparts; p++) {
        size_t q = quota(batch_size, nparts, p);
        total += parts[p].buffered;
        drained &= parts[p].drained;
        /* A partition is complete when it has its quota buffered, or
         * everything up to its end. */
        size_t n = parts[p].fit < parts[p].buffered ? parts[p].fit : parts[p].buffered;
        int full = n < parts[p].buffered || n >= q; /* its byte or count quota is reached */
        if (!full && !parts[p].at_end) complete = 0;
        take[p] = n < q ? n : q;
    }
    if (total == 0) return drained ? -1 : 0;
    return complete || (max_ms > 0 && pending_ms >= max_ms) ? 1 : 0;
}

/* The plan for the source as it is now (cutter_plan), into take. */
static int plan_now(cutter_t *ct, size_t *take)
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
    int rc = cutter_plan(parts, ct->nparts, ct->job->batch_size, ct->job->batch_max_ms,
                         ct->pending_since_us ? (now - ct->pending_since_us) / 1000 : 0, take);
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

int cutter_ready(cutter_t *ct)
{
    size_t take[ct->nparts];
    int rc = plan_now(ct, take);
    return rc == 1 && !plan_decodable(ct, take) ? 0 : rc;
}

/* One message into a row of b: decoded, or a dead letter; a duplicate when
 * its id was seen before. 0, or -1 when out of memory. */
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
    if (msgdecode_txn(ct->dec, m->payload, m->len, &rec->txn, err, sizeof err) != 0) {
        r->kind = ROW_DEAD;
        r->raw_len = (uint32_t)m->len;
        r->err_len = (uint32_t)strlen(err);
        return batch_arena_put(b, m->payload, m->len, &r->raw_off) != 0 ||
                       batch_arena_put(b, err, r->err_len, &r->err_off) != 0
                   ? -1
                   : 0;
    }
    int added = idset_add(&ct->seen, rec->txn.id);
    if (added < 0) return -1;
    if (added == 0) {
        r->kind = ROW_DUPLICATE;
        r->raw_len = (uint32_t)m->len;
        return batch_arena_put(b, m->payload, m->len, &r->raw_off);
    }
    return 0;
}

batch_t *batch_cut(cutter_t *ct, int ranks)
{
    batch_t *b = batch_new(ct->nparts);
    if (b == NULL) return NULL;
    b->id = ct->next_batch_id;
    b->ranks = ranks;
    size_t take[ct->nparts];
    plan_now(ct, take);
    for (int p = 0; p < ct->nparts; p++) {
        b->start_offsets[p] = b->end_offsets[p] = kafka_source_position(ct->src, p);
        for (size_t i = 0; i < take[p]; i++) {
            const rd_kafka_message_t *m = kafka_source_peek(ct->src, p, i);
            if (cut_message(ct, b, p, m) != 0) {
                batch_free(b);
                return NULL;
            }
            b->end_offsets[p] = m->offset + 1;
        }
        kafka_source_drop(ct->src, p, take[p]);
        b->end_offsets[p] = kafka_source_drained_end(ct->src, p, b->end_offsets[p]);
        kafka_source_advance(ct->src, p, b->end_offsets[p]);
    }
    ct->next_batch_id++;
    ct->pending_since_us = 0;
    b->start_us = timeparse_now_us();
    batch_enter(b, BATCH_CUT);
    return b;
}
