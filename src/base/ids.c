/* ids.c - UUID text <-> bytes with table-free hex code; both directions are
 * tested against libuuid (tests/unit/test_ids_money.c). */
#include "base/ids.h"

#include <string.h>

void ids_format(const uint8_t id[16], char out[IDS_TEXT_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 15];
    }
    *p = '\0';
}

/* Value of a hex digit, or -1. */
static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20; /* lower case */
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int ids_parse(const char *text, size_t len, uint8_t out[16])
{
    /* Canonical 8-4-4-4-12 form, as uuid_parse accepts it (either case). */
    if (len != IDS_TEXT_LEN) return -1;
    uint8_t id[16];
    const unsigned char *p = (const unsigned char *)text;
    for (int i = 0, at = 0; i < 16; i++) {
        if (at == 8 || at == 13 || at == 18 || at == 23) {
            if (p[at] != '-') return -1;
            at++;
        }
        int hi = hex_value(p[at]), lo = hex_value(p[at + 1]);
        if (hi < 0 || lo < 0) return -1;
        id[i] = (uint8_t)(hi << 4 | lo);
        at += 2;
    }
    memcpy(out, id, 16);
    return 0;
}
