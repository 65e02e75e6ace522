/* dash_api.c - the JSON endpoints: parameters checked here, numbers computed
 * by PostgreSQL (see dash_api.h for the list).
 *
 * Design:
 *   1. No SQL is built from a request: each endpoint is one constant
 *      statement whose parameters are bound by PQexecParams, after they were
 *      parsed and range-checked here and printed back in canonical form.
 *   2. Every statement is bounded: aggregates (schema_dashboard.c) instead
 *      of scans of transacoes, LIMITs where rows are listed, and the
 *      connection's statement_timeout (dash_db).
 *   3. Every statement returns one JSON value built by the server
 *      (json_build_object, json_agg): the numbers the page shows are the
 *      server's, unrounded; the page only formats them.
 *   4. The filtered analyses share the predicate F on an aggregate's
 *      (modalidade, hora): $1 = text[] of payment types, $2, $3 the hours. */
#include "dashboard/dash_api.h"
#include "dashboard/dash_buf.h"
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F " modalidade = ANY($1::text[]) AND hora BETWEEN $2::int AND $3::int "

/* estado: totals and the last batch; how far the aggregates go (the
 * watermark: every analysis counts the rows of batches up to ate_batch and
 * the rows of no batch), the batches committed after it, their rows, and
 * how long ago the oldest of them committed (null when none). */
static const char sql_estado[] =
    "SELECT json_build_object("
    " 'transacoes', (SELECT coalesce(sum(n), 0) FROM dashboard_resumo),"
    " 'aprovadas', (SELECT coalesce(sum(n) FILTER (WHERE aprovada), 0) FROM dashboard_resumo),"
    " 'agregados', (SELECT json_build_object('ate_batch', e.ate_batch,"
    "     'atualizado_em', e.atualizado_em, 'lotes_pendentes', count(b.batch_id),"
    "     'linhas_pendentes', coalesce(sum(b.n_aprovadas + b.n_rejeitadas"
    "         + b.n_nao_processadas), 0),"
    "     'atraso_s', extract(epoch FROM now() - min(b.committed_at)))"
    "     FROM dashboard_estado e LEFT JOIN batch_log b ON b.batch_id > e.ate_batch"
    "     GROUP BY e.ate_batch, e.atualizado_em),"
    " 'dead_letters', (SELECT count(*) FROM (SELECT 1 FROM dead_letters LIMIT 100001) x),"
    " 'ultimo_batch', (SELECT json_build_object('batch_id', batch_id, 'committed_at',"
    "     committed_at, 'mensagens', n_mensagens, 'ranks', ranks, 'topic', topic)"
    "     FROM batch_log ORDER BY batch_id DESC LIMIT 1),"
    " 'banco', current_database(), 'usuario', current_user, 'agora', now())";

/* ao_vivo: the last $1 results (the original's Redis sorted set by result
 * time; every row of a batch has its batch's result time, so batch order is
 * result order, and the index on batch_id finds them; rows bankstream did
 * not decide, status 'historico', have none and are no results). Latency as the
 * original's panel defined it: tempo_saida_resultado - data_horario. */
static const char sql_ao_vivo[] =
    "WITH u AS (SELECT t.*, extract(epoch FROM t.tempo_saida_resultado - t.data_horario)"
    "                       * 1000 AS lat_ms"
    "             FROM transacoes t WHERE t.batch_id IS NOT NULL"
    "            ORDER BY t.batch_id DESC, t.kafka_particao DESC, t.kafka_offset DESC"
    "            LIMIT $1::int)"
    "SELECT json_build_object('n', count(*), 'latencia_media_ms', avg(lat_ms),"
    " 'negadas', count(*) FILTER (WHERE NOT coalesce(transacao_aprovada, false)),"
    " 'valor_medio', avg(valor_transacao), 'ultimo_batch', max(batch_id),"
    " 'linhas', coalesce(json_agg(json_build_object("
    "     'id_transacao', id_transacao, 'id_usuario_pagador', id_usuario_pagador,"
    "     'id_regiao', id_regiao, 'modalidade_pagamento', modalidade_pagamento,"
    "     'data_horario', data_horario, 'valor_transacao', valor_transacao,"
    "     'transacao_aprovada', transacao_aprovada, 'status', status, 'motivo', motivo,"
    "     'tempo_saida_resultado', tempo_saida_resultado, 'latencia_ms', lat_ms,"
    "     'latencia_total_ms', latencia_total_ms, 'batch_id', batch_id)"
    "   ORDER BY batch_id DESC, kafka_particao DESC, kafka_offset DESC), '[]'))"
    "  FROM u";

