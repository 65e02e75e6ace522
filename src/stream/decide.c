/* decide.c - rank 0's half of deciding a batch (see decide.h). */
#include "stream/decide.h"
#include "base/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int event_order(const void *a, const void *b)
{
    return worker_event_cmp(a, b);
}

int stream_decide(cluster_t *c, batch_t *b, char *errstr, size_t errsize)
{
    size_t n = 0;
    decide_row_t *rows = malloc((b->nrows ? b->nrows : 1) * sizeof *rows);
    decide_result_t *out = malloc((b->nrows ? b->nrows : 1) * sizeof *out);
    b->decided = malloc((b->nrows ? b->nrows : 1) * sizeof *b->decided);
    int rc = -1;
    if (rows == NULL || out == NULL || b->decided == NULL) {
        snprintf(errstr, errsize, "out of memory deciding batch %lld", (long long)b->id);
        goto out;
    }
    for (size_t i = 0; i < b->nrows; i++) {
        const txn_record_t *r = &b->rows[i].rec;
        if (b->rows[i].kind != ROW_TXN) continue;
        decide_row_t *d = &rows[n];
        memset(d, 0, sizeof *d);
        memcpy(d->payer, r->txn.payer, 16);
        memcpy(d->receiver, r->txn.receiver, 16);
        d->time_us = r->txn.time_us;
        d->amount_cents = r->txn.amount_cents;
        d->kafka_ts_ms = r->kafka_ts_ms;
        d->seq = (int64_t)i;
        d->region = r->txn.region;
        d->modality = r->txn.modality;
        n++;
    }
    qsort(rows, n, sizeof *rows, event_order);
    if (cluster_command(c, CLUSTER_CMD_DECIDE, errstr, errsize) != 0 ||
        cluster_step_decide(c, rows, n, out, errstr, errsize) != 0)
        goto out;
    for (size_t k = 0; k < n; k++) {
        b->decided[k] = (uint32_t)rows[k].seq;
        txn_record_t *r = &b->rows[rows[k].seq].rec;
        r->status = out[k].status;
        r->reason = out[k].reason;
        r->t5 = out[k].t5;
        r->t6 = out[k].t6;
        r->t7 = out[k].t7;
    }
    b->ndecided = n;
    b->result_us = timeparse_now_us();
    batch_count(b);
    batch_enter(b, BATCH_DECIDED);
    rc = 0;
out:
    free(rows);
    free(out);
    return rc;
}
