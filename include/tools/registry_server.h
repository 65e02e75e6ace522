/* registry_server.h - an in-memory Schema Registry for the embedded
 * defaults (`bankstream broker --registry-port P`): the subset of the
 * Confluent REST API that producers and consumers use, Avro schemas only.
 *
 *   GET  /schemas/ids/{id}[/schema|/versions]     a schema by its global id
 *   GET  /schemas/types                           ["AVRO"]
 *   GET  /subjects                                the subjects
 *   GET  /subjects/{s}/versions                   their versions
 *   GET  /subjects/{s}/versions/{v|latest}[/schema]
 *   POST /subjects/{s}/versions                   register ({"id": N}); the same
 *                                                 schema gets the same id again
 *   POST /subjects/{s}                            look a schema up under a subject
 *   DELETE /subjects/{s}                          forget a subject (its versions)
 *   POST /compatibility/subjects/{s}/versions/{v|latest}   {"is_compatible": b}
 *                                                 (?verbose=true adds "messages")
 *   GET|PUT /config, GET|PUT|DELETE /config/{s}   compatibility level (default
 *                                                 BACKWARD; NONE, BACKWARD, FORWARD,
 *                                                 FULL and their _TRANSITIVE forms)
 *
 * Answers are application/vnd.schemaregistry.v1+json; errors as Confluent's
 * registry gives them: {"error_code": 40401, "message": "..."} with 40401
 * subject not found, 40402 version not found, 40403 schema not found, 40408
 * no subject-level compatibility, 42201 invalid schema, 42202 invalid
 * version, 42203 invalid compatibility level, 409 incompatible schema.
 * Registration checks compatibility (avro_compat.h) against the subject's
 * versions as its level says. Schemas are compared as compact JSON
 * (whitespace does not matter). Everything lives in memory until the
 * server stops. Listens on one IPv4 address (127.0.0.1 by default). */
#ifndef BS_REGISTRY_SERVER_H
#define BS_REGISTRY_SERVER_H

#include <stddef.h>

#define REGISTRY_SERVER_MAX_BODY     (1 << 20) /* bytes of a request body */
#define REGISTRY_SERVER_MAX_SCHEMAS  10000
#define REGISTRY_SERVER_MAX_SUBJECTS 10000

typedef struct registry_server registry_server_t;

/* Serve on addr:port (addr a numeric IPv4 address; NULL = 127.0.0.1), in a
 * thread of libmicrohttpd's. Returns the server, or NULL with errstr ("port
 * P is in use" when it is). */
registry_server_t *registry_server_start(const char *addr, int port, char *errstr, size_t errsize);

/* Stop serving and free everything. NULL-safe. */
void registry_server_stop(registry_server_t *rs);

#endif
