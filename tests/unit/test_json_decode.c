/* test_json_decode.c - json_decode_txn on valid messages and on one family of
 * bad messages per error class. Expected values never come from cJSON: ids are
 * written by libuuid, times by gmtime_r, amounts by integer printf, and the
 * decoded txn_t is compared with the values the message was built from. */
#include "base/json_decode.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/rng.h"
#include "base/txn.h"

#include "base/json_encode.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid.h>

#include <cmocka.h>

enum { F_ID, F_PAYER, F_RECEIVER, F_REGION, F_MODALITY, F_TIME, F_AMOUNT, NF };

static const char *const names[NF] = {
    "id_transacao",         "id_usuario_pagador", "id_usuario_recebedor", "id_regiao",
    "modalidade_pagamento", "data_horario",       "valor_transacao",
};

#define U1 "123e4567-e89b-12d3-a456-426614174000"
#define U2 "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define U3 "f47ac10b-58cc-4372-a567-0e02b2c3d479"

/* The brief's typical message, field values as raw JSON. */
static const char *const typical[NF] = {
    "\"" U1 "\"", "\"" U2 "\"", "\"" U3 "\"", "\"SP\"", "\"PIX\"", "1750428191123", "123.40",
};

/* Build {"name":val,...} from raw JSON values; a NULL value omits the field. */
static size_t build(char *buf, size_t size, const char *const vals[NF])
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "{");
    int first = 1;
    for (int i = 0; i < NF; i++) {
        if (!vals[i]) continue;
        n +=
            (size_t)snprintf(buf + n, size - n, "%s\"%s\":%s", first ? "" : ",", names[i], vals[i]);
        first = 0;
    }
    n += (size_t)snprintf(buf + n, size - n, "}");
    assert_true(n < size);
    return n;
}

/* The typical message with field f's raw value replaced (NULL: removed). */
static size_t with(char *buf, size_t size, int f, const char *raw)
{
    const char *v[NF];
    memcpy(v, typical, sizeof v);
    v[f] = raw;
    return build(buf, size, v);
}

static int decode(const char *msg, size_t len, txn_t *t, char *err)
{
    return json_decode_txn(msg, len, t, err, JSON_DECODE_ERR_MAX);
}

/* Decoding fails; the reason is short printable ASCII holding every keyword
 * (NULL-terminated list), and *out is untouched. */
static void expect_error_n(const char *msg, size_t len, ...)
{
    txn_t t, before;
    char err[JSON_DECODE_ERR_MAX];
    memset(&t, 0xAA, sizeof t);
    before = t;
    memset(err, 0, sizeof err);
    int rc = decode(msg, len, &t, err);
    if (rc != -1) fail_msg("accepted: %.*s", (int)(len > 300 ? 300 : len), msg);
    assert_memory_equal(&t, &before, sizeof t);
    size_t n = strlen(err);
    assert_true(n > 0 && n < JSON_DECODE_ERR_MAX);
    for (size_t i = 0; i < n; i++)
        if (err[i] < 0x20 || err[i] > 0x7e) fail_msg("non-printable byte in '%s'", err);
    va_list ap;
    va_start(ap, len);
    for (const char *kw; (kw = va_arg(ap, const char *)) != NULL;)
        if (!strstr(err, kw)) fail_msg("error '%s' lacks '%s'", err, kw);
    va_end(ap);
}

#define expect_error(msg, ...) expect_error_n((msg), strlen(msg), __VA_ARGS__, (const char *)NULL)

static void expect_field_error(int f, const char *raw, const char *kw1, const char *kw2)
{
    char buf[2048];
    size_t n = with(buf, sizeof buf, f, raw);
    expect_error_n(buf, n, kw1, kw2, (const char *)NULL);
}

static void uuid_ref(const char *text, uint8_t out[16])
{
    assert_int_equal(uuid_parse(text, out), 0);
}

/* Reference µs for a UTC calendar time (glibc timegm). */
static int64_t ref_us(int y, int mo, int d, int h, int mi, int s, int64_t frac)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000000 + frac;
}

