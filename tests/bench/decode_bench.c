/* decode_bench.c - decode rate per core of the two wire formats: JSON
 * (json_decode_txn) and Avro (avro_txn_decode, the Confluent-framed record
 * `produce --format avro` writes), on the same transactions.
 *
 * Builds 1,000,000 messages shaped like the producer's (~240 bytes of JSON,
 * epoch-ms data_horario, 2-decimal amount), decodes them all, single-threaded,
 * and prints msgs/s per CPU-second (CPU time of this process: the machine is
 * shared), plus the cost of the pieces (cJSON parse+delete alone,
 * money_from_double, ids_parse) so a slow run can be explained. Then the
 * same transactions as Avro: the frame parsed and the body decoded through
 * the plan of the original's writer schema against bankstream's reader
 * schema (what the stream does per message; the plan is made once per id).
 *
 * Built by make (build/bench/decode_bench); tests/bench/decode.sh runs it
 * and Apache Avro C for comparison.
 *   build/bench/decode_bench [count] [iso]   (iso: ISO-8601 data_horario strings instead) */
#include "base/avro_decode.h"
#include "base/avro_encode.h"
#include "base/ids.h"
#include "base/json_decode.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/rng.h"
#include "base/txn.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_SLOT 320

/* CPU time of this process: the machine is shared, wall time would measure the neighbours. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    int iso = argc > 2 && strcmp(argv[2], "iso") == 0;
    if (count <= 0) {
        fprintf(stderr, "usage: decode_bench [count > 0] [iso]\n");
        return 2;
    }
    char *msgs = malloc((size_t)count * MSG_SLOT);
    size_t *lens = malloc((size_t)count * sizeof *lens);
    if (!msgs || !lens) return 1;

    rng_t r;
    rng_seed(&r, 42, RNG_STREAM_TRANSACTIONS);
    size_t total = 0;
    for (long i = 0; i < count; i++) {
        uint8_t id[3][16];
        char u[3][IDS_TEXT_LEN + 1], amount[32], when[48];
        for (int k = 0; k < 3; k++) {
            rng_uuid(&r, id[k]);
            ids_format(id[k], u[k]);
        }
        int64_t cents = 1 + (int64_t)(rng_exponential(&r, 1000.0) * 100);
        money_format(cents, amount, sizeof amount);
        int64_t ms = 1750428191123LL + i * 7;
        if (iso)
            snprintf(when, sizeof when, "\"2025-06-20T14:%02ld:%02ld.%06ld\"", (i / 60) % 60,
                     i % 60, (i * 7919) % 1000000);
        else
            snprintf(when, sizeof when, "%lld", (long long)ms);
        char *m = msgs + (size_t)i * MSG_SLOT;
        int n = snprintf(m, MSG_SLOT,
                         "{\"id_transacao\":\"%s\",\"id_usuario_pagador\":\"%s\","
                         "\"id_usuario_recebedor\":\"%s\",\"id_regiao\":\"%s\","
                         "\"modalidade_pagamento\":\"%s\",\"data_horario\":%s,"
                         "\"valor_transacao\":%s}",
                         u[0], u[1], u[2], region_table[rng_below(&r, REGION_COUNT)].code,
                         modality_names[rng_below(&r, MOD_COUNT)], when, amount);
        lens[i] = (size_t)n;
        total += (size_t)n;
    }

    char err[JSON_DECODE_ERR_MAX];
    txn_t t;
    uint64_t check = 0;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        if (json_decode_txn(msgs + (size_t)i * MSG_SLOT, lens[i], &t, err, sizeof err) != 0) {
            fprintf(stderr, "message %ld refused: %s\n", i, err);
            return 1;
        }
        check += (uint64_t)t.amount_cents;
    }
    double dt = now_s() - t0, dt_json = dt;
    printf("json_decode_txn: %ld msgs (avg %.0f bytes, %s) in %.3f s = %.0f msgs/s, %.1f MB/s, "
           "%.0f ns/msg\n",
           count, (double)total / count, iso ? "ISO time" : "epoch ms", dt, count / dt,
           total / dt / 1e6, dt / count * 1e9);

    /* the pieces, on the same messages */
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        cJSON *j = cJSON_ParseWithLength(msgs + (size_t)i * MSG_SLOT, lens[i]);
        check += j != NULL;
        cJSON_Delete(j);
    }
    dt = now_s() - t0;
    printf("  cJSON parse+delete alone: %.0f ns/msg\n", dt / count * 1e9);
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        int64_t c;
        money_from_double(123.40 + (double)(i % 1000), &c);
        check += (uint64_t)c;
    }
    dt = now_s() - t0;
    printf("  money_from_double:        %.0f ns/call\n", dt / count * 1e9);
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        uint8_t id[16];
        ids_parse(msgs + (size_t)i * MSG_SLOT + 17, 36, id);
        check += id[0];
    }
    dt = now_s() - t0;
    printf("  ids_parse:                %.0f ns/call (x3 per message)\n", dt / count * 1e9);

    /* the same transactions as Confluent-framed Avro */
    uint8_t *avro = malloc((size_t)count * AVRO_ENCODE_TXN_MAX);
    size_t *alen = malloc((size_t)count * sizeof *alen), atotal = 0;
    if (!avro || !alen) return 1;
    for (long i = 0; i < count; i++) {
        if (json_decode_txn(msgs + (size_t)i * MSG_SLOT, lens[i], &t, err, sizeof err) != 0)
            return 1;
        int n = avro_encode_txn(&t, 1, avro + (size_t)i * AVRO_ENCODE_TXN_MAX, AVRO_ENCODE_TXN_MAX);
        alen[i] = (size_t)n;
        atotal += (size_t)n;
    }
    char aerr[AVRO_ERR_MAX];
    avro_txn_reader_t *rd = avro_txn_reader_new(NULL, aerr, sizeof aerr);
    avro_schema_t *w = NULL;
    if (rd == NULL || avro_schema_parse(AVRO_TXN_WRITER_SCHEMA, strlen(AVRO_TXN_WRITER_SCHEMA), &w,
                                        aerr, sizeof aerr) != 0)
        return 1;
    avro_txn_plan_t *plan = avro_txn_plan_new(rd, w, aerr, sizeof aerr);
    if (plan == NULL) return 1;
    double json_dt = dt_json;
    t0 = now_s();
    for (long i = 0; i < count; i++) {
        uint32_t id;
        const uint8_t *body;
        size_t blen;
        if (avro_frame_parse(avro + (size_t)i * AVRO_ENCODE_TXN_MAX, alen[i], &id, &body, &blen) !=
                0 ||
            avro_txn_decode(plan, body, blen, &t, aerr, sizeof aerr) != 0) {
            fprintf(stderr, "Avro message %ld refused: %s\n", i, aerr);
            return 1;
        }
        check += (uint64_t)t.amount_cents;
    }
    dt = now_s() - t0;
    printf("avro_txn_decode: %ld msgs (avg %.0f bytes, Confluent-framed) in %.3f s = %.0f msgs/s, "
           "%.1f MB/s, %.0f ns/msg (%.1fx JSON)\n",
           count, (double)atotal / count, dt, count / dt, atotal / dt / 1e6, dt / count * 1e9,
           json_dt / dt);
    avro_txn_plan_free(plan);
    avro_txn_reader_free(rd);
    free(avro);
    free(alen);
    printf("(checksum %llu)\n", (unsigned long long)check);
    free(msgs);
    free(lens);
    return 0;
}
