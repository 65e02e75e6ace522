/* refdata.h - the reference data: users and per-region figures, as pure draws.
 *
 * The same seed gives the same users and regions on every machine, so any
 * program (init, the producer, tests) can regenerate them instead of reading
 * them back from the database.
 *
 * Users come from rng stream RNG_STREAM_USERS of the seed; per user, in this
 * order: id = rng_uuid; saldo = Exponential(mean R$ 5,000) rounded to cents;
 * limit = R$ 100 + Exponential(mean R$ 5,000) rounded to cents (the same
 * limit for PIX, TED, DOC and Boleto); home region = rng_below(27).
 * Regions come from stream RNG_STREAM_REGIONS, in region_table order; per
 * region: monthly average = uniform whole centavos in [R$ 1,000.00,
 * R$ 31,000.00] (rng_below), then fraud count = rng_below(100).
 * "Rounded to cents" is money_from_double() of the drawn reais. */
#ifndef BS_REFDATA_H
#define BS_REFDATA_H

#include "base/regions.h"
#include "base/rng.h"

#include <stdint.h>

#define REFDATA_DEFAULT_USERS   10000
#define REFDATA_DEFAULT_SEED    42
#define REFDATA_MAX_USERS       100000000
#define REFDATA_SALDO_MEAN      5000.0 /* reais */
#define REFDATA_LIMIT_BASE      100.0  /* reais */
#define REFDATA_LIMIT_MEAN      5000.0 /* reais, on top of the base */
#define REFDATA_MEDIA_MIN_CENTS 100000LL
#define REFDATA_MEDIA_MAX_CENTS 3100000LL
#define REFDATA_FRAUDES_MAX     99

typedef struct refdata_user {
    uint8_t id[16];       /* id_usuario */
    int64_t saldo_cents;  /* saldo */
    int64_t limite_cents; /* limite_pix = limite_ted = limite_doc = limite_boleto */
    int region;           /* id_regiao, index into region_table */
} refdata_user_t;

typedef struct refdata_region {
    int64_t media_cents; /* media_transacional_mensal */
    int fraudes;         /* num_fraudes_ult_30d */
} refdata_region_t;

/* Seed r for drawing the users of seed (stream RNG_STREAM_USERS). */
void refdata_users_seed(rng_t *r, uint64_t seed);

/* Draw the next user from r into *u (all fields set). */
void refdata_user_next(rng_t *r, refdata_user_t *u);

/* Draw the next region's figures from r into *out; the k-th call after
 * refdata_regions_seed() gives region_table[k-1]'s. */
void refdata_region_next(rng_t *r, refdata_region_t *out);

/* Seed r for drawing the regions of seed (stream RNG_STREAM_REGIONS). */
void refdata_regions_seed(rng_t *r, uint64_t seed);

/* All REGION_COUNT regions of seed, in region_table order. */
void refdata_regions_generate(uint64_t seed, refdata_region_t out[REGION_COUNT]);

#endif
