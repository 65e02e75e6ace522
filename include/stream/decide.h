/* decide.h - rank 0's half of deciding a batch: CUT -> DECIDED.
 *
 * The batch's transactions become decide_row_t records (engine/worker.h)
 * with seq = the row's place in the batch, which is (partition, offset)
 * order, sorted into event order (data_horario, Kafka timestamp, seq: the
 * order the owners decide in); cluster_step_decide sends each to its
 * payer's owner, where the one decision loop decides them; the results land
 * in the rows' records, which are then counted (batch_count), and
 * b->decided lists the rows in the order they were decided (the archive
 * keeps that order, so that a replay needs no sort). Collective: every
 * worker serves the step. */
#ifndef BS_STREAM_DECIDE_H
#define BS_STREAM_DECIDE_H

#include "cluster/cluster.h"
#include "stream/batch.h"

#include <stddef.h>

/* 0 with b DECIDED, or -1 with errstr (b stays CUT; the run must stop). */
int stream_decide(cluster_t *c, batch_t *b, char *errstr, size_t errsize);

#endif
