/* pgstate.h - what the database says the processor's state is: the reads a
 * restart, a restore, a replay and an archive rebuild make. Plain functions
 * on a connection the caller opened (pgconn.h) and owns; each runs in the
 * caller's transaction if one is open. None writes.
 *
 * A topic's batches are the batch_log rows of that topic; batch ids are
 * global to the database. The ledger is transacoes (status 'aprovada'; rows
 * of status 'historico', which bankstream did not decide, are not in it),
 * plus what retention carried over from the rows it deleted
 * (saldos_expurgados, transacoes_ids_expurgados, bankstream_meta
 * 'expurgado_ate_batch'; see schema.c): a ledger read from batch 0 adds the
 * carried deltas, and one from a later batch is exact only from the highest
 * purged batch on. */
#ifndef BS_PGSTATE_H
#define BS_PGSTATE_H

#include "base/txn.h"
#include "engine/user.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* The newest committed batch id of the database (*batch_id, 0 when none),
 * and the end offsets of the newest batch of topic, written into
 * end_offsets[0..max_parts) (missing partitions = -1) with their count in
 * *nparts (0 when the topic has none). Returns 0 or -1 with errstr. */
int pgstate_last_batch(PGconn *conn, const char *topic, int64_t *batch_id, int64_t *end_offsets,
                       int max_parts, int *nparts, char *errstr, size_t errsize);

/* The identity `init` gave the database (bankstream_meta database_id, else
 * initialized_at, else ""), into out. Returns 0 or -1 with errstr. */
int pgstate_database_id(PGconn *conn, char *out, size_t outsize, char *errstr, size_t errsize);

/* The end offsets batch_log holds for batch_id of topic, as above.
 * Returns 0 (found), 1 (no such batch of this topic) or -1 with errstr. */
int pgstate_batch_offsets(PGconn *conn, const char *topic, int64_t batch_id, int64_t *end_offsets,
                          int max_parts, int *nparts, char *errstr, size_t errsize);

/* The highest batch whose rows retention deleted (bankstream_meta
 * 'expurgado_ate_batch'; 0 when none) into *batch_id. Returns 0 or -1 with
 * errstr. A restore may roll the ledger forward only from a snapshot of
 * this batch or a later one. */
int pgstate_purged_batch(PGconn *conn, int64_t *batch_id, char *errstr, size_t errsize);

/* The Kafka timestamp (ms) of the last message taken from each partition
 * of topic: per partition, from the newest batch that took something from
 * it (batch_log.last_ts_ms), so the timestamp of the message just before
 * the partition's logged end offset. Into last_ts_ms[0..max_parts)
 * (unknown = -1), their count in *nparts (0 when no batch of the topic
 * recorded them), the newest batch that recorded any in *batch_id (0 when
 * none). Returns 0 or -1 with errstr. */
int pgstate_last_ts(PGconn *conn, const char *topic, int64_t *batch_id, int64_t *last_ts_ms,
                    int max_parts, int *nparts, char *errstr, size_t errsize);

/* Stream rows to a callback, which returns 0 to go on or nonzero to stop.
 * Each returns 0, or -1 with errstr ("bad row from database: <row>" for a
 * row that does not parse or that the callback stopped at):
 *   each_user          every user of usuarios (NULL amounts as 0,
 *                      last_approved_us INT64_MIN);
 *   each_ledger_delta  per user, credits - debits of the approved
 *                      transactions of batches after after_batch, and the
 *                      time of its newest approved payment in them; with
 *                      after_batch 0, plus what retention carried over
 *                      (saldos_expurgados); an after_batch below the
 *                      highest purged batch fails (that ledger is gone);
 *   each_seen_id       every transaction id in transacoes and every id
 *                      retention deleted (transacoes_ids_expurgados);
 *   each_record        the transactions of topic's batches after
 *                      after_batch with their results, in the order they
 *                      were decided (batch, then event order: data_horario,
 *                      Kafka timestamp, partition, offset), to rebuild an
 *                      archive. */
int pgstate_each_user(PGconn *conn, int (*each)(void *ctx, const user_state_t *u), void *ctx,
                      char *errstr, size_t errsize);
int pgstate_each_ledger_delta(PGconn *conn, int64_t after_batch,
                              int (*each)(void *ctx, const ledger_delta_t *d), void *ctx,
                              char *errstr, size_t errsize);
int pgstate_each_seen_id(PGconn *conn, int (*each)(void *ctx, const uint8_t id[16]), void *ctx,
                         char *errstr, size_t errsize);

/* Which of ids[0..n) the database has seen (each_seen_id's ids), one
 * query by primary key: each one found is handed to `each` (nonzero: out of
 * memory). 0, or -1 with errstr (PQstatus tells a lost connection). */
int pgstate_ids_present(PGconn *conn, const uint8_t (*ids)[16], size_t n,
                        int (*each)(void *ctx, const uint8_t id[16]), void *ctx, char *errstr,
                        size_t errsize);
int pgstate_each_record(PGconn *conn, const char *topic, int64_t after_batch,
                        int (*each)(void *ctx, const txn_record_t *r), void *ctx, char *errstr,
                        size_t errsize);

#endif
