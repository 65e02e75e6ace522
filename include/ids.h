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

#define IDS_TEXT_LEN 36

/* Write the lower-case canonical form and a NUL into out[37]. */
void ids_format(const uint8_t id[16], char out[IDS_TEXT_LEN + 1]);

/* Parse exactly len bytes of canonical UUID text; returns 0 or -1. */
int ids_parse(const char *text, size_t len, uint8_t out[16]);

#endif
