/* idset.c - the set of 16-byte ids (see idset.h). */
#include "base/idset.h"
#include "base/ids.h"

#include <stdlib.h>
#include <string.h>

static size_t capacity_for(size_t expected)
{
    size_t cap = 1024;
    while (cap * 7 / 10 < expected)
        cap <<= 1;
    return cap;
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
    for (size_t i = ids_hash(id) & (set->capacity - 1);; i = (i + 1) & mask) {
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
    for (size_t i = ids_hash(id) & (set->capacity - 1);; i = (i + 1) & mask) {
        if (!set->used[i]) {
            memcpy(set->keys[i], id, 16);
            set->used[i] = 1;
            set->count++;
            return 1;
        }
        if (memcmp(set->keys[i], id, 16) == 0) return 0;
    }
}