/* resumo: panels 1 (share), 2 (hours), 5 (time score and approval rate per
 * hour), 6 (states), 7 (reasons), 8 (denied by type), 10 (distance bands).
 * A row carries a time score (t7) where the rules computed one: payer and
 * regions known (faixa_dist >= 0) and not decided before the risk step. */
static const char sql_resumo[] =
    "WITH f AS (SELECT * FROM dashboard_resumo WHERE" F "AND n <> 0),"
    " h AS (SELECT hora, sum(n) FILTER (WHERE aprovada) ap, sum(n) FILTER (WHERE NOT aprovada) ng,"
    "              sum(n) FILTER (WHERE faixa_dist >= 0 AND (status NOT IN ('rejeitada',"
    "                 'nao_processada') OR motivo IN ('saldo_insuficiente', 'limite_excedido',"
    "                 'risco'))) AS com_score"
    "         FROM f GROUP BY hora)"
    "SELECT json_build_object("
    " 'total', (SELECT coalesce(sum(n), 0) FROM f),"
    " 'aprovadas', (SELECT coalesce(sum(n) FILTER (WHERE aprovada), 0) FROM f),"
    " 'negadas', (SELECT coalesce(sum(n) FILTER (WHERE NOT aprovada), 0) FROM f),"
    " 'valor_medio', (SELECT sum(soma_valor) / nullif(sum(n), 0) FROM f),"
    " 'por_status', (SELECT coalesce(json_object_agg(status, n ORDER BY status), '{}')"
    "     FROM (SELECT status, sum(n) n FROM f GROUP BY 1) x),"
    " 'por_hora', (SELECT json_agg(json_build_object('hora', g,"
    "     'aprovadas', coalesce(ap, 0), 'negadas', coalesce(ng, 0),"
    "     'taxa_aprovacao', ap::float8 / nullif(coalesce(ap, 0) + coalesce(ng, 0), 0),"
    "     'score_tempo', CASE WHEN com_score > 0 THEN abs(g - 12) / 12.0 END) ORDER BY g)"
    "     FROM generate_series($2::int, $3::int) g LEFT JOIN h ON h.hora = g),"
    " 'por_estado', (SELECT json_agg(json_build_object('id_regiao', r.id_regiao,"
    "     'total', coalesce(x.n, 0), 'aprovadas', coalesce(x.ap, 0),"
    "     'taxa_aprovacao', x.ap::float8 / nullif(x.n, 0)) ORDER BY r.id_regiao)"
    "     FROM regioes r LEFT JOIN (SELECT id_regiao, sum(n) n,"
    "         coalesce(sum(n) FILTER (WHERE aprovada), 0) ap FROM f GROUP BY 1) x"
    "       ON x.id_regiao = r.id_regiao),"
    " 'motivos', (SELECT coalesce(json_agg(json_build_object('status', status, 'motivo',"
    "     motivo, 'n', n) ORDER BY n DESC, status, motivo), '[]')"
    "     FROM (SELECT status, motivo, sum(n) n FROM f WHERE NOT aprovada GROUP BY 1, 2"
    "           HAVING sum(n) <> 0) x),"
    " 'negadas_por_modalidade', (SELECT json_agg(json_build_object('modalidade', m,"
    "     'negadas', coalesce((SELECT sum(n) FROM f WHERE NOT aprovada AND modalidade = m), 0))"
    "     ORDER BY m) FROM unnest($1::text[]) m),"
    " 'distancia', (SELECT json_agg(json_build_object('faixa', g,"
    "     'aprovadas', coalesce((SELECT sum(n) FROM f WHERE aprovada AND faixa_dist = g), 0),"
    "     'negadas', coalesce((SELECT sum(n) FROM f WHERE NOT aprovada AND faixa_dist = g), 0))"
    "     ORDER BY g) FROM generate_series(0, 3) g),"
    " 'distancia_desconhecida', (SELECT coalesce(sum(n), 0) FROM f WHERE faixa_dist < 0))";

