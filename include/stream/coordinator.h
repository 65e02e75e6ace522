/* coordinator.h - rank 0 of `bankstream run`: Kafka in, PostgreSQL out.
 *
 * State diagram of a batch (function doing each step):
 *   polled (kafka_source_poll) -> cut (coord_cut_batch: decode, dedupe,
 *   offsets recorded) -> routed and decided (coord_decide_batch: scatter by
 *   payer, workers decide, gather) -> committed (sink thread: pgsink_commit,
 *   one Postgres transaction) -> offsets committed to Kafka
 *   (kafka_source_commit, monitoring only).
 * Start-up restores state from the database before the first poll:
 *   batch_log -> Kafka positions; usuarios + ledger -> workers; ids of
 *   committed transactions -> the duplicate filter. */
#ifndef BS_COORDINATOR_H
#define BS_COORDINATOR_H

#include "cluster/engine.h"
#include "base/job.h"

/* Run rank 0 until stopped (signal, --until-idle) or failed. Collective with
 * engine_serve on the other ranks; always releases them with ENGINE_CMD_STOP.
 * Returns the exit status: 0 clean stop, 1 failure (message already logged). */
int coordinator_run(engine_t *e, const job_config_t *job, const char *conninfo);

#endif
