/* schema_cache.h - schema id -> what the stream does with messages of that
 * id, asked of the registry once per id and kept for the run.
 *
 * A verdict is either a plan (avro_decode.h: the writer schema resolved
 * against bankstream's reader schema) or a dead-letter reason that every
 * message of the id gets: the registry's 404 for the id, a schema that is
 * not Avro or not valid, or a writer that does not resolve (the reason
 * names the field). Verdicts never change during a run.
 *
 * When the registry cannot answer (registry_client.h: REGISTRY_UNAVAILABLE)
 * there is no verdict: SCHEMA_WAIT, and the stream holds back what needs
 * that id. The outage is reported when it starts, every 10 s while it lasts
 * and when it ends:
 *   "schema registry unreachable: <reason, with the URL>; batches with Avro messages wait for it"
 *   "schema registry still unreachable after N s: <reason>"
 *   "schema registry at URL reachable again after N s; resuming"
 * and retried at most once a second. Not thread-safe (rank 0's loop). */
#ifndef BS_SCHEMA_CACHE_H
#define BS_SCHEMA_CACHE_H

#include "base/avro_decode.h"
#include "registry/registry_client.h"

#include <stddef.h>
#include <stdint.h>

enum schema_verdict {
    SCHEMA_READY = 0, /* *plan */
    SCHEMA_DEAD = 1,  /* *why: the dead-letter reason */
    SCHEMA_WAIT = 2,  /* no answer yet: an outage (reported) */
};

typedef struct schema_cache schema_cache_t;

/* A cache asking client (owned from now on, freed with the cache, or at
 * once on failure; NULL: no registry, every id is dead with a reason saying
 * so) and resolving against rd (borrowed; must outlive the cache). NULL
 * when out of memory. */
schema_cache_t *schema_cache_new(registry_client_t *client, const avro_txn_reader_t *rd);
void schema_cache_free(schema_cache_t *sc);

/* The verdict for id, asking the registry when there is none yet (and no
 * retry is pending). SCHEMA_READY sets *plan, SCHEMA_DEAD *why (both owned
 * by the cache). */
int schema_cache_get(schema_cache_t *sc, uint32_t id, const avro_txn_plan_t **plan,
                     const char **why);

/* 1 while the registry is known to be unreachable. */
int schema_cache_down(const schema_cache_t *sc);

#endif
