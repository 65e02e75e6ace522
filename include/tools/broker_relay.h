/* broker_relay.h - a TCP relay from a fixed port to another address, which
 * can rewrite the broker addresses a Kafka broker advertises.
 *
 * librdkafka's mock cluster listens on ephemeral 127.0.0.1 ports that no
 * call can set, and advertises them in its Metadata and FindCoordinator
 * responses. Two uses:
 *   - `bankstream broker --port P`: a relay on 127.0.0.1:P in front of the
 *     mock's bootstrap address. Clients bootstrap through it and then follow
 *     the advertised 127.0.0.1 addresses, so only bootstrap connections flow
 *     through the relay; no rewriting.
 *   - `bankstream broker --listen ADDR --port P`: one relay per mock broker,
 *     on ADDR:P (P+1, ...), each given the routes (broker_relay_set_routes)
 *     "advertised port U -> ADDR:P". Responses to Metadata and FindCoordinator
 *     requests that pass through are rewritten so that clients on other hosts
 *     are sent to ADDR:P, never to 127.0.0.1:U; every connection, produce and
 *     fetch included, then flows through a relay.
 *
 * Life cycle:  broker_relay_open (bind + listen, nothing forwarded yet)
 *           -> [broker_relay_set_routes]
 *           -> broker_relay_start (one thread: poll() over all connections)
 *           -> broker_relay_close (stop the thread, close every socket, free).
 * Binding first lets a caller report "port in use" before it builds anything
 * expensive behind the relay.
 *
 * What is rewritten (the versions librdkafka 2.0.2's mock serves, and the
 * other non-flexible ones): Metadata v0-v8 (the brokers array), and
 * FindCoordinator v0-v2 (the coordinator). A response of a flexible version
 * (Metadata v9+, FindCoordinator v3+) passes unchanged, with one warning
 * through the log callback: the mock never negotiates them. */
#ifndef BS_BROKER_RELAY_H
#define BS_BROKER_RELAY_H

#include <stddef.h>
#include <stdint.h>

#define BROKER_RELAY_OK         0
#define BROKER_RELAY_ERR        -1 /* any other failure; errstr says which */
#define BROKER_RELAY_EADDRINUSE -2 /* the listen port is taken */
#define BROKER_RELAY_ENOTLOCAL  -3 /* the listen address is not one of this host */

#define BROKER_RELAY_MAX_ROUTES 16

typedef struct broker_relay broker_relay_t;

/* A broker the upstream advertises on upstream_port, which clients must
 * reach at host:port instead. */
typedef struct broker_relay_route {
    int upstream_port;
    char host[256];
    int port;
} broker_relay_route_t;

/* Bind and listen on host:port (a numeric IPv4/IPv6 address; port 1-65535,
 * SO_REUSEADDR set). On success stores a new relay in *relayp and returns
 * BROKER_RELAY_OK; on failure returns BROKER_RELAY_EADDRINUSE,
 * BROKER_RELAY_ENOTLOCAL or BROKER_RELAY_ERR, fills errstr, and *relayp is
 * left untouched. The caller owns the relay and frees it with
 * broker_relay_close. */
int broker_relay_open(const char *host, int port, broker_relay_t **relayp, char *errstr,
                      size_t errstr_size);

/* Rewrite the advertised addresses of responses with these routes (copied;
 * at most BROKER_RELAY_MAX_ROUTES). Call before broker_relay_start. Returns
 * BROKER_RELAY_OK or BROKER_RELAY_ERR with errstr. */
int broker_relay_set_routes(broker_relay_t *relay, const broker_relay_route_t *routes, int n,
                            char *errstr, size_t errstr_size);

/* Called (from the relay's thread) with one line when something a client
 * would not notice goes wrong: a response that could not be rewritten.
 * Optional; set before broker_relay_start. */
void broker_relay_set_log(broker_relay_t *relay, void (*log)(const char *line));

/* Start forwarding: every accepted connection gets its own connection to
 * target ("host:port", the first entry of a comma-separated list is used) and
 * bytes are copied both ways until either side closes. Returns
 * BROKER_RELAY_OK, or BROKER_RELAY_ERR with errstr filled (bad target, thread
 * creation failed; the relay then stays open but idle). Call once. */
int broker_relay_start(broker_relay_t *relay, const char *target, char *errstr, size_t errstr_size);

/* Stop the forwarding thread if started, close the listen socket and every
 * relayed connection, free the relay. NULL is a no-op. */
void broker_relay_close(broker_relay_t *relay);

/* The rewriting itself, on one response of request (api_key, api_version):
 * body is the response after its correlation id. Returns 1 with *out (a
 * malloc'd new body the caller frees) and *out_len when a broker address
 * matched a route, 0 when there is nothing to rewrite (another request, a
 * flexible version, no address matched: *out untouched), -1 when the body is
 * malformed or memory runs out. */
int broker_relay_rewrite(int16_t api_key, int16_t api_version, const uint8_t *body, size_t len,
                         const broker_relay_route_t *routes, int n_routes, uint8_t **out,
                         size_t *out_len);

#endif