/* valores: the amount histogram, approved and denied. Amounts are counted
 * in R$ 10 buckets; the cut is the upper edge of the bucket that holds the
 * 99th percentile (the row percentile_cont(0.99) reads last), the bins are
 * the smallest multiple of R$ 10 wide that covers the cut in at most 50,
 * and every bin from 0 to the cut is sent, empty ones too (the chart's
 * categories are positional). */
static const char sql_valores[] =
    "WITH d AS (SELECT balde, sum(n) n, sum(n) FILTER (WHERE aprovada) ap,"
    "                  sum(n) FILTER (WHERE NOT aprovada) ng"
    "             FROM dashboard_valor WHERE" F "GROUP BY balde HAVING sum(n) > 0),"
    " c AS (SELECT d.*, sum(n) OVER (ORDER BY balde) cum, sum(n) OVER () total FROM d),"
    " k AS (SELECT min(balde) b FROM c WHERE cum > ceil(0.99::float8 * (total - 1)::float8)),"
    " p AS (SELECT (b + 1) * 10 AS corte, ceil((b + 1) / 50.0)::int * 10 AS largura FROM k"
    "        WHERE b IS NOT NULL)"
    "SELECT json_build_object('total', (SELECT coalesce(max(total), 0) FROM c),"
    " 'corte', (SELECT corte FROM p), 'largura', (SELECT largura FROM p),"
    " 'bins', (SELECT coalesce(json_agg(json_build_object('de', g.i * p.largura,"
    "     'ate', (g.i + 1) * p.largura, 'aprovadas', coalesce(x.ap, 0),"
    "     'negadas', coalesce(x.ng, 0)) ORDER BY g.i), '[]')"
    "     FROM p CROSS JOIN generate_series(0, (p.corte - 1) / p.largura) g(i)"
    "     LEFT JOIN (SELECT (balde * 10) / p.largura AS i, coalesce(sum(ap), 0) ap,"
    "                       coalesce(sum(ng), 0) ng"
    "                  FROM c, p WHERE balde * 10 < p.corte GROUP BY 1) x ON x.i = g.i))";

/* boxplot: t5 by amount band and approval. Quartiles as percentile_cont
 * computes them (position q(N-1), lo + (hi - lo) * fraction, in float8) over
 * the counted t5 values; whiskers at the most extreme values within 1.5 IQR
 * of the quartiles (Plotly's box). */
