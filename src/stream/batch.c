/* batch.c - growable rows and arena of a micro-batch (see batch.h). */
#include "stream/batch.h"
#include "engine/rules.h"

#include <stdlib.h>
#include <string.h>

batch_t *batch_new(int nparts)
{
    batch_t *b = calloc(1, sizeof *b);
    if (b == NULL) return NULL;
    b->nparts = nparts;
    b->start_offsets = calloc((size_t)nparts, sizeof(int64_t));
    b->end_offsets = calloc((size_t)nparts, sizeof(int64_t));
    if (b->start_offsets == NULL || b->end_offsets == NULL) {
        batch_free(b);
        return NULL;
    }
    return b;
}

void batch_free(batch_t *b)
{
    if (b == NULL) return;
    free(b->start_offsets);
    free(b->end_offsets);
    free(b->rows);
    free(b->arena);
    free(b);
}

void batch_clear(batch_t *b)
{
    b->nrows = 0;
    b->arena_len = 0;
}

batch_row_t *batch_add_row(batch_t *b)
{
    if (b->nrows == b->rows_cap) {
        size_t cap = b->rows_cap ? b->rows_cap * 2 : 4096;
        batch_row_t *p = realloc(b->rows, cap * sizeof *p);
        if (p == NULL) return NULL;
        b->rows = p;
        b->rows_cap = cap;
    }
    batch_row_t *r = &b->rows[b->nrows++];
    memset(r, 0, sizeof *r);
    return r;
}

int batch_arena_put(batch_t *b, const void *p, size_t len, uint32_t *off)
{
    if (b->arena_len + len > UINT32_MAX) return -1;
    if (b->arena_len + len > b->arena_cap) {
        size_t cap = b->arena_cap ? b->arena_cap : 65536;
        while (cap < b->arena_len + len)
            cap *= 2;
        char *a = realloc(b->arena, cap);
        if (a == NULL) return -1;
        b->arena = a;
        b->arena_cap = cap;
    }
    if (len) memcpy(b->arena + b->arena_len, p, len);
    *off = (uint32_t)b->arena_len;
    b->arena_len += len;
    return 0;
}

void batch_count(batch_t *b)
{
    b->n_approved = b->n_rejected = b->n_not_processed = b->n_duplicates = b->n_dead = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind == ROW_DEAD)
            b->n_dead++;
        else if (r->kind == ROW_DUPLICATE)
            b->n_duplicates++;
        else if (r->status == STATUS_APPROVED)
            b->n_approved++;
        else if (r->status == STATUS_REJECTED)
            b->n_rejected++;
        else
            b->n_not_processed++;
    }
}
