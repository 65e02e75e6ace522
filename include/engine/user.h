/* user.h - the state of one user, as every rank holds it, and the change the
 * ledger makes to it.
 *
 * Fixed-size and free of pointers: arrays of users travel between ranks as
 * bytes (loading, snapshot restores) and are the slots of a worker's user
 * table (shard.h), where an all-zero id marks an empty slot (the nil UUID
 * is never a user). */
#ifndef BS_USER_H
#define BS_USER_H

#include "base/txn.h"

#include <stdint.h>

typedef struct user_state {
    uint8_t id[16];
    uint8_t region; /* home region, index into region_table */
    uint8_t pad[7];
    int64_t balance_cents;
    int64_t limit_cents[MOD_COUNT];
    int64_t last_approved_us; /* INT64_MIN when none */
} user_state_t;

/* Per-user change from the ledger of approved transactions. */
typedef struct ledger_delta {
    uint8_t id[16];
    int64_t delta_cents;      /* credits - debits */
    int64_t last_approved_us; /* INT64_MIN when the user never paid */
} ledger_delta_t;

#endif
