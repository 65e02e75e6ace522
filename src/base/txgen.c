/* txgen.c - deterministic transaction generator (see txgen.h for the draw
 * order and the clock; both are part of the reproducibility contract). */
#include "base/txgen.h"
#include "base/regions.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int txgen_init(txgen_t *g, const txgen_user_t *users, size_t n_users, const txgen_config_t *cfg,
               char *errstr, size_t errsize)
{
    memset(g, 0, sizeof *g);
    if (n_users < 2) {
        snprintf(errstr, errsize, "need at least 2 users to generate transactions, have %zu",
                 n_users);
        return -1;
    }
    if (n_users > UINT32_MAX) {
        snprintf(errstr, errsize, "too many users (%zu)", n_users);
        return -1;
    }
    if (cfg->historic < 0 || !(cfg->rate >= 0) || !isfinite(cfg->rate)) {
        snprintf(errstr, errsize, "historic count and rate must be finite and >= 0");
        return -1;
    }
    rng_seed(&g->rng, cfg->seed, RNG_STREAM_TRANSACTIONS);
    g->users = users;
    g->n_users = (uint32_t)n_users;
    g->start_ms = cfg->start_ms;
    g->historic = cfg->historic;
    g->rate = cfg->rate;
    return 0;
}

int64_t txgen_round_product(double a, double b)
{
    double p = a * b;
    double f = floor(p);
    double d = p - f; /* exact: p < 2^52 */
    if (d > 0.5) return (int64_t)f + 1;
    if (d < 0.5) return (int64_t)f;
    /* p sits exactly on a half: the rounding error of a * b decides. */
    return fma(a, b, -p) >= 0 ? (int64_t)f + 1 : (int64_t)f;
}

void txgen_next(txgen_t *g, txn_t *out)
{
    memset(out, 0, sizeof *out);
    rng_uuid(&g->rng, out->id);

    uint32_t pi = rng_below(&g->rng, g->n_users);
    uint32_t ri = rng_below(&g->rng, g->n_users - 1);
    if (ri >= pi) ri++;
    const txgen_user_t *payer = &g->users[pi];
    memcpy(out->payer, payer->id, 16);
    memcpy(out->receiver, g->users[ri].id, 16);

    double reais = rng_exponential(&g->rng, TXGEN_MEAN_CENTS / 100.0);
    int64_t cents = txgen_round_product(reais, 100.0);
    if (cents > payer->saldo_cents) {
        double u = rng_uniform(&g->rng);
        cents = payer->saldo_cents > 0 ? txgen_round_product((double)payer->saldo_cents, u) : 0;
    }
    if (cents < 1) cents = 1;
    out->amount_cents = cents;

    out->modality = (uint8_t)rng_below(&g->rng, MOD_COUNT);
    out->region = (uint8_t)rng_below(&g->rng, REGION_COUNT);

    int64_t ms;
    if (g->produced < g->historic) {
        double u = rng_uniform(&g->rng);
        double slot = ((double)g->produced + u) * ((double)TXGEN_YEAR_MS / (double)g->historic);
        ms = g->start_ms - TXGEN_YEAR_MS + (int64_t)floor(slot);
    } else {
        int64_t k = g->produced - g->historic;
        /* One correctly rounded division, so rate 3 gives 0, 333, 666, 1000... */
        double offset = g->rate > 0 ? (double)k * 1000.0 / g->rate : (double)k;
        ms = g->start_ms + (int64_t)floor(offset);
    }
    out->time_us = ms * 1000;
    g->produced++;
}
