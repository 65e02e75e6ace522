/* pgcopy.c - PostgreSQL binary COPY encoding (see the COPY page of the
 * PostgreSQL manual, "Binary Format"), and the one way bankstream sends COPY
 * data. Integers are big-endian; timestamps are µs since 2000-01-01; numeric
 * is base-10000 digits with weight, sign and display scale.
 *
 * Sending: open (PQexec gives PGRES_COPY_IN) -> data in chunks of at most
 * PGCOPY_CHUNK (PQputCopyData takes an int) -> end (PQputCopyEnd, with a
 * reason to abort) -> results drained until PQgetResult is NULL, the first
 * failure kept as the one-line error. Every failure path ends the COPY, so
 * the connection is never left in COPY mode while it is alive. */
#include "pg/pgcopy.h"
#include "pg/pgconn.h"

#include <stdio.h>
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

/* ---- sending ---- */

/* Hand len bytes to libpq, PGCOPY_CHUNK at most at a time. */
static int put_bytes(PGconn *conn, const char *p, size_t len, char *errstr, size_t errsize)
{
    while (len > 0) {
        size_t n = len < PGCOPY_CHUNK ? len : PGCOPY_CHUNK;
        if (PQputCopyData(conn, p, (int)n) != 1) {
            pgconn_error(conn, NULL, "sending COPY data failed", errstr, errsize);
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* End the COPY (abort_reason NULL: cleanly) and drain its results. Returns
 * 0, or -1 with errstr "<what>: <first error>" (always -1 when aborting). */
static int finish(PGconn *conn, const char *abort_reason, const char *what, char *errstr,
                  size_t errsize)
{
    int rc = 0;
    if (PQputCopyEnd(conn, abort_reason) != 1) {
        pgconn_error(conn, NULL, what, errstr, errsize);
        rc = -1;
    }
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && rc == 0) {
            pgconn_error(conn, res, what, errstr, errsize);
            rc = -1;
        }
        PQclear(res);
        /* Still in COPY mode (the end was not sent): never loop on it. */
        if (st == PGRES_COPY_IN && PQputCopyEnd(conn, "bankstream gave up") != 1) break;
    }
    return abort_reason ? -1 : rc;
}

/* "COPY <table> failed" from "COPY <table> (columns) FROM STDIN ...". */
static void copy_what(const char *sql, char *what, size_t size)
{
    int n = (int)strcspn(sql, "(");
    while (n > 0 && sql[n - 1] == ' ')
        n--;
    snprintf(what, size, "%.*s failed", n < 64 ? n : 64, sql);
}

int pgcopy_stream_open(PGconn *conn, const char *sql, char *errstr, size_t errsize)
{
    PGresult *res = PQexec(conn, sql);
    int rc = PQresultStatus(res) == PGRES_COPY_IN ? 0 : -1;
    if (rc != 0) {
        char what[96];
        copy_what(sql, what, sizeof what);
        pgconn_error(conn, res, what, errstr, errsize);
    }
    PQclear(res);
    return rc;
}

void pgcopy_stream_abort(PGconn *conn, const char *reason)
{
    char ignored[256];
    finish(conn, reason ? reason : "aborted by bankstream", "COPY", ignored, sizeof ignored);
}

int pgcopy_stream_flush(PGconn *conn, pgcopy_t *b, size_t threshold, char *errstr, size_t errsize)
{
    if (b->failed) {
        snprintf(errstr, errsize, "out of memory building the COPY data");
        pgcopy_stream_abort(conn, errstr);
        return -1;
    }
    if (b->len == 0 || b->len < threshold) return 0;
    if (put_bytes(conn, b->data, b->len, errstr, errsize) != 0) {
        pgcopy_stream_abort(conn, "sending COPY data failed");
        return -1;
    }
    b->len = 0;
    return 0;
}

int pgcopy_stream_close(PGconn *conn, pgcopy_t *b, char *errstr, size_t errsize)
{
    if (b && pgcopy_stream_flush(conn, b, 0, errstr, errsize) != 0) return -1;
    return finish(conn, NULL, "COPY failed", errstr, errsize);
}

int pgcopy_send(PGconn *conn, const char *sql, const pgcopy_t *b, char *errstr, size_t errsize)
{
    if (b->failed) {
        snprintf(errstr, errsize, "out of memory building the COPY data");
        return -1;
    }
    if (pgcopy_stream_open(conn, sql, errstr, errsize) != 0) return -1;
    if (put_bytes(conn, b->data, b->len, errstr, errsize) != 0) {
        pgcopy_stream_abort(conn, "sending COPY data failed");
        return -1;
    }
    char what[96];
    copy_what(sql, what, sizeof what);
    return finish(conn, NULL, what, errstr, errsize);
}
