/* msgdecode.h - rank 0's decode step: one raw Kafka message value -> a
 * txn_t or a dead-letter reason, JSON and Avro mixed freely on one topic.
 *
 * The first byte decides: 0 is the Confluent wire format (magic byte, 4-byte
 * big-endian schema id, Avro body: avro_decode.h, with the writer schema from
 * the registry through schema_cache.h); anything else is JSON
 * (json_decode.h). Dead-letter reasons say which encoding, and for Avro the
 * schema id, before the decoder's reason naming the field:
 *   "json: missing field valor_transacao"
 *   "avro schema 7: field id_regiao: null (writer union branch 0) cannot be read as string"
 *   "avro schema 9: schema id 9 not found in the registry (error 40403: ...)"
 *   "avro: 3 bytes are too short for the Confluent framing (magic byte 0 and a 4-byte schema id)"
 *
 * A message whose schema the registry cannot give now (an outage) is not
 * decodable yet: msgdecode_ready says so, and the cutter waits (cutter.h)
 * rather than turn a good message into a dead letter. */
#ifndef BS_MSGDECODE_H
#define BS_MSGDECODE_H

#include "base/job.h"
#include "base/txn.h"
#include "registry/schema_cache.h"

#include <stddef.h>

/* Room for any reason msgdecode_txn writes. */
#define MSGDECODE_ERR_MAX 400

typedef struct msgdecode msgdecode_t;

/* The decoder of a run: the registry from job's [registry] settings. No url
 * (or an empty one) means no registry: Avro messages are then dead letters
 * saying so, rather than a wait for a registry nobody runs (a JSON-only
 * topic with a stray message starting with byte 0 must not stall). Contacts
 * nothing yet. Returns NULL with errstr naming a bad setting. */
msgdecode_t *msgdecode_new(const job_config_t *job, char *errstr, size_t errsize);
void msgdecode_free(msgdecode_t *d);

/* Can the message be decoded now? 1: yes (JSON, a malformed frame, a
 * schema id with a verdict); 0: its schema is not available yet (the
 * registry is being asked or is down; reported by schema_cache). */
int msgdecode_ready(msgdecode_t *d, const void *msg, size_t len);

/* Decode a message. 0 with *out, or -1 with the dead-letter reason in errstr
 * (MSGDECODE_ERR_MAX bytes hold any). d may be NULL: then only JSON is read
 * (Avro messages are dead letters). A message that is not ready waits here
 * for the registry (msgdecode_ready first avoids that). */
int msgdecode_txn(msgdecode_t *d, const void *msg, size_t len, txn_t *out, char *errstr,
                  size_t errsize);

#endif
