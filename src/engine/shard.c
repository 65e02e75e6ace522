/* shard.c - a worker's users: a hash table keyed by 16-byte ids, linear
 * probing from the home slot of shard_slot_of (shard.h). */
#include "engine/shard.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

/* Zeroed room for n slots. A table of 2 MB or more is aligned to and
 * advised for transparent huge pages: lookups land at random, and with 4 KB
 * pages nearly each one also missed the TLB (measured: most of a replay's
 * lookup time, with prefetching). */
static user_state_t *slots_alloc(size_t n)
{
    size_t bytes = n * sizeof(user_state_t);
    if (bytes < HUGE_PAGE) return calloc(n, sizeof(user_state_t));
    void *p = NULL;
    bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: fine if refused */
    memset(p, 0, bytes);
    return p;
}

static size_t capacity_for(size_t expected)
{
    size_t cap = 1024;
    while (cap * 7 / 10 < expected)
        cap <<= 1;
    return cap;
}

int shard_init(shard_t *s, size_t expected_users)
{
    s->capacity = capacity_for(expected_users);
    s->count = 0;
    s->slots = slots_alloc(s->capacity);
    return s->slots ? 0 : -1;
}

void shard_free(shard_t *s)
{
    free(s->slots);
    s->slots = NULL;
    s->capacity = s->count = 0;
}

user_state_t *shard_find(const shard_t *s, const uint8_t id[16])
{
    size_t mask = s->capacity - 1;
    for (size_t i = shard_slot_of(id, s->capacity);; i = (i + 1) & mask) {
        user_state_t *u = &s->slots[i];
        if (ids_is_nil(u->id)) return NULL;
        if (memcmp(u->id, id, 16) == 0) return u;
    }
}

static int shard_grow(shard_t *s)
{
    shard_t bigger = {slots_alloc(s->capacity * 2), s->capacity * 2, 0};
    if (bigger.slots == NULL) return -1;
    for (size_t i = 0; i < s->capacity; i++)
        if (!ids_is_nil(s->slots[i].id)) shard_put(&bigger, &s->slots[i]);
    free(s->slots);
    *s = bigger;
    return 0;
}

user_state_t *shard_put(shard_t *s, const user_state_t *u)
{
    if (ids_is_nil(u->id)) return NULL;
    if ((s->count + 1) * 10 > s->capacity * 7 && shard_grow(s) != 0) return NULL;
    size_t mask = s->capacity - 1;
    for (size_t i = shard_slot_of(u->id, s->capacity);; i = (i + 1) & mask) {
        user_state_t *slot = &s->slots[i];
        int empty = ids_is_nil(slot->id);
        if (!empty && memcmp(slot->id, u->id, 16) != 0) continue;
        if (empty) s->count++;
        *slot = *u;
        return slot;
    }
}

long shard_next(const shard_t *s, size_t *pos)
{
    while (*pos < s->capacity) {
        size_t i = (*pos)++;
        if (!ids_is_nil(s->slots[i].id)) return (long)i;
    }
    return -1;
}
