/* dash_metrics.c - poll the processor's /metrics into a ring (dash_metrics.h).
 *
 * Invariants:
 *   1. The ring, the key table and the status are written by the polling
 *      thread under m->mu and read under it by dash_metrics_json; the HTTP
 *      fetch and the parse happen outside the lock.
 *   2. Keys (metric name with its labels, as the text spells them) are
 *      interned once, at most DASH_METRICS_KEYS; a key seen later than the
 *      first poll has no value (null) in the older samples.
 *   3. The fetch is bounded: connect and every read wait at most 2 s, the
 *      answer at most 4 MiB. */
#include "dashboard/dash_metrics.h"
#include "dashboard/dash_buf.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DASH_METRICS_KEYS 160
#define FETCH_TIMEOUT_MS  2000
#define FETCH_MAX         (4u << 20)

struct dash_metrics {
    char url[512], host[256], port[16], path[256];
    int interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int stop;
    /* under mu (invariant 1) */
    int nkeys;
    char *keys[DASH_METRICS_KEYS];
    double val[DASH_METRICS_KEEP][DASH_METRICS_KEYS];
    double t_ms[DASH_METRICS_KEEP];
    int head, count; /* next slot to write, samples held */
    int ok;
    char err[256];
};

/* Split http://host[:port][/path]. Returns 0 or -1. */
static int parse_url(dash_metrics_t *m, const char *url)
{
    if (strncmp(url, "http://", 7) != 0) return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= sizeof m->host) return -1;
    char hostport[256];
    memcpy(hostport, h, hl);
    hostport[hl] = '\0';
    char *colon = strrchr(hostport, ':');
    snprintf(m->port, sizeof m->port, "80");
    if (colon && strchr(hostport, ']') < colon) {
        *colon = '\0';
        if (colon[1] == '\0' || strlen(colon + 1) >= sizeof m->port) return -1;
        for (const char *p = colon + 1; *p; p++)
            if (*p < '0' || *p > '9') return -1;
        snprintf(m->port, sizeof m->port, "%s", colon + 1);
    }
    char *host = hostport;
    size_t n = strlen(host);
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        host[n - 1] = '\0';
        host++;
    }
    if (*host == '\0') return -1;
    snprintf(m->host, sizeof m->host, "%s", host);
    snprintf(m->path, sizeof m->path, "%s", slash ? slash : "/metrics");
    for (const char *p = m->path; *p; p++)
        if (*p <= ' ' || *p == 0x7f) return -1;
    snprintf(m->url, sizeof m->url, "%s", url);
    return 0;
}

/* Connect to host:port within the timeout. Returns a socket or -1 (err). */
static int fetch_connect(const dash_metrics_t *m, char *err, size_t errsize)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(m->host, m->port, &hints, &ai);
    if (g != 0) {
        snprintf(err, errsize, "cannot resolve %.100s: %s", m->host, gai_strerror(g));
        return -1;
    }
    int fd = -1;
    snprintf(err, errsize, "cannot connect to %.100s:%s", m->host, m->port);
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(err, errsize, "cannot connect to %.100s:%s: %s", m->host, m->port,
                     strerror(errno));
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (poll(&p, 1, FETCH_TIMEOUT_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            snprintf(err, errsize, "cannot connect to %.100s:%s: %s", m->host, m->port,
                     soerr ? strerror(soerr) : "timed out");
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

/* GET the URL. Returns the body (malloc'ed) or NULL with err. */
static char *fetch(const dash_metrics_t *m, char *err, size_t errsize)
{
    int fd = fetch_connect(m, err, errsize);
    if (fd < 0) return NULL;
    char req[700];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: bankstream-dashboard\r\n"
                     "Accept: text/plain\r\nConnection: close\r\n\r\n",
                     m->path, m->host, m->port);
    dash_buf_t b = {0};
    char *body = NULL;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, errsize, "cannot send to %.200s: %s", m->url, strerror(errno));
        goto done;
    }
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, FETCH_TIMEOUT_MS) != 1) {
            snprintf(err, errsize, "%.200s did not answer within %d ms", m->url, FETCH_TIMEOUT_MS);
            goto done;
        }
        char chunk[16384];
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got < 0) {
            snprintf(err, errsize, "reading %.200s: %s", m->url, strerror(errno));
            goto done;
        }
        if (got == 0) break;
        if (b.len + (size_t)got > FETCH_MAX) {
            snprintf(err, errsize, "%.200s answered more than %u bytes", m->url, FETCH_MAX);
            goto done;
        }
        dash_buf_append(&b, chunk, (size_t)got);
    }
    size_t len = 0;
    char *all = dash_buf_take(&b, &len);
    if (all == NULL) {
        snprintf(err, errsize, "out of memory");
        goto done;
    }
    int status = 0;
    char *sep = strstr(all, "\r\n\r\n");
    if (sscanf(all, "HTTP/%*s %d", &status) != 1 || sep == NULL) {
        snprintf(err, errsize, "%.200s did not answer HTTP", m->url);
        free(all);
        goto done;
    }
    if (status != 200) {
        snprintf(err, errsize, "%.200s answered HTTP %d", m->url, status);
        free(all);
        goto done;
    }
    size_t off = (size_t)(sep + 4 - all);
    memmove(all, all + off, len - off + 1);
    body = all;
