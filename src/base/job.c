/* job.c - INI job files (inih) into job_config_t, with errors that name the
 * offending key and the accepted values. */
#include "base/job.h"
#include "base/money.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void rules_config_default(rules_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->weight_t5 = cfg->weight_t6 = cfg->weight_t7 = 1.0;
    cfg->score_divisor = 3.0;
    cfg->risk_threshold = 6.0;
    cfg->t6_amount_cents = 200000;
    cfg->max_age_ms = 0;
    cfg->older_than_last_ms = 1000;
    cfg->max_future_ms = 60000;
    cfg->limit_percent = 100;
    strcpy(cfg->timezone, "America/Sao_Paulo");
}

void job_config_default(job_config_t *job)
{
    memset(job, 0, sizeof *job);
    strcpy(job->topic, "bank_transactions");
    job->source_wait_seconds = 300;
    job->batch_size = 10000;
    job->batch_max_ms = 500;
    job->batch_min_ms = 10;
    job->batch_max_bytes = 64 << 20;
    job->duplicate_filter_bytes = 64 << 20;
    job->sink_retry_seconds = 120;
    job->sink_pipeline = 1;
    job->metrics_port = 0;
    strcpy(job->metrics_listen, "127.0.0.1");
    strcpy(job->snapshot_dir, "var/snapshots");
    job->snapshot_every = 100;
    job->snapshot_min_seconds = 60;
    rules_config_default(&job->rules);
    job_config_set_kafka(job, "bootstrap.servers", "127.0.0.1:9092");
    job_config_set_kafka(job, "group.id", "bankstream");
}

int job_config_set_kafka(job_config_t *job, const char *key, const char *value)
{
    int i;
    for (i = 0; i < job->n_kafka_props; i++)
        if (strcmp(job->kafka_keys[i], key) == 0) break;
    if (i == JOB_MAX_KAFKA_PROPS) return -1;
    if (i == job->n_kafka_props) job->n_kafka_props++;
    snprintf(job->kafka_keys[i], sizeof job->kafka_keys[i], "%s", key);
    snprintf(job->kafka_values[i], sizeof job->kafka_values[i], "%s", value);
    return 0;
}

int job_config_set_registry(job_config_t *job, const char *key, const char *value)
{
    int i;
    if (strlen(key) >= sizeof job->registry_keys[0] ||
        strlen(value) >= sizeof job->registry_values[0])
        return -1;
    for (i = 0; i < job->n_registry_props; i++)
        if (strcmp(job->registry_keys[i], key) == 0) break;
    if (i == JOB_MAX_REGISTRY_PROPS) return -1;
    if (i == job->n_registry_props) job->n_registry_props++;
    snprintf(job->registry_keys[i], sizeof job->registry_keys[i], "%s", key);
    snprintf(job->registry_values[i], sizeof job->registry_values[i], "%s", value);
    return 0;
}

const char *job_config_kafka(const job_config_t *job, const char *key)
{
    for (int i = 0; i < job->n_kafka_props; i++)
        if (strcmp(job->kafka_keys[i], key) == 0) return job->kafka_values[i];
    return NULL;
}

struct load_ctx {
    job_config_t *job;
    char *err;
    size_t errsize;
    const char *path;
};

static int parse_int(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < min || x > max) return -1;
    *out = x;
    return 0;
}

static int parse_num(const char *v, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end != '\0' || !isfinite(x) || x < min || x > max) return -1;
    *out = x;
    return 0;
}

/* inih handler: returns 1 to continue, 0 to stop with an error. */
static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    struct load_ctx *c = user;
    job_config_t *job = c->job;
    rules_config_t *r = &job->rules;
    const char *expect = NULL;
    double d;

