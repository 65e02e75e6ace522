/* test_broker_relay.c - the broker relay's rewriting (broker_relay.h):
 * Metadata v0, v1, v3 and FindCoordinator v0, v1 responses get the routed
 * address, other brokers and the bytes after the brokers stay as they were,
 * flexible versions and other requests pass, truncated bodies are refused;
 * then a live relay on 127.0.0.1 in front of a fake upstream: requests
 * followed across split writes, a Metadata response rewritten with its new
 * frame size, another response passed byte for byte. */
#include "tools/broker_relay.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* A little builder for Kafka's big-endian encodings. */
typedef struct buf {
    uint8_t b[4096];
    size_t n;
} buf_t;

static void put32(buf_t *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        w->b[w->n++] = (uint8_t)(u >> (24 - 8 * i));
}

static void put16(buf_t *w, int16_t v)
{
    w->b[w->n++] = (uint8_t)((uint16_t)v >> 8);
    w->b[w->n++] = (uint8_t)v;
}

static void putstr(buf_t *w, const char *s)
{
    if (s == NULL) {
        put16(w, -1);
        return;
    }
    put16(w, (int16_t)strlen(s));
    memcpy(w->b + w->n, s, strlen(s));
    w->n += strlen(s);
}

static const broker_relay_route_t routes[] = {
    {40001, "10.1.2.3", 9092},
    {40002, "10.1.2.3", 9093},
};

/* A Metadata response of version v: brokers (node, host, port), then a
 * tail that must come back unchanged. */
static void metadata(buf_t *w, int v, int n, const int *ports, const char *tail)
{
    w->n = 0;
    if (v >= 3) put32(w, 1234); /* throttle */
    put32(w, n);
    for (int i = 0; i < n; i++) {
        put32(w, i + 1);
        putstr(w, "127.0.0.1");
        put32(w, ports[i]);
        if (v >= 1) putstr(w, i == 0 ? "rack-a" : NULL);
    }
    memcpy(w->b + w->n, tail, strlen(tail));
    w->n += strlen(tail);
}

static void rewrites_metadata_versions(void **state)
{
    (void)state;
    const int ports[] = {40001, 5555, 40002};
    for (int v = 0; v <= 8; v++) {
        buf_t in, want;
        metadata(&in, v, 3, ports, "TOPICS");
        want.n = 0;
        if (v >= 3) put32(&want, 1234);
        put32(&want, 3);
        const char *hosts[] = {"10.1.2.3", "127.0.0.1", "10.1.2.3"};
        const int wports[] = {9092, 5555, 9093};
        for (int i = 0; i < 3; i++) {
            put32(&want, i + 1);
            putstr(&want, hosts[i]);
            put32(&want, wports[i]);
            if (v >= 1) putstr(&want, i == 0 ? "rack-a" : NULL);
        }
        memcpy(want.b + want.n, "TOPICS", 6);
        want.n += 6;
        uint8_t *out = NULL;
        size_t len = 0;
        assert_int_equal(broker_relay_rewrite(3, (int16_t)v, in.b, in.n, routes, 2, &out, &len), 1);
        assert_int_equal(len, want.n);
        assert_memory_equal(out, want.b, want.n);
        free(out);
    }
}

static void rewrites_find_coordinator(void **state)
{
    (void)state;
    for (int v = 0; v <= 2; v++) {
        buf_t in = {.n = 0}, want = {.n = 0};
        for (int k = 0; k < 2; k++) {
            buf_t *w = k ? &want : &in;
            if (v >= 1) put32(w, 7);
            put16(w, 0);
            if (v >= 1) putstr(w, NULL);
            put32(w, 1);
            putstr(w, k ? "10.1.2.3" : "127.0.0.1");
            put32(w, k ? 9093 : 40002);
        }
        uint8_t *out = NULL;
        size_t len = 0;
        assert_int_equal(broker_relay_rewrite(10, (int16_t)v, in.b, in.n, routes, 2, &out, &len),
                         1);
        assert_int_equal(len, want.n);
        assert_memory_equal(out, want.b, want.n);
        free(out);
    }
}

