/* broker_relay.h - a TCP relay from a fixed local port to another address.
 *
 * librdkafka's mock cluster listens on ephemeral ports that no call can set,
 * so `bankstream broker --port P` puts this relay on 127.0.0.1:P in front of
 * the mock's bootstrap address. Clients bootstrap through the relay and then
 * follow the addresses the mock advertises in its metadata, so only the
 * bootstrap connections (metadata, API versions) normally flow through it.
 *
 * Life cycle:  broker_relay_open (bind + listen, nothing forwarded yet)
 *           -> broker_relay_start (one thread: poll() over all connections)
 *           -> broker_relay_close (stop the thread, close every socket, free).
 * Binding first lets a caller report "port in use" before it builds anything
 * expensive behind the relay. */
#ifndef BS_BROKER_RELAY_H
#define BS_BROKER_RELAY_H

#include <stddef.h>

#define BROKER_RELAY_OK         0
#define BROKER_RELAY_ERR        -1 /* any other failure; errstr says which */
#define BROKER_RELAY_EADDRINUSE -2 /* the listen port is taken */

typedef struct broker_relay broker_relay_t;

/* Bind and listen on host:port (a numeric IPv4/IPv6 address; port 1-65535,
 * SO_REUSEADDR set). On success stores a new relay in *relayp and returns
 * BROKER_RELAY_OK; on failure returns BROKER_RELAY_EADDRINUSE or
 * BROKER_RELAY_ERR, fills errstr, and *relayp is left untouched. The caller
 * owns the relay and frees it with broker_relay_close. */
int broker_relay_open(const char *host, int port, broker_relay_t **relayp, char *errstr,
                      size_t errstr_size);

/* Start forwarding: every accepted connection gets its own connection to
 * target ("host:port", the first entry of a comma-separated list is used) and
 * bytes are copied both ways until either side closes. Returns
 * BROKER_RELAY_OK, or BROKER_RELAY_ERR with errstr filled (bad target, thread
 * creation failed; the relay then stays open but idle). Call once. */
int broker_relay_start(broker_relay_t *relay, const char *target, char *errstr, size_t errstr_size);

/* Stop the forwarding thread if started, close the listen socket and every
 * relayed connection, free the relay. NULL is a no-op. */
void broker_relay_close(broker_relay_t *relay);

#endif
