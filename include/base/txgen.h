/* txgen.h - the deterministic transaction generator behind `bankstream produce`.
 *
 * Invariants:
 *   1. Everything a transaction holds comes from one rng stream
 *      (RNG_STREAM_TRANSACTIONS of the seed) and from a deterministic clock,
 *      never from the wall clock: the same users (in the same order), seed,
 *      start time, rate and historic count give the same sequence anywhere.
 *   2. Draws per transaction, in this fixed order: id (rng_uuid); payer
 *      (rng_below(n)); receiver (rng_below(n-1), shifted past the payer, so it
 *      always differs); amount (Exponential, mean R$ 1,000, rounded to cents);
 *      only if the amount exceeds the payer's balance, one Uniform(0,1) giving
 *      amount = balance x U rounded to cents; modality (rng_below(4)); region
 *      (rng_below(27)); only for historic transactions, one Uniform(0,1) U
 *      placing the timestamp inside its slot. The amount is at least 1 centavo.
 *   3. Clock: historic transaction i (0 <= i < historic) is stamped
 *      start - 365 d + floor((i + U) * 365 d / historic) ms, so they ascend
 *      through the year before start; live transaction k (counting from 0
 *      after the historic ones) is stamped start + floor(k * 1000 / rate) ms
 *      (one IEEE double division, so no drift: rate 3 gives +0, +333, +666,
 *      +1000, ...) or start + k ms when rate is 0.
 *      time_us is always that millisecond times 1000. */
#ifndef BS_TXGEN_H
#define BS_TXGEN_H

#include "base/rng.h"
#include "base/txn.h"

#include <stddef.h>
#include <stdint.h>

#define TXGEN_DEFAULT_SEED     42
#define TXGEN_MEAN_CENTS       100000.0 /* Exponential mean: R$ 1,000.00 */
#define TXGEN_YEAR_MS          (365LL * 24 * 3600 * 1000)
#define TXGEN_HISTORIC_DEFAULT 1000

/* A user as the generator needs it: id and balance in centavos. */
typedef struct txgen_user {
    uint8_t id[16];
    int64_t saldo_cents;
} txgen_user_t;

typedef struct txgen_config {
    uint64_t seed;    /* rng seed (TXGEN_DEFAULT_SEED in the CLI) */
    int64_t start_ms; /* start of the live clock, ms since epoch */
    double rate;      /* msgs/s that the clock assumes; 0 = 1 ms per transaction */
    int64_t historic; /* how many transactions go into the year before start */
} txgen_config_t;

typedef struct txgen {
    rng_t rng;
    const txgen_user_t *users; /* borrowed, must outlive the generator */
    uint32_t n_users;
    int64_t start_ms;
    double rate; /* clock rate, msgs/s; 0 = 1 ms per transaction */
    int64_t historic;
    int64_t produced; /* transactions drawn so far, historic included */
} txgen_t;

/* Prepare g to draw from users[0..n_users). The users array is borrowed, not
 * copied. Returns 0, or -1 with errstr filled (fewer than 2 users, more than
 * UINT32_MAX, negative historic count or rate); g is then unusable. */
int txgen_init(txgen_t *g, const txgen_user_t *users, size_t n_users, const txgen_config_t *cfg,
               char *errstr, size_t errsize);

/* Draw the next transaction into *out (every field, padding zeroed). */
void txgen_next(txgen_t *g, txn_t *out);

/* Nearest integer to the exact real product a * b (not to its rounded double),
 * ties rounding up; a, b >= 0 and a * b < 2^52. Used for "rounded to cents":
 * txgen_round_product(reais, 100) and txgen_round_product(saldo_cents, u). */
int64_t txgen_round_product(double a, double b);

#endif
