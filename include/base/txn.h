/* txn.h - a bank transaction as bankstream holds it in memory, and the
 * record of what became of it.
 *
 * Fixed-size and free of pointers, so that arrays of them can be scattered
 * with MPI as bytes and written to HDF5 as columns. Money is in centavos,
 * time in microseconds since the Unix epoch (UTC).
 *
 * A txn_record_t is the one shape a decided transaction has outside the
 * deciding ranks: a stream batch holds its rows as records, the archives
 * store them, the database's rows are read back as them. */
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

/* What the rules made of a transaction (transacoes.status). */
enum txn_status {
    STATUS_APPROVED = 0,      /* aprovada */
    STATUS_REJECTED = 1,      /* rejeitada */
    STATUS_NOT_PROCESSED = 2, /* nao_processada */
    STATUS_COUNT = 3,
    STATUS_NONE = 255, /* not decided (rows written by produce) */
};

/* Why (transacoes.motivo); REASON_NONE for an approval. */
enum txn_reason {
    REASON_NONE = 0,
    REASON_INSUFFICIENT_FUNDS, /* saldo_insuficiente */
    REASON_OVER_LIMIT,         /* limite_excedido */
    REASON_RISK,               /* risco */
    REASON_UNKNOWN_PAYER,      /* pagador_desconhecido */
    REASON_UNKNOWN_RECEIVER,   /* recebedor_desconhecido */
    REASON_TOO_LATE,           /* atrasada */
    REASON_OLDER_THAN_LAST,    /* anterior_a_ultima */
    REASON_FUTURE,             /* data_futura (new reasons go last: archives store the index) */
    REASON_COUNT
};

extern const char
    *const txn_status_names[STATUS_COUNT]; /* "aprovada" "rejeitada" "nao_processada" */
extern const char *const txn_reason_names[REASON_COUNT]; /* NULL, "saldo_insuficiente", ... */

/* Index of a status or reason name, or -1. */
int txn_status_index(const char *name);
int txn_reason_index(const char *name);

/* A transaction, where it came from and what became of it. */
typedef struct txn_record {
    txn_t txn;
    int64_t offset;      /* Kafka offset, -1 = none */
    int64_t kafka_ts_ms; /* broker timestamp, ms since the epoch */
    int64_t batch_id;    /* the micro-batch that decided it */
    int32_t partition;   /* Kafka partition, -1 = none */
    uint8_t status;      /* enum txn_status */
    uint8_t reason;      /* enum txn_reason */
    uint8_t pad[2];
    double t5, t6, t7; /* risk factors, NaN when not scored */
} txn_record_t;

#endif