static int code_index(const char *code)
{
    for (int i = 0; i < REGION_COUNT; i++)
        if (strcmp(region_table[i].code, code) == 0) return i;
    return -1;
}

/* ---- valid messages ------------------------------------------------------ */

static void test_typical_epoch_ms(void **state)
{
    char buf[1024], err[JSON_DECODE_ERR_MAX];
    size_t n = build(buf, sizeof buf, typical);
    txn_t t;
    memset(&t, 0x55, sizeof t);
    assert_int_equal(decode(buf, n, &t, err), 0);
    uint8_t id[16];
    uuid_ref(U1, id);
    assert_memory_equal(t.id, id, 16);
    uuid_ref(U2, id);
    assert_memory_equal(t.payer, id, 16);
    uuid_ref(U3, id);
    assert_memory_equal(t.receiver, id, 16);
    assert_int_equal(t.region, code_index("SP"));
    assert_int_equal(t.modality, MOD_PIX);
    assert_int_equal(t.time_us, 1750428191123LL * 1000);
    assert_int_equal(t.amount_cents, 12340);
    static const uint8_t zero[6] = {0};
    assert_memory_equal(t.pad, zero, 6);
}

static void test_iso_strings(void **state)
{
    static const struct {
        const char *text;
        int64_t us;
    } cases[] = {
        {"\"2025-06-20T14:03:11.123456\"", 0},  {"\"2025-06-20 14:03:11.123456\"", 0},
        {"\"2025-06-20T14:03:11.123456Z\"", 0}, {"\"2025-06-20T11:03:11.123456-03:00\"", 0},
        {"\"2025-06-20T14:03:11.1\"", 1},       {"\"2025-06-20T14:03:11\"", 2},
    };
    const int64_t base = ref_us(2025, 6, 20, 14, 3, 11, 0);
    const int64_t expect[] = {base + 123456, base + 100000, base};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[1024], err[JSON_DECODE_ERR_MAX];
        size_t n = with(buf, sizeof buf, F_TIME, cases[i].text);
        txn_t t;
        if (decode(buf, n, &t, err) != 0) fail_msg("%s: %s", cases[i].text, err);
        assert_int_equal(t.time_us, expect[cases[i].us]);
    }
}

