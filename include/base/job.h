/* job.h - configuration of a processing job: an INI job file, then flags.
 *
 * Sections and keys (jobs/local.ini documents each):
 *   [kafka]    any librdkafka property, passed through unchanged
 *              (bootstrap.servers, group.id, fetch.*, security.*, ...)
 *   [source]   topic, wait_seconds (how long the broker or the topic may be
 *              missing, at start or while running, before the run fails;
 *              0 = wait for ever)
 *   [batch]    size (messages, > 0), max_ms (0 = count-bounded only),
 *              min_ms (with max_ms > 0: while the sink is idle, a batch is
 *              cut this long after its first message), max_bytes (the
 *              messages' bytes a batch may hold, default 64 MiB),
 *              duplicate_filter_bytes (rank 0's Bloom filter, default 64 MiB)
 *   [postgres] conninfo (libpq; empty = PG* environment or embedded cluster)
 *   [sink]     retry_seconds (how long a lost database is retried),
 *              connections (sessions each batch's rows go through at once,
 *              1..32, or auto: stream/sink.h), pipeline (on: with one
 *              connection, the next batch's rows are written while a batch
 *              commits, stream/sink_ahead.h; off)
 *   [rules]    weight_t5 weight_t6 weight_t7 score_divisor risk_threshold
 *              t6_amount (reais) max_age_ms (0 = off) timezone
 *              limit_percent (what-if: limits at this %, default 100)
 *   [registry] the schema registry of Avro messages: url (none by default:
 *              Avro messages are then dead letters) and Confluent's client
 *              settings (basic.auth.*, ssl.*, ...), passed through unchanged
 *              (registry/registry_client.h checks them)
 *   [metrics]  port (Prometheus text on LISTEN:port/metrics; 0 = off), listen
 *              (an address of rank 0's host, default 127.0.0.1; "*" = all)
 *   [snapshot] dir (HDF5 snapshots; empty = off), every (batches; 0 = only
 *              at clean shutdown)
 * Unknown sections or keys outside [kafka] are errors that name the key. */
#ifndef BS_JOB_H
#define BS_JOB_H

#include <stddef.h>
#include <stdint.h>

#define JOB_MAX_KAFKA_PROPS    64
#define JOB_MAX_REGISTRY_PROPS 16

/* The [rules] section: what engine/rules.c decides with. */
typedef struct rules_config {
    double weight_t5, weight_t6, weight_t7; /* multipliers of each factor, default 1 */
    double score_divisor;                   /* default 3 */
    double risk_threshold;                  /* passes while score <= threshold, default 6 */
    int64_t t6_amount_cents;                /* t6 = 1 when amount > this, default 2,000.00 */
    int64_t max_age_ms;                     /* kafka ts - data_horario; 0 = rule off */
    int64_t older_than_last_ms;             /* tolerance of anterior_a_ultima, default 1000 */
    int64_t max_future_ms;                  /* data_horario - kafka ts; default 60000, 0 = off */
    int64_t limit_percent;                  /* limits apply at this % (what-if), default 100 */
    char timezone[64];                      /* for the hour of t7, default America/Sao_Paulo */
} rules_config_t;

void rules_config_default(rules_config_t *cfg);

typedef struct job_config {
    char topic[256];
    int64_t source_wait_seconds; /* [source] wait_seconds: how long Kafka may be away */
    char conninfo[1024];
    int conninfo_set; /* from the file or --pg */
    int64_t batch_size;
    int64_t batch_max_ms;
    int64_t batch_min_ms;           /* [batch] min_ms: the cut when the sink is idle */
    int64_t batch_max_bytes;        /* [batch] max_bytes: bound on a batch's message bytes */
    int64_t duplicate_filter_bytes; /* [batch] duplicate_filter_bytes: the Bloom filter's memory */
    int64_t sink_retry_seconds;
    int64_t sink_connections; /* [sink] connections; 0 = auto (see stream/sink.h) */
    int sink_pipeline;        /* [sink] pipeline: 1 on (the default), 0 off */
    int64_t metrics_port;
    char metrics_listen[64]; /* [metrics] listen: checked by metrics_start_on */
    char snapshot_dir[512];
    int64_t snapshot_every;
    int64_t snapshot_min_seconds; /* periodic snapshots at least this far apart */
    int until_idle;
    int accept_gap; /* --accept-gap: go on past a topic that is not the one batch_log describes */
    int quiet;
    int sink_off; /* --sink none: decide but write nothing (benchmarks) */
    rules_config_t rules;
    int n_kafka_props;
    char kafka_keys[JOB_MAX_KAFKA_PROPS][128];
    char kafka_values[JOB_MAX_KAFKA_PROPS][512];
    int n_registry_props;
    char registry_keys[JOB_MAX_REGISTRY_PROPS][64];
    char registry_values[JOB_MAX_REGISTRY_PROPS][1024];
} job_config_t;

void job_config_default(job_config_t *job);

/* Read an INI job file over the current values. Returns 0, or -1 with errstr
 * naming the file, line and key and how to fix it. */
int job_config_load(job_config_t *job, const char *path, char *errstr, size_t errsize);

/* Set (or replace) a librdkafka property. Returns 0 or -1 when full. */
int job_config_set_kafka(job_config_t *job, const char *key, const char *value);

/* Set (or replace) a [registry] setting. Returns 0 or -1 when full or too long. */
int job_config_set_registry(job_config_t *job, const char *key, const char *value);

/* The value of a librdkafka property, or NULL. */
const char *job_config_kafka(const job_config_t *job, const char *key);

#endif
