/* rules.c - balance, limit and risk rules plus the not-processed statuses.
 * See rules.h for the order of checks. Money is compared in centavos. */
#include "engine/rules.h"
#include "base/regions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static rules_outcome_t outcome(int status, int reason)
{
    rules_outcome_t o = {0};
    o.status = (uint8_t)status;
    o.reason = (uint8_t)reason;
    return o;
}

rules_outcome_t rules_decide(const rules_config_t *cfg, const txn_t *t, const user_state_t *payer,
                             int receiver_known, int local_hour, int64_t kafka_ts_ms)
{
    if (payer == NULL) return outcome(STATUS_REJECTED, REASON_UNKNOWN_PAYER);
    if (cfg->max_age_ms > 0 && kafka_ts_ms - t->time_us / 1000 > cfg->max_age_ms)
        return outcome(STATUS_NOT_PROCESSED, REASON_TOO_LATE);
    if (cfg->max_future_ms > 0 && t->time_us / 1000 - kafka_ts_ms > cfg->max_future_ms)
        return outcome(STATUS_NOT_PROCESSED, REASON_FUTURE);
    if (payer->last_approved_us != INT64_MIN &&
        t->time_us < payer->last_approved_us - cfg->older_than_last_ms * 1000)
        return outcome(STATUS_NOT_PROCESSED, REASON_OLDER_THAN_LAST);
    if (!receiver_known) return outcome(STATUS_REJECTED, REASON_UNKNOWN_RECEIVER);

    rules_outcome_t o = outcome(STATUS_APPROVED, REASON_NONE);
    const region_info_t *at = &region_table[t->region], *home = &region_table[payer->region];
    double dlat = at->latitude - home->latitude, dlon = at->longitude - home->longitude;
    o.has_scores = 1;
    o.t5 = sqrt(dlat * dlat + dlon * dlon);
    o.t6 = t->amount_cents > cfg->t6_amount_cents ? 1.0 : 0.0;
    o.t7 = fabs((double)local_hour - 12.0) / 12.0;
    o.score = (cfg->weight_t5 * o.t5) * (cfg->weight_t6 * o.t6) * (cfg->weight_t7 * o.t7) /
              cfg->score_divisor;

    if (payer->balance_cents < t->amount_cents) {
        o.status = STATUS_REJECTED;
        o.reason = REASON_INSUFFICIENT_FUNDS;
    } else if (t->amount_cents > payer->limit_cents[t->modality] * cfg->limit_percent / 100) {
        o.status = STATUS_REJECTED;
        o.reason = REASON_OVER_LIMIT;
    } else if (o.score > cfg->risk_threshold) {
        o.status = STATUS_REJECTED;
        o.reason = REASON_RISK;
    }
    return o;
}