static void test_whitespace_and_extra_fields(void **state)
{
    char err[JSON_DECODE_ERR_MAX];
    txn_t a, b;
    char buf[1024];
    size_t n = build(buf, sizeof buf, typical);
    assert_int_equal(decode(buf, n, &a, err), 0);

    const char *pretty = " \r\n\t{\n  \"id_transacao\" : \"" U1 "\",\n"
                         "  \"id_usuario_pagador\":\"" U2 "\" ,\n"
                         "\t\"id_usuario_recebedor\"\t:\t\"" U3 "\",\n"
                         "  \"extra_obj\": {\"nested\": [1, 2.5e3, {\"x\": null}], \"b\": true},\n"
                         "  \"id_regiao\": \"SP\", \"modalidade_pagamento\": \"PIX\",\n"
                         "  \"schema\": \"v1\", \"n\": -0.5, \"arr\": [],\n"
                         "  \"data_horario\": 1750428191123,\n"
                         "  \"valor_transacao\": 123.40\n}\n\n ";
    assert_int_equal(decode(pretty, strlen(pretty), &b, err), 0);
    assert_memory_equal(&a, &b, sizeof a);

    /* upper-case UUIDs, escaped slash and unicode in ignored fields */
    const char *upper = "{\"id_transacao\":\"123E4567-E89B-12D3-A456-426614174000\","
                        "\"id_usuario_pagador\":\"" U2 "\",\"id_usuario_recebedor\":\"" U3 "\","
                        "\"note\":\"S\\u00e3o Paulo \\/ \\\"quoted\\\" \\ud83d\\ude00\","
                        "\"id_regiao\":\"SP\",\"modalidade_pagamento\":\"PIX\","
                        "\"data_horario\":1750428191123,\"valor_transacao\":123.4}";
    assert_int_equal(decode(upper, strlen(upper), &b, err), 0);
    assert_memory_equal(&a, &b, sizeof a);

    /* the decoder reads exactly len bytes: what follows does not matter */
    char tail[1100];
    memcpy(tail, buf, n);
    memcpy(tail + n, "GARBAGE{", 9);
    assert_int_equal(decode(tail, n, &b, err), 0);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_every_region_and_modality(void **state)
{
    for (int r = 0; r < REGION_COUNT; r++) {
        for (int m = 0; m < MOD_COUNT; m++) {
            char reg[8], mod[16], buf[1024], err[JSON_DECODE_ERR_MAX];
            snprintf(reg, sizeof reg, "\"%.2s\"", region_table[r].code);
            snprintf(mod, sizeof mod, "\"%s\"", modality_names[m]);
            const char *v[NF];
            memcpy(v, typical, sizeof v);
            v[F_REGION] = reg;
            v[F_MODALITY] = mod;
            size_t n = build(buf, sizeof buf, v);
            txn_t t;
            if (decode(buf, n, &t, err) != 0) fail_msg("%s", err);
            assert_int_equal(t.region, r);
            assert_int_equal(t.modality, m);
        }
    }
}

/* Random transactions written with libuuid, printf and gmtime_r; decoded
 * values must equal the ones drawn. Half use epoch ms, half ISO strings. */
static void test_random_round_trip(void **state)
{
    rng_t r;
    rng_seed(&r, 5, 123);
    for (int i = 0; i < 20000; i++) {
        txn_t want;
        memset(&want, 0, sizeof want);
        char ids[3][40], reg[8], mod[16], tm_s[64], amt[32], buf[1024], err[JSON_DECODE_ERR_MAX];
        uint8_t *dst[3] = {want.id, want.payer, want.receiver};
        for (int k = 0; k < 3; k++) {
            rng_uuid(&r, dst[k]);
            char u[37];
            if (rng_below(&r, 2))
                uuid_unparse_lower(dst[k], u);
            else
                uuid_unparse_upper(dst[k], u);
            snprintf(ids[k], sizeof ids[k], "\"%s\"", u);
        }
        want.region = (uint8_t)rng_below(&r, REGION_COUNT);
        want.modality = (uint8_t)rng_below(&r, MOD_COUNT);
        snprintf(reg, sizeof reg, "\"%.2s\"", region_table[want.region].code);
        snprintf(mod, sizeof mod, "\"%s\"", modality_names[want.modality]);
        want.amount_cents = 1 + (int64_t)(rng_next(&r) % (uint64_t)MONEY_MAX_CENTS);
        if (i % 3 == 0) want.amount_cents %= 1000000; /* typical sizes too */
        if (want.amount_cents == 0) want.amount_cents = 1;
        snprintf(amt, sizeof amt, "%lld.%02lld", (long long)(want.amount_cents / 100),
                 (long long)(want.amount_cents % 100));
        int64_t ms = (int64_t)(rng_next(&r) % 4102444800001ULL);
        if (i % 2 == 0) {
            want.time_us = ms * 1000;
            snprintf(tm_s, sizeof tm_s, "%lld", (long long)ms);
        } else {
            int64_t frac = (int64_t)rng_below(&r, 1000000);
            time_t secs = (time_t)(ms / 1000);
            struct tm tm;
            gmtime_r(&secs, &tm);
            want.time_us = (int64_t)secs * 1000000 + frac;
            snprintf(tm_s, sizeof tm_s, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06lld\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long long)frac);
        }
        const char *v[NF] = {ids[0], ids[1], ids[2], reg, mod, tm_s, amt};
        size_t n = build(buf, sizeof buf, v);
        txn_t got;
        if (decode(buf, n, &got, err) != 0) fail_msg("%s: %s", buf, err);
        if (memcmp(&got, &want, sizeof got) != 0) fail_msg("decoded differently: %s", buf);
    }
}

