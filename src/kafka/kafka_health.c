/* kafka_health.c - outage tracking from librdkafka's callbacks (see
 * kafka_health.h). A broker is "up" when the statistics say its state is UP;
 * the bootstrap pseudo-brokers (nodeid -1) do not count once a real one has
 * been seen. */
#include "kafka/kafka_health.h"
#include "base/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define REPORT_EVERY_US 10000000LL /* 10 s */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void kafka_health_init(kafka_health_t *h, const char *brokers)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    snprintf(h->brokers, sizeof h->brokers, "%s", brokers ? brokers : "");
}

void kafka_health_free(kafka_health_t *h)
{
    pthread_mutex_destroy(&h->mu);
}

/* The cluster went down (or still is) for `reason`. */
static void set_down(kafka_health_t *h, const char *reason)
{
    pthread_mutex_lock(&h->mu);
    if (!h->down) {
        h->down = 1;
        h->reported = 0;
        h->down_since_us = mono_us();
    }
    if (reason && *reason) snprintf(h->reason, sizeof h->reason, "%s", reason);
    pthread_mutex_unlock(&h->mu);
}

void kafka_health_up(kafka_health_t *h)
{
    int64_t lasted = 0;
    int was_reported = 0;
    pthread_mutex_lock(&h->mu);
    if (h->down) {
        lasted = mono_us() - h->down_since_us;
        was_reported = h->reported;
        h->down = 0;
    }
    pthread_mutex_unlock(&h->mu);
    if (was_reported)
        log_info("Kafka at %s reachable again after %.0f s", h->brokers, (double)lasted / 1e6);
}

int kafka_health_down(kafka_health_t *h)
{
    pthread_mutex_lock(&h->mu);
    int down = h->down;
    pthread_mutex_unlock(&h->mu);
    return down;
}

int64_t kafka_health_tick(kafka_health_t *h)
{
    char reason[256];
    int64_t now = mono_us(), lasted = 0;
    int announce = 0, remind = 0;
    pthread_mutex_lock(&h->mu);
    if (h->down) {
        lasted = now - h->down_since_us;
        if (!h->reported) {
            announce = 1;
            h->reported = 1;
            h->last_report_us = now;
        } else if (now - h->last_report_us >= REPORT_EVERY_US) {
            remind = 1;
            h->last_report_us = now;
        }
        snprintf(reason, sizeof reason, "%s", h->reason[0] ? h->reason : "no broker answers");
    }
    pthread_mutex_unlock(&h->mu);
    if (announce) log_warn("Kafka at %s unreachable: %s; retrying", h->brokers, reason);
    if (remind)
        log_warn("Kafka at %s still unreachable after %.0f s: %s", h->brokers, (double)lasted / 1e6,
                 reason);
    return lasted / 1000000;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_health_t *h = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
        err == RD_KAFKA_RESP_ERR__RESOLVE)
        set_down(h, reason);
}

int kafka_health_is_connection_line(const char *buf)
{
    return strstr(buf, "Connect to") || strstr(buf, "Connection refused") ||
           strstr(buf, "brokers are down") || strstr(buf, "Receive failed") ||
           strstr(buf, "Disconnected");
}

/* librdkafka's log lines: connection failures (level 3) become the outage's
 * reason; other errors and warnings (levels 0-4) are printed, at most one
 * per facility every 10 s so that a retry loop cannot flood the log. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_health_t *h = rd_kafka_opaque(rk);
    if (level > 4) return;
    if (h && kafka_health_is_connection_line(buf)) {
        /* "Connect to ... failed: Connection refused" says it best; lines
         * about a connection lost mid-request guess at causes */
        pthread_mutex_lock(&h->mu);
        if (strstr(buf, "Connect to") || strstr(h->reason, "Connect to") == NULL)
            snprintf(h->reason, sizeof h->reason, "%s", buf);
        pthread_mutex_unlock(&h->mu);
        return;
    }
    log_warn_every("kafka", 10, "kafka: %s: %s", fac, buf);
}

/* Statistics: up when a real broker (nodeid >= 0) is in state UP. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    kafka_health_t *h = opaque;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *brokers = root ? cJSON_GetObjectItemCaseSensitive(root, "brokers") : NULL;
    int up = 0, real = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, brokers)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "nodeid");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(b, "state");
        if (!cJSON_IsNumber(id) || id->valueint < 0 || !cJSON_IsString(state)) continue;
        real++;
        if (strcmp(state->valuestring, "UP") == 0) up = 1;
    }
    cJSON_Delete(root);
    if (up)
        kafka_health_up(h);
    else if (real > 0)
        set_down(h, NULL);
    return 0; /* librdkafka frees json */
}

int kafka_health_attach(kafka_health_t *h, rd_kafka_conf_t *conf, char *errstr, size_t errsize)
{
    char why[256];
    rd_kafka_conf_set_opaque(conf, h);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    if (rd_kafka_conf_set(conf, "statistics.interval.ms", "1000", why, sizeof why) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errsize, "kafka option statistics.interval.ms: %s", why);
        return -1;
    }
    return 0;
}
