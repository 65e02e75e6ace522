/* json_encode.h - a transaction as the JSON message on the Kafka topic.
 *
 * Exactly the seven fields of the wire contract, in this order, no spaces:
 *   {"id_transacao":"<uuid>","id_usuario_pagador":"<uuid>",
 *    "id_usuario_recebedor":"<uuid>","id_regiao":"SP",
 *    "modalidade_pagamento":"PIX","data_horario":<epoch ms>,
 *    "valor_transacao":<reais, exactly 2 decimals>}
 * Written by hand into the caller's buffer: this is the producer's hot path. */
#ifndef BS_JSON_ENCODE_H
#define BS_JSON_ENCODE_H

#include "base/txn.h"

#include <stddef.h>

/* A buffer of this size always holds one encoded transaction and its NUL. */
#define JSON_ENCODE_TXN_MAX 320

/* Encode *t (region < REGION_COUNT, modality < MOD_COUNT) into buf and add a
 * NUL. Returns the length without the NUL, or -1 (buf untouched) if size is
 * below JSON_ENCODE_TXN_MAX. data_horario is time_us / 1000 rounded down. */
int json_encode_txn(const txn_t *t, char *buf, size_t size);

#endif
