/* kafka_conf.c - build librdkafka configurations and probe the cluster.
 *
 * Order of settings: bootstrap.servers, then the caller's overrides in the
 * order given (so a job file or a flag can replace anything set before). */
#include "kafka/kafka_conf.h"
#include "base/log.h"
#include "kafka/kafka_health.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* librdkafka logs through this: errors and warnings (levels 0-4) reach
 * stderr, at most one line every 10 s, so that a retry loop cannot flood
 * it; failures to connect are left to the caller, which probes the cluster
 * and reports them in its own words (a client that tracks outages replaces
 * this callback, kafka_health.h). */
static void kafka_conf_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level > 4 || kafka_health_is_connection_line(buf)) return;
    log_warn_every("kafka", 10, "kafka: %s: %s", fac, buf);
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                   size_t errsize)
{
    char why[512];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errsize, "kafka option %s=%s: %s", key, value, why);
        return -1;
    }
    return 0;
}

int kafka_conf_set_pair(rd_kafka_conf_t *conf, const char *pair, char *errstr, size_t errsize)
{
    const char *eq = strchr(pair, '=');
    if (eq == NULL || eq == pair) {
        snprintf(errstr, errsize, "kafka option '%s': expected key=value", pair);
        return -1;
    }
    size_t klen = (size_t)(eq - pair);
    char *key = malloc(klen + 1);
    if (key == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return -1;
    }
    memcpy(key, pair, klen);
    key[klen] = '\0';
    int rc = kafka_conf_set(conf, key, eq + 1, errstr, errsize);
    free(key);
    return rc;
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *const *overrides,
                                size_t n_overrides, char *errstr, size_t errsize)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (brokers == NULL || *brokers == '\0') brokers = KAFKA_CONF_DEFAULT_BROKERS;
    if (kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, errsize) != 0) goto fail;
    rd_kafka_conf_set_log_cb(conf, kafka_conf_log_cb);
    for (size_t i = 0; i < n_overrides; i++)
        if (kafka_conf_set_pair(conf, overrides[i], errstr, errsize) != 0) goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static int64_t kafka_conf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* TCP connect to host:port within timeout_ms. Returns 0, or an errno value
 * (EHOSTUNREACH for a name that does not resolve, ETIMEDOUT). */
static int kafka_conf_tcp_probe(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return EHOSTUNREACH;
    int err = ECONNREFUSED;
    int64_t deadline = kafka_conf_now_ms() + timeout_ms;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            err = 0;
        } else if (errno != EINPROGRESS) {
            err = errno;
        } else {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int64_t left = deadline - kafka_conf_now_ms();
            int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
            socklen_t len = sizeof err;
            if (ready <= 0)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
        close(fd);
        if (err == 0) break;
    }
    freeaddrinfo(res);
    return err;
}

/* Try each "[proto://]host[:port]" of a comma-separated list. Returns 0 when
 * one accepts a TCP connection, else -1 with errstr naming the last failure. */
static int kafka_conf_tcp_probe_list(const char *brokers, int timeout_ms, char *errstr,
                                     size_t errsize)
{
    char list[1024];
    snprintf(list, sizeof list, "%s", brokers);
    snprintf(errstr, errsize, "no bootstrap address in '%s'", brokers);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *scheme = strstr(tok, "://");
        if (scheme) tok = scheme + 3;
        char *host = tok, *port = NULL;
        if (*tok == '[') { /* [v6 address]:port */
            char *close_br = strchr(tok, ']');
            if (close_br == NULL) continue;
            *close_br = '\0';
            host = tok + 1;
            if (close_br[1] == ':') port = close_br + 2;
        } else {
            char *colon = strrchr(tok, ':');
            if (colon) {
                *colon = '\0';
                port = colon + 1;
            }
        }
        char *end = port ? port + strcspn(port, " /") : NULL;
        if (end) *end = '\0';
        int err = kafka_conf_tcp_probe(host, port && *port ? port : "9092", timeout_ms);
        if (err == 0) return 0;
        const char *why = err == EHOSTUNREACH ? "host unknown or unreachable" : strerror(err);
        if (strchr(brokers, ',') == NULL)
            snprintf(errstr, errsize, "%s", why);
        else
            snprintf(errstr, errsize, "%s:%s: %s", host, port && *port ? port : "9092", why);
    }
    return -1;
}

int kafka_conf_check_reachable(rd_kafka_t *rk, const char *brokers, int timeout_ms, char *errstr,
                               size_t errsize)
{
    int64_t start = kafka_conf_now_ms();
    if (brokers == NULL || *brokers == '\0') brokers = KAFKA_CONF_DEFAULT_BROKERS;
    if (kafka_conf_tcp_probe_list(brokers, timeout_ms, errstr, errsize) != 0) return -1;

    int left = timeout_ms - (int)(kafka_conf_now_ms() - start);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, left > 1000 ? left : 1000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errsize, "no answer to a metadata request: %s", rd_kafka_err2str(err));
        return -1;
    }
    int brokers_seen = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers_seen == 0) {
        snprintf(errstr, errsize, "the cluster reported no brokers");
        return -1;
    }
    return 0;
}
