/* metrics.c - Prometheus text exposition of rank 0's progress (libmicrohttpd).
 *
 * Invariants:
 *   1. Counters only grow; every field of metrics_state_t is written under
 *      m->mu and read by a scrape as one consistent copy (all counters of a
 *      batch appear together or not at all).
 *   2. The HTTP thread never formats under the lock: scrape_snapshot copies
 *      the state, metrics_render formats the copy.
 *   3. A disabled object (port 0) has no daemon; updates return at once.
 *   4. The server listens on one address, 127.0.0.1 unless [metrics] listen
 *      names another of this host (MHD_OPTION_SOCK_ADDR); "*" is every IPv4
 *      address. Prometheus text is read-only: nothing served changes state.
 *
 * libmicrohttpd does not say why MHD_start_daemon failed, so when it does the
 * port is probed with a bind of our own to tell "in use" from other causes. */
#include "stream/metrics.h"
#include "engine/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Upper bounds of the batch duration histogram (Prometheus' defaults). */
static const double metrics_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof metrics_buckets / sizeof metrics_buckets[0])

typedef struct metrics_state {
    int64_t batches;
    batch_counts_t counts;
    int64_t last_batch_id;
    int has_batch;
    int ranks;
    uint64_t bucket[NBUCKETS]; /* observations <= metrics_buckets[i], not cumulative */
    double seconds_sum;
    int64_t lag[METRICS_MAX_PARTITIONS];
    uint8_t lag_set[METRICS_MAX_PARTITIONS];
} metrics_state_t;

struct metrics {
    int port;
    char listen[64];
    struct MHD_Daemon *daemon; /* NULL when disabled */
    pthread_mutex_t mu;
    metrics_state_t st;
};

/* ----------------------------------------------------------------- render */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf_t;

static void sb_printf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf_t *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Shortest decimal text that reads back as v, with at least 6 digits of
 * room before %g switches to an exponent ("10", not "1e+01", as Go's
 * strconv 'g' -1 that Prometheus uses), and the format's spellings of the
 * non-finite values. %.17g always reads back, so the loop always returns. */
