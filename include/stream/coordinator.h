/* coordinator.h - rank 0 of `bankstream run`: Kafka in, PostgreSQL out.
 *
 * Moves every batch through the lifecycle drawn in stream/batch.h, with a
 * snapshot barrier every `[snapshot] every` batches and at a clean stop.
 * Before the first batch it restores the state of the last committed batch
 * (stream/restore.h). */
#ifndef BS_COORDINATOR_H
#define BS_COORDINATOR_H

#include "base/job.h"
#include "cluster/cluster.h"

/* Run rank 0 until stopped (signal, --until-idle) or failed. Collective with
 * cluster_serve on the other ranks; always releases them with
 * CLUSTER_CMD_STOP. Returns the exit status: 0 clean stop, 1 failure
 * (message already logged). */
int coordinator_run(cluster_t *c, const job_config_t *job, const char *conninfo);

#endif
