/* avro_decode.h - a Kafka message value in Avro (Confluent wire format) -> txn_t.
 *
 * The wire: byte 0 (magic), the writer schema's registry id as 4 bytes big
 * endian, then the record in Avro's binary encoding (avro_frame_parse). The
 * writer schema comes from the registry (not this module: no I/O here); it
 * is resolved once against bankstream's reader schema into a plan
 * (avro_txn_plan_new), and the plan decodes every message of that id.
 *
 * bankstream's reader schema (AVRO_TXN_READER_SCHEMA) is the original's
 * record BankTransaction (SYSTEM.md) with two changes that resolution makes
 * visible: data_horario is the union ["long", "string"] (epoch milliseconds,
 * or ISO-8601 text as the JSON decoder accepts it), and modalidade_pagamento
 * has the default "DOC" (the original's Spark job fell back to DOC for a
 * modality it did not know), so a writer that dropped the field resolves.
 * Resolution follows Avro's specification (avro_compat.h): a writer field
 * the reader lacks is skipped, a reader field the writer lacks takes the
 * reader's default, int/long/float promote to double, int to long, bytes to
 * string; named records must agree on their unqualified name. A writer long
 * with logicalType timestamp-micros (or -nanos, or the local- forms) is read
 * in that unit instead of milliseconds; other logical types are read as
 * their base type.
 *
 * After decoding, the values pass the same validation as JSON messages
 * (json_decode.h: UUIDs, the 27 UFs, the four modalities, the time range,
 * cents rounding and bounds), with the same wording. Also refused: bytes
 * after the record, a union branch the reader cannot take, malformed
 * varints, lengths past the end, values nested deeper than
 * AVRO_DECODE_MAX_DEPTH, and messages above AVRO_DECODE_MAX_BYTES.
 * Decoding allocates nothing (strings point into the message); plans and
 * readers are immutable after creation, so threads may share them.
 *
 * Errors: one line of printable ASCII under AVRO_ERR_MAX bytes that names
 * the field ("field id_regiao: null (writer union branch 0) cannot be read
 * as string", "unknown id_regiao 'XX'"); the caller adds the schema id. */
#ifndef BS_AVRO_DECODE_H
#define BS_AVRO_DECODE_H

#include "base/avro_schema.h"
#include "base/txn.h"

#include <stddef.h>
#include <stdint.h>

#define AVRO_DECODE_MAX_BYTES 65536
#define AVRO_DECODE_MAX_DEPTH 32
#define AVRO_FRAME_HEADER     5 /* magic byte + schema id */

#define AVRO_TXN_READER_SCHEMA                                                                     \
    "{\"type\":\"record\",\"name\":\"BankTransaction\",\"fields\":["                               \
    "{\"name\":\"id_transacao\",\"type\":\"string\"},"                                             \
    "{\"name\":\"id_usuario_pagador\",\"type\":\"string\"},"                                       \
    "{\"name\":\"id_usuario_recebedor\",\"type\":\"string\"},"                                     \
    "{\"name\":\"id_regiao\",\"type\":\"string\"},"                                                \
    "{\"name\":\"modalidade_pagamento\",\"type\":\"string\",\"default\":\"DOC\"},"                 \
    "{\"name\":\"data_horario\",\"type\":[\"long\",\"string\"]},"                                  \
    "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}"

/* Split a Confluent-framed message: 0 with the schema id and the body when
 * len >= 5 and byte 0 is 0; -1 otherwise (outputs untouched). */
int avro_frame_parse(const void *msg, size_t len, uint32_t *schema_id, const uint8_t **body,
                     size_t *body_len);

typedef struct avro_txn_reader avro_txn_reader_t;
typedef struct avro_txn_plan avro_txn_plan_t;

/* The reader side: schema_json (NULL = AVRO_TXN_READER_SCHEMA), a record
 * with exactly the seven fields of the wire contract: the ids, id_regiao and
 * modalidade_pagamento as string (or bytes), data_horario as long, int,
 * string or a union of those, valor_transacao as double or float. Tests may
 * give other defaults or types. Returns the reader, or NULL with errstr. */
avro_txn_reader_t *avro_txn_reader_new(const char *schema_json, char *errstr, size_t errsize);
void avro_txn_reader_free(avro_txn_reader_t *rd);

/* Resolve writer against rd. Takes ownership of writer (freed with the
 * plan, or at once on failure). Returns the plan, or NULL with errstr
 * naming the field that cannot be resolved ("field valor_transacao: writer
 * type string cannot be read as double", "field id_regiao is missing from
 * the writer schema and has no default"). rd must outlive the plan. */
avro_txn_plan_t *avro_txn_plan_new(const avro_txn_reader_t *rd, avro_schema_t *writer, char *errstr,
                                   size_t errsize);
void avro_txn_plan_free(avro_txn_plan_t *pl);

/* Decode one record body (without the frame header). Returns 0 with *out
 * fully written (pad zeroed), or -1 with *out untouched and errstr. */
int avro_txn_decode(const avro_txn_plan_t *pl, const void *body, size_t len, txn_t *out,
                    char *errstr, size_t errsize);

#endif
