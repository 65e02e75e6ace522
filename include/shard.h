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

typedef struct shard {
    user_state_t *slots;
    size_t capacity; /* power of two */
    size_t count;
} shard_t;

/* Returns 0, or -1 when out of memory. */
int shard_init(shard_t *s, size_t expected_users);
void shard_free(shard_t *s);

/* The user with this id, or NULL. */
user_state_t *shard_find(const shard_t *s, const uint8_t id[16]);

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
