/* broker_relay.c - forward TCP connections from a fixed port to a target,
 * optionally rewriting the broker addresses in Kafka responses.
 *
 * Serves `bankstream broker` (see broker_relay.h for the two uses): the mock
 * cluster's listeners sit on ephemeral 127.0.0.1 ports, so this relay accepts
 * on a chosen address and port and copies bytes both ways to one of them.
 *
 * Design:
 *  1. One thread, one poll() loop over: a wake-up pipe (stop request), the
 *     listen socket, and two sockets per relayed connection. All sockets are
 *     non-blocking; the upstream connect is non-blocking too.
 *  2. Each connection has two directions (client -> upstream, upstream ->
 *     client), each with one buffer of bytes waiting to be written. A
 *     direction reads only while fewer than RELAY_BUF_SIZE bytes wait, so a
 *     slow reader pushes back on its writer instead of growing memory.
 *  3. A socket with nothing to wait for is left out of the poll set (fd -1),
 *     so a hung-up peer cannot make poll() spin.
 *  4. End of stream on one side is passed on with shutdown(SHUT_WR) once its
 *     buffer is drained; the pair is closed when both directions are done or
 *     on any socket error (the client then simply reconnects).
 *  5. With routes (rewriting): the client's bytes pass unchanged, but their
 *     Kafka framing (int32 size, int16 api_key, int16 api_version, int32
 *     correlation id) is followed, and the correlation ids of Metadata and
 *     FindCoordinator requests are remembered. The upstream's responses are
 *     framed too (int32 size, int32 correlation id): one that answers a
 *     remembered request is held whole, rewritten (broker_relay_rewrite) and
 *     sent on with its new size; every other response streams through.
 *     Kafka answers the requests of one connection in order, so a response
 *     never overtakes the one it would be compared with.
 *
 *   accept -> relay_conn_new (connecting) -> relay_conn_service (connected,
 *   copying[, framing]) -> both directions shut or error -> relay_conn_free */
#include "tools/broker_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF_SIZE    (64 * 1024)
#define RELAY_MAX_CONNS   1000 /* further clients are accepted and closed */
#define RELAY_BACKLOG     128
#define RELAY_MAX_PENDING 64                 /* remembered requests per connection */
#define RELAY_MAX_FRAME   (64 * 1024 * 1024) /* largest response held for rewriting */

#define KAFKA_METADATA         3
#define KAFKA_FIND_COORDINATOR 10

/* One direction of a relayed connection: bytes [off, len) of buf wait to be
 * written to the other side. */
struct relay_dir {
    uint8_t *buf;
    size_t off, len, cap;
    int eof;  /* the reading side reported end of stream */
    int shut; /* end of stream passed on to the writing side */
};

/* A request whose response will be rewritten. */
struct relay_pending {
    int32_t corr;
    int16_t key, ver;
};

/* fd[0] is the client, fd[1] the upstream; dir[0] copies client -> upstream,
 * dir[1] upstream -> client. The framing fields are used with routes only. */
struct relay_conn {
    int fd[2];
    int connecting; /* upstream connect() still in progress */
    struct relay_dir dir[2];
    uint8_t req_hdr[12]; /* the request being framed: size, key, version, corr */
    size_t req_have;
    uint64_t req_left; /* bytes of the current request still to pass */
    struct relay_pending pending[RELAY_MAX_PENDING];
    int npending;
    uint8_t resp_hdr[8]; /* the response being framed: size, corr */
    size_t resp_have;
    uint64_t resp_left; /* bytes of the current response still to come */
    int holding;        /* the current response is held for rewriting */
    struct relay_pending held;
    uint8_t *hold;
    size_t hold_len, hold_cap;
    struct relay_conn *next;
};

struct broker_relay {
    int listen_fd;
    int wake_fd[2]; /* broker_relay_close writes to [1] to stop the thread */
    struct sockaddr_storage target;
    socklen_t target_len;
    pthread_t thread;
    int started;
    struct relay_conn *conns;
    int conn_cnt;
    broker_relay_route_t routes[BROKER_RELAY_MAX_ROUTES];
    int n_routes;
    void (*log)(const char *line);
    int warned; /* a response passed unrewritten was reported */
};

