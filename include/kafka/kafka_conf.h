/* kafka_conf.h - librdkafka configuration and broker reachability, shared by
 * the producer and the processor.
 *
 * Keys given by the user (job file [kafka] section, -X key=value) go to
 * librdkafka unchanged, after bankstream's own settings, so they win.
 * librdkafka's own log lines are kept off stderr except critical ones:
 * commands report failures in one line of their own. */
#ifndef BS_KAFKA_CONF_H
#define BS_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define KAFKA_CONF_DEFAULT_BROKERS "127.0.0.1:9092"

/* A new configuration with bootstrap.servers = brokers (the default above if
 * NULL or empty), librdkafka's logging filtered as described above, then
 * each of overrides[0..n_overrides) applied; each is "key=value".
 * Returns the configuration (the caller owns it until rd_kafka_new takes it,
 * else rd_kafka_conf_destroy), or NULL with errstr naming the bad setting. */
rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *const *overrides,
                                size_t n_overrides, char *errstr, size_t errsize);

/* Set key = value. Returns 0, or -1 with errstr "kafka option key=value: why";
 * conf is unchanged on failure. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                   size_t errsize);

/* Apply one "key=value" text (split at the first '='). Same returns as
 * kafka_conf_set; a text without '=' or with an empty key is an error. */
int kafka_conf_set_pair(rd_kafka_conf_t *conf, const char *pair, char *errstr, size_t errsize);

/* Check that the cluster behind rk answers, within about timeout_ms: first a
 * TCP connect to each bootstrap address in brokers (the same list rk was
 * configured with), which fails fast on a refused or unroutable port, then a
 * metadata request through rk. Returns 0 if a broker answered, or -1 with
 * errstr holding the reason (for example "connection refused"). */
int kafka_conf_check_reachable(rd_kafka_t *rk, const char *brokers, int timeout_ms, char *errstr,
                               size_t errsize);

#endif
