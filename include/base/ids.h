/* ids.h - UUID text <-> 16 bytes.
 *
 * Both directions are written here rather than taken from libuuid: its
 * uuid_unparse goes through sprintf (the producer's hot spot) and uuid_parse
 * through strtoul per byte (40% of decoding a message). The unit tests check
 * both against libuuid's uuid_unparse_lower and uuid_parse. */
#ifndef BS_IDS_H
#define BS_IDS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IDS_TEXT_LEN 36

/* Write the lower-case canonical form and a NUL into out[37]. */
void ids_format(const uint8_t id[16], char out[IDS_TEXT_LEN + 1]);

/* Parse exactly len bytes of canonical UUID text; returns 0 or -1. */
int ids_parse(const char *text, size_t len, uint8_t out[16]);

/* A multiply-xorshift mix of the id's two 64-bit halves, for hash tables
 * (the user table, the id set): cheap, and independent of the owner hash
 * (engine/route.h, 16 dependent multiplies). Take its low bits. */
static inline uint64_t ids_hash(const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

/* 1 when id is the nil UUID (all zero bytes). */
static inline int ids_is_nil(const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return (a | b) == 0;
}

#endif