static const char sql_boxplot[] =
    "WITH d AS (SELECT faixa_valor g, aprovada a, t5, sum(n) n FROM dashboard_t5"
    "            WHERE" F "GROUP BY 1, 2, 3 HAVING sum(n) > 0),"
    " c AS (SELECT d.*, sum(n) OVER (PARTITION BY g, a ORDER BY t5) - n AS ini,"
    "              sum(n) OVER (PARTITION BY g, a) AS total FROM d),"
    " grp AS (SELECT g, a, max(total) total, sum(t5 * n) / max(total) media, min(t5) mn,"
    "                max(t5) mx FROM c GROUP BY g, a),"
    " q AS (SELECT grp.g, grp.a, k, qq * (grp.total - 1)::float8 AS pos FROM grp,"
    "              (VALUES (1, 0.25::float8), (2, 0.5::float8), (3, 0.75::float8)) v(k, qq)),"
    " v AS (SELECT q.g, q.a, q.k, lo.t5 + (hi.t5 - lo.t5) * (q.pos - floor(q.pos)) AS val"
    "         FROM q JOIN c lo ON lo.g = q.g AND lo.a = q.a AND lo.ini <= floor(q.pos)"
    "                          AND floor(q.pos) < lo.ini + lo.n"
    "                JOIN c hi ON hi.g = q.g AND hi.a = q.a AND hi.ini <= ceil(q.pos)"
    "                          AND ceil(q.pos) < hi.ini + hi.n),"
    " qs AS (SELECT g, a, max(val) FILTER (WHERE k = 1) q1, max(val) FILTER (WHERE k = 2) med,"
    "               max(val) FILTER (WHERE k = 3) q3 FROM v GROUP BY g, a)"
    "SELECT coalesce(json_agg(json_build_object('faixa', qs.g, 'aprovada', qs.a,"
    " 'n', grp.total, 'q1', q1, 'mediana', med, 'q3', q3, 'media', grp.media,"
    " 'min', grp.mn, 'max', grp.mx,"
    " 'bigode_inf', (SELECT min(t5) FROM c WHERE c.g = qs.g AND c.a = qs.a"
    "                 AND c.t5 >= q1 - 1.5 * (q3 - q1)),"
    " 'bigode_sup', (SELECT max(t5) FROM c WHERE c.g = qs.g AND c.a = qs.a"
    "                 AND c.t5 <= q3 + 1.5 * (q3 - q1)))"
    " ORDER BY qs.g, qs.a), '[]') FROM qs JOIN grp USING (g, a)";

/* calor: two 30 x 30 grids, amount (R$ 250 bins, the last open) x t5 (1.2
 * degree bins, the last open). */
static const char sql_calor[] =
    "WITH d AS (SELECT aprovada, bx, by, sum(n) n FROM dashboard_calor WHERE" F
    "           GROUP BY 1, 2, 3 HAVING sum(n) > 0)"
    "SELECT json_build_object('largura_valor', 250, 'largura_t5', 1.2, 'bins', 30,"
    " 'aprovadas', (SELECT coalesce(json_agg(json_build_array(bx, by, n) ORDER BY bx, by), '[]')"
    "     FROM d WHERE aprovada),"
    " 'negadas', (SELECT coalesce(json_agg(json_build_array(bx, by, n) ORDER BY bx, by), '[]')"
    "     FROM d WHERE NOT aprovada))";

/* temporal: panel 9 as the original's vw_performance_temporal counts it
 * (hour of tempo_saida_resultado), the newest 168 hours that have rows. */
static const char sql_temporal[] =
    "SELECT coalesce(json_agg(json_build_object('hora', hora, 'transacoes', n,"
    " 'latencia_media_ms', soma_latencia_ms / nullif(n_latencia, 0)) ORDER BY hora), '[]')"
    "  FROM (SELECT * FROM dashboard_temporal WHERE n > 0 ORDER BY hora DESC LIMIT 168) x";

/* dead_letters: the newest $1, with the start of their payload. */
static const char sql_dead_letters[] =
    "SELECT json_build_object("
    " 'total', (SELECT count(*) FROM (SELECT 1 FROM dead_letters LIMIT 100001) x),"
    " 'linhas', (SELECT coalesce(json_agg(json_build_object('id', id, 'batch_id', batch_id,"
    "     'particao', kafka_particao, 'offset', kafka_offset, 'tempo_entrada_kafka',"
    "     tempo_entrada_kafka, 'erro', erro, 'topic', topic,"
    "     'bytes', coalesce(tamanho, octet_length(payload)),"
    "     'inicio', encode(substring(payload FROM 1 FOR 160), 'escape')) ORDER BY id DESC), '[]')"
    "     FROM (SELECT * FROM dead_letters ORDER BY id DESC LIMIT $1::int) d))";

