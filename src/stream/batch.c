/* batch.c - a micro-batch's rows and arena, its counts, and its checked
 * state transitions (see batch.h for the diagram). */
#include "stream/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

batch_t *batch_new(int nparts)
{
    batch_t *b = calloc(1, sizeof *b);
    if (b == NULL) return NULL;
    b->nparts = nparts;
    b->start_offsets = calloc((size_t)(nparts ? nparts : 1), sizeof(int64_t));
    b->end_offsets = calloc((size_t)(nparts ? nparts : 1), sizeof(int64_t));
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
    free(b->decided);
    free(b);
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
    batch_counts_t *c = &b->counts;
    memset(c, 0, sizeof *c);
    c->messages = (int64_t)b->nrows;
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind == ROW_DEAD) {
            c->dead++;
        } else if (r->kind == ROW_DUPLICATE) {
            c->duplicates++;
        } else if (r->rec.status < STATUS_COUNT) {
            c->by_status[r->rec.status]++;
            c->by_reason[r->rec.reason < REASON_COUNT ? r->rec.reason : REASON_NONE]++;
        }
    }
}

const char *batch_state_name(enum batch_state s)
{
    static const char *const names[] = {"(new)",  "CUT",       "DECIDED", "ARCHIVED",
                                        "QUEUED", "COMMITTED", "ACKED"};
    return s >= 0 && s <= BATCH_ACKED ? names[s] : "(unknown)";
}

void batch_enter_at(batch_t *b, enum batch_state next, const char *file, int line)
{
    /* The diagram is a straight line: each state follows the one before. */
    if ((int)next == (int)b->state + 1) {
        b->state = next;
        return;
    }
    fprintf(stderr, "bankstream: %s:%d: batch %lld cannot go from %s to %s (a bug)\n", file, line,
            (long long)b->id, batch_state_name(b->state), batch_state_name(next));
    abort();
}
