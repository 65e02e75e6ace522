/* json_encode.c - hand-written JSON for one transaction (no cJSON, no printf:
 * the producer encodes every message it sends). */
#include "base/json_encode.h"
#include "base/ids.h"
#include "base/regions.h"

#include <assert.h>
#include <string.h>

/* Append a string literal without its NUL. */
#define PUT_LIT(p, lit)                                                                            \
    do {                                                                                           \
        memcpy((p), (lit), sizeof(lit) - 1);                                                       \
        (p) += sizeof(lit) - 1;                                                                    \
    } while (0)

/* Write v in decimal; returns the position after the last digit. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

static char *put_uuid(char *p, const uint8_t id[16])
{
    char text[IDS_TEXT_LEN + 1];
    ids_format(id, text);
    memcpy(p, text, IDS_TEXT_LEN);
    return p + IDS_TEXT_LEN;
}

int json_encode_txn(const txn_t *t, char *buf, size_t size)
{
    if (size < JSON_ENCODE_TXN_MAX) return -1;
    assert(t->region < REGION_COUNT && t->modality < MOD_COUNT);
    char *p = buf;

    PUT_LIT(p, "{\"id_transacao\":\"");
    p = put_uuid(p, t->id);
    PUT_LIT(p, "\",\"id_usuario_pagador\":\"");
    p = put_uuid(p, t->payer);
    PUT_LIT(p, "\",\"id_usuario_recebedor\":\"");
    p = put_uuid(p, t->receiver);
    PUT_LIT(p, "\",\"id_regiao\":\"");
    memcpy(p, region_table[t->region].code, 2);
    p += 2;
    PUT_LIT(p, "\",\"modalidade_pagamento\":\"");
    const char *mod = modality_names[t->modality];
    size_t modlen = strlen(mod);
    memcpy(p, mod, modlen);
    p += modlen;
    PUT_LIT(p, "\",\"data_horario\":");
    int64_t ms = t->time_us / 1000;
    if (t->time_us % 1000 < 0) ms--; /* floor for times before 1970 */
    p = put_i64(p, ms);
    PUT_LIT(p, ",\"valor_transacao\":");
    uint64_t mag = (uint64_t)t->amount_cents;
    if (t->amount_cents < 0) {
        *p++ = '-';
        mag = (uint64_t)0 - (uint64_t)t->amount_cents;
    }
    p = put_u64(p, mag / 100);
    *p++ = '.';
    *p++ = (char)('0' + (mag % 100) / 10);
    *p++ = (char)('0' + mag % 10);
    *p++ = '}';
    *p = '\0';
    return (int)(p - buf);
}