#define BAD(what)                                                                                  \
    do {                                                                                           \
        expect = (what);                                                                           \
        goto bad;                                                                                  \
    } while (0)

    if (strcmp(section, "kafka") == 0) {
        static const char *const owned[][2] = {
            /* what bankstream's exactly-once reading relies on, and why */
            {"enable.auto.commit", "offsets come from batch_log"},
            {"enable.auto.offset.store", "offsets come from batch_log"},
            {"enable.partition.eof", "--until-idle and batch cutting need the end of partitions"},
            {"auto.offset.reset", "a missing offset must stop the run, not skip or replay"},
            {"isolation.level", "aborted transactions must never be decided"},
        };
        for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
            if (strcmp(key, owned[i][0]) == 0) {
                snprintf(c->err, c->errsize,
                         "%s: [kafka] %s cannot be set: bankstream sets it itself (%s); remove "
                         "the line",
                         c->path, key, owned[i][1]);
                return 0;
            }
        if (job_config_set_kafka(job, key, value) != 0) BAD("at most 64 [kafka] properties");
        return 1;
    }
    if (strcmp(section, "registry") == 0) {
        if (job_config_set_registry(job, key, value) != 0)
            BAD("at most 16 [registry] settings, names under 64 and values under 1024 bytes");
        return 1;
    }
    if (strcmp(section, "source") == 0 && strcmp(key, "topic") == 0) {
        if (!*value || strlen(value) >= sizeof job->topic) BAD("a topic name");
        strcpy(job->topic, value);
    } else if (strcmp(section, "source") == 0 && strcmp(key, "wait_seconds") == 0) {
        if (parse_int(value, 0, 86400 * 365, &job->source_wait_seconds))
            BAD("seconds, 0 = wait for ever");
    } else if (strcmp(section, "batch") == 0 && strcmp(key, "size") == 0) {
        if (parse_int(value, 1, 10000000, &job->batch_size)) BAD("a count from 1 to 10000000");
    } else if (strcmp(section, "batch") == 0 && strcmp(key, "max_bytes") == 0) {
        if (parse_int(value, 1 << 20, INT64_C(1) << 40, &job->batch_max_bytes))
            BAD("bytes, at least 1048576 (1 MiB)");
    } else if (strcmp(section, "batch") == 0 && strcmp(key, "duplicate_filter_bytes") == 0) {
        if (parse_int(value, 4096, INT64_C(1) << 40, &job->duplicate_filter_bytes))
            BAD("bytes from 4096 to 2^40 (67108864 holds 20 million ids with about 1 false "
                "positive in 30,000)");
    } else if (strcmp(section, "batch") == 0 && strcmp(key, "max_ms") == 0) {
        if (parse_int(value, 0, 3600000, &job->batch_max_ms))
            BAD("milliseconds from 0 (count-bounded only) to 3600000");
    } else if (strcmp(section, "batch") == 0 && strcmp(key, "min_ms") == 0) {
        if (parse_int(value, 1, 3600000, &job->batch_min_ms))
            BAD("milliseconds from 1 to 3600000 (at or above max_ms: never cut early)");
    } else if (strcmp(section, "postgres") == 0 && strcmp(key, "conninfo") == 0) {
        if (strlen(value) >= sizeof job->conninfo) BAD("a libpq conninfo under 1024 bytes");
        strcpy(job->conninfo, value);
        job->conninfo_set = *value != '\0';
    } else if (strcmp(section, "sink") == 0 && strcmp(key, "retry_seconds") == 0) {
        if (parse_int(value, 0, 86400, &job->sink_retry_seconds)) BAD("seconds from 0 to 86400");
    } else if (strcmp(section, "sink") == 0 && strcmp(key, "connections") == 0) {
        if (strcmp(value, "auto") == 0)
            job->sink_connections = 0;
        else if (parse_int(value, 1, 32, &job->sink_connections))
            BAD("a number of connections from 1 to 32, or auto");
    } else if (strcmp(section, "sink") == 0 && strcmp(key, "pipeline") == 0) {
        if (strcmp(value, "on") == 0)
            job->sink_pipeline = 1;
        else if (strcmp(value, "off") == 0)
            job->sink_pipeline = 0;
        else
            BAD("on (the next batch's rows are written while a batch commits) or off");
    } else if (strcmp(section, "snapshot") == 0 && strcmp(key, "dir") == 0) {
        if (strlen(value) >= sizeof job->snapshot_dir) BAD("a directory path under 512 bytes");
        strcpy(job->snapshot_dir, value);
    } else if (strcmp(section, "snapshot") == 0 && strcmp(key, "every") == 0) {
        if (parse_int(value, 0, 1000000000, &job->snapshot_every))
            BAD("a number of batches, 0 = only at clean shutdown");
    } else if (strcmp(section, "snapshot") == 0 && strcmp(key, "min_seconds") == 0) {
        if (parse_int(value, 0, 86400, &job->snapshot_min_seconds))
            BAD("seconds from 0 to 86400, 0 = no floor");
    } else if (strcmp(section, "metrics") == 0 && strcmp(key, "port") == 0) {
        if (parse_int(value, 0, 65535, &job->metrics_port)) BAD("a TCP port, or 0 for off");
    } else if (strcmp(section, "metrics") == 0 && strcmp(key, "listen") == 0) {
        if (!*value || strlen(value) >= sizeof job->metrics_listen)
            BAD("an address of rank 0's host, e.g. 10.0.0.5, or * for all");
        strcpy(job->metrics_listen, value);
    } else if (strcmp(section, "rules") == 0) {
        if (strcmp(key, "timezone") == 0) {
            if (!*value || strlen(value) >= sizeof r->timezone)
                BAD("a zone such as America/Sao_Paulo");
            strcpy(r->timezone, value);
        } else if (strcmp(key, "max_age_ms") == 0) {
            if (parse_int(value, 0, INT64_C(1) << 40, &r->max_age_ms)) BAD("milliseconds, 0 = off");
        } else if (strcmp(key, "max_future_ms") == 0) {
            if (parse_int(value, 0, INT64_C(1) << 40, &r->max_future_ms))
                BAD("milliseconds, 0 = off");
        } else if (strcmp(key, "older_than_last_ms") == 0) {
            if (parse_int(value, 0, INT64_C(1) << 40, &r->older_than_last_ms))
                BAD("milliseconds of tolerance, 0 = none");
        } else if (strcmp(key, "limit_percent") == 0) {
            if (parse_int(value, 0, 10000, &r->limit_percent))
                BAD("a percentage from 0 to 10000 (100 = the users' limits as they are)");
        } else if (strcmp(key, "t6_amount") == 0) {
            int64_t cents;
            if (parse_num(value, 0, 1e12, &d) || money_from_double(d, &cents) != MONEY_OK)
                BAD("an amount in reais, e.g. 2000.00");
            r->t6_amount_cents = cents;
        } else {
            double *target = !strcmp(key, "weight_t5")        ? &r->weight_t5
                             : !strcmp(key, "weight_t6")      ? &r->weight_t6
                             : !strcmp(key, "weight_t7")      ? &r->weight_t7
                             : !strcmp(key, "score_divisor")  ? &r->score_divisor
                             : !strcmp(key, "risk_threshold") ? &r->risk_threshold
                                                              : NULL;
            if (target == NULL) goto unknown;
            if (parse_num(value, 0, 1e9, &d)) BAD("a non-negative number");
            if (target == &r->score_divisor && d == 0) BAD("a positive number");
            *target = d;
        }
    } else {
        goto unknown;
    }
    return 1;
unknown:
    snprintf(c->err, c->errsize,
             "%s: unknown key '%s' in section [%s]; see jobs/local.ini for the keys bankstream "
             "reads (librdkafka properties go under [kafka])",
             c->path, key, section);
    return 0;
bad:
    snprintf(c->err, c->errsize, "%s: [%s] %s = '%s' is not valid; expected %s", c->path, section,
             key, value, expect);
    return 0;
#undef BAD
}

int job_config_load(job_config_t *job, const char *path, char *errstr, size_t errsize)
{
    struct load_ctx ctx = {job, errstr, errsize, path};
    struct stat st;
    errstr[0] = '\0';
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(errstr, errsize,
                 "job file %s is not a regular file (a directory?); give an INI file "
                 "such as jobs/local.ini",
                 path);
        return -1;
    }
    int rc = ini_parse(path, on_entry, &ctx);
    if (rc == 0) return 0;
    if (rc == -1)
        snprintf(errstr, errsize, "cannot open job file %s: %s", path, strerror(errno));
    else if (errstr[0] == '\0')
        snprintf(errstr, errsize, "%s:%d: not valid INI (expected [section] or key = value)", path,
                 rc);
    return -1;
}
