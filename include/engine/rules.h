/* rules.h - the approval rules of SYSTEM.md, with state.
 *
 * Pure functions over a transaction and its payer's state; the worker applies
 * the outcome (debit, last-approved time) and the batch end applies credits.
 * Order of checks, first failure wins:
 *   unknown payer            -> rejected  (pagador_desconhecido)
 *   arrived too late         -> not processed (atrasada), when max_age_ms > 0
 *   dated in the future      -> not processed (data_futura): data_horario more
 *                               than max_future_ms after the Kafka timestamp
 *                               (so that one producer's bad clock cannot
 *                               freeze its payers through the next rule)
 *   older than last approved -> not processed (anterior_a_ultima): dated more
 *                               than older_than_last_ms before the payer's
 *                               last approved transaction
 *   unknown receiver         -> rejected  (recebedor_desconhecido)
 *   balance < amount         -> rejected  (saldo_insuficiente)
 *   amount > modality limit  -> rejected  (limite_excedido)
 *   risk score > threshold   -> rejected  (risco)
 *   otherwise                -> approved
 * Duplicated transaction ids are caught before routing (coordinator) and
 * never reach the rules. The configuration (rules_config_t) is the job
 * file's [rules] section (base/job.h). */
#ifndef BS_RULES_H
#define BS_RULES_H

#include "base/job.h"
#include "base/txn.h"
#include "engine/user.h"

#include <stdint.h>

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
