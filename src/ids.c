/* ids.c - UUID formatting (own hex writer) and parsing (libuuid). */
#include "ids.h"

#include <string.h>
#include <uuid.h>

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

int ids_parse(const char *text, size_t len, uint8_t out[16])
{
    char buf[IDS_TEXT_LEN + 1];
    if (len != IDS_TEXT_LEN) return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return uuid_parse(buf, out) == 0 ? 0 : -1;
}
