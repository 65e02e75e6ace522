/* avro_encode.h - a transaction as the original's Avro message: the record
 * BankTransaction of AVRO_TXN_WRITER_SCHEMA in Avro's binary encoding, in
 * the Confluent wire format (byte 0, the schema id as 4 bytes big endian,
 * the body). The values are those json_encode_txn writes: the ids in
 * lower-case canonical text, data_horario as epoch milliseconds (rounded
 * down), valor_transacao as the double nearest to the amount in reais (so
 * the JSON and the Avro message of a transaction decode to the same txn_t). */
#ifndef BS_AVRO_ENCODE_H
#define BS_AVRO_ENCODE_H

#include "base/txn.h"

#include <stddef.h>
#include <stdint.h>

/* The original's schema (SYSTEM.md): five strings, data_horario long,
 * valor_transacao double; what `produce --format avro` registers. */
#define AVRO_TXN_WRITER_SCHEMA                                                                     \
    "{\"type\":\"record\",\"name\":\"BankTransaction\",\"fields\":["                               \
    "{\"name\":\"id_transacao\",\"type\":\"string\"},"                                             \
    "{\"name\":\"id_usuario_pagador\",\"type\":\"string\"},"                                       \
    "{\"name\":\"id_usuario_recebedor\",\"type\":\"string\"},"                                     \
    "{\"name\":\"id_regiao\",\"type\":\"string\"},"                                                \
    "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"                                     \
    "{\"name\":\"data_horario\",\"type\":\"long\"},"                                               \
    "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}"

/* A buffer of this size always holds one framed message. */
#define AVRO_ENCODE_TXN_MAX 160

/* Encode *t (region < REGION_COUNT, modality < MOD_COUNT) framed with
 * schema_id into buf. Returns the length, or -1 (buf untouched) when size
 * is below AVRO_ENCODE_TXN_MAX. */
int avro_encode_txn(const txn_t *t, uint32_t schema_id, uint8_t *buf, size_t size);

#endif
