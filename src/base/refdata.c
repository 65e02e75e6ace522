/* refdata.c - draws of the reference users and regions (see refdata.h).
 *
 * Pure functions of the generator state: no I/O, no globals, so the unit
 * tests check the distributions and the producer can regenerate the users. */
#include "base/refdata.h"
#include "base/money.h"

/* Reais drawn from an exponential are finite, >= 0 and far below
 * MONEY_MAX_CENTS, so money_from_double cannot fail here. */
static int64_t refdata_cents(double reais)
{
    int64_t cents = 0;
    if (money_from_double(reais, &cents) != MONEY_OK) cents = 0;
    return cents;
}

void refdata_users_seed(rng_t *r, uint64_t seed)
{
    rng_seed(r, seed, RNG_STREAM_USERS);
}

void refdata_user_next(rng_t *r, refdata_user_t *u)
{
    rng_uuid(r, u->id);
    u->saldo_cents = refdata_cents(rng_exponential(r, REFDATA_SALDO_MEAN));
    u->limite_cents = refdata_cents(REFDATA_LIMIT_BASE + rng_exponential(r, REFDATA_LIMIT_MEAN));
    u->region = (int)rng_below(r, REGION_COUNT);
}

void refdata_regions_seed(rng_t *r, uint64_t seed)
{
    rng_seed(r, seed, RNG_STREAM_REGIONS);
}

void refdata_region_next(rng_t *r, refdata_region_t *out)
{
    uint32_t span = (uint32_t)(REFDATA_MEDIA_MAX_CENTS - REFDATA_MEDIA_MIN_CENTS + 1);
    out->media_cents = REFDATA_MEDIA_MIN_CENTS + (int64_t)rng_below(r, span);
    out->fraudes = (int)rng_below(r, REFDATA_FRAUDES_MAX + 1);
}

void refdata_regions_generate(uint64_t seed, refdata_region_t out[REGION_COUNT])
{
    rng_t r;
    refdata_regions_seed(&r, seed);
    for (int i = 0; i < REGION_COUNT; i++)
        refdata_region_next(&r, &out[i]);
}