static void test_encoder_round_trip(void **state)
{
    rng_t r;
    rng_seed(&r, 6, 123);
    for (int i = 0; i < 20000; i++) {
        txn_t want, got;
        memset(&want, 0, sizeof want);
        rng_uuid(&r, want.id);
        rng_uuid(&r, want.payer);
        rng_uuid(&r, want.receiver);
        want.region = (uint8_t)rng_below(&r, REGION_COUNT);
        want.modality = (uint8_t)rng_below(&r, MOD_COUNT);
        want.time_us = (int64_t)(rng_next(&r) % 4102444800001ULL) * 1000;
        want.amount_cents = 1 + (int64_t)(rng_next(&r) % (uint64_t)MONEY_MAX_CENTS);
        char buf[JSON_ENCODE_TXN_MAX], err[JSON_DECODE_ERR_MAX];
        int n = json_encode_txn(&want, buf, sizeof buf);
        assert_true(n > 0);
        if (decode(buf, (size_t)n, &got, err) != 0) fail_msg("%s: %s", buf, err);
        if (memcmp(&got, &want, sizeof got) != 0) fail_msg("round trip differs: %s", buf);
    }
}

static void test_boundaries_accepted(void **state)
{
    static const struct {
        int f;
        const char *raw;
        int64_t want;
    } ok[] = {
        {F_AMOUNT, "0.01", 1},
        {F_AMOUNT, "0.005", 1}, /* 0.005000000000000000104 rounds up */
        {F_AMOUNT, "1000000000.00", 100000000000LL},
        {F_AMOUNT, "1000000000.01", 100000000001LL}, /* no cap below numeric(15,2) */
        {F_AMOUNT, "1e12", 100000000000000LL},
        {F_AMOUNT, "9999999999999.99", MONEY_MAX_CENTS},
        {F_AMOUNT, "1e2", 10000},
        {F_AMOUNT, "12", 1200},
        {F_AMOUNT, "0.1E+1", 100},
        {F_TIME, "0", 0},
        {F_TIME, "4102444800000", 4102444800000000LL},
        {F_TIME, "1.750428191123e12", 1750428191123000LL},
        {F_TIME, "1750428191123.0", 1750428191123000LL},
        {F_TIME, "-0", 0},
        {F_TIME, "\"1970-01-01T00:00:00\"", 0},
        {F_TIME, "\"2100-01-01T00:00:00\"", 4102444800000000LL},
        {F_TIME, "\"2100-01-01T01:00:00+01:00\"", 4102444800000000LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char buf[1024], err[JSON_DECODE_ERR_MAX];
        size_t n = with(buf, sizeof buf, ok[i].f, ok[i].raw);
        txn_t t;
        if (decode(buf, n, &t, err) != 0) fail_msg("%s: %s", ok[i].raw, err);
        assert_int_equal(ok[i].f == F_AMOUNT ? t.amount_cents : t.time_us, ok[i].want);
    }
}

/* ---- one test per error class --------------------------------------------- */

static void test_err_empty(void **state)
{
    txn_t t;
    char err[JSON_DECODE_ERR_MAX];
    assert_int_equal(json_decode_txn(NULL, 0, &t, err, sizeof err), -1);
    assert_string_equal(err, "empty message");
    expect_error_n("{}", 0, "empty message", (const char *)NULL);
    expect_error("   \n", "not valid JSON at byte");
}

static void test_err_too_large(void **state)
{
    /* a valid message padded with whitespace to exactly the limit passes... */
    size_t max = JSON_DECODE_MAX_BYTES;
    char *buf = malloc(max + 1);
    assert_non_null(buf);
    size_t n = build(buf, max, typical);
    memset(buf + n, ' ', max + 1 - n);
    txn_t t;
    char err[JSON_DECODE_ERR_MAX];
    assert_int_equal(decode(buf, max, &t, err), 0);
    /* ...one byte more does not */
    expect_error_n(buf, max + 1, "message too large", "65537 bytes > 65536", (const char *)NULL);
    free(buf);
}

static void test_err_not_json(void **state)
{
    expect_error("{\"id_transacao\":", "not valid JSON at byte");
    expect_error("{'a':1}", "not valid JSON at byte");
    expect_error("{\"a\":1,}", "not valid JSON at byte 7");
    expect_error("{\"a\" 1}", "not valid JSON at byte");
    expect_error("{\"a\":\"unterminated}", "not valid JSON at byte");
    expect_error("{\"a\":tru}", "not valid JSON at byte");
    expect_error("\xef\xbb", "not valid JSON at byte");
    /* what cJSON alone would let through */
    expect_error("{\"a\":01}", "not valid JSON at byte 5", "number");
    expect_error("{\"a\":1.}", "not valid JSON at byte 5", "number");
    expect_error("{\"a\":1.e5}", "not valid JSON at byte 5", "number");
    expect_error("{\"a\":-}", "not valid JSON at byte 5", "number");
    expect_error("{\"a\":1e}", "not valid JSON at byte 5", "number");
    expect_error("{\"a\":+1}", "not valid JSON at byte");
    expect_error("{\"a\":\x01 1}", "not valid JSON at byte 5", "control character 0x01");
    expect_error("{\"a\":\"x\ty\"}", "not valid JSON at byte 7", "control character 0x09");
    expect_error("{\"a\":\"\\u0000\"}", "not valid JSON at byte 6", "\\u0000");
    expect_error("{\"a\":\"\\uZZZZ\"}", "not valid JSON at byte 6", "\\u escape");
    expect_error("{\"a\":\"\\u12\"}", "not valid JSON at byte 6", "\\u escape");
    expect_error("{\"a\":\"\\x41\"}", "not valid JSON at byte 6", "escape");
    expect_error("{\"a\":\"\\ud800\"}", "not valid JSON at byte 6", "\\uD800 is half of a UTF-16");
    expect_error("{\"a\":\"x\\udc00\"}", "not valid JSON at byte 7", "\\uDC00 is half of a UTF-16");
    expect_error("{\"a\":\"\\ud800\\u0041\"}", "not valid JSON at byte 6", "surrogate");
    const char nul[] = "{\"a\":1}\0";
    expect_error_n(nul, sizeof nul - 1, "not valid JSON at byte 7", "0x00", (const char *)NULL);
    const char nul2[] = "{\0\"a\":1}";
    expect_error_n(nul2, sizeof nul2 - 1, "not valid JSON at byte 1", (const char *)NULL);
}

static void test_err_trailing(void **state)
{
    char buf[1024];
    size_t n = build(buf, sizeof buf, typical);
    memcpy(buf + n, "  {}", 5);
    expect_error_n(buf, n + 4, "trailing data after JSON object at byte", (const char *)NULL);
    char want[64];
    snprintf(want, sizeof want, "at byte %zu", n + 2);
    expect_error_n(buf, n + 4, want, (const char *)NULL);
    expect_error("{} x", "trailing data after JSON object at byte 3");
}

static void test_err_not_object(void **state)
{
    expect_error("[1,2]", "not a JSON object", "array");
    expect_error("\"str\"", "not a JSON object", "string");
    expect_error("123", "not a JSON object", "number");
    expect_error("null", "not a JSON object", "null");
    expect_error("true", "not a JSON object", "boolean");
}

static void test_err_missing(void **state)
{
    for (int f = 0; f < NF; f++) {
        char buf[1024], kw[64];
        size_t n = with(buf, sizeof buf, f, NULL);
        snprintf(kw, sizeof kw, "missing field %s", names[f]);
        expect_error_n(buf, n, kw, (const char *)NULL);
    }
    expect_error("{}", "missing field id_transacao", "and 6 more");
    /* names are case-sensitive */
    char buf[1024];
    size_t n = with(buf, sizeof buf, F_AMOUNT, NULL);
    memcpy(buf + n - 1, ",\"Valor_transacao\":1}", 22);
    expect_error_n(buf, n + 20, "missing field valor_transacao", (const char *)NULL);
}

static void test_err_wrong_type(void **state)
{
    expect_field_error(F_ID, "12", "field id_transacao must be a string", "number");
    expect_field_error(F_PAYER, "null", "field id_usuario_pagador must be a string", "null");
    expect_field_error(F_RECEIVER, "[]", "field id_usuario_recebedor must be a string", "array");
    expect_field_error(F_REGION, "35", "field id_regiao must be a string", "number");
    expect_field_error(F_MODALITY, "{}", "field modalidade_pagamento must be a string", "object");
    expect_field_error(F_AMOUNT, "\"123.40\"", "field valor_transacao must be a number", "string");
    expect_field_error(F_AMOUNT, "true", "field valor_transacao must be a number", "boolean");
    expect_field_error(F_TIME, "true", "data_horario is not epoch milliseconds or ISO-8601",
                       "boolean");
    expect_field_error(F_TIME, "[1750428191123]", "data_horario is not epoch milliseconds",
                       "array");
}

static void test_err_duplicate(void **state)
{
    for (int f = 0; f < NF; f++) {
        char buf[2048], kw[64];
        size_t n = build(buf, sizeof buf, typical);
        n += (size_t)snprintf(buf + n - 1, sizeof buf - n, ",\"%s\":%s}", names[f], typical[f]) - 1;
        snprintf(kw, sizeof kw, "duplicate field %s", names[f]);
        expect_error_n(buf, n, kw, (const char *)NULL);
    }
    char buf[2048];
    size_t n = build(buf, sizeof buf, typical);
    n += (size_t)snprintf(buf + n - 1, sizeof buf - n, ",\"x\":1,\"y\":2,\"x\":3}") - 1;
    expect_error_n(buf, n, "duplicate field 'x'", (const char *)NULL);
}

static void test_err_not_uuid(void **state)
{
    static const char *bad[] = {
        "\"\"",
        "\"123e4567-e89b-12d3-a456-42661417400\"",
        "\"123e4567-e89b-12d3-a456-4266141740000\"",
        "\"123e4567e89b12d3a456426614174000\"",
        "\"{123e4567-e89b-12d3-a456-426614174000}\"",
        "\"123e4567-e89b-12d3-a456_426614174000\"",
        "\"123e4567-e89b-12d3-a456-42661417400g\"",
        "\" 123e4567-e89b-12d3-a456-42661417400\"",
    };
    static const int fields[] = {F_ID, F_PAYER, F_RECEIVER};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kw[64];
        int f = fields[i % 3];
        snprintf(kw, sizeof kw, "%s is not a UUID", names[f]);
        expect_field_error(f, bad[i], kw, "'");
    }
}

