/* bloom.h - a Bloom filter of 16-byte ids, of a size fixed at creation.
 *
 * bloom_maybe answers "possibly added" or "certainly not added": no false
 * negatives, false positives at a rate that grows with the ids added
 * (about (1 - e^(-k n / m))^k for n ids in m bits with k probes; k = 7).
 * The probes come from two independent 64-bit hashes of the id (the id's
 * halves mixed), combined as h1 + i * h2 (Kirsch-Mitzenmacher). */
#ifndef BS_BLOOM_H
#define BS_BLOOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct bloom {
    uint64_t *bits;
    uint64_t nbits; /* a power of two */
    uint64_t added;
} bloom_t;

/* A filter of about `bytes` bytes (rounded down to a power of two, at least
 * 4 KiB). 0, or -1 when out of memory. */
int bloom_init(bloom_t *b, size_t bytes);
void bloom_free(bloom_t *b);

void bloom_add(bloom_t *b, const uint8_t id[16]);
/* 1 when id may have been added, 0 when it certainly was not. */
int bloom_maybe(const bloom_t *b, const uint8_t id[16]);

/* The false-positive rate expected now, from the ids added (0..1). */
double bloom_fp_rate(const bloom_t *b);

#endif
