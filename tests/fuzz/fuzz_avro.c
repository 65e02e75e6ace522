/* fuzz_avro.c - libFuzzer target: the Avro path (schema parser, resolution
 * rules, plans, decoder) on arbitrary bytes.
 *
 * Built and run by tests/fuzz/run.sh (clang, ASan+UBSan). The first byte
 * chooses what the rest is:
 *   0 (mod 4)  byte 1 picks one of the writer schemas below, the rest is a
 *              message body decoded with its plan;
 *   1          "schema text \0 body": parse, self-compatibility, plan, decode;
 *   2          "reader \0 writer": both parsed, avro_schema_can_read both ways;
 *   3          a whole Kafka message: frame check, then the body as in 0.
 * Bodies and schema texts are copied to end exactly at a PROT_NONE page, so
 * any read past their end faults (libcjson is not instrumented). Beyond "no
 * crash", the contract: a refusal leaves *out untouched with a short
 * printable reason; an acceptance gives in-range fields, and for the
 * original's schema encode(decode(body)) decodes to the same txn_t. */
#include "base/avro_compat.h"
#include "base/avro_decode.h"
#include "base/avro_encode.h"
#include "base/avro_schema.h"
#include "base/json_decode.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/txn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_avro: contract broken: %s (line %d)\n", #cond, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define HEAD                                                                                       \
    "{\"type\":\"record\",\"name\":\"BankTransaction\",\"fields\":["                               \
    "{\"name\":\"id_transacao\",\"type\":\"string\"},"                                             \
    "{\"name\":\"id_usuario_pagador\",\"type\":\"string\"},"                                       \
    "{\"name\":\"id_usuario_recebedor\",\"type\":\"string\"},"

/* Writer schemas of the evolution cases, and some with every type to skip. */
static const char *const writers[] = {
    AVRO_TXN_WRITER_SCHEMA,
    HEAD "{\"name\":\"id_regiao\",\"type\":\"string\"},"
         "{\"name\":\"canal\",\"type\":\"string\",\"default\":\"app\"},"
         "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
         "{\"name\":\"data_horario\",\"type\":\"string\"},"
         "{\"name\":\"valor_transacao\",\"type\":\"float\"}]}",
    HEAD "{\"name\":\"id_regiao\",\"type\":[\"null\",\"string\"]},"
         "{\"name\":\"data_horario\",\"type\":[\"null\",\"long\",\"string\"]},"
         "{\"name\":\"valor_transacao\",\"type\":[\"int\",\"long\",\"float\",\"double\","
         "\"string\"]}]}",
    HEAD "{\"name\":\"id_regiao\",\"type\":\"bytes\"},"
         "{\"name\":\"x\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"map\","
         "\"values\":[\"null\",\"boolean\",\"int\",\"long\",\"float\",\"double\",\"bytes\","
         "{\"type\":\"fixed\",\"name\":\"F3\",\"size\":3},{\"type\":\"enum\",\"name\":\"E\","
         "\"symbols\":[\"A\",\"B\",\"C\"]}]}}},"
         "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
         "{\"name\":\"data_horario\",\"type\":{\"type\":\"long\",\"logicalType\":"
         "\"timestamp-micros\"}},"
         "{\"name\":\"n\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
         "{\"name\":\"valor_transacao\",\"type\":\"long\"}]}",
    HEAD "{\"name\":\"id_regiao\",\"type\":\"string\"},"
         "{\"name\":\"next\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Node\","
         "\"fields\":[{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\","
         "\"Node\"]}]}]},"
         "{\"name\":\"modalidade_pagamento\",\"type\":\"string\"},"
         "{\"name\":\"data_horario\",\"type\":{\"type\":\"long\",\"logicalType\":"
         "\"timestamp-nanos\"}},"
         "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}",
};
#define NWRITERS (sizeof writers / sizeof writers[0])

static avro_txn_reader_t *reader;
static avro_txn_plan_t *plans[NWRITERS];
static char *arena_end; /* first byte of the guard page */
static size_t arena_cap;

