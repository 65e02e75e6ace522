/* avro_encode.c - txn_t -> a Confluent-framed Avro BankTransaction (see
 * avro_encode.h). Written by hand, like json_encode.c: the producer's hot path. */
#include "base/avro_encode.h"
#include "base/ids.h"
#include "base/regions.h"

#include <assert.h>
#include <string.h>

/* A zigzag varint; returns the position after it. */
static uint8_t *put_long(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); /* zigzag */
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static uint8_t *put_text(uint8_t *p, const char *s, size_t n)
{
    p = put_long(p, (int64_t)n);
    memcpy(p, s, n);
    return p + n;
}

static uint8_t *put_uuid(uint8_t *p, const uint8_t id[16])
{
    char text[IDS_TEXT_LEN + 1];
    ids_format(id, text);
    return put_text(p, text, IDS_TEXT_LEN);
}

int avro_encode_txn(const txn_t *t, uint32_t schema_id, uint8_t *buf, size_t size)
{
    if (size < AVRO_ENCODE_TXN_MAX) return -1;
    assert(t->region < REGION_COUNT && t->modality < MOD_COUNT);
    uint8_t *p = buf;
    *p++ = 0;
    *p++ = (uint8_t)(schema_id >> 24);
    *p++ = (uint8_t)(schema_id >> 16);
    *p++ = (uint8_t)(schema_id >> 8);
    *p++ = (uint8_t)schema_id;
    p = put_uuid(p, t->id);
    p = put_uuid(p, t->payer);
    p = put_uuid(p, t->receiver);
    p = put_text(p, region_table[t->region].code, 2);
    const char *mod = modality_names[t->modality];
    p = put_text(p, mod, strlen(mod));
    int64_t ms = t->time_us / 1000;
    if (t->time_us % 1000 < 0) ms--; /* floor, as json_encode_txn */
    p = put_long(p, ms);
    /* cents and 100 are exact doubles and IEEE division rounds correctly:
     * the nearest double to the decimal amount, as strtod of the JSON text. */
    double reais = (double)t->amount_cents / 100.0;
    uint64_t bits;
    memcpy(&bits, &reais, sizeof bits);
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(bits >> (8 * i));
    return (int)(p - buf);
}
