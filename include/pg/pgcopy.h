/* pgcopy.h - PostgreSQL binary COPY: build the stream in memory, send it.
 *
 * The binary format skips the server's text parsing, which is most of the
 * cost of COPY. A buffer holds: signature header, tuples (field count, then
 * each field as length + big-endian bytes), trailer. Growth failures are
 * sticky: b.failed is set, later calls do nothing, and sending it fails.
 *
 * One shot (the whole stream in memory):
 *   pgcopy_begin(&b);  per row: pgcopy_row(&b, nfields); pgcopy_uuid(&b, id); ...
 *   pgcopy_end(&b);    pgcopy_send(conn, "COPY t (...) FROM STDIN (FORMAT binary)", &b, ...)
 * Streaming (loads too big to hold):
 *   pgcopy_stream_open(conn, sql, ...);  pgcopy_begin(&b);
 *   per row: append it; pgcopy_stream_flush(conn, &b, PGCOPY_CHUNK, ...);
 *   pgcopy_end(&b);  pgcopy_stream_close(conn, &b, ...)
 *   (or pgcopy_stream_abort(conn, why) when the caller gives up)
 * Either way libpq is handed at most PGCOPY_CHUNK bytes at a time, so a
 * buffer of any size (over 2 GiB too) reaches the server intact. */
#ifndef BS_PGCOPY_H
#define BS_PGCOPY_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define PGCOPY_CHUNK ((size_t)1 << 20)

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

/* Run sql (a COPY ... FROM STDIN), send b's bytes, end the COPY and collect
 * its result. Returns 0, or -1 with a one-line errstr ("COPY <table>
 * failed: ..."); the COPY is then over, and an open transaction of the
 * caller's aborted. A failed b (out of memory) fails before the COPY starts. */
int pgcopy_send(PGconn *conn, const char *sql, const pgcopy_t *b, char *errstr, size_t errsize);

/* Start a COPY ... FROM STDIN. Returns 0 (the connection is then in COPY
 * mode until pgcopy_stream_close or _abort), or -1 with errstr. */
int pgcopy_stream_open(PGconn *conn, const char *sql, char *errstr, size_t errsize);

/* Once b holds at least threshold bytes, send them and empty b (b.len = 0,
 * memory kept). Returns 0, or -1 with errstr, the COPY then aborted and
 * over (do not close it). */
int pgcopy_stream_flush(PGconn *conn, pgcopy_t *b, size_t threshold, char *errstr, size_t errsize);

/* Send what b still holds (b may be NULL), end the COPY and collect its
 * result. Returns 0, or -1 with errstr; the COPY is over either way. */
int pgcopy_stream_close(PGconn *conn, pgcopy_t *b, char *errstr, size_t errsize);

/* Abandon the COPY with a reason (the server fails it with that message)
 * and collect its result. The caller's transaction, if any, is aborted. */
void pgcopy_stream_abort(PGconn *conn, const char *reason);

#endif