static void leaves_the_rest_alone(void **state)
{
    (void)state;
    buf_t in;
    const int ports[] = {5555};
    uint8_t *out = NULL;
    size_t len = 0;
    metadata(&in, 2, 1, ports, "");
    /* no broker on a routed port, no routes, another request, a flexible version */
    assert_int_equal(broker_relay_rewrite(3, 2, in.b, in.n, routes, 2, &out, &len), 0);
    assert_int_equal(broker_relay_rewrite(3, 2, in.b, in.n, routes, 0, &out, &len), 0);
    assert_int_equal(broker_relay_rewrite(1, 2, in.b, in.n, routes, 2, &out, &len), 0);
    assert_int_equal(broker_relay_rewrite(3, 9, in.b, in.n, routes, 2, &out, &len), 0);
    assert_int_equal(broker_relay_rewrite(10, 3, in.b, in.n, routes, 2, &out, &len), 0);
    assert_null(out);
    /* truncated anywhere: refused */
    const int routed[] = {40001};
    metadata(&in, 1, 1, routed, "");
    for (size_t cut = 0; cut < in.n; cut++)
        assert_int_equal(broker_relay_rewrite(3, 1, in.b, cut, routes, 2, &out, &len), -1);
    assert_null(out);
}

/* ---- a live relay ------------------------------------------------------ */

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void read_exactly(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(fd, p + got, n - got, 0);
        assert_true(k > 0);
        got += (size_t)k;
    }
}

/* A request frame: size, key, version, correlation id, client id. */
static void request(buf_t *w, int16_t key, int16_t ver, int32_t corr)
{
    w->n = 0;
    put32(w, 0);
    put16(w, key);
    put16(w, ver);
    put32(w, corr);
    putstr(w, "test");
    uint32_t size = (uint32_t)w->n - 4;
    for (int i = 0; i < 4; i++)
        w->b[i] = (uint8_t)(size >> (24 - 8 * i));
}

static void relays_and_rewrites_frames(void **state)
{
    (void)state;
    int up_port = 0, relay_port = 0;
    int up = listen_any(&up_port);
    /* a free port for the relay: take one and give it back */
    int probe = listen_any(&relay_port);
    close(probe);
    broker_relay_t *relay = NULL;
    char err[256];
    broker_relay_route_t route = {40001, "10.1.2.3", 9092};
    assert_int_equal(broker_relay_open("127.0.0.1", relay_port, &relay, err, sizeof err),
                     BROKER_RELAY_OK);
    assert_int_equal(broker_relay_set_routes(relay, &route, 1, err, sizeof err), BROKER_RELAY_OK);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", up_port);
    assert_int_equal(broker_relay_start(relay, target, err, sizeof err), BROKER_RELAY_OK);

    int client = connect_to(relay_port);
    int server = accept(up, NULL, NULL);
    assert_true(server >= 0);

    /* Two requests, the Metadata one written in three pieces. */
    buf_t fetch, meta, seen;
    request(&fetch, 1, 4, 41);
    request(&meta, 3, 2, 42);
    assert_int_equal(send(client, fetch.b, fetch.n, 0), (ssize_t)fetch.n);
    assert_int_equal(send(client, meta.b, 3, 0), 3);
    usleep(20000);
    assert_int_equal(send(client, meta.b + 3, 7, 0), 7);
    usleep(20000);
    assert_int_equal(send(client, meta.b + 10, meta.n - 10, 0), (ssize_t)(meta.n - 10));
    seen.n = fetch.n + meta.n;
    read_exactly(server, seen.b, seen.n);
    assert_memory_equal(seen.b, fetch.b, fetch.n);
    assert_memory_equal(seen.b + fetch.n, meta.b, meta.n);

    /* The fetch response passes as it is; the metadata one is rewritten. */
    buf_t resp = {.n = 0}, body;
    const int ports[] = {40001};
    metadata(&body, 2, 1, ports, "T");
    put32(&resp, 4 + 5);
    put32(&resp, 41);
    memcpy(resp.b + resp.n, "FETCH", 5);
    resp.n += 5;
    put32(&resp, (int32_t)(4 + body.n));
    put32(&resp, 42);
    memcpy(resp.b + resp.n, body.b, body.n);
    resp.n += body.n;
    assert_int_equal(send(server, resp.b, resp.n, 0), (ssize_t)resp.n);

    uint8_t got[512];
    read_exactly(client, got, 13);
    assert_memory_equal(got, resp.b, 13);
    read_exactly(client, got, 8);
    uint32_t size = (uint32_t)got[0] << 24 | (uint32_t)got[1] << 16 | got[2] << 8 | got[3];
    assert_int_equal(got[7], 42);
    uint8_t *want = NULL;
    size_t want_len = 0;
    assert_int_equal(broker_relay_rewrite(3, 2, body.b, body.n, &route, 1, &want, &want_len), 1);
    assert_int_equal(size, 4 + want_len);
    read_exactly(client, got, want_len);
    assert_memory_equal(got, want, want_len);
    free(want);

    close(client);
    close(server);
    close(up);
    broker_relay_close(relay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rewrites_metadata_versions),
        cmocka_unit_test(rewrites_find_coordinator),
        cmocka_unit_test(leaves_the_rest_alone),
        cmocka_unit_test(relays_and_rewrites_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
