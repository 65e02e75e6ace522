/* test_avro.c - the Avro path of base/: schema parsing (avro_schema.h), the
 * resolution rules (avro_compat.h), the transaction decoder and its plans
 * (avro_decode.h) and the encoder (avro_encode.h).
 *
 * Why: every Avro message the stream takes goes through these, with writer
 * schemas that evolve; the stream's tests reach them only through a broker
 * and a registry. Expected values are written here by hand (bytes built
 * with a tiny encoder of this file), never taken from the decoder.
 *
 * Checked: the original's record round-trips through encode/decode and gives
 * the same txn_t as its JSON message; the evolution cases of issue 17 (a
 * writer field added, with nested types to skip; a field removed that the
 * reader defaults; valor_transacao as float, int, long; data_horario as
 * millis, micros, ISO text, a union with null); unresolvable writers fail
 * their plan naming the field; bad data fails naming the field (truncation,
 * trailing bytes, varint overflow, union branch, lengths past the end,
 * nesting, the JSON decoder's validations); schema errors; the
 * compatibility rules the registry uses. */
#include "base/avro_compat.h"
#include "base/avro_decode.h"
#include "base/avro_encode.h"
#include "base/avro_schema.h"
#include "base/json_decode.h"
#include "base/json_encode.h"
#include "base/regions.h"
#include "base/rng.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#define U1 "123e4567-e89b-12d3-a456-426614174000"
#define U2 "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define U3 "f47ac10b-58cc-4372-a567-0e02b2c3d479"

/* ---- a tiny encoder for building test bodies ---- */

typedef struct buf {
    uint8_t b[4096];
    size_t n;
} buf_t;

