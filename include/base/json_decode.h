/* json_decode.h - a Kafka message value (JSON) -> txn_t, with strict validation.
 *
 * The wire contract is SYSTEM.md "Kafka messages": a UTF-8 JSON object with the
 * seven fields id_transacao, id_usuario_pagador, id_usuario_recebedor,
 * id_regiao, modalidade_pagamento, data_horario, valor_transacao. Every message
 * that does not meet it is refused with a short reason meant for the
 * dead-letter table; no input makes the decoder crash or read outside buf.
 *
 * Accepted:
 *   - at most JSON_DECODE_MAX_BYTES bytes; JSON whitespace around the object;
 *   - all seven fields present exactly once; other fields are ignored (as Spark's
 *     from_json does) but must not be duplicated either;
 *   - the three ids: canonical 36-character UUID strings (either case);
 *   - id_regiao: one of the 27 UF codes, exact upper case (regions.h);
 *   - modalidade_pagamento: exactly "PIX", "TED", "DOC" or "Boleto";
 *   - valor_transacao: a JSON number (not a string) in reais, rounded to
 *     centavos by money_from_double, then 0 < cents <= MONEY_MAX_CENTS (what
 *     the database's numeric(15,2) holds: R$ 9,999,999,999,999.99; larger
 *     amounts are decided by the rules, which reject what a payer cannot pay);
 *   - data_horario: a JSON number of integral epoch milliseconds, or an ISO-8601
 *     string "YYYY-MM-DD(T| )HH:MM:SS[.ffffff][Z|+HH:MM|-HH:MM]". A string
 *     WITHOUT zone is read as UTC (see timeparse.h); an offset is applied.
 *     Either form must lie in [1970-01-01T00:00:00Z, 2100-01-01T00:00:00Z].
 *
 * Stricter than cJSON alone: numbers must follow the JSON grammar (no "01",
 * "1.", "1.e5"), raw control characters are refused everywhere (cJSON takes
 * any byte <= 0x20 as whitespace), "\u0000" and malformed "\uXXXX" escapes are
 * refused (cJSON would turn them into a NUL that hides the rest of a string).
 * Not checked: UTF-8 validity of strings the decoder ignores; a leading UTF-8
 * BOM is skipped (cJSON does so).
 *
 * Error strings are one line, under JSON_DECODE_ERR_MAX bytes, printable ASCII
 * only: quoted input is escaped (\xHH) and cut to 32 characters. They name the
 * field, e.g. "missing field valor_transacao", "unknown id_regiao 'XX'",
 * "not valid JSON at byte 17" (byte offsets count from 0). */
#ifndef BS_JSON_DECODE_H
#define BS_JSON_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "base/txn.h"

#define JSON_DECODE_MAX_BYTES   65536
#define JSON_DECODE_ERR_MAX     200
#define JSON_DECODE_TIME_MIN_US 0LL                /* 1970-01-01T00:00:00Z */
#define JSON_DECODE_TIME_MAX_US 4102444800000000LL /* 2100-01-01T00:00:00Z, inclusive */

/* Decode len bytes at buf (not NUL-terminated; NULL allowed when len is 0).
 * Returns 0 with *out fully written (pad zeroed), or -1 with *out untouched and
 * a reason in errstr (always NUL-terminated when errsize > 0; 200 bytes hold
 * any reason). Thread-safe as far as cJSON is (it keeps a global last-error
 * pointer that is written but never read here). Allocates only temporarily. */
int json_decode_txn(const char *buf, size_t len, txn_t *out, char *errstr, size_t errsize);

#endif
