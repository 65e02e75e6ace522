/* rng.h - the seeded pseudo-random generator behind every generated datum.
 *
 * xoshiro256** seeded through splitmix64 from (seed, stream): the same seed and
 * stream give the same sequence on every machine, so users, transactions and
 * their UUIDs are reproducible. Streams keep independent uses (users, regions,
 * transactions) from shifting each other when one of them changes. */
#ifndef BS_RNG_H
#define BS_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng_t;

enum rng_stream {
    RNG_STREAM_USERS = 1,
    RNG_STREAM_REGIONS = 2,
    RNG_STREAM_TRANSACTIONS = 3,
    RNG_STREAM_PARTITIONS = 4, /* produce --key none: each message's partition */
};

void rng_seed(rng_t *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng_t *r);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint32_t rng_below(rng_t *r, uint32_t n);
/* Exponential with the given mean (inverse transform). */
double rng_exponential(rng_t *r, double mean);
/* A version-4, variant-1 UUID drawn from the generator. */
void rng_uuid(rng_t *r, uint8_t out[16]);

#endif
