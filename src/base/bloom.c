/* bloom.c - a Bloom filter of 16-byte ids (see bloom.h). */
#include "base/bloom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOOM_PROBES 7

int bloom_init(bloom_t *b, size_t bytes)
{
    uint64_t nbits = 4096 * 8;
    while (nbits * 2 / 8 <= bytes)
        nbits *= 2;
    memset(b, 0, sizeof *b);
    b->bits = calloc(nbits / 64, sizeof *b->bits);
    if (b->bits == NULL) return -1;
    b->nbits = nbits;
    return 0;
}

void bloom_free(bloom_t *b)
{
    free(b->bits);
    memset(b, 0, sizeof *b);
}

/* Two independent hashes of the id (its halves through two different
 * multiply-xorshift mixes); h2 odd, so that the probes cover the table. */
static void hashes(const uint8_t id[16], uint64_t *h1, uint64_t *h2)
{
    uint64_t a, c;
    memcpy(&a, id, 8);
    memcpy(&c, id + 8, 8);
    uint64_t x = (a ^ (c * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
    uint64_t y = (c ^ (a * 0xc2b2ae3d27d4eb4fULL)) * 0x94d049bb133111ebULL;
    *h1 = x ^ (x >> 31);
    *h2 = (y ^ (y >> 29)) | 1;
}

void bloom_add(bloom_t *b, const uint8_t id[16])
{
    uint64_t h1, h2, mask = b->nbits - 1;
    hashes(id, &h1, &h2);
    for (int i = 0; i < BLOOM_PROBES; i++) {
        uint64_t bit = (h1 + (uint64_t)i * h2) & mask;
        b->bits[bit / 64] |= 1ULL << (bit % 64);
    }
    b->added++;
}

int bloom_maybe(const bloom_t *b, const uint8_t id[16])
{
    uint64_t h1, h2, mask = b->nbits - 1;
    hashes(id, &h1, &h2);
    for (int i = 0; i < BLOOM_PROBES; i++) {
        uint64_t bit = (h1 + (uint64_t)i * h2) & mask;
        if (!(b->bits[bit / 64] & (1ULL << (bit % 64)))) return 0;
    }
    return 1;
}

double bloom_fp_rate(const bloom_t *b)
{
    if (b->nbits == 0) return 1;
    return pow(1.0 - exp(-(double)BLOOM_PROBES * (double)b->added / (double)b->nbits),
               BLOOM_PROBES);
}
