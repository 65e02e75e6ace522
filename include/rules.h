/* rules.h - the approval rules of SYSTEM.md, with state.
 *
 * Pure functions over a transaction and its payer's state; the worker applies
 * the outcome (debit, last-approved time) and the batch end applies credits.
 * Order of checks, first failure wins:
 *   unknown payer            -> rejected  (pagador_desconhecido)
 *   arrived too late         -> not processed (atrasada), when max_age_ms > 0
 *   older than last approved -> not processed (anterior_a_ultima)
 *   unknown receiver         -> rejected  (recebedor_desconhecido)
 *   balance < amount         -> rejected  (saldo_insuficiente)
 *   amount > modality limit  -> rejected  (limite_excedido)
 *   risk score > threshold   -> rejected  (risco)
 *   otherwise                -> approved
 * Duplicated transaction ids are caught before routing (coordinator) and
 * never reach the rules. */
#ifndef BS_RULES_H
#define BS_RULES_H

#include "txn.h"

#include <stdint.h>

enum txn_status { STATUS_APPROVED = 0, STATUS_REJECTED = 1, STATUS_NOT_PROCESSED = 2 };

enum txn_reason {
    REASON_NONE = 0,
    REASON_INSUFFICIENT_FUNDS,
    REASON_OVER_LIMIT,
    REASON_RISK,
    REASON_UNKNOWN_PAYER,
    REASON_UNKNOWN_RECEIVER,
    REASON_TOO_LATE,
    REASON_OLDER_THAN_LAST,
    REASON_COUNT
};

extern const char *const rules_status_names[3]; /* "aprovada" "rejeitada" "nao_processada" */
extern const char *const rules_reason_names[REASON_COUNT]; /* NULL, "saldo_insuficiente"... */

typedef struct rules_config {
    double weight_t5, weight_t6, weight_t7; /* multipliers of each factor, default 1 */
    double score_divisor;                   /* default 3 */
    double risk_threshold;                  /* passes while score <= threshold, default 6 */
    int64_t t6_amount_cents;                /* t6 = 1 when amount > this, default 2,000.00 */
    int64_t max_age_ms;                     /* kafka ts - data_horario; 0 = rule off */
    int64_t limit_percent;                  /* limits apply at this % (what-if), default 100 */
    char timezone[64];                      /* for the hour of t7, default America/Sao_Paulo */
} rules_config_t;

void rules_config_default(rules_config_t *cfg);

/* The state of one user that the rules read and the worker updates. */
typedef struct user_state {
    uint8_t id[16];
    uint8_t used; /* slot in use (shard hash table); next to the id, which a
                     lookup compares, so that both are in one cache line */
    uint8_t region;
    uint8_t pad[6];
    int64_t balance_cents;
    int64_t limit_cents[MOD_COUNT];
    int64_t last_approved_us; /* INT64_MIN when none */
} user_state_t;

typedef struct rules_outcome {
    uint8_t status, reason, has_scores;
    double t5, t6, t7, score;
} rules_outcome_t;

/* Decide one transaction. payer is NULL when unknown; receiver_known says
 * whether the receiver exists; local_hour is data_horario's hour in the
 * configured zone; kafka_ts_ms the broker timestamp of the message. */
rules_outcome_t rules_decide(const rules_config_t *cfg, const txn_t *t, const user_state_t *payer,
                             int receiver_known, int local_hour, int64_t kafka_ts_ms);

#endif
