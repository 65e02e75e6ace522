/* dash_api.h - the dashboard's JSON endpoints, independent of HTTP.
 *
 * GET /api/NAME?k=v...: each NAME validates its parameters (unknown ones,
 * repeated ones, bad values: 400 with {"erro": ..., "parametro": ...}) and
 * answers with one JSON value computed in SQL by the server (dash_db) or by
 * a poller of the dashboard process (dash_metrics, dash_kafka).
 *
 *   estado        totals, last committed batch, how far the aggregates go
 *                 (agregados: ate_batch, lotes_pendentes, linhas_pendentes,
 *                 atraso_s), what the process watches
 *   ao_vivo       n=5..100 (10): the last n results, their mean latency,
 *                 number denied and mean amount, and the rows
 *   resumo        mod=, h0=, h1=: panels 1, 2 (hours), 5, 6, 7, 8, 10
 *   valores       mod=, h0=, h1=: panel 2, the amount histogram
 *   boxplot       mod=, h0=, h1=: panel 3, t5 quartiles by amount band
 *   calor         mod=, h0=, h1=: panel 4, the amount x t5 densities
 *   temporal      panel 9, transactions per hour (no filters)
 *   dead_letters  limite=1..200 (50): the newest dead letters
 *   pipeline      the processor's metrics over time (dash_metrics)
 *   topico        the topic's partitions, offsets and lag (dash_kafka)
 * Filters: mod = comma-separated subset of PIX,TED,DOC,Boleto (all when
 * absent); h0, h1 = 0..23, h0 <= h1 (0 and 23): the hour of data_horario in
 * São Paulo time. */
#ifndef BS_DASH_API_H
#define BS_DASH_API_H

#include "dashboard/dash_db.h"
#include "dashboard/dash_kafka.h"
#include "dashboard/dash_metrics.h"

#include <stddef.h>

#define DASH_QUERY_MAX 16

/* A request's query string, as key/value pairs in order (values decoded). */
typedef struct dash_query {
    int n;
    int overflow; /* more than DASH_QUERY_MAX pairs were given */
    const char *key[DASH_QUERY_MAX];
    const char *val[DASH_QUERY_MAX];
} dash_query_t;

/* What the endpoints read from. */
typedef struct dash_api {
    dash_db_t *db;
    dash_metrics_t *metrics; /* NULL without --metrics */
    dash_kafka_t *kafka;     /* NULL without brokers */
} dash_api_t;

/* An answer: HTTP status and a malloc'ed JSON body (the caller frees). */
typedef struct dash_reply {
    unsigned status;
    char *body;
    size_t len;
} dash_reply_t;

/* Answer GET /api/<name>. Always fills out (404 for an unknown name, 400
 * for bad parameters, 503 when the database is unreachable or lacks the
 * dashboard's tables, 500 for a failed query); body is NULL only when out of
 * memory. */
void dash_api_serve(const dash_api_t *api, const char *name, const dash_query_t *q,
                    dash_reply_t *out);

#endif
