/* registry_client.h - a client of a Confluent-compatible Schema Registry
 * (Confluent's own, Apicurio's /apis/ccompat/v7, `bankstream broker
 * --registry-port`), over HTTP(S) with libcurl: a schema by id, and
 * registering a schema under a subject.
 *
 * Settings are named as Confluent's clients name them and passed as
 * key/value pairs (the job file's [registry] section, `produce
 * --registry-opt`):
 *   url                            one base URL or several, comma-separated
 *                                  (tried in order; the one that answers is kept)
 *   basic.auth.credentials.source  USER_INFO (default) or URL (user:password@ in url)
 *   basic.auth.user.info           user:password
 *   bearer.auth.credentials.source STATIC_TOKEN, with bearer.auth.token
 *   bearer.auth.logical.cluster, bearer.auth.identity.pool.id   (Confluent Cloud headers)
 *   ssl.ca.location                CA file or directory ("false": no verification)
 *   ssl.certificate.location, ssl.key.location, ssl.key.password   (client certificate)
 *   ssl.endpoint.identification.algorithm   "https" (default) or "" / "none": no host check
 *   proxy                          an HTTP proxy URL
 *   timeout                        seconds per request (default 10)
 * Anything else is refused with the key named, as librdkafka refuses an
 * unknown [kafka] property.
 *
 * Outcomes are kept apart because the stream treats them differently:
 * REGISTRY_NOT_FOUND is the registry's own answer that the id or subject
 * does not exist (HTTP 404 with a Confluent error code); REGISTRY_UNAVAILABLE
 * is everything that may pass (connection refused, timeout, 5xx, 401/403, a
 * 404 that is not the registry's: a wrong base URL); REGISTRY_REFUSED is a
 * definite "no" to a request (an invalid or incompatible schema). Every
 * message is one line naming the URL. Not thread-safe: one client per thread. */
#ifndef BS_REGISTRY_CLIENT_H
#define BS_REGISTRY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define REGISTRY_DEFAULT_URL  "http://127.0.0.1:8081"
#define REGISTRY_MAX_SETTINGS 16
#define REGISTRY_MAX_BODY     (8 << 20) /* bytes of an answer we read */

enum registry_rc {
    REGISTRY_OK = 0,
    REGISTRY_NOT_FOUND = 1,
    REGISTRY_REFUSED = 2,
    REGISTRY_UNAVAILABLE = -1,
};

typedef struct registry_client registry_client_t;

/* A client of the registry the settings describe (url is required). Checks
 * the settings; contacts nothing. Returns the client or NULL with errstr
 * naming the bad setting. */
registry_client_t *registry_client_new(const char *const *keys, const char *const *values, int n,
                                       char *errstr, size_t errsize);
void registry_client_free(registry_client_t *rc);

/* The URL requests go to (the first of the list until another answered). */
const char *registry_client_url(const registry_client_t *rc);

/* GET /schemas/ids/{id}. REGISTRY_OK with *schema (the schema text, free()
 * it) and type ("AVRO", "JSON", "PROTOBUF"); otherwise errstr and *schema NULL. */
int registry_client_schema_by_id(registry_client_t *rc, uint32_t id, char **schema, char *type,
                                 size_t typesize, char *errstr, size_t errsize);

/* POST /subjects/{subject}/versions with an Avro schema: its id (the same
 * schema gets the same id again). REGISTRY_OK with *id, else errstr. */
int registry_client_register(registry_client_t *rc, const char *subject, const char *schema,
                             uint32_t *id, char *errstr, size_t errsize);

#endif
