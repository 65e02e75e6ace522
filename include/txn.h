/* txn.h - a bank transaction as bankstream holds it in memory.
 *
 * Fixed-size and free of pointers, so that arrays of it can be scattered with
 * MPI as bytes and written to HDF5 as columns. Money is in centavos, time in
 * microseconds since the Unix epoch (UTC). */
#ifndef BS_TXN_H
#define BS_TXN_H

#include <stddef.h>
#include <stdint.h>

enum modality { MOD_PIX = 0, MOD_TED = 1, MOD_DOC = 2, MOD_BOLETO = 3, MOD_COUNT = 4 };

extern const char *const modality_names[MOD_COUNT]; /* "PIX", "TED", "DOC", "Boleto" */

/* Index of a modality name (exact spelling as on the wire), or -1. */
int modality_index(const char *name, size_t len);

typedef struct txn {
    uint8_t id[16];       /* id_transacao */
    uint8_t payer[16];    /* id_usuario_pagador */
    uint8_t receiver[16]; /* id_usuario_recebedor */
    int64_t time_us;      /* data_horario, µs since epoch, UTC */
    int64_t amount_cents; /* valor_transacao */
    uint8_t region;       /* id_regiao, index into region_table */
    uint8_t modality;     /* enum modality */
    uint8_t pad[6];
} txn_t;

#endif
