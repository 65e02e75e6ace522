/* json_decode.c - Kafka message value (JSON) -> txn_t, refusing anything off-contract.
 *
 * Pipeline of json_decode_txn, each step either passes or fills errstr:
 *   1. size: 1..JSON_DECODE_MAX_BYTES bytes;
 *   2. lex_check: one pass over the raw bytes for what cJSON tolerates but JSON
 *      forbids (control bytes, number syntax, bad or NUL \u escapes);
 *   3. cJSON_ParseWithLengthOpts (never reads past len), then "is an object" and
 *      "only whitespace after it";
 *   4. field table: the seven names matched once each, duplicates refused
 *      (extra names are checked among themselves with a sort);
 *   5. field values in contract order, into a local txn_t copied out at the end.
 * Invariant: errstr only ever receives printable ASCII (errstr_quote escapes
 * input), so it can go straight into a text column. */
#include "base/json_decode.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errstr.h"
#include "base/ids.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/timeparse.h"

enum field { F_ID, F_PAYER, F_RECEIVER, F_REGION, F_MODALITY, F_TIME, F_AMOUNT, F_COUNT };

static const char *const field_names[F_COUNT] = {
    "id_transacao",         "id_usuario_pagador", "id_usuario_recebedor", "id_regiao",
    "modalidade_pagamento", "data_horario",       "valor_transacao",
};

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsObject(v)) return "object";
    return "unknown";
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_numchar(unsigned char c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, exactly n bytes. */
static int number_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (i < n && p[i] == '-') i++;
    if (i >= n || !is_digit(p[i])) return 0;
    if (p[i] == '0')
        i++;
    else
        while (i < n && is_digit(p[i]))
            i++;
    if (i < n && p[i] == '.') {
        size_t s = ++i;
        while (i < n && is_digit(p[i]))
            i++;
        if (i == s) return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        size_t s = i;
        while (i < n && is_digit(p[i]))
            i++;
        if (i == s) return 0;
    }
    return i == n;
}

/* The lexical checks cJSON skips. Strings are delimited exactly as JSON does,
 * so every refusal here is at a byte that no valid JSON text could hold.
 * Errors cJSON itself reports (unterminated string, structure) pass here. */
static int lex_check(const unsigned char *s, size_t len, char *errstr, size_t errsize)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                c = s[i];
                if (c < 0x20) {
                    errstr_set(errstr, errsize,
                               "not valid JSON at byte %zu (control character 0x%02x in string)", i,
                               c);
                    return -1;
                }
                if (c != '\\') continue;
                if (i + 1 >= len) return 0; /* cJSON: unterminated */
                c = s[i + 1];
                if (c == 'u') {
                    unsigned v = 0;
                    for (size_t k = 2; k < 6; k++) {
                        if (i + k >= len || !is_hex(s[i + k])) {
                            errstr_set(errstr, errsize,
                                       "not valid JSON at byte %zu (bad \\u escape)", i);
                            return -1;
                        }
                        v = v * 16 + (unsigned)(is_digit(s[i + k]) ? s[i + k] - '0'
                                                                   : (s[i + k] | 0x20) - 'a' + 10);
                    }
                    if (v == 0) {
                        errstr_set(errstr, errsize,
                                   "not valid JSON at byte %zu (\\u0000 in string is not accepted)",
                                   i);
                        return -1;
                    }
                    /* A UTF-16 surrogate must come as a high-low pair. */
                    int pair_next = i + 11 < len && s[i + 6] == '\\' && s[i + 7] == 'u' &&
                                    (s[i + 8] | 0x20) == 'd' && strchr("cdefCDEF", s[i + 9]);
                    if ((v >= 0xDC00 && v <= 0xDFFF) ||
                        (v >= 0xD800 && v <= 0xDBFF && !pair_next)) {
                        errstr_set(errstr, errsize,
                                   "not valid JSON at byte %zu (\\u%04X is half of a UTF-16 "
                                   "surrogate pair, without its other half)",
                                   i, v);
                        return -1;
                    }
                    if (v >= 0xD800 && v <= 0xDBFF) i += 6; /* the low half is checked here */
                    i += 5;
                } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                           c == 'r' || c == 't') {
                    i++;
                } else {
                    errstr_set(errstr, errsize, "not valid JSON at byte %zu (bad escape)", i);
                    return -1;
                }
            }
            i++; /* the closing quote (or past the end) */
        } else if (c == '-' || is_digit(c)) {
            size_t j = i;
            while (j < len && is_numchar(s[j]))
                j++;
            if (!number_ok(s + i, j - i)) {
                errstr_set(errstr, errsize, "not valid JSON at byte %zu (malformed number)", i);
                return -1;
            }
            i = j;
        } else if (c < 0x20 && !is_ws(c)) {
            errstr_set(errstr, errsize, "not valid JSON at byte %zu (control character 0x%02x)", i,
                       c);
            return -1;
        } else {
            i++;
        }
    }
    return 0;
}

