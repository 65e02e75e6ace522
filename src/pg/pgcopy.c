/* pgcopy.c - PostgreSQL binary COPY encoding (see the COPY page of the
 * PostgreSQL manual, "Binary Format"). Integers are big-endian; timestamps
 * are µs since 2000-01-01; numeric is base-10000 digits with weight, sign
 * and display scale. */
#include "pg/pgcopy.h"

#include <stdlib.h>
#include <string.h>

#define PG_EPOCH_OFFSET_US 946684800000000LL /* 2000-01-01 - 1970-01-01 */

static int reserve(pgcopy_t *b, size_t more)
{
    if (b->failed) return -1;
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static void put_be(pgcopy_t *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        b->data[b->len++] = (char)(v >> (8 * i));
}

static void put_field(pgcopy_t *b, const void *p, size_t len)
{
    if (reserve(b, 4 + len) != 0) return;
    put_be(b, (uint32_t)len, 4);
    memcpy(b->data + b->len, p, len);
    b->len += len;
}

void pgcopy_begin(pgcopy_t *b)
{
    static const char signature[11] = "PGCOPY\n\377\r\n\0";
    b->len = 0;
    b->failed = 0;
    if (reserve(b, 19) != 0) return;
    memcpy(b->data, signature, 11);
    b->len = 11;
    put_be(b, 0, 4); /* flags */
    put_be(b, 0, 4); /* header extension length */
}

void pgcopy_end(pgcopy_t *b)
{
    if (reserve(b, 2) == 0) put_be(b, 0xffff, 2);
}

void pgcopy_free(pgcopy_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void pgcopy_row(pgcopy_t *b, int nfields)
{
    if (reserve(b, 2) == 0) put_be(b, (uint16_t)nfields, 2);
}

void pgcopy_null(pgcopy_t *b)
{
    if (reserve(b, 4) == 0) put_be(b, 0xffffffffu, 4);
}

void pgcopy_uuid(pgcopy_t *b, const uint8_t id[16])
{
    put_field(b, id, 16);
}

void pgcopy_text(pgcopy_t *b, const char *s, size_t len)
{
    put_field(b, s, len);
}

void pgcopy_bytea(pgcopy_t *b, const void *p, size_t len)
{
    put_field(b, p, len);
}

void pgcopy_bool(pgcopy_t *b, int v)
{
    char c = v ? 1 : 0;
    put_field(b, &c, 1);
}

void pgcopy_int4(pgcopy_t *b, int32_t v)
{
    if (reserve(b, 8) != 0) return;
    put_be(b, 4, 4);
    put_be(b, (uint32_t)v, 4);
}

void pgcopy_int8(pgcopy_t *b, int64_t v)
{
    if (reserve(b, 12) != 0) return;
    put_be(b, 8, 4);
    put_be(b, (uint64_t)v, 8);
}

void pgcopy_float8(pgcopy_t *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (reserve(b, 12) != 0) return;
    put_be(b, 8, 4);
    put_be(b, bits, 8);
}

void pgcopy_timestamp(pgcopy_t *b, int64_t unix_us)
{
    pgcopy_int8(b, unix_us - PG_EPOCH_OFFSET_US);
}

void pgcopy_numeric_cents(pgcopy_t *b, int64_t cents)
{
    uint16_t digits[8]; /* base-10000, most significant first */
    int ndigits = 0, weight = -1, sign = 0;
    uint64_t mag = (uint64_t)cents;
    if (cents < 0) {
        sign = 0x4000;
        mag = (uint64_t)0 - (uint64_t)cents;
    }
    uint64_t whole = mag / 100, frac = (mag % 100) * 100; /* one base-10000 fraction digit */
    uint16_t whole_digits[6];
    int nwhole = 0;
    while (whole > 0) {
        whole_digits[nwhole++] = (uint16_t)(whole % 10000);
        whole /= 10000;
    }
    for (int i = nwhole - 1; i >= 0; i--)
        digits[ndigits++] = whole_digits[i];
    weight = nwhole - 1;
    if (frac != 0) digits[ndigits++] = (uint16_t)frac;
    /* Strip leading zeros (only possible as the fraction when whole == 0). */
    if (nwhole == 0 && ndigits > 0) weight = -1;
    /* Strip trailing zero digits of the whole part. */
    while (ndigits > 0 && digits[ndigits - 1] == 0)
        ndigits--;
    if (ndigits == 0) {
        weight = 0;
        sign = 0;
    }
    if (reserve(b, 4 + 8 + 2 * (size_t)ndigits) != 0) return;
    put_be(b, (uint32_t)(8 + 2 * ndigits), 4);
    put_be(b, (uint16_t)ndigits, 2);
    put_be(b, (uint16_t)(int16_t)weight, 2);
    put_be(b, (uint16_t)sign, 2);
    put_be(b, 2, 2); /* dscale */
    for (int i = 0; i < ndigits; i++)
        put_be(b, digits[i], 2);
}
