/* shard.h - the users a worker owns: an open-addressing hash table of
 * user_state_t keyed by the 16-byte user id.
 *
 * Invariants: capacity is a power of two and at most 70% full; a slot is
 * empty iff its id is the nil UUID (which is never a user: shard_put refuses
 * it), so a lookup reads one cache line for both the test and the compare;
 * entries never move except on growth, so a pointer from shard_find stays
 * valid until the next shard_put. */
#ifndef BS_SHARD_H
#define BS_SHARD_H

#include "base/ids.h"
#include "engine/user.h"

#include <stddef.h>
#include <stdint.h>

typedef struct shard {
    user_state_t *slots;
    size_t capacity; /* power of two */
    size_t count;
} shard_t;

/* Returns 0, or -1 when out of memory. */
int shard_init(shard_t *s, size_t expected_users);
void shard_free(shard_t *s);

/* Home slot of an id: the low bits of ids_hash. */
static inline size_t shard_slot_of(const uint8_t id[16], size_t capacity)
{
    return (size_t)ids_hash(id) & (capacity - 1);
}

/* The user with this id, or NULL (always for the nil UUID). */
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
 * when out of memory or when u's id is the nil UUID (the shard is then
 * unchanged). */
user_state_t *shard_put(shard_t *s, const user_state_t *u);

/* Iterate: returns the next used slot index >= *pos and advances *pos, or -1. */
long shard_next(const shard_t *s, size_t *pos);

#endif