/* ------------------------------------------------------------- rewriting */

/* A reader over a response body; any overrun sets bad. */
typedef struct rd_cursor {
    const uint8_t *p;
    size_t len, pos;
    int bad;
} rd_cursor_t;

/* A growing output buffer; running out of memory sets bad. */
typedef struct wr_buf {
    uint8_t *p;
    size_t len, cap;
    int bad;
} wr_buf_t;

static const uint8_t *rd_take(rd_cursor_t *c, size_t n)
{
    if (c->bad || c->len - c->pos < n) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *at = c->p + c->pos;
    c->pos += n;
    return at;
}

static int32_t rd_i32(rd_cursor_t *c)
{
    const uint8_t *b = rd_take(c, 4);
    return b ? (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3])
             : 0;
}

static int16_t rd_i16(rd_cursor_t *c)
{
    const uint8_t *b = rd_take(c, 2);
    return b ? (int16_t)((uint16_t)b[0] << 8 | b[1]) : 0;
}

static void wr_bytes(wr_buf_t *w, const void *src, size_t n)
{
    if (w->bad) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (p == NULL) {
            w->bad = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    if (n) memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void wr_i32(wr_buf_t *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t b[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    wr_bytes(w, b, 4);
}

static void wr_i16(wr_buf_t *w, int16_t v)
{
    uint16_t u = (uint16_t)v;
    uint8_t b[2] = {(uint8_t)(u >> 8), (uint8_t)u};
    wr_bytes(w, b, 2);
}

/* Copy n bytes from the reader to the writer. */
static void rd_copy(rd_cursor_t *c, wr_buf_t *w, size_t n)
{
    const uint8_t *b = rd_take(c, n);
    if (b) wr_bytes(w, b, n);
}

/* Copy a (nullable) int16-length string. */
static void rd_copy_string(rd_cursor_t *c, wr_buf_t *w)
{
    int16_t n = rd_i16(c);
    wr_i16(w, n);
    if (n > 0) rd_copy(c, w, (size_t)n);
    if (n < -1) c->bad = 1;
}

/* A broker address (string host, int32 port): rewritten when its port is a
 * route's upstream port. Returns 1 when rewritten. */
static int rd_rewrite_address(rd_cursor_t *c, wr_buf_t *w, const broker_relay_route_t *routes,
                              int n_routes)
{
    int16_t hl = rd_i16(c);
    const uint8_t *host = hl >= 0 ? rd_take(c, (size_t)hl) : NULL;
    int32_t port = rd_i32(c);
    if (hl < 0) c->bad = 1;
    if (c->bad) return 0;
    for (int i = 0; i < n_routes; i++) {
        if (routes[i].upstream_port != port) continue;
        size_t n = strlen(routes[i].host);
        wr_i16(w, (int16_t)n);
        wr_bytes(w, routes[i].host, n);
        wr_i32(w, routes[i].port);
        return 1;
    }
    wr_i16(w, hl);
    wr_bytes(w, host, (size_t)hl);
    wr_i32(w, port);
    return 0;
}

int broker_relay_rewrite(int16_t api_key, int16_t api_version, const uint8_t *body, size_t len,
                         const broker_relay_route_t *routes, int n_routes, uint8_t **out,
                         size_t *out_len)
{
    rd_cursor_t c = {body, len, 0, 0};
    wr_buf_t w = {NULL, 0, 0, 0};
    int changed = 0;
    if (n_routes <= 0) return 0;
    if (api_key == KAFKA_METADATA && api_version >= 0 && api_version <= 8) {
        if (api_version >= 3) rd_copy(&c, &w, 4); /* throttle_time_ms */
        int32_t nb = rd_i32(&c);
        if (nb < 0 || (size_t)nb > len / 10) c.bad = 1;
        wr_i32(&w, nb);
        for (int32_t i = 0; i < nb && !c.bad; i++) {
            rd_copy(&c, &w, 4); /* node_id */
            changed |= rd_rewrite_address(&c, &w, routes, n_routes);
            if (api_version >= 1) rd_copy_string(&c, &w); /* rack */
        }
    } else if (api_key == KAFKA_FIND_COORDINATOR && api_version >= 0 && api_version <= 2) {
        if (api_version >= 1) rd_copy(&c, &w, 4);     /* throttle_time_ms */
        rd_copy(&c, &w, 2);                           /* error_code */
        if (api_version >= 1) rd_copy_string(&c, &w); /* error_message */
        rd_copy(&c, &w, 4);                           /* node_id */
        changed |= rd_rewrite_address(&c, &w, routes, n_routes);
    } else {
        return 0;
    }
    if (!c.bad) rd_copy(&c, &w, len - c.pos); /* the rest, unchanged */
    if (c.bad || w.bad || !changed) {
        free(w.p);
        return c.bad || w.bad ? -1 : 0;
    }
    *out = w.p;
    *out_len = w.len;
    return 1;
}

/* ------------------------------------------------------------- buffers */

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Move the waiting bytes of d to the front of its buffer. */
static void relay_dir_compact(struct relay_dir *d)
{
    if (d->off == 0) return;
    memmove(d->buf, d->buf + d->off, d->len - d->off);
    d->len -= d->off;
    d->off = 0;
}

/* Append n bytes to the waiting bytes of d. 0, or -1 when out of memory. */
static int relay_dir_put(struct relay_dir *d, const void *p, size_t n)
{
    if (d->len + n > d->cap) relay_dir_compact(d);
    if (d->len + n > d->cap) {
        size_t cap = d->cap * 2;
        while (cap < d->len + n)
            cap *= 2;
        uint8_t *b = realloc(d->buf, cap);
        if (b == NULL) return -1;
        d->buf = b;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
    return 0;
}

/* Say once that a response to (key, ver) went to the client unrewritten:
 * malformed, or of a flexible version. */
static void relay_report(broker_relay_t *relay, int malformed, int key, int ver)
{
    char line[256];
    if (relay->log == NULL || relay->warned) return;
    relay->warned = 1;
    snprintf(line, sizeof line,
             "broker relay: a response to request key %d version %d %s; passed on unchanged, "
             "so clients may be sent to the mock's 127.0.0.1 address",
             key, ver, malformed ? "could not be parsed" : "is of a version not rewritten");
    relay->log(line);
}

/* --------------------------------------------------------------- framing */

/* Follow the requests in p[0..n) (already queued unchanged); remember the
 * ones whose responses get rewritten. 0, or -1 on a framing error. */
static int relay_scan_requests(struct relay_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (c->req_left > 0) {
            size_t k = n < c->req_left ? n : (size_t)c->req_left;
            p += k;
            n -= k;
            c->req_left -= k;
            continue;
        }
        size_t k = sizeof c->req_hdr - c->req_have;
        if (k > n) k = n;
        memcpy(c->req_hdr + c->req_have, p, k);
        c->req_have += k;
        p += k;
        n -= k;
        if (c->req_have < sizeof c->req_hdr) break;
        uint32_t size = be32(c->req_hdr);
        int16_t key = (int16_t)(c->req_hdr[4] << 8 | c->req_hdr[5]);
        int16_t ver = (int16_t)(c->req_hdr[6] << 8 | c->req_hdr[7]);
        if (size < 8 || size > (uint32_t)INT32_MAX) return -1;
        c->req_have = 0;
        c->req_left = size - 8;
        if (key == KAFKA_METADATA || key == KAFKA_FIND_COORDINATOR) {
            if (c->npending == RELAY_MAX_PENDING) return -1;
            c->pending[c->npending++] =
                (struct relay_pending){(int32_t)be32(c->req_hdr + 8), key, ver};
        }
    }
    return 0;
}

/* The held response is complete: queue it, rewritten when it can be. */
static int relay_release(broker_relay_t *relay, struct relay_conn *c)
{
    uint8_t *body = NULL, hdr[8];
    size_t blen = 0;
    int rw = broker_relay_rewrite(c->held.key, c->held.ver, c->hold, c->hold_len, relay->routes,
                                  relay->n_routes, &body, &blen);
    if (rw <= 0) {
        body = c->hold;
        blen = c->hold_len;
        if (rw < 0 || (c->held.key == KAFKA_METADATA && c->held.ver > 8) ||
            (c->held.key == KAFKA_FIND_COORDINATOR && c->held.ver > 2))
            relay_report(relay, rw < 0, c->held.key, c->held.ver);
    }
    uint32_t size = (uint32_t)blen + 4, corr = (uint32_t)c->held.corr;
    for (int i = 0; i < 4; i++) {
        hdr[i] = (uint8_t)(size >> (24 - 8 * i));
        hdr[4 + i] = (uint8_t)(corr >> (24 - 8 * i));
    }
    int rc = relay_dir_put(&c->dir[1], hdr, sizeof hdr) == 0 &&
                     relay_dir_put(&c->dir[1], body, blen) == 0
                 ? 0
                 : -1;
    if (body != c->hold) free(body);
    c->holding = 0;
    c->hold_len = 0;
    return rc;
}

/* Pass the upstream's bytes p[0..n) on to the client, holding and
 * rewriting the responses to remembered requests. 0, or -1 on a framing
 * error or when out of memory. */
static int relay_filter_responses(broker_relay_t *relay, struct relay_conn *c, const uint8_t *p,
                                  size_t n)
{
    while (n > 0) {
        if (c->resp_left > 0) {
            size_t k = n < c->resp_left ? n : (size_t)c->resp_left;
            if (c->holding) {
                memcpy(c->hold + c->hold_len, p, k);
                c->hold_len += k;
            } else if (relay_dir_put(&c->dir[1], p, k) != 0) {
                return -1;
            }
            p += k;
            n -= k;
            c->resp_left -= k;
            if (c->resp_left == 0 && c->holding && relay_release(relay, c) != 0) return -1;
            continue;
        }
        size_t k = sizeof c->resp_hdr - c->resp_have;
        if (k > n) k = n;
        memcpy(c->resp_hdr + c->resp_have, p, k);
        c->resp_have += k;
        p += k;
        n -= k;
        if (c->resp_have < sizeof c->resp_hdr) break;
        c->resp_have = 0;
        uint32_t size = be32(c->resp_hdr);
        int32_t corr = (int32_t)be32(c->resp_hdr + 4);
        if (size < 4 || size > (uint32_t)INT32_MAX) return -1;
        c->resp_left = size - 4;
        int found = -1;
        for (int i = 0; i < c->npending && found < 0; i++)
            if (c->pending[i].corr == corr) found = i;
        if (found < 0) {
            if (relay_dir_put(&c->dir[1], c->resp_hdr, sizeof c->resp_hdr) != 0) return -1;
            continue;
        }
        c->held = c->pending[found];
        memmove(&c->pending[found], &c->pending[found + 1],
                (size_t)(c->npending - found - 1) * sizeof c->pending[0]);
        c->npending--;
        if (c->resp_left > RELAY_MAX_FRAME) return -1;
        if (c->resp_left > c->hold_cap) {
            uint8_t *h = realloc(c->hold, (size_t)c->resp_left);
            if (h == NULL) return -1;
            c->hold = h;
            c->hold_cap = (size_t)c->resp_left;
        }
        c->holding = 1;
        c->hold_len = 0;
        if (c->resp_left == 0 && relay_release(relay, c) != 0) return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- connections */

static int relay_set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void relay_set_nodelay(int fd)
{
    int one = 1;
    /* Kafka requests are small and latency-bound; best effort. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void relay_conn_free(struct relay_conn *c)
{
    for (int s = 0; s < 2; s++) {
        if (c->fd[s] >= 0) close(c->fd[s]);
        free(c->dir[s].buf);
    }
    free(c->hold);
    free(c);
}

/* Take ownership of an accepted client socket and start connecting upstream.
 * Returns the new connection, or NULL after closing client_fd. */
static struct relay_conn *relay_conn_new(broker_relay_t *relay, int client_fd)
{
    struct relay_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(client_fd);
        return NULL;
    }
    c->fd[0] = client_fd;
    c->fd[1] = -1;
    for (int d = 0; d < 2; d++) {
        c->dir[d].buf = malloc(RELAY_BUF_SIZE);
        c->dir[d].cap = RELAY_BUF_SIZE;
        if (c->dir[d].buf == NULL) goto fail;
    }
    relay_set_nodelay(client_fd);

    c->fd[1] = socket(relay->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd[1] < 0) goto fail;
    relay_set_nodelay(c->fd[1]);
    if (connect(c->fd[1], (struct sockaddr *)&relay->target, relay->target_len) == 0)
        c->connecting = 0;
    else if (errno == EINPROGRESS)
        c->connecting = 1;
    else
        goto fail;
    return c;
fail:
    relay_conn_free(c);
    return NULL;
}

/* Direction d may read from fd[d]: not at end of stream, fewer than
 * RELAY_BUF_SIZE bytes waiting, and (for the upstream side) the connection
 * is established. */
static int relay_dir_can_read(const struct relay_conn *c, int d)
{
    if (d == 1 && c->connecting) return 0;
    return !c->dir[d].eof && c->dir[d].len - c->dir[d].off < RELAY_BUF_SIZE;
}

/* Direction d may write to fd[1 - d]: bytes are waiting and the destination
 * is established. */
static int relay_dir_can_write(const struct relay_conn *c, int d)
{
    if (d == 0 && c->connecting) return 0;
    return c->dir[d].len > c->dir[d].off;
}

/* poll() events wanted on socket s of connection c (0 = none). */
static short relay_conn_events(const struct relay_conn *c, int s)
{
    short ev = 0;
    if (s == 1 && c->connecting) return POLLOUT;
    if (relay_dir_can_read(c, s)) ev |= POLLIN;
    if (relay_dir_can_write(c, 1 - s)) ev |= POLLOUT;
    return ev;
}

/* Read what socket s has into its direction. 0, or -1 to close. */
static int relay_conn_read(broker_relay_t *relay, struct relay_conn *c, int s)
{
    struct relay_dir *dir = &c->dir[s];
    uint8_t tmp[RELAY_BUF_SIZE];
    ssize_t n;
    if (s == 1 && relay->n_routes > 0) {
        /* responses go through the filter, which may hold and rewrite */
        n = recv(c->fd[s], tmp, sizeof tmp, 0);
        if (n > 0) return relay_filter_responses(relay, c, tmp, (size_t)n);
    } else {
        if (dir->off == dir->len) dir->off = dir->len = 0;
        if (dir->cap - dir->len < RELAY_BUF_SIZE / 4) relay_dir_compact(dir);
        n = recv(c->fd[s], dir->buf + dir->len, dir->cap - dir->len, 0);
        if (n > 0) {
            dir->len += (size_t)n;
            if (s == 0 && relay->n_routes > 0)
                return relay_scan_requests(c, dir->buf + dir->len - (size_t)n, (size_t)n);
            return 0;
        }
    }
    if (n == 0) {
        dir->eof = 1;
        return 0;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

/* Act on poll() results for both sockets of c. Returns 0 to keep the
 * connection, -1 when it is finished or failed (the caller frees it). */
static int relay_conn_service(broker_relay_t *relay, struct relay_conn *c, const short revents[2])
{
    if (c->connecting && revents[1] != 0) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) return -1;
        c->connecting = 0;
        return 0; /* poll again with the full event set */
    }
    for (int s = 0; s < 2; s++) {
        if (revents[s] == 0) continue;
        if (relay_dir_can_read(c, s) && (revents[s] & (POLLIN | POLLHUP | POLLERR)) &&
            relay_conn_read(relay, c, s) != 0)
            return -1;
        if (relay_dir_can_write(c, 1 - s) && (revents[s] & (POLLOUT | POLLHUP | POLLERR))) {
            struct relay_dir *dir = &c->dir[1 - s];
            ssize_t n = send(c->fd[s], dir->buf + dir->off, dir->len - dir->off, MSG_NOSIGNAL);
            if (n > 0) {
                dir->off += (size_t)n;
                if (dir->off == dir->len) dir->off = dir->len = 0;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return -1;
            }
        }
    }
    if (c->connecting) return 0;
    for (int d = 0; d < 2; d++) {
        struct relay_dir *dir = &c->dir[d];
        if (dir->eof && !dir->shut && dir->off == dir->len) {
            if (shutdown(c->fd[1 - d], SHUT_WR) < 0) return -1;
            dir->shut = 1;
        }
    }
    return (c->dir[0].shut && c->dir[1].shut) ? -1 : 0;
}

/* Accept every pending client. Returns 0, or -1 when accept() is short of
 * resources (file descriptors, memory) and the caller should back off. */
static int relay_accept_all(broker_relay_t *relay)
{
    for (;;) {
        int fd = accept4(relay->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        if (relay->conn_cnt >= RELAY_MAX_CONNS) {
            close(fd);
            continue;
        }
        struct relay_conn *c = relay_conn_new(relay, fd);
        if (c == NULL) continue; /* client closed; it will retry */
        c->next = relay->conns;
        relay->conns = c;
        relay->conn_cnt++;
    }
}

static void *relay_thread_main(void *arg)
{
    broker_relay_t *relay = arg;
    struct pollfd *pfds = calloc(2 + 2 * RELAY_MAX_CONNS, sizeof *pfds);
    int backoff = 0;
    if (pfds == NULL) return NULL;

    for (;;) {
        int n = 0;
        pfds[n++] = (struct pollfd){.fd = relay->wake_fd[0], .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = backoff ? -1 : relay->listen_fd, .events = POLLIN};
        for (struct relay_conn *c = relay->conns; c != NULL; c = c->next) {
            for (int s = 0; s < 2; s++) {
                short ev = relay_conn_events(c, s);
                pfds[n++] = (struct pollfd){.fd = ev ? c->fd[s] : -1, .events = ev};
            }
        }
        int rc = poll(pfds, (nfds_t)n, backoff ? 100 : -1);
        if (rc < 0) {
            if (errno == EINTR) continue;
            break; /* EINVAL/ENOMEM: nothing sensible left to do */
        }
        if (pfds[0].revents) break; /* stop requested */

        int i = 2;
        for (struct relay_conn **cp = &relay->conns; *cp != NULL; i += 2) {
            struct relay_conn *c = *cp;
            const short revents[2] = {pfds[i].revents, pfds[i + 1].revents};
            if ((revents[0] || revents[1]) && relay_conn_service(relay, c, revents) < 0) {
                *cp = c->next;
                relay_conn_free(c);
                relay->conn_cnt--;
            } else {
                cp = &c->next;
            }
        }
        backoff = 0;
        if (pfds[1].revents && relay_accept_all(relay) < 0) backoff = 1;
    }
    free(pfds);
    return NULL;
}

int broker_relay_open(const char *host, int port, broker_relay_t **relayp, char *errstr,
                      size_t errstr_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    broker_relay_t *relay = NULL;
    char portstr[16];
    int rc = BROKER_RELAY_ERR, one = 1, gai;

    if (port < 1 || port > 65535) {
        snprintf(errstr, errstr_size, "port %d is outside 1-65535", port);
        return BROKER_RELAY_ERR;
    }
    snprintf(portstr, sizeof portstr, "%d", port);
    if ((gai = getaddrinfo(host, portstr, &hints, &ai)) != 0) {
        snprintf(errstr, errstr_size, "bad listen address %s: %s", host, gai_strerror(gai));
        return BROKER_RELAY_ERR;
    }
    relay = calloc(1, sizeof *relay);
    if (relay == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        goto done;
    }
    relay->wake_fd[0] = relay->wake_fd[1] = -1;
    relay->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (relay->listen_fd < 0 ||
        setsockopt(relay->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        snprintf(errstr, errstr_size, "cannot create a socket: %s", strerror(errno));
        goto done;
    }
    if (bind(relay->listen_fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        listen(relay->listen_fd, RELAY_BACKLOG) < 0) {
        rc = errno == EADDRINUSE      ? BROKER_RELAY_EADDRINUSE
             : errno == EADDRNOTAVAIL ? BROKER_RELAY_ENOTLOCAL
                                      : BROKER_RELAY_ERR;
        snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        goto done;
    }
    if (relay_set_nonblocking(relay->listen_fd) < 0 || pipe2(relay->wake_fd, O_CLOEXEC) < 0) {
        snprintf(errstr, errstr_size, "cannot set up the relay: %s", strerror(errno));
        goto done;
    }
    rc = BROKER_RELAY_OK;
done:
    freeaddrinfo(ai);
    if (rc == BROKER_RELAY_OK)
        *relayp = relay;
    else
        broker_relay_close(relay);
    return rc;
}

/* Resolve "host:port[,more]" (numeric host, IPv6 in brackets) into the
 * relay's target. Returns 0, or -1 with errstr filled. */
static int relay_parse_target(broker_relay_t *relay, const char *target, char *errstr,
                              size_t errstr_size)
{
    char host[256];
    size_t len = strcspn(target, ",");
    if (len == 0 || len >= sizeof host) goto bad;
    memcpy(host, target, len);
    host[len] = '\0';
    char *colon = strrchr(host, ':');
    if (colon == NULL || colon[1] == '\0') goto bad;
    *colon = '\0';
    char *port = colon + 1, *h = host;
    if (h[0] == '[') {
        size_t hl = strlen(h);
        if (hl < 2 || h[hl - 1] != ']') goto bad;
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(h, port, &hints, &ai);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "cannot resolve relay target '%s': %s", target,
                 gai_strerror(gai));
        return -1;
    }
    memcpy(&relay->target, ai->ai_addr, ai->ai_addrlen);
    relay->target_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
bad:
    snprintf(errstr, errstr_size, "bad relay target '%s' (want host:port)", target);
    return -1;
}

int broker_relay_set_routes(broker_relay_t *relay, const broker_relay_route_t *routes, int n,
                            char *errstr, size_t errstr_size)
{
    if (relay->started || n < 0 || n > BROKER_RELAY_MAX_ROUTES) {
        snprintf(errstr, errstr_size, "%s",
                 relay->started ? "relay already started" : "too many routes");
        return BROKER_RELAY_ERR;
    }
    for (int i = 0; i < n; i++) {
        if (strlen(routes[i].host) >= sizeof relay->routes[i].host || routes[i].port < 1 ||
            routes[i].port > 65535) {
            snprintf(errstr, errstr_size, "bad route to '%s' port %d", routes[i].host,
                     routes[i].port);
            return BROKER_RELAY_ERR;
        }
        relay->routes[i] = routes[i];
    }
    relay->n_routes = n;
    return BROKER_RELAY_OK;
}

void broker_relay_set_log(broker_relay_t *relay, void (*log)(const char *line))
{
    relay->log = log;
}

int broker_relay_start(broker_relay_t *relay, const char *target, char *errstr, size_t errstr_size)
{
    sigset_t all, old;
    int err;

    if (relay->started) {
        snprintf(errstr, errstr_size, "relay already started");
        return BROKER_RELAY_ERR;
    }
    if (relay_parse_target(relay, target, errstr, errstr_size) < 0) return BROKER_RELAY_ERR;
    /* The thread handles no signals: the process's main thread does. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&relay->thread, NULL, relay_thread_main, relay);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        snprintf(errstr, errstr_size, "cannot start the relay thread: %s", strerror(err));
        return BROKER_RELAY_ERR;
    }
    relay->started = 1;
    return BROKER_RELAY_OK;
}

void broker_relay_close(broker_relay_t *relay)
{
    if (relay == NULL) return;
    if (relay->started) {
        char byte = 0;
        ssize_t n;
        do
            n = write(relay->wake_fd[1], &byte, 1);
        while (n < 0 && errno == EINTR);
        pthread_join(relay->thread, NULL);
    }
    while (relay->conns != NULL) {
        struct relay_conn *c = relay->conns;
        relay->conns = c->next;
        relay_conn_free(c);
    }
    if (relay->listen_fd >= 0) close(relay->listen_fd);
    for (int i = 0; i < 2; i++)
        if (relay->wake_fd[i] >= 0) close(relay->wake_fd[i]);
    free(relay);
}