static int field_of(const char *key)
{
    /* first letters i, m, d, v: dispatch before comparing whole names */
    switch (key[0]) {
    case 'i':
        if (strcmp(key, "id_transacao") == 0) return F_ID;
        if (strcmp(key, "id_usuario_pagador") == 0) return F_PAYER;
        if (strcmp(key, "id_usuario_recebedor") == 0) return F_RECEIVER;
        if (strcmp(key, "id_regiao") == 0) return F_REGION;
        return -1;
    case 'm':
        return strcmp(key, "modalidade_pagamento") == 0 ? F_MODALITY : -1;
    case 'd':
        return strcmp(key, "data_horario") == 0 ? F_TIME : -1;
    case 'v':
        return strcmp(key, "valor_transacao") == 0 ? F_AMOUNT : -1;
    default:
        return -1;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicates among the n names the decoder ignores; 0 or -1 with errstr. */
static int check_extra_dups(const cJSON *root, size_t n, char *errstr, size_t errsize)
{
    int rc = -1;
    const char **names = malloc(n * sizeof *names);
    if (!names) {
        errstr_set(errstr, errsize, "out of memory checking %zu extra fields", n);
        return -1;
    }
    size_t k = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        if (field_of(it->string) < 0) names[k++] = it->string;
    qsort(names, k, sizeof *names, cmp_str);
    for (size_t i = 1; i < k; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            char q[ERRSTR_QUOTE_SIZE];
            errstr_quote(names[i], strlen(names[i]), q);
            errstr_set(errstr, errsize, "duplicate field %s", q);
            goto out;
        }
    }
    rc = 0;
out:
    free(names);
    return rc;
}

static int need_string(const cJSON *v, int f, char *errstr, size_t errsize)
{
    if (cJSON_IsString(v) && v->valuestring) return 0;
    errstr_set(errstr, errsize, "field %s must be a string (got %s)", field_names[f], type_name(v));
    return -1;
}

static int decode_time(const cJSON *v, int64_t *us, char *errstr, size_t errsize)
{
    char q[ERRSTR_QUOTE_SIZE];
    if (cJSON_IsNumber(v)) {
        double ms = v->valuedouble;
        if (!(ms >= JSON_DECODE_TIME_MIN_US / 1000 && ms <= JSON_DECODE_TIME_MAX_US / 1000)) {
            errstr_set(errstr, errsize,
                       "data_horario out of range (%.15g ms; allowed 1970-01-01 to 2100-01-01)",
                       ms);
            return -1;
        }
        if (ms != floor(ms)) {
            errstr_set(errstr, errsize,
                       "data_horario is not epoch milliseconds or ISO-8601 (%.17g is not an "
                       "integer)",
                       ms);
            return -1;
        }
        *us = (int64_t)ms * 1000;
        return 0;
    }
    if (cJSON_IsString(v) && v->valuestring) {
        int64_t t;
        if (timeparse_iso8601(v->valuestring, strlen(v->valuestring), &t) != 0) {
            errstr_quote(v->valuestring, strlen(v->valuestring), q);
            errstr_set(errstr, errsize, "data_horario %s is not epoch milliseconds or ISO-8601", q);
            return -1;
        }
        if (t < JSON_DECODE_TIME_MIN_US || t > JSON_DECODE_TIME_MAX_US) {
            errstr_quote(v->valuestring, strlen(v->valuestring), q);
            errstr_set(errstr, errsize,
                       "data_horario out of range (%s; allowed 1970-01-01 to 2100-01-01)", q);
            return -1;
        }
        *us = t;
        return 0;
    }
    errstr_set(errstr, errsize, "data_horario is not epoch milliseconds or ISO-8601 (got %s)",
               type_name(v));
    return -1;
}

static int decode_amount(const cJSON *v, int64_t *cents, char *errstr, size_t errsize)
{
    if (!cJSON_IsNumber(v)) {
        errstr_set(errstr, errsize, "field valor_transacao must be a number (got %s)",
                   type_name(v));
        return -1;
    }
    return money_check_amount(v->valuedouble, cents, errstr, errsize);
}

int json_decode_txn(const char *buf, size_t len, txn_t *out, char *errstr, size_t errsize)
{
    int rc = -1;
    cJSON *root = NULL;
    const cJSON *f[F_COUNT] = {0};
    char q[ERRSTR_QUOTE_SIZE];
    txn_t t;

    if (len == 0 || buf == NULL) {
        errstr_set(errstr, errsize, "empty message");
        goto out;
    }
    if (len > JSON_DECODE_MAX_BYTES) {
        errstr_set(errstr, errsize, "message too large (%zu bytes > %d)", len,
                   JSON_DECODE_MAX_BYTES);
        goto out;
    }
    if (lex_check((const unsigned char *)buf, len, errstr, errsize) != 0) goto out;

    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t pos = (end && end >= buf && end <= buf + len) ? (size_t)(end - buf) : 0;
        errstr_set(errstr, errsize, "not valid JSON at byte %zu", pos);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        errstr_set(errstr, errsize, "not a JSON object (got %s)", type_name(root));
        goto out;
    }
    size_t pos = (size_t)(end - buf);
    while (pos < len && is_ws((unsigned char)buf[pos]))
        pos++;
    if (pos != len) {
        errstr_set(errstr, errsize, "trailing data after JSON object at byte %zu", pos);
        goto out;
    }

    size_t nextra = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        int k = field_of(it->string);
        if (k < 0) {
            nextra++;
        } else if (f[k]) {
            errstr_set(errstr, errsize, "duplicate field %s", field_names[k]);
            goto out;
        } else {
            f[k] = it;
        }
    }
    if (nextra > 1 && check_extra_dups(root, nextra, errstr, errsize) != 0) goto out;
    for (int k = 0; k < F_COUNT; k++) {
        if (f[k]) continue;
        int more = 0;
        for (int j = k + 1; j < F_COUNT; j++)
            more += f[j] == NULL;
        if (more)
            errstr_set(errstr, errsize, "missing field %s (and %d more)", field_names[k], more);
        else
            errstr_set(errstr, errsize, "missing field %s", field_names[k]);
        goto out;
    }

    memset(&t, 0, sizeof t);
    uint8_t *ids[3] = {t.id, t.payer, t.receiver};
    for (int k = F_ID; k <= F_RECEIVER; k++) {
        if (need_string(f[k], k, errstr, errsize) != 0) goto out;
        const char *s = f[k]->valuestring;
        if (ids_parse(s, strlen(s), ids[k - F_ID]) != 0) {
            errstr_quote(s, strlen(s), q);
            errstr_set(errstr, errsize, "%s is not a UUID: %s", field_names[k], q);
            goto out;
        }
    }

    if (need_string(f[F_REGION], F_REGION, errstr, errsize) != 0) goto out;
    int region = region_index(f[F_REGION]->valuestring, strlen(f[F_REGION]->valuestring));
    if (region < 0) {
        errstr_quote(f[F_REGION]->valuestring, strlen(f[F_REGION]->valuestring), q);
        errstr_set(errstr, errsize, "unknown id_regiao %s", q);
        goto out;
    }
    t.region = (uint8_t)region;

    if (need_string(f[F_MODALITY], F_MODALITY, errstr, errsize) != 0) goto out;
    int mod = modality_index(f[F_MODALITY]->valuestring, strlen(f[F_MODALITY]->valuestring));
    if (mod < 0) {
        errstr_quote(f[F_MODALITY]->valuestring, strlen(f[F_MODALITY]->valuestring), q);
        errstr_set(errstr, errsize,
                   "unknown modalidade_pagamento %s (expected PIX, TED, DOC, Boleto)", q);
        goto out;
    }
    t.modality = (uint8_t)mod;

    if (decode_time(f[F_TIME], &t.time_us, errstr, errsize) != 0) goto out;
    if (decode_amount(f[F_AMOUNT], &t.amount_cents, errstr, errsize) != 0) goto out;

    *out = t;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}