static void init(void)
{
    char err[AVRO_ERR_MAX];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    arena_cap = (AVRO_SCHEMA_MAX_BYTES + 1 + page - 1) / page * page;
    char *base =
        mmap(NULL, arena_cap + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(base != MAP_FAILED);
    CHECK(mprotect(base + arena_cap, page, PROT_NONE) == 0);
    arena_end = base + arena_cap;
    reader = avro_txn_reader_new(NULL, err, sizeof err);
    CHECK(reader != NULL);
    for (size_t i = 0; i < NWRITERS; i++) {
        avro_schema_t *w;
        CHECK(avro_schema_parse(writers[i], strlen(writers[i]), &w, err, sizeof err) == 0);
        plans[i] = avro_txn_plan_new(reader, w, err, sizeof err);
        if (plans[i] == NULL) fprintf(stderr, "writer %zu: %s\n", i, err);
        CHECK(plans[i] != NULL);
    }
}

/* size bytes of data, copied to end at the guard page (oversized: as given). */
static const char *guarded(const uint8_t *data, size_t size)
{
    if (size > arena_cap) return (const char *)data;
    char *p = arena_end - size;
    if (size) memcpy(p, data, size);
    return p;
}

static void check_err(const char *err)
{
    size_t n = strnlen(err, AVRO_ERR_MAX);
    CHECK(n > 0 && n < AVRO_ERR_MAX);
    for (size_t i = 0; i < n; i++)
        CHECK(err[i] >= 0x20 && err[i] <= 0x7e);
}

static void decode_with(const avro_txn_plan_t *pl, int original, const uint8_t *body, size_t len)
{
    char err[AVRO_ERR_MAX + 16];
    txn_t t, before;
    memset(&t, 0x5a, sizeof t);
    before = t;
    memset(err, 0x7f, sizeof err);
    const char *b = guarded(body, len);
    if (avro_txn_decode(pl, b, len, &t, err, AVRO_ERR_MAX) != 0) {
        CHECK(memcmp(&t, &before, sizeof t) == 0);
        check_err(err);
        return;
    }
    static const uint8_t zero[6] = {0};
    CHECK(t.region < REGION_COUNT && t.modality < MOD_COUNT);
    CHECK(t.amount_cents > 0 && t.amount_cents <= MONEY_MAX_CENTS);
    CHECK(t.time_us >= JSON_DECODE_TIME_MIN_US && t.time_us <= JSON_DECODE_TIME_MAX_US);
    CHECK(memcmp(t.pad, zero, sizeof zero) == 0);
    if (!original) return;
    uint8_t msg[AVRO_ENCODE_TXN_MAX];
    int n = avro_encode_txn(&t, 1, msg, sizeof msg);
    CHECK(n > AVRO_FRAME_HEADER);
    txn_t back, want = t;
    want.time_us -= want.time_us % 1000;
    CHECK(avro_txn_decode(plans[0], msg + AVRO_FRAME_HEADER, (size_t)n - AVRO_FRAME_HEADER, &back,
                          err, AVRO_ERR_MAX) == 0);
    CHECK(memcmp(&back, &want, sizeof back) == 0);
}

/* Parse size bytes of schema text; NULL when refused (reason checked). */
static avro_schema_t *parse(const uint8_t *text, size_t size)
{
    char err[AVRO_ERR_MAX];
    avro_schema_t *s = NULL;
    if (avro_schema_parse(guarded(text, size), size, &s, err, sizeof err) != 0) {
        CHECK(s == NULL);
        check_err(err);
        return NULL;
    }
    return s;
}

static void compat(const avro_schema_t *r, const avro_schema_t *w)
{
    char err[AVRO_ERR_MAX];
    if (avro_schema_can_read(avro_schema_root(r), avro_schema_root(w), err, sizeof err) != 0)
        check_err(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reader) init();
    if (size < 2) return 0;
    int mode = data[0] & 3;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *sep = memchr(rest, 0, n);
    switch (mode) {
    case 0: {
        size_t w = rest[0] % NWRITERS;
        decode_with(plans[w], w == 0, rest + 1, n - 1);
        break;
    }
    case 1: {
        size_t slen = sep ? (size_t)(sep - rest) : n;
        avro_schema_t *s = parse(rest, slen);
        if (s == NULL) break;
        char err[AVRO_ERR_MAX];
        if (avro_schema_can_read(avro_schema_root(s), avro_schema_root(s), err, sizeof err) != 0)
            CHECK(strstr(err, "too complex") || strstr(err, "too deeply"));
        avro_txn_plan_t *pl = avro_txn_plan_new(reader, s, err, sizeof err);
        if (pl == NULL) {
            check_err(err);
            break;
        }
        if (sep) decode_with(pl, 0, sep + 1, n - slen - 1);
        avro_txn_plan_free(pl);
        break;
    }
    case 2: {
        if (sep == NULL) break;
        avro_schema_t *r = parse(rest, (size_t)(sep - rest));
        avro_schema_t *w = r ? parse(sep + 1, n - (size_t)(sep - rest) - 1) : NULL;
        if (r && w) {
            compat(r, w);
            compat(w, r);
        }
        avro_schema_free(r);
        avro_schema_free(w);
        break;
    }
    default: {
        uint32_t id;
        const uint8_t *body;
        size_t blen;
        if (avro_frame_parse(rest, n, &id, &body, &blen) != 0) break;
        decode_with(plans[id % NWRITERS], id % NWRITERS == 0, body, blen);
        break;
    }
    }
    return 0;
}
