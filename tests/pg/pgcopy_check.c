/* pgcopy_check.c - sends rows through pgcopy's COPY-in helper to a real
 * server, for tests/integration/22-pgcopy.sh, which creates the tables and
 * compares what PostgreSQL stored with the text it expects.
 *
 *   pgcopy_check CONNINFO edge       one pgcopy_send per table t_<type>
 *                                    (k int, v <type>): the edge values of
 *                                    each encoder (those of
 *                                    tests/unit/test_pgcopy.c), then a NULL
 *   pgcopy_check CONNINFO random N   N rows into t_random (cents int8,
 *                                    amount numeric(15,2), us int8, ts
 *                                    timestamp) through the streaming form,
 *                                    flushed every 4 KiB: the same value twice,
 *                                    as an integer and through the encoder
 *   pgcopy_check CONNINFO big        one 3 MiB + 2 byte text into t_big (k
 *                                    int, v text) with pgcopy_send (4 chunks)
 *   pgcopy_check CONNINFO bad        an int8 into t_int4: must fail; prints
 *                                    the error and whether the connection
 *                                    still answers
 *   pgcopy_check CONNINFO abort      streams rows into t_int4, flushes, then
 *                                    aborts: nothing may be stored
 * Exit status 0 when every call succeeded, 1 otherwise (errors on stderr). */
#include "base/rng.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[1024];

