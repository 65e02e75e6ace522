/* ids.h - UUID text <-> 16 bytes.
 *
 * Parsing uses libuuid (canonical 8-4-4-4-12 form, either case). Formatting
 * is a table-driven hex writer, because uuid_unparse goes through sprintf and
 * was the producer's hot spot; tests check it against uuid_unparse_lower. */
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