static void fmt_double(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void family(strbuf_t *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Format a state as text format 0.0.4. Returns a malloc'ed string (caller
 * frees) and its length, or NULL when out of memory. */
static char *metrics_render(const metrics_state_t *s, size_t *len)
{
    strbuf_t b = {0};
    char num[64];

    family(&b, "bankstream_up", "gauge", "1 while the processor is running.");
    sb_printf(&b, "bankstream_up 1\n");
    family(&b, "bankstream_ranks", "gauge", "MPI ranks of the run (coordinator included).");
    sb_printf(&b, "bankstream_ranks %d\n", s->ranks);
    family(&b, "bankstream_batches_committed_total", "counter",
           "Micro-batches committed to PostgreSQL.");
    sb_printf(&b, "bankstream_batches_committed_total %" PRId64 "\n", s->batches);
    family(&b, "bankstream_messages_total", "counter",
           "Kafka messages in committed batches (transactions, duplicates, dead letters).");
    sb_printf(&b, "bankstream_messages_total %" PRId64 "\n", s->counts.messages);

    family(&b, "bankstream_transactions_total", "counter",
           "Decided transactions in committed batches, by status.");
    const int64_t *by_status = s->counts.by_status;
    for (int i = 0; i < 3; i++)
        sb_printf(&b, "bankstream_transactions_total{status=\"%s\"} %" PRId64 "\n",
                  txn_status_names[i], by_status[i]);

    family(&b, "bankstream_rejections_total", "counter",
           "Transactions not approved in committed batches, by reason.");
    for (int r = REASON_INSUFFICIENT_FUNDS; r < REASON_COUNT; r++)
        sb_printf(&b, "bankstream_rejections_total{motivo=\"%s\"} %" PRId64 "\n",
                  txn_reason_names[r], s->counts.by_reason[r]);

    family(&b, "bankstream_duplicates_total", "counter",
           "Messages whose transaction id was already committed (not decided again).");
    sb_printf(&b, "bankstream_duplicates_total %" PRId64 "\n", s->counts.duplicates);
    family(&b, "bankstream_dead_letters_total", "counter",
           "Messages that could not be decoded (written to the dead letter table).");
    sb_printf(&b, "bankstream_dead_letters_total %" PRId64 "\n", s->counts.dead);

    family(&b, "bankstream_last_batch_id", "gauge", "Id of the last committed batch.");
    if (s->has_batch) sb_printf(&b, "bankstream_last_batch_id %" PRId64 "\n", s->last_batch_id);

    family(&b, "bankstream_batch_seconds", "histogram",
           "Time to cut, decide and commit one batch, in seconds.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cumulative += s->bucket[i];
        fmt_double(num, sizeof num, metrics_buckets[i]);
        sb_printf(&b, "bankstream_batch_seconds_bucket{le=\"%s\"} %" PRIu64 "\n", num, cumulative);
    }
    sb_printf(&b, "bankstream_batch_seconds_bucket{le=\"+Inf\"} %" PRId64 "\n", s->batches);
    fmt_double(num, sizeof num, s->seconds_sum);
    sb_printf(&b, "bankstream_batch_seconds_sum %s\n", num);
    sb_printf(&b, "bankstream_batch_seconds_count %" PRId64 "\n", s->batches);

    family(&b, "bankstream_kafka_lag", "gauge",
           "Messages of a partition not yet consumed (high watermark - position).");
    for (int p = 0; p < METRICS_MAX_PARTITIONS; p++)
        if (s->lag_set[p])
            sb_printf(&b, "bankstream_kafka_lag{partition=\"%d\"} %" PRId64 "\n", p, s->lag[p]);

    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* ------------------------------------------------------------------- HTTP */

static enum MHD_Result metrics_serve(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **req_cls)
{
    metrics_t *m = cls;
    struct MHD_Response *resp = NULL;
    unsigned int code = MHD_HTTP_OK;
    int ok_method =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    if (ok_method && strcmp(url, "/metrics") == 0) {
        metrics_state_t *copy = malloc(sizeof *copy);
        char *text = NULL;
        size_t len = 0;
        if (copy) {
            pthread_mutex_lock(&m->mu);
            *copy = m->st;
            pthread_mutex_unlock(&m->mu);
            text = metrics_render(copy, &len);
            free(copy);
        }
        if (text == NULL) return MHD_NO; /* out of memory: drop the connection */
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; version=0.0.4; charset=utf-8");
    } else {
        static const char not_found[] = "not found: the metrics are at /metrics\n";
        code = MHD_HTTP_NOT_FOUND;
        resp = MHD_create_response_from_buffer(sizeof not_found - 1, (void *)not_found,
                                               MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    }
    enum MHD_Result rc = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The socket address of listen:port ("*": every IPv4 address). 0, or -1
 * when listen is not a numeric address. */
static int metrics_sockaddr(const char *listen, int port, struct sockaddr_storage *ss,
                            socklen_t *len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(strcmp(listen, "*") ? listen : "0.0.0.0", portstr, &hints, &ai) != 0) return -1;
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

/* Why could listen:port not be served? Binds a socket of our own the way
 * libmicrohttpd does (SO_REUSEADDR) and returns the errno, 0 if it worked. */
static int probe_port(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int one = 1, err = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 1) != 0) err = errno;
    close(fd);
    return err;
}

/* ----------------------------------------------------------------- public */

metrics_t *metrics_start(int port, char *errstr, size_t errsize)
{
    return metrics_start_on("127.0.0.1", port, errstr, errsize);
}

metrics_t *metrics_start_on(const char *listen, int port, char *errstr, size_t errsize)
{
    if (port < 0 || port > 65535) {
        snprintf(errstr, errsize,
                 "metrics port %d is out of range; set [metrics] port to 1..65535 or 0", port);
        return NULL;
    }
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    if (listen == NULL || !*listen) listen = "127.0.0.1";
    if (strlen(listen) >= sizeof((metrics_t *)0)->listen ||
        metrics_sockaddr(listen, port, &sa, &salen) != 0) {
        snprintf(errstr, errsize,
                 "[metrics] listen = '%s' is not a numeric IPv4 or IPv6 address of this host "
                 "(or '*')",
                 listen);
        return NULL;
    }
    metrics_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(errstr, errsize, "out of memory starting the metrics server");
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->port = port;
    snprintf(m->listen, sizeof m->listen, "%s", listen);
    if (port == 0) return m;

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (sa.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    m->daemon =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, metrics_serve, m, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)32,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (m->daemon == NULL) {
        int err = probe_port(&sa, salen);
        if (err == EADDRINUSE)
            snprintf(errstr, errsize,
                     "metrics port %d is in use on %s; set [metrics] port to another port or 0",
                     port, listen);
        else if (err == EADDRNOTAVAIL)
            snprintf(errstr, errsize,
                     "[metrics] listen = %s is not an address of this host (rank 0's); give one "
                     "of its addresses, or '*'",
                     listen);
        else
            snprintf(errstr, errsize,
                     "cannot serve metrics on %s:%d: %s; set [metrics] port to another "
                     "port or 0",
                     listen, port, err ? strerror(err) : "libmicrohttpd could not start");
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    return m;
}

void metrics_stop(metrics_t *m)
{
    if (m == NULL) return;
    if (m->daemon) MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int metrics_port(const metrics_t *m)
{
    return m ? m->port : 0;
}

const char *metrics_listen(const metrics_t *m)
{
    return m ? m->listen : "";
}

void metrics_batch_committed(metrics_t *m, int64_t batch_id, const batch_counts_t *k,
                             double cut_decide_seconds, double commit_seconds)
{
    if (m == NULL || m->daemon == NULL) return;
    double secs = cut_decide_seconds + commit_seconds;
    if (!(secs >= 0)) secs = 0; /* a wall clock stepped back, or NaN */
    size_t bucket = 0;
    while (bucket < NBUCKETS && secs > metrics_buckets[bucket])
        bucket++;

    pthread_mutex_lock(&m->mu);
    metrics_state_t *s = &m->st;
    s->batches++;
    s->counts.messages += k->messages;
    s->counts.duplicates += k->duplicates;
    s->counts.dead += k->dead;
    for (int i = 0; i < STATUS_COUNT; i++)
        s->counts.by_status[i] += k->by_status[i];
    for (int r = 0; r < REASON_COUNT; r++)
        s->counts.by_reason[r] += k->by_reason[r];
    s->last_batch_id = batch_id;
    s->has_batch = 1;
    if (bucket < NBUCKETS) s->bucket[bucket]++; /* else only in +Inf (= count) */
    s->seconds_sum += secs;
    pthread_mutex_unlock(&m->mu);
}

void metrics_set_lag(metrics_t *m, int partition, int64_t lag)
{
    if (m == NULL || m->daemon == NULL) return;
    if (partition < 0 || partition >= METRICS_MAX_PARTITIONS) return;
    pthread_mutex_lock(&m->mu);
    m->st.lag[partition] = lag;
    m->st.lag_set[partition] = 1;
    pthread_mutex_unlock(&m->mu);
}

void metrics_set_ranks(metrics_t *m, int ranks)
{
    if (m == NULL || m->daemon == NULL) return;
    pthread_mutex_lock(&m->mu);
    m->st.ranks = ranks;
    pthread_mutex_unlock(&m->mu);
}