static void put_long(buf_t *o, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        o->b[o->n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    o->b[o->n++] = (uint8_t)z;
}

static void put_str(buf_t *o, const char *s)
{
    put_long(o, (int64_t)strlen(s));
    memcpy(o->b + o->n, s, strlen(s));
    o->n += strlen(s);
}

static void put_double(buf_t *o, double d)
{
    memcpy(o->b + o->n, &d, 8); /* little-endian host */
    o->n += 8;
}

static void put_float(buf_t *o, float f)
{
    memcpy(o->b + o->n, &f, 4);
    o->n += 4;
}

static void put_ids(buf_t *o)
{
    put_str(o, U1);
    put_str(o, U2);
    put_str(o, U3);
}

/* ---- helpers ---- */

static avro_txn_reader_t *reader;

static int setup(void **state)
{
    char err[AVRO_ERR_MAX];
    reader = avro_txn_reader_new(NULL, err, sizeof err);
    if (reader == NULL) fail_msg("reader: %s", err);
    return 0;
}

static int teardown(void **state)
{
    avro_txn_reader_free(reader);
    return 0;
}

/* A plan for writer schema text, or NULL with err. */
static avro_txn_plan_t *plan_for(const char *schema, char *err, size_t errsize)
{
    avro_schema_t *w;
    if (avro_schema_parse(schema, strlen(schema), &w, err, errsize) != 0) return NULL;
    return avro_txn_plan_new(reader, w, err, errsize);
}

static avro_txn_plan_t *must_plan(const char *schema)
{
    char err[AVRO_ERR_MAX];
    avro_txn_plan_t *pl = plan_for(schema, err, sizeof err);
    if (pl == NULL) fail_msg("plan for %s: %s", schema, err);
    return pl;
}

/* The txn of the typical message, via the JSON decoder. */
static txn_t typical_json(const char *time, const char *amount, const char *modality)
{
    char json[1024], err[JSON_DECODE_ERR_MAX];
    snprintf(json, sizeof json,
             "{\"id_transacao\":\"" U1 "\",\"id_usuario_pagador\":\"" U2
             "\",\"id_usuario_recebedor\":\"" U3 "\",\"id_regiao\":\"SP\","
             "\"modalidade_pagamento\":\"%s\",\"data_horario\":%s,\"valor_transacao\":%s}",
             modality, time, amount);
    txn_t t;
    if (json_decode_txn(json, strlen(json), &t, err, sizeof err) != 0) fail_msg("json: %s", err);
    return t;
}

static void expect_txn(const avro_txn_plan_t *pl, const buf_t *o, txn_t want)
{
    char err[AVRO_ERR_MAX];
    txn_t t;
    memset(&t, 0x5a, sizeof t);
    if (avro_txn_decode(pl, o->b, o->n, &t, err, sizeof err) != 0) fail_msg("decode: %s", err);
    assert_memory_equal(&t, &want, sizeof t);
}

static void expect_error(const avro_txn_plan_t *pl, const buf_t *o, const char *needle)
{
    char err[AVRO_ERR_MAX];
    txn_t t, before;
    memset(&t, 0x5a, sizeof t);
    before = t;
    assert_int_equal(avro_txn_decode(pl, o->b, o->n, &t, err, sizeof err), -1);
    assert_memory_equal(&t, &before, sizeof t);
    assert_contains(err, needle);
    for (const char *p = err; *p; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
}

/* The original's record with these values. */
static void typical_body(buf_t *o, const char *region, const char *mod, int64_t ms, double amount)
{
    o->n = 0;
    put_ids(o);
    put_str(o, region);
    put_str(o, mod);
    put_long(o, ms);
    put_double(o, amount);
}

#define FIELDS_HEAD                                                                                \
    "{\"type\":\"record\",\"name\":\"BankTransaction\",\"namespace\":\"br.bank\",\"fields\":["     \
    "{\"name\":\"id_transacao\",\"type\":\"string\"},"                                             \
    "{\"name\":\"id_usuario_pagador\",\"type\":\"string\"},"                                       \
    "{\"name\":\"id_usuario_recebedor\",\"type\":\"string\"},"

/* ---- tests ---- */

/* The original's record: encode -> decode gives the JSON path's txn_t, for
 * many generated transactions (ids, regions, modalities, amounts, times). */
static void test_roundtrip_matches_json(void **state)
{
    char err[AVRO_ERR_MAX], json[JSON_ENCODE_TXN_MAX];
    avro_txn_plan_t *pl = must_plan(AVRO_TXN_WRITER_SCHEMA);
    rng_t r;
    rng_seed(&r, 7, RNG_STREAM_TRANSACTIONS);
    for (int i = 0; i < 2000; i++) {
        txn_t t;
        memset(&t, 0, sizeof t);
        rng_uuid(&r, t.id);
        rng_uuid(&r, t.payer);
        rng_uuid(&r, t.receiver);
        t.region = (uint8_t)rng_below(&r, REGION_COUNT);
        t.modality = (uint8_t)rng_below(&r, MOD_COUNT);
        t.time_us =
            (int64_t)rng_below(&r, 2000000000u) * 1000000 + (int64_t)rng_below(&r, 1000) * 1000;
        t.amount_cents = 1 + (int64_t)rng_below(&r, 100000000u) * (i % 7 + 1);
        uint8_t msg[AVRO_ENCODE_TXN_MAX];
        int n = avro_encode_txn(&t, 0x01020304u + (uint32_t)i, msg, sizeof msg);
        assert_true(n > AVRO_FRAME_HEADER);
        uint32_t id;
        const uint8_t *body;
        size_t blen;
        assert_int_equal(avro_frame_parse(msg, (size_t)n, &id, &body, &blen), 0);
        assert_int_equal(id, 0x01020304u + (uint32_t)i);
        txn_t a, j;
        if (avro_txn_decode(pl, body, blen, &a, err, sizeof err) != 0) fail_msg("%s", err);
        int jn = json_encode_txn(&t, json, sizeof json);
        assert_int_equal(json_decode_txn(json, (size_t)jn, &j, err, sizeof err), 0);
        assert_memory_equal(&a, &j, sizeof a);
        assert_memory_equal(&a, &t, sizeof a);
    }
    uint8_t small[10];
    assert_int_equal(avro_encode_txn(&(txn_t){0}, 1, small, sizeof small), -1);
    avro_txn_plan_free(pl);
}

static void test_frame(void **state)
{
    uint32_t id = 0;
    const uint8_t *body = NULL;
    size_t blen = 0;
    assert_int_equal(avro_frame_parse("\0\0\0\0", 4, &id, &body, &blen), -1);
    assert_int_equal(avro_frame_parse("{\"a\":1}", 7, &id, &body, &blen), -1);
    assert_int_equal(avro_frame_parse("\0\xff\0\0\x07", 5, &id, &body, &blen), 0);
    assert_int_equal(id, 0xff000007u);
    assert_int_equal(blen, 0);
}

/* A writer field added (with nested types to walk over) is skipped. */
static void test_added_fields_skipped(void **state)
{
    avro_txn_plan_t *pl = must_plan(
        FIELDS_HEAD
        "{\"name\":\"canal\",\"type\":\"string\",\"default\":\"app\"},"
        "{\"name\":\"id_regiao\",\"type\":\"string\"},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
        "\"name\":\"Tag\",\"fields\":[{\"name\":\"k\",\"type\":\"string\"},{\"name\":\"n\","
        "\"type\":\"null\"},{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F2\","
        "\"size\":2}}]}},\"default\":[]},"
        "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
        "{\"name\":\"meta\",\"type\":[\"null\",{\"type\":\"map\",\"values\":[\"int\",\"Tag\"]}],"
        "\"default\":null},"
        "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"K\",\"symbols\":[\"A\",\"B\"]},"
        "\"default\":\"A\"},"
        "{\"name\":\"data_horario\",\"type\":\"long\"},"
        "{\"name\":\"ok\",\"type\":\"boolean\"},"
        "{\"name\":\"valor_transacao\",\"type\":\"double\"},"
        "{\"name\":\"nothing\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}");
    buf_t o = {.n = 0};
    put_ids(&o);
    put_str(&o, "web");
    put_str(&o, "RJ");
    put_long(&o, -2); /* a block of 2 tags, with its byte size */
    put_long(&o, 8);  /* "a" + fixed 2, twice = 2 * (2 + 2) */
    put_str(&o, "a");
    o.b[o.n++] = 'x';
    o.b[o.n++] = 'y';
    put_str(&o, "b");
    o.b[o.n++] = 'z';
    o.b[o.n++] = 'w';
    put_long(&o, 0);
    put_str(&o, "TED");
    put_long(&o, 1); /* meta: the map branch */
    put_long(&o, 2);
    put_str(&o, "k1");
    put_long(&o, 0); /* int */
    put_long(&o, 42);
    put_str(&o, "k2");
    put_long(&o, 1); /* Tag */
    put_str(&o, "t");
    o.b[o.n++] = '1';
    o.b[o.n++] = '2';
    put_long(&o, 0);
    put_long(&o, 1); /* enum B */
    put_long(&o, 1750428191123LL);
    o.b[o.n++] = 1;
    put_double(&o, 123.40);
    put_long(&o, 1000000); /* a million nulls take no bytes */
    put_long(&o, 0);
    txn_t want = typical_json("1750428191123", "123.40", "TED");
    want.region = (uint8_t)region_index("RJ", 2);
    expect_txn(pl, &o, want);

    /* the same bytes, broken in the skipped parts */
    buf_t bad = o;
    bad.b[3 * 37 + 4 + 3 + 1] = 9; /* the tags block's byte size */
    expect_error(pl, &bad, "field tags: block size");
    bad = o;
    bad.n -= 2; /* cut inside the nulls' terminating count */
    expect_error(pl, &bad, "field nothing: truncated");
    avro_txn_plan_free(pl);
}

/* A field removed from the writer takes the reader's default (modalidade
 * DOC); a field without a reader default cannot be removed. */
static void test_removed_field_default(void **state)
{
    avro_txn_plan_t *pl =
        must_plan(FIELDS_HEAD "{\"name\":\"id_regiao\",\"type\":\"string\"},"
                              "{\"name\":\"data_horario\",\"type\":\"long\"},"
                              "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}");
    buf_t o = {.n = 0};
    put_ids(&o);
    put_str(&o, "SP");
    put_long(&o, 1750428191123LL);
    put_double(&o, 123.40);
    expect_txn(pl, &o, typical_json("1750428191123", "123.40", "DOC"));
    avro_txn_plan_free(pl);

    char err[AVRO_ERR_MAX];
    assert_null(plan_for(FIELDS_HEAD "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
                                     "{\"name\":\"data_horario\",\"type\":\"long\"},"
                                     "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}",
                         err, sizeof err));
    assert_contains(err, "field id_regiao is missing from the writer schema and has no default");
}

/* valor_transacao as float, int, long; data_horario as ISO text, micros,
 * a ["null", "long"] union. */
static void test_promotions_and_time_forms(void **state)
{
    const char *head = FIELDS_HEAD "{\"name\":\"id_regiao\",\"type\":\"string\"},"
                                   "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},";
    char schema[2048];
    buf_t o;

    snprintf(schema, sizeof schema,
             "%s{\"name\":\"data_horario\",\"type\":\"string\"},"
             "{\"name\":\"valor_transacao\",\"type\":\"float\"}]}",
             head);
    avro_txn_plan_t *pl = must_plan(schema);
    o.n = 0;
    put_ids(&o);
    put_str(&o, "SP");
    put_str(&o, "PIX");
    put_str(&o, "2025-06-20T14:03:11.123456");
    put_float(&o, 123.4f);
    expect_txn(pl, &o, typical_json("\"2025-06-20T14:03:11.123456\"", "123.40", "PIX"));
    o.n -= 4 + 27;
    put_str(&o, "2025-06-20 14:03:11-03:00");
    put_float(&o, 1234567.89f); /* float keeps 1234567.875: rounds to .88 */
    expect_txn(pl, &o, typical_json("\"2025-06-20 14:03:11-03:00\"", "1234567.88", "PIX"));
    o.n -= 4 + 26;
    put_str(&o, "yesterday");
    put_float(&o, 1.0f);
    expect_error(pl, &o, "data_horario 'yesterday' is not epoch milliseconds or ISO-8601");
    avro_txn_plan_free(pl);

    snprintf(schema, sizeof schema,
             "%s{\"name\":\"data_horario\",\"type\":{\"type\":\"long\","
             "\"logicalType\":\"timestamp-micros\"}},"
             "{\"name\":\"valor_transacao\",\"type\":\"int\"}]}",
             head);
    pl = must_plan(schema);
    o.n = 0;
    put_ids(&o);
    put_str(&o, "SP");
    put_str(&o, "PIX");
    put_long(&o, 1750428191123456LL);
    put_long(&o, 250);
    txn_t want = typical_json("1750428191123", "250", "PIX");
    want.time_us = 1750428191123456LL;
    expect_txn(pl, &o, want);
    avro_txn_plan_free(pl);

    snprintf(schema, sizeof schema,
             "%s{\"name\":\"data_horario\",\"type\":[\"null\",{\"type\":\"long\","
             "\"logicalType\":\"timestamp-millis\"}]},"
             "{\"name\":\"valor_transacao\",\"type\":\"long\"}]}",
             head);
    pl = must_plan(schema);
    o.n = 0;
    put_ids(&o);
    put_str(&o, "SP");
    put_str(&o, "PIX");
    put_long(&o, 1);
    put_long(&o, 1750428191123LL);
    put_long(&o, 7);
    expect_txn(pl, &o, typical_json("1750428191123", "7", "PIX"));
    o.n = 0;
    put_ids(&o);
    put_str(&o, "SP");
    put_str(&o, "PIX");
    put_long(&o, 0); /* null */
    put_long(&o, 7);
    expect_error(pl, &o,
                 "field data_horario: null (writer union branch 0) cannot be read as long "
                 "or string");
    avro_txn_plan_free(pl);
}

/* Writers that cannot be resolved: the plan fails naming the field. */
static void test_unresolvable(void **state)
{
    static const struct {
        const char *schema, *why;
    } cases[] = {
        {FIELDS_HEAD "{\"name\":\"id_regiao\",\"type\":\"string\"},"
                     "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
                     "{\"name\":\"data_horario\",\"type\":\"long\"},"
                     "{\"name\":\"valor_transacao\",\"type\":\"string\"}]}",
         "field valor_transacao: writer type string cannot be read as double"},
        {FIELDS_HEAD "{\"name\":\"id_regiao\",\"type\":\"string\"},"
                     "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
                     "{\"name\":\"data_horario\",\"type\":\"double\"},"
                     "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}",
         "field data_horario: writer type double cannot be read as long or string"},
        {FIELDS_HEAD "{\"name\":\"id_regiao\",\"type\":[\"null\",\"int\"]},"
                     "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
                     "{\"name\":\"data_horario\",\"type\":\"long\"},"
                     "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}",
         "field id_regiao: no branch of the writer's union can be read as string"},
        {"{\"type\":\"record\",\"name\":\"Transaction\",\"fields\":[]}",
         "the writer's record Transaction is not BankTransaction"},
        {"\"string\"", "the writer schema is string, not a record"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[AVRO_ERR_MAX];
        assert_null(plan_for(cases[i].schema, err, sizeof err));
        assert_contains(err, cases[i].why);
    }
}

/* Bad data in the fields bankstream reads, and the JSON decoder's checks. */
static void test_data_errors(void **state)
{
    avro_txn_plan_t *pl = must_plan(AVRO_TXN_WRITER_SCHEMA);
    buf_t o = {.n = 0};
    put_ids(&o);
    put_str(&o, "SP");
    put_str(&o, "PIX");
    put_long(&o, 1750428191123LL);
    put_double(&o, 123.40);
    buf_t good = o;

    o.n--;
    expect_error(pl, &o, "field valor_transacao: double length 8 exceeds the 7 bytes left");
    o = good;
    o.b[o.n++] = 0;
    expect_error(pl, &o, "1 bytes left after the record");
    o = good;
    o.b[0] = 0x7f; /* id length -64 */
    expect_error(pl, &o, "field id_transacao: negative string length -64");
    o = good;
    o.b[1] = 'g';
    expect_error(pl, &o, "id_transacao is not a UUID: 'g23e4567");
    memset(o.b, 0xff, 10);
    expect_error(pl, &o, "field id_transacao: varint");
    typical_body(&o, "XX", "PIX", 1750428191123LL, 123.40);
    expect_error(pl, &o, "unknown id_regiao 'XX'");
    typical_body(&o, "SP", "pix\n", 1750428191123LL, 123.40);
    expect_error(pl, &o, "unknown modalidade_pagamento 'pix\\x0a'");
    typical_body(&o, "SP", "PIX", -1, 123.40);
    expect_error(pl, &o, "data_horario out of range (-1 ms");
    typical_body(&o, "SP", "PIX", 4102444800001LL, 1);
    expect_error(pl, &o, "data_horario out of range");
    typical_body(&o, "SP", "PIX", 4102444800000LL, -3);
    expect_error(pl, &o, "valor_transacao must be positive (got -3)");
    typical_body(&o, "SP", "PIX", 0, 0.004);
    expect_error(pl, &o, "valor_transacao is zero after rounding to cents");
    typical_body(&o, "SP", "PIX", 0, 1e16);
    expect_error(pl, &o, "does not fit the database's numeric(15,2)");
    double nan;
    uint64_t bits = 0x7ff8000000000000ULL;
    memcpy(&nan, &bits, 8);
    typical_body(&o, "SP", "PIX", 0, nan);
    expect_error(pl, &o, "valor_transacao is not finite");
    avro_txn_plan_free(pl);

    /* too large, and nested too deep (a recursive writer type) */
    pl = must_plan(FIELDS_HEAD
                   "{\"name\":\"id_regiao\",\"type\":\"string\"},"
                   "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
                   "{\"name\":\"data_horario\",\"type\":\"long\"},"
                   "{\"name\":\"next\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Node\","
                   "\"fields\":[{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}]},"
                   "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}");
    static uint8_t big[AVRO_DECODE_MAX_BYTES + 1];
    char err[AVRO_ERR_MAX];
    txn_t t;
    assert_int_equal(avro_txn_decode(pl, big, sizeof big, &t, err, sizeof err), -1);
    assert_contains(err, "message too large");
    o.n = 0;
    put_ids(&o);
    put_str(&o, "SP");
    put_str(&o, "PIX");
    put_long(&o, 1750428191123LL);
    for (int i = 0; i < 100; i++)
        put_long(&o, 1);
    put_long(&o, 0);
    put_double(&o, 1);
    expect_error(pl, &o, "field next: values nested deeper than");
    avro_txn_plan_free(pl);
}

/* Schema text errors name the place. */
static void test_schema_errors(void **state)
{
    static const struct {
        const char *schema, *why;
    } cases[] = {
        {"", "empty schema"},
        {"{\"type\":", "not valid JSON"},
        {"\"dobule\"", "unknown type 'dobule'"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
         "{\"name\":\"a\",\"type\":\"int\"}]}",
         "at R: field a appears twice"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"v\",\"type\":\"long\","
         "\"default\":\"x\"}]}",
         "at R.v: the default does not match the field's type long"},
        {"{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}", "valid Avro name"},
        {"[\"int\",\"int\"]", "union has two branches of type int"},
        {"[\"null\",[\"int\"]]", "a union cannot hold a union directly"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}",
         "enum default is not one of its symbols"},
        {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "fixed needs a \"size\""},
        {"{\"type\":\"array\"}", "array needs \"items\""},
        {"{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}", "cannot be redefined"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"R\"},"
         "{\"name\":\"y\",\"type\":\"S\"}]}",
         "at R.y: unknown type 'S'"},
        {"\"int\" x", "data after its JSON value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[AVRO_ERR_MAX];
        avro_schema_t *s = (avro_schema_t *)1;
        assert_int_equal(
            avro_schema_parse(cases[i].schema, strlen(cases[i].schema), &s, err, sizeof err), -1);
        assert_null(s);
        assert_contains(err, cases[i].why);
    }
    /* nesting and size bounds */
    static char deep[8192];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"type\":\"array\",\"items\":");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "\"int\"");
    for (int i = 0; i < 200; i++)
        deep[n++] = '}';
    char err[AVRO_ERR_MAX];
    avro_schema_t *s;
    assert_int_equal(avro_schema_parse(deep, n, &s, err, sizeof err), -1);
    assert_contains(err, "nested deeper than");
    /* namespaces: a relative reference resolves in the enclosing namespace */
    const char *ok = "{\"type\":\"record\",\"name\":\"A\",\"namespace\":\"x.y\",\"fields\":["
                     "{\"name\":\"b\",\"type\":{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}},"
                     "{\"name\":\"c\",\"type\":\"B\"},{\"name\":\"d\",\"type\":\"x.y.B\"},"
                     "{\"name\":\"e\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}}]}";
    assert_int_equal(avro_schema_parse(ok, strlen(ok), &s, err, sizeof err), 0);
    const avro_node_t *root = avro_schema_root(s);
    assert_string_equal(root->name, "x.y.A");
    assert_ptr_equal(root->fields[1].type, root->fields[0].type);
    assert_ptr_equal(root->fields[2].type, root->fields[0].type);
    assert_string_equal(root->fields[3].type->logical, "date");
    assert_true(root->fields[0].type->zero_width);
    assert_string_equal(avro_schema_text(s), ok);
    avro_schema_free(s);
}

/* The compatibility rules, as the registry's BACKWARD check uses them. */
static void test_compat(void **state)
{
    static const struct {
        const char *reader, *writer;
        int ok;
        const char *why;
    } cases[] = {
        {"\"long\"", "\"int\"", 1, NULL},
        {"\"int\"", "\"long\"", 0, "writer type long cannot be read as int"},
        {"\"string\"", "\"bytes\"", 1, NULL},
        {"[\"null\",\"string\"]", "\"string\"", 1, NULL},
        {"\"string\"", "[\"null\",\"string\"]", 0, "writer type null cannot be read as string"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
         "{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}", 1,
         NULL},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
         "{\"name\":\"b\",\"type\":\"string\"}]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}", 0,
         "reader field b is missing from the writer and has no default"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"double\"}]}",
         "{\"type\":\"record\",\"name\":\"ns.R\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"},"
         "{\"name\":\"z\",\"type\":\"int\"}]}",
         0, "field a: writer type string cannot be read as double"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", 0,
         "writer symbol B of enum E is not in the reader's enum"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"A\"}",
         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", 1, NULL},
        {"{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"n\",\"type\":[\"null\","
         "\"L\"]}]}",
         "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"n\",\"type\":[\"null\","
         "\"L\"]}]}",
         1, NULL},
        {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}",
         "{\"type\":\"fixed\",\"name\":\"F\",\"size\":5}", 0, "fixed F has another size"},
        {"{\"type\":\"map\",\"values\":\"double\"}", "{\"type\":\"map\",\"values\":\"float\"}", 1,
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[AVRO_ERR_MAX];
        avro_schema_t *r, *w;
        assert_int_equal(
            avro_schema_parse(cases[i].reader, strlen(cases[i].reader), &r, err, sizeof err), 0);
        assert_int_equal(
            avro_schema_parse(cases[i].writer, strlen(cases[i].writer), &w, err, sizeof err), 0);
        int rc = avro_schema_can_read(avro_schema_root(r), avro_schema_root(w), err, sizeof err);
        if (cases[i].ok && rc != 0) fail_msg("case %zu: %s", i, err);
        if (!cases[i].ok) {
            assert_int_equal(rc, -1);
            assert_contains(err, cases[i].why);
        }
        avro_schema_free(r);
        avro_schema_free(w);
    }
}

/* Reader schemas other than bankstream's (tests may use them): checked. */
static void test_reader_variants(void **state)
{
    char err[AVRO_ERR_MAX];
    assert_null(avro_txn_reader_new("{\"type\":\"record\",\"name\":\"BankTransaction\","
                                    "\"fields\":[]}",
                                    err, sizeof err));
    assert_contains(err, "field id_transacao is missing");
    assert_null(avro_txn_reader_new("\"string\"", err, sizeof err));
    assert_contains(err, "a record is needed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_matches_json),
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_added_fields_skipped),
        cmocka_unit_test(test_removed_field_default),
        cmocka_unit_test(test_promotions_and_time_forms),
        cmocka_unit_test(test_unresolvable),
        cmocka_unit_test(test_data_errors),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_compat),
        cmocka_unit_test(test_reader_variants),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
