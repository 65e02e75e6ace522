/* test_pgcopy.c - the exact bytes of pgcopy's binary COPY encoding.
 *
 * Every expected field below is the length word the COPY format puts in
 * front of a value followed by what PostgreSQL 15's own send function
 * (int4send, float8send, numeric_send, timestamp_send, uuid_send...) returns
 * for that value, taken from `SELECT encode(numeric_send(...), 'hex')` on a
 * real server: an independent reference, not a second run of our code.
 * tests/integration/22-pgcopy.sh checks the same values through a real
 * COPY ... FROM STDIN (FORMAT binary). */
#include "pg/pgcopy.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define HEADER_LEN 19

/* Check that b holds the header followed by exactly the bytes of hex. */
static void expect_after_header(const pgcopy_t *b, const char *hex)
{
    assert_false(b->failed);
    size_t n = strlen(hex) / 2;
    char got[2 * 256 + 1] = "";
    assert_true(b->len - HEADER_LEN <= 256);
    for (size_t i = HEADER_LEN; i < b->len; i++)
        snprintf(got + 2 * (i - HEADER_LEN), 3, "%02x", (unsigned char)b->data[i]);
    assert_string_equal(got, hex);
    assert_int_equal(b->len, HEADER_LEN + n);
}

static void test_header_trailer(void **state)
{
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    assert_int_equal(b.len, HEADER_LEN);
    /* "PGCOPY\n\377\r\n\0", flags 0, header extension length 0. */
    assert_memory_equal(b.data, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", HEADER_LEN);
    pgcopy_row(&b, 2);
    pgcopy_int4(&b, 7);
    pgcopy_null(&b);
    pgcopy_end(&b);
    expect_after_header(&b, "0002"
                            "00000004"
                            "00000007"
                            "ffffffff"
                            "ffff");
    /* begin resets the buffer and keeps its memory. */
    char *mem = b.data;
    pgcopy_begin(&b);
    assert_int_equal(b.len, HEADER_LEN);
    assert_ptr_equal(b.data, mem);
    pgcopy_row(&b, 0);
    pgcopy_row(&b, 1600);
    expect_after_header(&b, "0000"
                            "0640");
    pgcopy_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_integers(void **state)
{
    static const struct {
        int32_t v;
        const char *hex;
    } i4[] = {
        {0, "0000000400000000"},         {1, "0000000400000001"},         {-1, "00000004ffffffff"},
        {INT32_MAX, "000000047fffffff"}, {INT32_MIN, "0000000480000000"},
    };
    static const struct {
        int64_t v;
        const char *hex;
    } i8[] = {
        {0, "000000080000000000000000"},
        {-1, "00000008ffffffffffffffff"},
        {INT64_MAX, "000000087fffffffffffffff"},
        {INT64_MIN, "000000088000000000000000"},
        {1234567890123, "000000080000011f71fb04cb"},
    };
    pgcopy_t b = {0};
    for (size_t i = 0; i < sizeof i4 / sizeof i4[0]; i++) {
        pgcopy_begin(&b);
        pgcopy_int4(&b, i4[i].v);
        expect_after_header(&b, i4[i].hex);
    }
    for (size_t i = 0; i < sizeof i8 / sizeof i8[0]; i++) {
        pgcopy_begin(&b);
        pgcopy_int8(&b, i8[i].v);
        expect_after_header(&b, i8[i].hex);
    }
    pgcopy_free(&b);
}

static void test_bool_null(void **state)
{
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    pgcopy_bool(&b, 1);
    pgcopy_bool(&b, 0);
    pgcopy_bool(&b, 42); /* any nonzero is true */
    pgcopy_null(&b);
    expect_after_header(&b, "0000000101"
                            "0000000100"
                            "0000000101"
                            "ffffffff");
    pgcopy_free(&b);
}

static void test_float8(void **state)
{
    static const struct {
        double v;
        const char *hex;
    } cases[] = {
        {0.0, "000000080000000000000000"},
        {-0.0, "000000088000000000000000"},
        {1.5, "000000083ff8000000000000"},
        {0.1, "000000083fb999999999999a"},
        {-2.5, "00000008c004000000000000"},
        {NAN, "000000087ff8000000000000"},
        {INFINITY, "000000087ff0000000000000"},
        {-INFINITY, "00000008fff0000000000000"},
        {5e-324, "000000080000000000000001"},
        {1.7976931348623157e308, "000000087fefffffffffffff"},
    };
    pgcopy_t b = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pgcopy_begin(&b);
        pgcopy_float8(&b, cases[i].v);
        expect_after_header(&b, cases[i].hex);
    }
    pgcopy_free(&b);
}

static void test_text_bytea_uuid(void **state)
{
    static const uint8_t id[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    static const uint8_t nil[16] = {0};
    static const uint8_t raw[4] = {0x00, 0xff, 0x0a, 0x5c};
    pgcopy_t b = {0};
    pgcopy_begin(&b);
    pgcopy_text(&b, "SP", 2);
    pgcopy_text(&b, "", 0);
    pgcopy_text(&b, "\xc3\xa7\xc3\xa3o", 5); /* "ção" in UTF-8 */
    pgcopy_text(&b, "a\tb\n\\", 5);          /* no escaping in the binary format */
    expect_after_header(&b, "000000025350"
                            "00000000"
                            "00000005c3a7c3a36f"
                            "000000056109620a5c");
    pgcopy_begin(&b);
    pgcopy_bytea(&b, raw, sizeof raw);
    pgcopy_bytea(&b, raw, 0);
    expect_after_header(&b, "0000000400ff0a5c"
                            "00000000");
    pgcopy_begin(&b);
    pgcopy_uuid(&b, id);
    pgcopy_uuid(&b, nil);
    expect_after_header(&b, "0000001000112233445566778899aabbccddeeff"
                            "0000001000000000000000000000000000000000");
    pgcopy_free(&b);
}

static void test_numeric_cents(void **state)
{
    /* numeric_send((cents / 100)::numeric(15,2)): ndigits, weight, sign
     * (0x4000 negative), dscale 2, then base-10000 digits. */
    static const struct {
        int64_t cents;
        const char *hex;
    } cases[] = {
        {0, "0000000000000002"},                                    /* 0.00 */
        {1, "0001ffff000000020064"},                                /* 0.01 */
        {-1, "0001ffff400000020064"},                               /* -0.01 */
        {10, "0001ffff0000000203e8"},                               /* 0.10 */
        {50, "0001ffff000000021388"},                               /* 0.50 */
        {99, "0001ffff0000000226ac"},                               /* 0.99 */
        {100, "00010000000000020001"},                              /* 1.00 */
        {-100, "00010000400000020001"},                             /* -1.00 */
        {10000, "00010000000000020064"},                            /* 100.00 */
        {999999, "0002000000000002270f26ac"},                       /* 9999.99 */
        {1000000, "00010001000000020001"},                          /* 10000.00 */
        {1000001, "0003000100000002000100000064"},                  /* 10000.01 */
        {123456789, "0003000100000002007b11d722c4"},                /* 1234567.89 */
        {9999999999, "0003000100000002270f270f26ac"},               /* 99999999.99 */
        {10000000000, "00010002000000020001"},                      /* 100000000.00 */
        {10000000001, "00040002000000020001000000000064"},          /* 100000000.01 */
        {99999999999999, "0004000200000002270f270f270f26ac"},       /* 999999999999.99 */
        {100000000000000, "00010003000000020001"},                  /* 1000000000000.00 */
        {999999999999999, "00050003000000020009270f270f270f26ac"},  /* 9999999999999.99 */
        {-999999999999999, "00050003400000020009270f270f270f26ac"}, /* -9999999999999.99 */
    };
    pgcopy_t b = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[128];
        /* The length word: 8 header bytes + 2 per digit. */
        snprintf(want, sizeof want, "%08zx%s", strlen(cases[i].hex) / 2, cases[i].hex);
        pgcopy_begin(&b);
        pgcopy_numeric_cents(&b, cases[i].cents);
        expect_after_header(&b, want);
    }
    pgcopy_free(&b);
}

static void test_timestamp(void **state)
{
    /* timestamp_send: µs since 2000-01-01, from µs since 1970-01-01. */
    static const struct {
        int64_t unix_us;
        const char *hex;
    } cases[] = {
        {0, "fffca2fec4c82000"},                   /* 1970-01-01 00:00:00 */
        {-1, "fffca2fec4c81fff"},                  /* 1969-12-31 23:59:59.999999 */
        {946684800000000, "0000000000000000"},     /* 2000-01-01 00:00:00 */
        {946684799999999, "ffffffffffffffff"},     /* 1999-12-31 23:59:59.999999 */
        {-2208988800000000, "fff4c9ee7c0b8000"},   /* 1900-01-01 00:00:00 */
        {-62135596800000000, "ff1fe2ffc59c6000"},  /* 0001-01-01 00:00:00 */
        {1750428191123456, "0002db0017518800"},    /* 2025-06-20 14:03:11.123456 */
        {253402300799999999, "0380e70b913b7fff"},  /* 9999-12-31 23:59:59.999999 */
        {6249223180800000000, "56b6565e4a80a000"}, /* 200000-01-01 00:00:00 */
    };
    pgcopy_t b = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "00000008%s", cases[i].hex);
        pgcopy_begin(&b);
        pgcopy_timestamp(&b, cases[i].unix_us);
        expect_after_header(&b, want);
    }
    pgcopy_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_trailer),  cmocka_unit_test(test_integers),
        cmocka_unit_test(test_bool_null),       cmocka_unit_test(test_float8),
        cmocka_unit_test(test_text_bytea_uuid), cmocka_unit_test(test_numeric_cents),
        cmocka_unit_test(test_timestamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