/* What an endpoint takes. */
enum { P_N = 1, P_FILTER = 2, P_LIMITE = 4 };

typedef struct dash_endpoint {
    const char *name;
    const char *sql; /* NULL: served by a poller */
    int params;
} dash_endpoint_t;

static const dash_endpoint_t dash_endpoints[] = {
    {"estado", sql_estado, 0},
    {"ao_vivo", sql_ao_vivo, P_N},
    {"resumo", sql_resumo, P_FILTER},
    {"valores", sql_valores, P_FILTER},
    {"boxplot", sql_boxplot, P_FILTER},
    {"calor", sql_calor, P_FILTER},
    {"temporal", sql_temporal, 0},
    {"dead_letters", sql_dead_letters, P_LIMITE},
    {"pipeline", NULL, 0},
    {"topico", NULL, 0},
};

static const char *const dash_modalities[] = {"PIX", "TED", "DOC", "Boleto"};

/* Fill out with a JSON error. */
static void reply_error(dash_reply_t *out, unsigned status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(dash_reply_t *out, unsigned status, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dash_buf_t b = {0};
    dash_buf_printf(&b, "{\"erro\":");
    dash_buf_json_str(&b, msg);
    if (param) {
        dash_buf_printf(&b, ",\"parametro\":");
        dash_buf_json_str(&b, param);
    }
    dash_buf_printf(&b, "}");
    out->status = status;
    out->body = dash_buf_take(&b, &out->len);
}

/* Parse a base-10 integer in [min, max] (digits only, no sign, no spaces).
 * Returns 0 or -1. */
static int parse_int(const char *s, long min, long max, long *v)
{
    if (s == NULL || *s == '\0' || strlen(s) > 9) return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    long x = strtol(s, NULL, 10);
    if (x < min || x > max) return -1;
    *v = x;
    return 0;
}

/* Parse "PIX,TED" into the Postgres array text "{PIX,TED}" (canonical
 * spellings, each at most once, in the order of dash_modalities). Returns 0
 * or -1. */
static int parse_modalities(const char *s, char *out, size_t size)
{
    int seen[4] = {0};
    const char *p = s;
    if (*p == '\0') return -1;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strlen(dash_modalities[i]) == len && strncmp(p, dash_modalities[i], len) == 0)
                found = i;
        if (found < 0 || seen[found]) return -1;
        seen[found] = 1;
        if (end == NULL) break;
        p = end + 1;
    }
    size_t n = (size_t)snprintf(out, size, "{");
    int first = 1;
    for (int i = 0; i < 4; i++)
        if (seen[i]) {
            n += (size_t)snprintf(out + n, size - n, "%s%s", first ? "" : ",", dash_modalities[i]);
            first = 0;
        }
    snprintf(out + n, size - n, "}");
    return 0;
}

/* The endpoint's parameters, checked (design 1). Returns the number of
 * bound parameters (texts in vals), or -1 with out filled (400). */
