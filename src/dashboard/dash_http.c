/* dash_http.c - routing of the dashboard's HTTP requests (dash_http.h).
 *
 * Invariants:
 *   1. The handler is called once per request with everything it needs in
 *      the URL (GET has no body): it answers on the first call.
 *   2. Query arguments are read through libmicrohttpd (decoded, valid for
 *      the connection's life) into a dash_query_t; nothing else from the
 *      request reaches dash_api. */
#include "dashboard/dash_http.h"
#include "dashboard/dash_assets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct dash_http {
    struct MHD_Daemon *daemon;
    const dash_api_t *api;
    int port;
};

static const char dash_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'";

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    dash_query_t *q = cls;
    if (q->n == DASH_QUERY_MAX) {
        q->overflow = 1;
        return MHD_NO;
    }
    q->key[q->n] = key;
    q->val[q->n] = value;
    q->n++;
    return MHD_YES;
}

static void common_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy", dash_csp);
}

/* Queue a response made from a malloc'ed body (taken) or a static one. */
static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned status, const char *type,
                                 void *body, size_t len, enum MHD_ResponseMemoryMode mode,
                                 const char *cache)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    common_headers(r, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result dash_http_serve(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **req_cls)
{
    dash_http_t *h = cls;
    static const char json_type[] = "application/json; charset=utf-8";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char msg[] = "{\"erro\":\"only GET and HEAD\"}";
        return send_body(conn, MHD_HTTP_METHOD_NOT_ALLOWED, json_type, (void *)msg, sizeof msg - 1,
                         MHD_RESPMEM_PERSISTENT, "no-store");
    }
    if (strncmp(url, "/api/", 5) == 0) {
        dash_query_t q = {0};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
        dash_reply_t rep;
        dash_api_serve(h->api, url + 5, &q, &rep);
        if (rep.body == NULL) return MHD_NO; /* out of memory: drop the connection */
        return send_body(conn, rep.status, json_type, rep.body, rep.len, MHD_RESPMEM_MUST_FREE,
                         "no-store");
    }
    const char *path = strcmp(url, "/index.html") == 0 ? "/" : url;
    for (const dash_asset_t *a = dash_assets; a->path; a++) {
        if (strcmp(a->path, path) != 0) continue;
        return send_body(conn, MHD_HTTP_OK, a->content_type, (void *)a->data,
                         (size_t)(a->end - a->data), MHD_RESPMEM_PERSISTENT,
                         a->immutable ? "public, max-age=86400" : "no-cache");
    }
    static const char nf[] = "not found\n";
    return send_body(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", (void *)nf,
                     sizeof nf - 1, MHD_RESPMEM_PERSISTENT, "no-store");
}

/* Is addr:port free to bind? 0 if so, else the errno of our own bind. */
static int probe_bind(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int one = 1, err = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, sa, len) != 0 || listen(fd, 1) != 0) err = errno;
    close(fd);
    return err;
}

dash_http_t *dash_http_start(const char *addr, int port, int threads, const dash_api_t *api,
                             char *err, size_t errsize)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sslen = sizeof *s4;
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sslen = sizeof *s6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errsize, "--listen '%.100s' is not an IPv4 or IPv6 address", addr);
        return NULL;
    }
    dash_http_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    h->api = api;
    h->daemon =
        MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, dash_http_serve, h,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                         (unsigned int)threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (h->daemon == NULL) {
        int e = probe_bind((struct sockaddr *)&ss, sslen);
        if (e == EADDRINUSE)
            snprintf(err, errsize, "port %d on %s is in use; choose another with --port", port,
                     addr);
        else
            snprintf(err, errsize, "cannot serve on %s:%d: %s", addr, port,
                     e ? strerror(e) : "libmicrohttpd could not start");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info && info->port ? info->port : port;
    return h;
}

int dash_http_port(const dash_http_t *h)
{
    return h ? h->port : 0;
}

void dash_http_stop(dash_http_t *h)
{
    if (h == NULL) return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
