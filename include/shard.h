/* shard.h - the users a worker owns: an open-addressing hash table of
 * user_state_t keyed by the 16-byte user id.
 *
 * Invariants: capacity is a power of two and at most 70% full; a slot is in
 * use iff its `used` byte is 1; entries never move except on growth, so a
 * pointer from shard_find stays valid until the next shard_insert. */
#ifndef BS_SHARD_H
#define BS_SHARD_H

#include "rules.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct shard {
    user_state_t *slots;
    size_t capacity; /* power of two */
    size_t count;
} shard_t;

/* Returns 0, or -1 when out of memory. */
int shard_init(shard_t *s, size_t expected_users);
void shard_free(shard_t *s);

/* Home slot of an id in a table of `capacity` (a power of two) slots: a
 * multiply-xorshift mix of the id's two 64-bit halves. Cheaper than the
 * owner hash (route.h, 16 dependent multiplies) and independent of it. */
static inline size_t shard_slot_of(const uint8_t id[16], size_t capacity)
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
    return (size_t)(h ^ (h >> 32)) & (capacity - 1);
}

/* The user with this id, or NULL. */
user_state_t *shard_find(const shard_t *s, const uint8_t id[16]);

/* Start loading the id's home slot into the cache (both lines a slot may
 * span): a caller about to look up many ids (replay) calls this a few ids
 * ahead of shard_find. */
static inline void shard_prefetch(const shard_t *s, const uint8_t id[16])
{
    const user_state_t *u = &s->slots[shard_slot_of(id, s->capacity)];
    __builtin_prefetch(u);
    __builtin_prefetch(&u->last_approved_us);
}

/* Insert or overwrite the user (copied). Returns the stored entry, or NULL
 * when out of memory (the shard is unchanged). */
user_state_t *shard_put(shard_t *s, const user_state_t *u);

/* Iterate: returns the next used slot index >= *pos and advances *pos, or -1. */
long shard_next(const shard_t *s, size_t *pos);

/* A set of 16-byte ids (transaction ids already seen), same layout rules. */
typedef struct idset {
    uint8_t (*keys)[16];
    uint8_t *used;
    size_t capacity, count;
} idset_t;

int idset_init(idset_t *set, size_t expected);
void idset_free(idset_t *set);
int idset_contains(const idset_t *set, const uint8_t id[16]);
/* Adds the id; returns 1 if added, 0 if it was present, -1 out of memory. */
int idset_add(idset_t *set, const uint8_t id[16]);

#endif