static void test_err_unknown_modality(void **state)
{
    expect_field_error(F_MODALITY, "\"CASH\"", "unknown modalidade_pagamento 'CASH'", "PIX");
    expect_field_error(F_MODALITY, "\"pix\"", "unknown modalidade_pagamento 'pix'", NULL);
    expect_field_error(F_MODALITY, "\"BOLETO\"", "unknown modalidade_pagamento 'BOLETO'", NULL);
    expect_field_error(F_MODALITY, "\"Boleto \"", "unknown modalidade_pagamento 'Boleto '", NULL);
    expect_field_error(F_MODALITY, "\"\"", "unknown modalidade_pagamento ''", NULL);
}

static void test_err_unknown_region(void **state)
{
    expect_field_error(F_REGION, "\"XX\"", "unknown id_regiao 'XX'", NULL);
    expect_field_error(F_REGION, "\"sp\"", "unknown id_regiao 'sp'", NULL);
    expect_field_error(F_REGION, "\"SPX\"", "unknown id_regiao 'SPX'", NULL);
    expect_field_error(F_REGION, "\"S\"", "unknown id_regiao 'S'", NULL);
}

static void test_err_amount(void **state)
{
    expect_field_error(F_AMOUNT, "-5", "valor_transacao must be positive", NULL);
    expect_field_error(F_AMOUNT, "-0.001", "valor_transacao must be positive", NULL);
    expect_field_error(F_AMOUNT, "0", "valor_transacao must be positive", NULL);
    expect_field_error(F_AMOUNT, "-0", "valor_transacao must be positive", NULL);
    expect_field_error(F_AMOUNT, "0.004", "valor_transacao is zero after rounding to cents", NULL);
    expect_field_error(F_AMOUNT, "1e-300", "valor_transacao is zero after rounding to cents", NULL);
    expect_field_error(F_AMOUNT, "10000000000000.00", "does not fit the database's numeric(15,2)",
                       "max 9999999999999.99");
    expect_field_error(F_AMOUNT, "1e15", "does not fit the database's numeric(15,2)", NULL);
    expect_field_error(F_AMOUNT, "1e300", "does not fit the database's numeric(15,2)", NULL);
    expect_field_error(F_AMOUNT, "1e400", "valor_transacao is not finite", NULL);
    expect_field_error(F_AMOUNT, "-1e400", "valor_transacao", NULL);
}

