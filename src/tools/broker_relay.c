/* broker_relay.c - forward TCP connections from a fixed local port to a target.
 *
 * Serves `bankstream broker --port P`: the mock cluster's own listeners sit
 * on ephemeral ports, so this relay accepts on P and copies bytes both ways
 * to the mock's bootstrap address. Only bootstrap traffic (metadata) flows
 * here in practice; produce and fetch go to the advertised broker address.
 *
 * Design:
 *  1. One thread, one poll() loop over: a wake-up pipe (stop request), the
 *     listen socket, and two sockets per relayed connection. All sockets are
 *     non-blocking; the upstream connect is non-blocking too.
 *  2. Each connection has two directions (client -> upstream, upstream ->
 *     client), each with one fixed buffer. A direction reads only while its
 *     buffer has room and writes only while it holds bytes, so a slow reader
 *     pushes back on its writer instead of growing memory.
 *  3. A socket with nothing to wait for is left out of the poll set (fd -1),
 *     so a hung-up peer cannot make poll() spin.
 *  4. End of stream on one side is passed on with shutdown(SHUT_WR) once its
 *     buffer is drained; the pair is closed when both directions are done or
 *     on any socket error (the client then simply reconnects).
 *
 *   accept -> relay_conn_new (connecting) -> relay_conn_service (connected,
 *   copying) -> both directions shut or error -> relay_conn_free */
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

#define RELAY_BUF_SIZE  (64 * 1024)
#define RELAY_MAX_CONNS 1000 /* further clients are accepted and closed */
#define RELAY_BACKLOG   128

/* One direction of a relayed connection: bytes read from fd[d] wait in buf
 * [off, len) to be written to fd[1 - d]. */
struct relay_dir {
    char *buf;
    size_t off, len;
    int eof;  /* the reading side reported end of stream */
    int shut; /* end of stream passed on to the writing side */
};

/* fd[0] is the client, fd[1] the upstream; dir[0] copies client -> upstream,
 * dir[1] upstream -> client. */
struct relay_conn {
    int fd[2];
    int connecting; /* upstream connect() still in progress */
    struct relay_dir dir[2];
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
};

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
    for (int s = 0; s < 2; s++)
        if (c->fd[s] >= 0) close(c->fd[s]);
    free(c);
}

/* Take ownership of an accepted client socket and start connecting upstream.
 * Returns the new connection, or NULL after closing client_fd. */
static struct relay_conn *relay_conn_new(broker_relay_t *relay, int client_fd)
{
    struct relay_conn *c = calloc(1, sizeof *c + 2 * (size_t)RELAY_BUF_SIZE);
    if (c == NULL) {
        close(client_fd);
        return NULL;
    }
    c->fd[0] = client_fd;
    c->dir[0].buf = (char *)(c + 1);
    c->dir[1].buf = c->dir[0].buf + RELAY_BUF_SIZE;
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

/* Direction d may read from fd[d]: not at end of stream, room in its buffer,
 * and (for the upstream side) the connection is established. */
static int relay_dir_can_read(const struct relay_conn *c, int d)
{
    if (d == 1 && c->connecting) return 0;
    return !c->dir[d].eof && c->dir[d].len < RELAY_BUF_SIZE;
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

/* Act on poll() results for both sockets of c. Returns 0 to keep the
 * connection, -1 when it is finished or failed (the caller frees it). */
static int relay_conn_service(struct relay_conn *c, const short revents[2])
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
        if (relay_dir_can_read(c, s) && (revents[s] & (POLLIN | POLLHUP | POLLERR))) {
            struct relay_dir *dir = &c->dir[s];
            ssize_t n = recv(c->fd[s], dir->buf + dir->len, RELAY_BUF_SIZE - dir->len, 0);
            if (n > 0)
                dir->len += (size_t)n;
            else if (n == 0)
                dir->eof = 1;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
        }
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
            if ((revents[0] || revents[1]) && relay_conn_service(c, revents) < 0) {
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
        rc = errno == EADDRINUSE ? BROKER_RELAY_EADDRINUSE : BROKER_RELAY_ERR;
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