static int dash_api_params(const dash_endpoint_t *e, const dash_query_t *q, char vals[3][64],
                           dash_reply_t *out)
{
    const char *n = NULL, *mod = NULL, *h0 = NULL, *h1 = NULL, *limite = NULL;
    if (q->overflow) {
        reply_error(out, 400, NULL, "too many query parameters (at most %d)", DASH_QUERY_MAX);
        return -1;
    }
    for (int i = 0; i < q->n; i++) {
        const char *k = q->key[i];
        const char **slot = NULL;
        if ((e->params & P_N) && !strcmp(k, "n")) slot = &n;
        if ((e->params & P_FILTER) && !strcmp(k, "mod")) slot = &mod;
        if ((e->params & P_FILTER) && !strcmp(k, "h0")) slot = &h0;
        if ((e->params & P_FILTER) && !strcmp(k, "h1")) slot = &h1;
        if ((e->params & P_LIMITE) && !strcmp(k, "limite")) slot = &limite;
        if (slot == NULL) {
            reply_error(out, 400, k, "unknown parameter '%.60s' for /api/%s", k, e->name);
            return -1;
        }
        if (*slot) {
            reply_error(out, 400, k, "parameter '%s' given twice", k);
            return -1;
        }
        *slot = q->val[i] ? q->val[i] : "";
    }
    long v0, v1;
    if (e->params & P_N) {
        if (parse_int(n ? n : "10", 5, 100, &v0) != 0) {
            reply_error(out, 400, "n", "n must be an integer from 5 to 100");
            return -1;
        }
        snprintf(vals[0], 64, "%ld", v0);
        return 1;
    }
    if (e->params & P_LIMITE) {
        if (parse_int(limite ? limite : "50", 1, 200, &v0) != 0) {
            reply_error(out, 400, "limite", "limite must be an integer from 1 to 200");
            return -1;
        }
        snprintf(vals[0], 64, "%ld", v0);
        return 1;
    }
    if (e->params & P_FILTER) {
        if (parse_modalities(mod ? mod : "PIX,TED,DOC,Boleto", vals[0], 64) != 0) {
            reply_error(out, 400, "mod",
                        "mod must be a comma-separated list of PIX, TED, DOC, Boleto, each "
                        "at most once");
            return -1;
        }
        if (parse_int(h0 ? h0 : "0", 0, 23, &v0) != 0) {
            reply_error(out, 400, "h0", "h0 must be an hour from 0 to 23");
            return -1;
        }
        if (parse_int(h1 ? h1 : "23", 0, 23, &v1) != 0) {
            reply_error(out, 400, "h1", "h1 must be an hour from 0 to 23");
            return -1;
        }
        if (v0 > v1) {
            reply_error(out, 400, "h0", "h0 (%ld) must not be after h1 (%ld)", v0, v1);
            return -1;
        }
        snprintf(vals[1], 64, "%ld", v0);
        snprintf(vals[2], 64, "%ld", v1);
        return 3;
    }
    return 0;
}

void dash_api_serve(const dash_api_t *api, const char *name, const dash_query_t *q,
                    dash_reply_t *out)
{
    memset(out, 0, sizeof *out);
    const dash_endpoint_t *e = NULL;
    for (size_t i = 0; i < sizeof dash_endpoints / sizeof dash_endpoints[0]; i++)
        if (strcmp(name, dash_endpoints[i].name) == 0) e = &dash_endpoints[i];
    if (e == NULL) {
        reply_error(out, 404, NULL, "no endpoint /api/%.60s", name);
        return;
    }
    char vals[3][64];
    int np = dash_api_params(e, q, vals, out);
    if (np < 0) return;
    if (e->sql == NULL) {
        char *body = strcmp(e->name, "pipeline") == 0 ? dash_metrics_json(api->metrics, &out->len)
                                                      : dash_kafka_json(api->kafka, &out->len);
        out->status = 200;
        out->body = body;
        return;
    }
    const char *params[3] = {vals[0], vals[1], vals[2]};
    char err[512];
    char *json = NULL;
    size_t len = 0;
    int rc = dash_db_json(api->db, e->sql, np, params, &json, &len, err, sizeof err);
    if (rc == 0) {
        out->status = 200;
        out->body = json;
        out->len = len;
    } else if (rc == DASH_DB_EMISSING) {
        log_warn_every("dash-missing", 60, "/api/%s: %s", e->name, err);
        reply_error(out, 503, NULL,
                    "%s; the database lacks the dashboard's tables: run 'bankstream init' "
                    "with this version (an older database: 'bankstream init --force')",
                    err);
    } else if (rc == DASH_DB_EDOWN) {
        log_warn_every("dash-down", 10, "/api/%s: %s", e->name, err);
        reply_error(out, 503, NULL, "%s", err);
    } else {
        log_warn_every(e->name, 10, "/api/%s: %s", e->name, err);
        reply_error(out, 500, NULL, "%s", err);
    }
}