static void test_err_time_range(void **state)
{
    expect_field_error(F_TIME, "-1", "data_horario out of range", NULL);
    expect_field_error(F_TIME, "4102444800001", "data_horario out of range", NULL);
    expect_field_error(F_TIME, "1750428191123000", "data_horario out of range", NULL);
    expect_field_error(F_TIME, "1e400", "data_horario out of range", NULL);
    expect_field_error(F_TIME, "\"1969-12-31T23:59:59.999999\"", "data_horario out of range", NULL);
    expect_field_error(F_TIME, "\"2100-01-01T00:00:00.000001\"", "data_horario out of range", NULL);
    expect_field_error(F_TIME, "\"1970-01-01T00:00:00+00:01\"", "data_horario out of range", NULL);
}

static void test_err_time_format(void **state)
{
    static const char *bad[] = {
        "\"\"",
        "\"yesterday\"",
        "\"1750428191123\"",
        "\"2025-06-20\"",
        "\"2025-02-29T10:00:00\"",
        "\"2025-06-20T14:03:11.1234567\"",
        "\"2025-06-20T25:03:11\"",
        "\"2025-06-20T14:03:11 America/Sao_Paulo\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_field_error(F_TIME, bad[i], "data_horario", "is not epoch milliseconds or ISO-8601");
    expect_field_error(F_TIME, "1750428191123.5", "data_horario", "not an integer");
}

/* Quoted input never carries raw bytes: invalid UTF-8 and control characters
 * come out as \xHH, and long values are cut. */
static void test_err_text_is_safe(void **state)
{
    expect_field_error(F_REGION, "\"\xff\xfe\"", "unknown id_regiao '\\xff\\xfe'", NULL);
    expect_field_error(F_MODALITY, "\"P\\nIX\"", "'P\\x0aIX'", NULL);
    expect_field_error(F_MODALITY, "\"it's\"", "'it\\x27s'", NULL);
    char longv[600];
    memset(longv, 'A', sizeof longv);
    longv[0] = '"';
    longv[sizeof longv - 2] = '"';
    longv[sizeof longv - 1] = '\0';
    expect_field_error(F_ID, longv, "is not a UUID", "...'");
    char buf[2048];
    txn_t t;
    char err[JSON_DECODE_ERR_MAX];
    size_t n = with(buf, sizeof buf, F_TIME, longv);
    assert_int_equal(decode(buf, n, &t, err), -1);
    assert_true(strlen(err) < 120);
    /* small and zero-size error buffers */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    assert_int_equal(json_decode_txn("[]", 2, &t, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(json_decode_txn("[]", 2, &t, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typical_epoch_ms),
        cmocka_unit_test(test_iso_strings),
        cmocka_unit_test(test_whitespace_and_extra_fields),
        cmocka_unit_test(test_every_region_and_modality),
        cmocka_unit_test(test_random_round_trip),
        cmocka_unit_test(test_encoder_round_trip),
        cmocka_unit_test(test_boundaries_accepted),
        cmocka_unit_test(test_err_empty),
        cmocka_unit_test(test_err_too_large),
        cmocka_unit_test(test_err_not_json),
        cmocka_unit_test(test_err_trailing),
        cmocka_unit_test(test_err_not_object),
        cmocka_unit_test(test_err_missing),
        cmocka_unit_test(test_err_wrong_type),
        cmocka_unit_test(test_err_duplicate),
        cmocka_unit_test(test_err_not_uuid),
        cmocka_unit_test(test_err_unknown_modality),
        cmocka_unit_test(test_err_unknown_region),
        cmocka_unit_test(test_err_amount),
        cmocka_unit_test(test_err_time_range),
        cmocka_unit_test(test_err_time_format),
        cmocka_unit_test(test_err_text_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
