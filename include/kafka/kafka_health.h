/* kafka_health.h - is the Kafka cluster reachable? Outages reported when
 * they start, every so often while they last, and when they end.
 *
 * librdkafka retries a lost broker by itself and says so only through its
 * callbacks: error_cb (all brokers down, transport errors), log_cb
 * (connection failures, at level 3) and stats_cb (each broker's state,
 * every statistics.interval.ms). kafka_health_attach installs all three on
 * a configuration; kafka_health_tick, called from the thread that polls,
 * turns what they saw into log lines:
 *   "Kafka at B unreachable: <reason>; retrying"                 (start)
 *   "Kafka at B still unreachable after N s: <reason>"           (every 10 s)
 *   "Kafka at B reachable again after N s"                       (end)
 * and says how long the current outage has lasted, so that the caller can
 * give up after its configured bound. Callbacks may run on librdkafka's
 * threads: the state is guarded by a mutex. */
#ifndef BS_KAFKA_HEALTH_H
#define BS_KAFKA_HEALTH_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdint.h>

typedef struct kafka_health {
    pthread_mutex_t mu;
    char brokers[256];     /* for messages */
    int down;              /* no broker is up */
    int reported;          /* the current outage was announced */
    int64_t down_since_us; /* monotonic */
    int64_t last_report_us;
    char reason[256]; /* the latest error librdkafka gave */
} kafka_health_t;

void kafka_health_init(kafka_health_t *h, const char *brokers);
void kafka_health_free(kafka_health_t *h);

/* Install the callbacks on conf (its opaque becomes h) and ask for broker
 * statistics every second. h must outlive the client made from conf. */
int kafka_health_attach(kafka_health_t *h, rd_kafka_conf_t *conf, char *errstr, size_t errsize);

/* Report transitions (see above). Returns the seconds the current outage
 * has lasted, 0 when the cluster is reachable. */
int64_t kafka_health_tick(kafka_health_t *h);

/* Mark the cluster reachable (a message or an answer came in). */
void kafka_health_up(kafka_health_t *h);

/* 1 when a librdkafka log line is about a broker connection failing (what
 * an outage report summarizes). */
int kafka_health_is_connection_line(const char *buf);

/* 1 when the cluster is known to be unreachable. */
int kafka_health_down(kafka_health_t *h);

#endif
