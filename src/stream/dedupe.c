/* dedupe.c - rank 0's duplicate filter (see dedupe.h).
 *
 * dedupe_batch, for the ids of one batch:
 *   1. drop the pending sets of batches the sink has committed;
 *   2. an id in a pending set is a duplicate; of the others, those the
 *      Bloom filter may have seen go to the database in one query;
 *   3. in the batch's order: a duplicate when pending, found in the
 *      database, or already in this batch's own set; else into this
 *      batch's set and the filter. */
#include "stream/dedupe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dedupe_init(dedupe_t *d, size_t filter_bytes, int keep_all, dedupe_lookup_fn lookup,
                void *lookup_ctx)
{
    memset(d, 0, sizeof *d);
    d->keep_all = keep_all;
    d->lookup = lookup;
    d->lookup_ctx = lookup_ctx;
    atomic_init(&d->committed, 0);
    return bloom_init(&d->seen, filter_bytes);
}

void dedupe_free(dedupe_t *d)
{
    for (size_t i = 0; i < d->npending; i++)
        idset_free(&d->pending[i].ids);
    free(d->pending);
    bloom_free(&d->seen);
    memset(d, 0, sizeof *d);
}

int dedupe_seed(void *ctx, const uint8_t id[16])
{
    bloom_add(&((dedupe_t *)ctx)->seen, id);
    return 0;
}

void dedupe_committed(dedupe_t *d, int64_t batch)
{
    atomic_store(&d->committed, batch);
}

/* Step 1: the pending sets of committed batches go. */
static void drop_committed(dedupe_t *d)
{
    if (d->keep_all) return;
    int64_t committed = atomic_load(&d->committed);
    size_t k = 0;
    while (k < d->npending && d->pending[k].batch <= committed)
        idset_free(&d->pending[k++].ids);
    if (k == 0) return;
    memmove(d->pending, d->pending + k, (d->npending - k) * sizeof *d->pending);
    d->npending -= k;
}

static int is_pending(const dedupe_t *d, const uint8_t id[16])
{
    for (size_t i = 0; i < d->npending; i++)
        if (idset_contains(&d->pending[i].ids, id)) return 1;
    return 0;
}

/* The set this batch's ids go into: a new pending set (with keep_all, the
 * one set of the run). NULL when out of memory. */
static idset_t *batch_set(dedupe_t *d, int64_t batch, size_t n)
{
    if (d->keep_all && d->npending == 1) return &d->pending[0].ids;
    if (d->npending == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        dedupe_pending_t *p = realloc(d->pending, cap * sizeof *p);
        if (p == NULL) return NULL;
        d->pending = p;
        d->cap = cap;
    }
    dedupe_pending_t *p = &d->pending[d->npending];
    if (idset_init(&p->ids, n ? n : 1) != 0) return NULL;
    p->batch = batch;
    d->npending++;
    return &p->ids;
}

/* Step 2's query: the ids that are not pending but that the filter may
 * have seen, into `found`. 0, or -1 with errstr. */
static int ask_database(dedupe_t *d, const uint8_t (*ids)[16], size_t n, idset_t *found,
                        char *errstr, size_t errsize)
{
    uint8_t(*ask)[16] = NULL;
    size_t nask = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_pending(d, ids[i]) || !bloom_maybe(&d->seen, ids[i])) continue;
        if (ask == NULL && (ask = malloc((n - i) * sizeof *ask)) == NULL) {
            snprintf(errstr, errsize, "out of memory");
            return -1;
        }
        memcpy(ask[nask++], ids[i], 16);
    }
    int rc = 0;
    if (nask > 0) {
        if (d->lookup == NULL) {
            snprintf(errstr, errsize, "the duplicate filter has no database to ask");
            rc = -1;
        } else {
            rc = d->lookup(d->lookup_ctx, (const uint8_t(*)[16])ask, nask, found, errstr, errsize);
        }
        d->lookups++;
        d->looked_up += (int64_t)nask;
        d->found += (int64_t)found->count;
    }
    free(ask);
    return rc;
}

int dedupe_batch(dedupe_t *d, int64_t batch, const uint8_t (*ids)[16], size_t n, uint8_t *dup,
                 char *errstr, size_t errsize)
{
    drop_committed(d);
    idset_t found;
    if (idset_init(&found, 16) != 0) {
        snprintf(errstr, errsize, "out of memory");
        return -1;
    }
    int rc = ask_database(d, ids, n, &found, errstr, errsize);
    size_t before = d->npending;
    idset_t *mine = rc == 0 ? batch_set(d, batch, n) : NULL;
    if (rc == 0 && mine == NULL) {
        snprintf(errstr, errsize, "out of memory");
        rc = -1;
    }
    /* This batch's set is pending by now: an id earlier in the list is in it. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        dup[i] = idset_contains(&found, ids[i]) || is_pending(d, ids[i]);
        if (!dup[i] && idset_add(mine, ids[i]) < 0) {
            snprintf(errstr, errsize, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            if (!dup[i]) bloom_add(&d->seen, ids[i]);
    } else if (d->npending > before) { /* forget this batch's set */
        idset_free(&d->pending[--d->npending].ids);
    } /* (with keep_all, what was added stays: the run stops anyway) */
    idset_free(&found);
    return rc;
}

size_t dedupe_pending_ids(const dedupe_t *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->npending; i++)
        n += d->pending[i].ids.count;
    return n;
}

double dedupe_fp_rate(const dedupe_t *d)
{
    return bloom_fp_rate(&d->seen);
}