done:
    dash_buf_free(&b);
    close(fd);
    return body;
}

/* Index of key (interned if new and room is left), -1 when full. Under mu. */
static int key_index(dash_metrics_t *m, const char *key, size_t len)
{
    for (int i = 0; i < m->nkeys; i++)
        if (strlen(m->keys[i]) == len && memcmp(m->keys[i], key, len) == 0) return i;
    if (m->nkeys == DASH_METRICS_KEYS) return -1;
    char *k = strndup(key, len);
    if (k == NULL) return -1;
    for (int s = 0; s < DASH_METRICS_KEEP; s++)
        m->val[s][m->nkeys] = NAN;
    m->keys[m->nkeys] = k;
    return m->nkeys++;
}

/* Record one poll's text (or its failure) as the next sample. */
static void record(dash_metrics_t *m, const char *text, const char *err)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_lock(&m->mu);
    int s = m->head;
    for (int i = 0; i < DASH_METRICS_KEYS; i++)
        m->val[s][i] = NAN;
    m->t_ms[s] = (double)now.tv_sec * 1000.0 + (double)(now.tv_nsec / 1000000);
    m->ok = text != NULL;
    snprintf(m->err, sizeof m->err, "%s", err ? err : "");
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        if (ll > 0 && line[0] != '#' && strncmp(line, "bankstream_", 11) == 0) {
            /* name{labels} value: the key ends at the last space */
            const char *sp = line + ll;
            while (sp > line && sp[-1] != ' ')
                sp--;
            if (sp > line) {
                char num[64];
                size_t nl = (size_t)(line + ll - sp);
                if (nl > 0 && nl < sizeof num) {
                    memcpy(num, sp, nl);
                    num[nl] = '\0';
                    char *end;
                    double v = strtod(num, &end);
                    int k = *end == '\0' ? key_index(m, line, (size_t)(sp - 1 - line)) : -1;
                    if (k >= 0) m->val[s][k] = v;
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    m->head = (m->head + 1) % DASH_METRICS_KEEP;
    if (m->count < DASH_METRICS_KEEP) m->count++;
    pthread_mutex_unlock(&m->mu);
}

static void *dash_metrics_main(void *arg)
{
    dash_metrics_t *m = arg;
    for (;;) {
        char err[256] = "";
        char *text = fetch(m, err, sizeof err);
        record(m, text, text ? NULL : err);
        free(text);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->interval_ms / 1000;
        until.tv_nsec += (long)(m->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&m->mu);
        while (!m->stop && pthread_cond_timedwait(&m->wake, &m->mu, &until) != ETIMEDOUT) {
        }
        int stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (stop) return NULL;
    }
}

dash_metrics_t *dash_metrics_start(const char *url, int interval_ms, char *err, size_t errsize)
{
    dash_metrics_t *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    if (parse_url(m, url) != 0) {
        snprintf(err, errsize,
                 "--metrics '%.200s' is not a URL http://host[:port][/path] (https is not "
                 "supported; the processor serves plain HTTP on 127.0.0.1)",
                 url);
        free(m);
        return NULL;
    }
    m->interval_ms = interval_ms;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wake, NULL);
    if (pthread_create(&m->thread, NULL, dash_metrics_main, m) != 0) {
        snprintf(err, errsize, "cannot start the metrics poller thread");
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    return m;
}

char *dash_metrics_json(dash_metrics_t *m, size_t *len)
{
    dash_buf_t b = {0};
    if (m == NULL) {
        dash_buf_printf(&b, "{\"url\":null,\"ok\":false,\"erro\":null,\"t\":[],\"series\":{}}");
        return dash_buf_take(&b, len);
    }
    pthread_mutex_lock(&m->mu);
    dash_buf_printf(&b, "{\"url\":");
    dash_buf_json_str(&b, m->url);
    dash_buf_printf(&b, ",\"intervalo_ms\":%d,\"ok\":%s,\"erro\":", m->interval_ms,
                    m->ok ? "true" : "false");
    dash_buf_json_str(&b, m->count == 0 ? "ainda sem leitura" : m->ok ? NULL : m->err);
    int first = (m->head - m->count + DASH_METRICS_KEEP) % DASH_METRICS_KEEP;
    dash_buf_printf(&b, ",\"t\":[");
    for (int i = 0; i < m->count; i++) {
        if (i) dash_buf_append(&b, ",", 1);
        dash_buf_json_num(&b, m->t_ms[(first + i) % DASH_METRICS_KEEP]);
    }
    dash_buf_printf(&b, "],\"series\":{");
    for (int k = 0; k < m->nkeys; k++) {
        if (k) dash_buf_append(&b, ",", 1);
        dash_buf_json_str(&b, m->keys[k]);
        dash_buf_append(&b, ":[", 2);
        for (int i = 0; i < m->count; i++) {
            if (i) dash_buf_append(&b, ",", 1);
            dash_buf_json_num(&b, m->val[(first + i) % DASH_METRICS_KEEP][k]);
        }
        dash_buf_append(&b, "]", 1);
    }
    dash_buf_printf(&b, "}}");
    pthread_mutex_unlock(&m->mu);
    return dash_buf_take(&b, len);
}

void dash_metrics_stop(dash_metrics_t *m)
{
    if (m == NULL) return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    for (int i = 0; i < m->nkeys; i++)
        free(m->keys[i]);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
