/* idset.h - a set of 16-byte ids (the transaction ids rank 0 has seen):
 * open addressing with linear probing from ids_hash (ids.h).
 *
 * Invariants: capacity is a power of two and at most 70% full; a slot is in
 * use iff its byte in `used` is 1. */
#ifndef BS_IDSET_H
#define BS_IDSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct idset {
    uint8_t (*keys)[16];
    uint8_t *used;
    size_t capacity, count;
} idset_t;

/* Room for `expected` ids before the first growth. 0, or -1 out of memory. */
int idset_init(idset_t *set, size_t expected);
void idset_free(idset_t *set);
int idset_contains(const idset_t *set, const uint8_t id[16]);
/* Adds the id; returns 1 if added, 0 if it was present, -1 out of memory. */
int idset_add(idset_t *set, const uint8_t id[16]);

#endif
