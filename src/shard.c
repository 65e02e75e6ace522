/* shard.c - hash tables keyed by 16-byte ids: a worker's users and the
 * coordinator's set of seen transaction ids. Linear probing; the slot comes
 * from the top bits of a multiplicative mix of the owner hash, so it is
 * independent of route_owner's modulo. */
#include "shard.h"
#include "route.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const uint8_t id[16], size_t capacity)
{
    uint64_t h = route_hash(id) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 20) & (capacity - 1);
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
    s->slots = calloc(s->capacity, sizeof *s->slots);
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
    for (size_t i = slot_of(id, s->capacity);; i = (i + 1) & mask) {
        user_state_t *u = &s->slots[i];
        if (!u->used) return NULL;
        if (memcmp(u->id, id, 16) == 0) return u;
    }
}

static int shard_grow(shard_t *s)
{
    shard_t bigger = {calloc(s->capacity * 2, sizeof *s->slots), s->capacity * 2, 0};
    if (bigger.slots == NULL) return -1;
    for (size_t i = 0; i < s->capacity; i++)
        if (s->slots[i].used) shard_put(&bigger, &s->slots[i]);
    free(s->slots);
    *s = bigger;
    return 0;
}

user_state_t *shard_put(shard_t *s, const user_state_t *u)
{
    if ((s->count + 1) * 10 > s->capacity * 7 && shard_grow(s) != 0) return NULL;
    size_t mask = s->capacity - 1;
    for (size_t i = slot_of(u->id, s->capacity);; i = (i + 1) & mask) {
        user_state_t *slot = &s->slots[i];
        if (slot->used && memcmp(slot->id, u->id, 16) != 0) continue;
        if (!slot->used) s->count++;
        *slot = *u;
        slot->used = 1;
        return slot;
    }
}

long shard_next(const shard_t *s, size_t *pos)
{
    while (*pos < s->capacity) {
        size_t i = (*pos)++;
        if (s->slots[i].used) return (long)i;
    }
    return -1;
}

int idset_init(idset_t *set, size_t expected)
{
    set->capacity = capacity_for(expected);
    set->count = 0;
    set->keys = malloc(set->capacity * sizeof *set->keys);
    set->used = calloc(set->capacity, 1);
    if (set->keys && set->used) return 0;
    idset_free(set);
    return -1;
}

void idset_free(idset_t *set)
{
    free(set->keys);
    free(set->used);
    set->keys = NULL;
    set->used = NULL;
    set->capacity = set->count = 0;
}

int idset_contains(const idset_t *set, const uint8_t id[16])
{
    size_t mask = set->capacity - 1;
    for (size_t i = slot_of(id, set->capacity);; i = (i + 1) & mask) {
        if (!set->used[i]) return 0;
        if (memcmp(set->keys[i], id, 16) == 0) return 1;
    }
}

static int idset_grow(idset_t *set)
{
    idset_t bigger;
    if (idset_init(&bigger, set->capacity) != 0) return -1; /* doubles the capacity */
    for (size_t i = 0; i < set->capacity; i++)
        if (set->used[i]) idset_add(&bigger, set->keys[i]);
    idset_free(set);
    *set = bigger;
    return 0;
}

int idset_add(idset_t *set, const uint8_t id[16])
{
    if ((set->count + 1) * 10 > set->capacity * 7 && idset_grow(set) != 0) return -1;
    size_t mask = set->capacity - 1;
    for (size_t i = slot_of(id, set->capacity);; i = (i + 1) & mask) {
        if (!set->used[i]) {
            memcpy(set->keys[i], id, 16);
            set->used[i] = 1;
            set->count++;
            return 1;
        }
        if (memcmp(set->keys[i], id, 16) == 0) return 0;
    }
}