/* One pgcopy_send of b (rows already added, trailer not yet) into table. */
static int send_table(PGconn *conn, const char *table, pgcopy_t *b)
{
    char sql[256];
    pgcopy_row(b, 2); /* and the NULL row */
    pgcopy_int4(b, 99);
    pgcopy_null(b);
    pgcopy_end(b);
    snprintf(sql, sizeof sql, "COPY %s (k, v) FROM STDIN (FORMAT binary)", table);
    if (pgcopy_send(conn, sql, b, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* Start row k of a (k, v) table. */
static void key(pgcopy_t *b, int k)
{
    pgcopy_row(b, 2);
    pgcopy_int4(b, k);
}

static int edge(PGconn *conn)
{
    static const int32_t i4[] = {0, 1, -1, INT32_MAX, INT32_MIN};
    static const int64_t i8[] = {0, -1, INT64_MAX, INT64_MIN, 1234567890123};
    static const double f8[] = {0.0, -0.0,     1.5,       0.1,    -2.5,
                                NAN, INFINITY, -INFINITY, 5e-324, DBL_MAX};
    static const char *const text[] = {"SP", "", "\xc3\xa7\xc3\xa3o", "a\tb\n\\"};
    static const uint8_t ids[2][16] = {{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
                                        0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
                                       {0}};
    static const uint8_t raw[4] = {0x00, 0xff, 0x0a, 0x5c};
    static const int64_t us[] = {0,
                                 -1,
                                 946684800000000,
                                 946684799999999,
                                 -2208988800000000,
                                 -62135596800000000,
                                 1750428191123456,
                                 253402300799999999,
                                 6249223180800000000};
    static const int64_t cents[] = {0,
                                    1,
                                    -1,
                                    10,
                                    50,
                                    99,
                                    100,
                                    -100,
                                    10000,
                                    999999,
                                    1000000,
                                    1000001,
                                    123456789,
                                    9999999999,
                                    10000000000,
                                    10000000001,
                                    99999999999999,
                                    100000000000000,
                                    999999999999999,
                                    -999999999999999};
#define N(a) ((int)(sizeof(a) / sizeof(a)[0]))
    pgcopy_t b = {0};
    int rc = 0;
    pgcopy_begin(&b);
    for (int k = 0; k < N(i4); k++) {
        key(&b, k);
        pgcopy_int4(&b, i4[k]);
    }
    rc |= send_table(conn, "t_int4", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < N(i8); k++) {
        key(&b, k);
        pgcopy_int8(&b, i8[k]);
    }
    rc |= send_table(conn, "t_int8", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < 2; k++) {
        key(&b, k);
        pgcopy_bool(&b, k == 0);
    }
    rc |= send_table(conn, "t_bool", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < N(f8); k++) {
        key(&b, k);
        pgcopy_float8(&b, f8[k]);
    }
    rc |= send_table(conn, "t_float8", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < N(text); k++) {
        key(&b, k);
        pgcopy_text(&b, text[k], strlen(text[k]));
    }
    rc |= send_table(conn, "t_text", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < 2; k++) {
        key(&b, k);
        pgcopy_bytea(&b, raw, k == 0 ? sizeof raw : 0);
    }
    rc |= send_table(conn, "t_bytea", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < 2; k++) {
        key(&b, k);
        pgcopy_uuid(&b, ids[k]);
    }
    rc |= send_table(conn, "t_uuid", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < N(us); k++) {
        key(&b, k);
        pgcopy_timestamp(&b, us[k]);
    }
    rc |= send_table(conn, "t_timestamp", &b);
    pgcopy_begin(&b);
    for (int k = 0; k < N(cents); k++) {
        key(&b, k);
        pgcopy_numeric_cents(&b, cents[k]);
    }
    rc |= send_table(conn, "t_numeric", &b);
    pgcopy_free(&b);
    return rc;
}

/* Random cents of 1 to 15 digits, either sign; random µs in years 1..9999. */
static int random_rows(PGconn *conn, long n)
{
    if (pgcopy_stream_open(conn, "COPY t_random (cents, amount, us, ts) FROM STDIN (FORMAT binary)",
                           err, sizeof err) != 0)
        goto fail;
    rng_t r;
    rng_seed(&r, 22, 1);
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    for (long i = 0; i < n; i++) {
        int64_t limit = 10;
        for (uint32_t d = rng_below(&r, 15); d > 0; d--)
            limit *= 10;
        int64_t c = (int64_t)(rng_next(&r) % (uint64_t)limit) * (rng_below(&r, 2) ? -1 : 1);
        int64_t t = -62135596800000000 + (int64_t)(rng_next(&r) % 315537897600000000ULL);
        pgcopy_row(&b, 4);
        pgcopy_int8(&b, c);
        pgcopy_numeric_cents(&b, c);
        pgcopy_int8(&b, t);
        pgcopy_timestamp(&b, t);
        if (pgcopy_stream_flush(conn, &b, 4096, err, sizeof err) != 0) {
            pgcopy_free(&b);
            goto fail;
        }
    }
    pgcopy_end(&b);
    int rc = pgcopy_stream_close(conn, &b, err, sizeof err);
    pgcopy_free(&b);
    if (rc == 0) return 0;
fail:
    fprintf(stderr, "%s\n", err);
    return -1;
}

static int big(PGconn *conn)
{
    size_t len = 3 * PGCOPY_CHUNK + 2;
    char *text = malloc(len);
    if (text == NULL) return -1;
    for (size_t i = 0; i < len; i++)
        text[i] = (char)('0' + i % 10);
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    pgcopy_row(&b, 2);
    pgcopy_int4(&b, 1);
    pgcopy_text(&b, text, len);
    pgcopy_end(&b);
    free(text);
    int rc = pgcopy_send(conn, "COPY t_big (k, v) FROM STDIN (FORMAT binary)", &b, err, sizeof err);
    if (rc != 0) fprintf(stderr, "%s\n", err);
    pgcopy_free(&b);
    return rc;
}

/* After a failure the connection must answer again. */
static void still_answers(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT 1");
    printf("connection %s after the failure\n",
           PQresultStatus(res) == PGRES_TUPLES_OK ? "answers" : "is lost");
    PQclear(res);
}

static int bad(PGconn *conn)
{
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    pgcopy_row(&b, 2);
    pgcopy_int4(&b, 1);
    pgcopy_int8(&b, 1); /* 8 bytes where int4 wants 4 */
    pgcopy_end(&b);
    int rc =
        pgcopy_send(conn, "COPY t_int4 (k, v) FROM STDIN (FORMAT binary)", &b, err, sizeof err);
    pgcopy_free(&b);
    if (rc != 0) fprintf(stderr, "%s\n", err);
    still_answers(conn);
    return rc;
}

static int abort_copy(PGconn *conn)
{
    if (pgcopy_stream_open(conn, "COPY t_int4 (k, v) FROM STDIN (FORMAT binary)", err,
                           sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    for (int k = 0; k < 1000; k++) {
        pgcopy_row(&b, 2);
        pgcopy_int4(&b, 1000 + k);
        pgcopy_int4(&b, k);
    }
    int rc = pgcopy_stream_flush(conn, &b, 0, err, sizeof err);
    pgcopy_free(&b);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    pgcopy_stream_abort(conn, "stopped by pgcopy_check");
    still_answers(conn);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pgcopy_check CONNINFO edge|random N|big|bad|abort\n");
        return 2;
    }
    PGconn *conn = pgconn_open(argv[1], err, sizeof err);
    if (conn == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc;
    if (strcmp(argv[2], "edge") == 0)
        rc = edge(conn);
    else if (strcmp(argv[2], "random") == 0 && argc > 3)
        rc = random_rows(conn, atol(argv[3]));
    else if (strcmp(argv[2], "big") == 0)
        rc = big(conn);
    else if (strcmp(argv[2], "bad") == 0)
        rc = bad(conn);
    else if (strcmp(argv[2], "abort") == 0)
        rc = abort_copy(conn);
    else
        rc = (fprintf(stderr, "unknown mode %s\n", argv[2]), -1);
    PQfinish(conn);
    return rc == 0 ? 0 : 1;
}
