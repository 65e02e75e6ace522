/* decode_libavro.c - the same Avro decoding as decode_bench's avro_txn_decode,
 * done with Debian's Apache Avro C (libavro 1.11), for the decoder decision of
 * issue 17: frame -> avro_value_read through a resolved writer (the original's
 * writer schema against bankstream's reader schema) -> the seven fields ->
 * the same validation (ids_parse, region_index, modality_index,
 * money_from_double) into a txn_t.
 *
 * Not built by make (the project does not link libavro); tests/bench/decode.sh
 * builds it when `pkg-config avro-c` finds the library:
 *   decode_libavro [count]
 * Only avro_encode.h of bankstream's Avro headers is included: the others
 * declare names (avro_schema_t, AVRO_STRING, ...) that Apache Avro C uses too. */
#include "base/avro_encode.h"
#include "base/ids.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/rng.h"
#include "base/txn.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_HEADER 5
/* bankstream's reader schema, as include/base/avro_decode.h has it */
#define READER_SCHEMA                                                                              \
    "{\"type\":\"record\",\"name\":\"BankTransaction\",\"fields\":["                               \
    "{\"name\":\"id_transacao\",\"type\":\"string\"},"                                             \
    "{\"name\":\"id_usuario_pagador\",\"type\":\"string\"},"                                       \
    "{\"name\":\"id_usuario_recebedor\",\"type\":\"string\"},"                                     \
    "{\"name\":\"id_regiao\",\"type\":\"string\"},"                                                \
    "{\"name\":\"modalidade_pagamento\",\"type\":\"string\",\"default\":\"DOC\"},"                 \
    "{\"name\":\"data_horario\",\"type\":[\"long\",\"string\"]},"                                  \
    "{\"name\":\"valor_transacao\",\"type\":\"double\"}]}"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The seven fields of a decoded record into t (the JSON decoder's rules). */
static int to_txn(avro_value_t *rec, txn_t *t)
{
    avro_value_t f, b;
    const char *s;
    size_t n;
    uint8_t *ids[3] = {t->id, t->payer, t->receiver};
    memset(t, 0, sizeof *t);
    for (int k = 0; k < 3; k++)
        if (avro_value_get_by_index(rec, (size_t)k, &f, NULL) ||
            avro_value_get_string(&f, &s, &n) || ids_parse(s, n - 1, ids[k]))
            return -1;
    if (avro_value_get_by_index(rec, 3, &f, NULL) || avro_value_get_string(&f, &s, &n)) return -1;
    int r = region_index(s, n - 1);
    if (avro_value_get_by_index(rec, 4, &f, NULL) || avro_value_get_string(&f, &s, &n)) return -1;
    int m = modality_index(s, n - 1);
    if (r < 0 || m < 0) return -1;
    t->region = (uint8_t)r;
    t->modality = (uint8_t)m;
    int64_t ms;
    if (avro_value_get_by_index(rec, 5, &f, NULL) || avro_value_get_current_branch(&f, &b) ||
        avro_value_get_long(&b, &ms))
        return -1;
    t->time_us = ms * 1000;
    double d;
    if (avro_value_get_by_index(rec, 6, &f, NULL) || avro_value_get_double(&f, &d) ||
        money_from_double(d, &t->amount_cents) != MONEY_OK)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    if (count <= 0) return 2;
    uint8_t *msgs = malloc((size_t)count * AVRO_ENCODE_TXN_MAX);
    size_t *lens = malloc((size_t)count * sizeof *lens);
    if (!msgs || !lens) return 1;
    rng_t rg;
    rng_seed(&rg, 42, RNG_STREAM_TRANSACTIONS);
    for (long i = 0; i < count; i++) {
        txn_t t;
        memset(&t, 0, sizeof t);
        rng_uuid(&rg, t.id);
        rng_uuid(&rg, t.payer);
        rng_uuid(&rg, t.receiver);
        t.region = (uint8_t)rng_below(&rg, REGION_COUNT);
        t.modality = (uint8_t)rng_below(&rg, MOD_COUNT);
        t.time_us = (1750428191123LL + i * 7) * 1000;
        t.amount_cents = 1 + (int64_t)(rng_exponential(&rg, 1000.0) * 100);
        lens[i] = (size_t)avro_encode_txn(&t, 1, msgs + (size_t)i * AVRO_ENCODE_TXN_MAX,
                                          AVRO_ENCODE_TXN_MAX);
    }
    avro_schema_t writer, reader;
    if (avro_schema_from_json_length(AVRO_TXN_WRITER_SCHEMA, strlen(AVRO_TXN_WRITER_SCHEMA),
                                     &writer) ||
        avro_schema_from_json_length(READER_SCHEMA, strlen(READER_SCHEMA), &reader)) {
        fprintf(stderr, "libavro: %s\n", avro_strerror());
        return 1;
    }
    avro_value_iface_t *reader_class = avro_generic_class_from_schema(reader);
    avro_value_iface_t *resolver = avro_resolved_writer_new(writer, reader);
    if (reader_class == NULL || resolver == NULL) {
        fprintf(stderr, "libavro cannot resolve: %s\n", avro_strerror());
        return 1;
    }
    avro_value_t out, in;
    avro_generic_value_new(reader_class, &out);
    avro_resolved_writer_new_value(resolver, &in);
    avro_resolved_writer_set_dest(&in, &out);
    avro_reader_t mem = avro_reader_memory(NULL, 0);
    uint64_t check = 0;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        const uint8_t *m = msgs + (size_t)i * AVRO_ENCODE_TXN_MAX;
        txn_t t;
        avro_reader_memory_set_source(mem, (const char *)m + FRAME_HEADER,
                                      (int64_t)(lens[i] - FRAME_HEADER));
        if (m[0] != 0 || avro_value_read(mem, &in) || to_txn(&out, &t)) {
            fprintf(stderr, "libavro refused message %ld: %s\n", i, avro_strerror());
            return 1;
        }
        check += (uint64_t)t.amount_cents;
    }
    double dt = now_s() - t0;
    printf("libavro 1.11 (resolved writer -> generic value): %ld msgs in %.3f s = %.0f msgs/s, "
           "%.0f ns/msg "
           "(checksum %llu)\n",
           count, dt, count / dt, dt / count * 1e9, (unsigned long long)check);
    avro_reader_free(mem);
    avro_value_decref(&in);
    avro_value_decref(&out);
    avro_value_iface_decref(resolver);
    avro_value_iface_decref(reader_class);
    avro_schema_decref(writer);
    avro_schema_decref(reader);
    free(msgs);
    free(lens);
    return 0;
}
