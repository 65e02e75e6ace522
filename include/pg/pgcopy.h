/* pgcopy.h - build PostgreSQL binary COPY streams in memory.
 *
 * The binary format skips the server's text parsing, which is most of the
 * cost of COPY. A buffer holds: signature header, tuples (field count, then
 * each field as length + big-endian bytes), trailer. Usage:
 *   pgcopy_begin(&b);  per row: pgcopy_row(&b, nfields); pgcopy_uuid(&b, id); ...
 *   pgcopy_end(&b);    then PQputCopyData(conn, b.data, b.len).
 * Growth failures are sticky: b.failed is set and later calls do nothing. */
#ifndef BS_PGCOPY_H
#define BS_PGCOPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct pgcopy {
    char *data;
    size_t len, cap;
    int failed;
} pgcopy_t;

void pgcopy_begin(pgcopy_t *b); /* resets the buffer (keeps its memory) */
void pgcopy_end(pgcopy_t *b);
void pgcopy_free(pgcopy_t *b);

void pgcopy_row(pgcopy_t *b, int nfields);
void pgcopy_null(pgcopy_t *b);
void pgcopy_uuid(pgcopy_t *b, const uint8_t id[16]);
void pgcopy_text(pgcopy_t *b, const char *s, size_t len);
void pgcopy_bytea(pgcopy_t *b, const void *p, size_t len);
void pgcopy_bool(pgcopy_t *b, int v);
void pgcopy_int4(pgcopy_t *b, int32_t v);
void pgcopy_int8(pgcopy_t *b, int64_t v);
void pgcopy_float8(pgcopy_t *b, double v);
/* timestamp without time zone from µs since the Unix epoch (UTC). */
void pgcopy_timestamp(pgcopy_t *b, int64_t unix_us);
/* numeric with scale 2 from centavos. */
void pgcopy_numeric_cents(pgcopy_t *b, int64_t cents);

#endif
