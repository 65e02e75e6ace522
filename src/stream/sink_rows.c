/* sink_rows.c - a batch's rows as binary COPY streams (see sink_rows.h).
 *
 * Columns follow the statements below one for one; a change to one needs
 * the same change to the other. Times: the result time and the processing
 * start are the batch's (b->result_us, b->start_us), to the millisecond,
 * as the original's columns hold them. */
#include "stream/sink_rows.h"
#include "base/regions.h"
#include "engine/route.h"

#include <math.h>
#include <openssl/evp.h>
#include <string.h>

#define TRANSACOES_COLUMNS                                                                         \
    "id_transacao, id_usuario_pagador, id_usuario_recebedor, id_regiao, modalidade_pagamento,"     \
    " data_horario, valor_transacao, transacao_aprovada, tempo_saida_resultado,"                   \
    " tempo_entrada_kafka, tempo_inicio_processamento, latencia_total_ms,"                         \
    " tempo_processamento_ms, status, motivo, batch_id, kafka_particao, kafka_offset"

static const char transacoes_sql[] =
    "COPY transacoes (" TRANSACOES_COLUMNS ") FROM STDIN (FORMAT binary)";
static const char transacoes_created_sql[] =
    "COPY transacoes (" TRANSACOES_COLUMNS ", created_at) FROM STDIN (FORMAT binary)";

const char sink_rows_scores_sql[] =
    "COPY transacoes_scores (id_transacao, t5_score, t6_score, t7_score)"
    " FROM STDIN (FORMAT binary)";
const char sink_rows_duplicates_sql[] =
    "COPY transacoes_duplicadas (id_transacao, batch_id, kafka_particao, kafka_offset,"
    " tempo_entrada_kafka, payload, topic) FROM STDIN (FORMAT binary)";
const char sink_rows_dead_letters_sql[] =
    "COPY dead_letters (batch_id, kafka_particao, kafka_offset, tempo_entrada_kafka, payload,"
    " erro, topic, tamanho, sha256) FROM STDIN (FORMAT binary)";

const char *sink_rows_transacoes_sql(int with_created_at)
{
    return with_created_at ? transacoes_created_sql : transacoes_sql;
}

int sink_rows_in_slice(const batch_row_t *r, int slice, int slices)
{
    return r->kind == ROW_TXN && route_owner(r->rec.txn.payer, slices) == slice;
}

size_t sink_rows_count(const batch_t *b, int slice, int slices)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nrows; i++)
        n += (size_t)sink_rows_in_slice(&b->rows[i], slice, slices);
    return n;
}

void sink_rows_transacoes(pgcopy_t *c, const batch_t *b, int slice, int slices,
                          int64_t created_at_us)
{
    int64_t result_ms = b->result_us / 1000;
    int with_created = created_at_us != INT64_MIN;
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (!sink_rows_in_slice(r, slice, slices)) continue;
        const txn_record_t *rec = &r->rec;
        const txn_t *t = &rec->txn;
        const char *mod = modality_names[t->modality];
        const char *status = txn_status_names[rec->status];
        const char *reason = txn_reason_names[rec->reason];
        pgcopy_row(c, with_created ? 19 : 18);
        pgcopy_uuid(c, t->id);
        pgcopy_uuid(c, t->payer);
        pgcopy_uuid(c, t->receiver);
        pgcopy_text(c, region_table[t->region].code, 2);
        pgcopy_text(c, mod, strlen(mod));
        pgcopy_timestamp(c, t->time_us);
        pgcopy_numeric_cents(c, t->amount_cents);
        /* Never NULL (the original's readers drop series with nulls):
         * false for rows not processed, whose status says why. */
        pgcopy_bool(c, rec->status == STATUS_APPROVED);
        pgcopy_timestamp(c, result_ms * 1000);
        pgcopy_timestamp(c, rec->kafka_ts_ms * 1000);
        pgcopy_timestamp(c, b->start_us / 1000 * 1000);
        pgcopy_int8(c, result_ms - rec->kafka_ts_ms);
        pgcopy_int8(c, result_ms - b->start_us / 1000);
        pgcopy_text(c, status, strlen(status));
        if (reason)
            pgcopy_text(c, reason, strlen(reason));
        else
            pgcopy_null(c);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, rec->partition);
        pgcopy_int8(c, rec->offset);
        if (with_created) pgcopy_timestamp(c, created_at_us);
    }
    pgcopy_end(c);
}

void sink_rows_scores(pgcopy_t *c, const batch_t *b, int slice, int slices)
{
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (!sink_rows_in_slice(r, slice, slices) || isnan(r->rec.t5)) continue;
        pgcopy_row(c, 4);
        pgcopy_uuid(c, r->rec.txn.id);
        pgcopy_float8(c, r->rec.t5);
        pgcopy_float8(c, r->rec.t6);
        pgcopy_float8(c, r->rec.t7);
    }
    pgcopy_end(c);
}

void sink_rows_duplicates(pgcopy_t *c, const batch_t *b, const char *topic)
{
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_DUPLICATE) continue;
        pgcopy_row(c, 7);
        pgcopy_uuid(c, r->rec.txn.id);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->rec.partition);
        pgcopy_int8(c, r->rec.offset);
        pgcopy_timestamp(c, r->rec.kafka_ts_ms * 1000);
        pgcopy_bytea(c, b->arena + r->raw_off, r->raw_len);
        pgcopy_text(c, topic, strlen(topic));
    }
    pgcopy_end(c);
}

/* The SHA-256 of p[0..len) as 64 hex digits into hex[65]. */
static void sha256_hex(const void *p, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char digits[] = "0123456789abcdef";
    if (EVP_Digest(p, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        hex[0] = '\0'; /* stored as '' rather than a wrong hash */
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

void sink_rows_dead_letters(pgcopy_t *c, const batch_t *b, const char *topic)
{
    pgcopy_begin(c);
    for (size_t i = 0; i < b->nrows; i++) {
        const batch_row_t *r = &b->rows[i];
        if (r->kind != ROW_DEAD) continue;
        const char *raw = b->arena + r->raw_off;
        size_t kept =
            r->raw_len < SINK_ROWS_DEAD_LETTER_MAX ? r->raw_len : SINK_ROWS_DEAD_LETTER_MAX;
        char hex[65];
        sha256_hex(raw, r->raw_len, hex);
        pgcopy_row(c, 9);
        pgcopy_int8(c, b->id);
        pgcopy_int4(c, r->rec.partition);
        pgcopy_int8(c, r->rec.offset);
        pgcopy_timestamp(c, r->rec.kafka_ts_ms * 1000);
        pgcopy_bytea(c, raw, kept);
        pgcopy_text(c, b->arena + r->err_off, r->err_len);
        pgcopy_text(c, topic, strlen(topic));
        pgcopy_int8(c, (int64_t)r->raw_len);
        pgcopy_text(c, hex, strlen(hex));
    }
    pgcopy_end(c);
}
