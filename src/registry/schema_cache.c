/* schema_cache.c - schema ids -> verdicts, and registry outages (see schema_cache.h).
 *
 * An open-addressing table of ids (power-of-two size, at most half full)
 * over an array of entries. States of the registry, as schema_cache_get
 * moves between them:
 *
 *   up --(fetch: UNAVAILABLE, log "unreachable")--> down
 *   down --(1 s later, fetch: UNAVAILABLE; every 10 s log "still")--> down
 *   down --(fetch: an answer, log "reachable again")--> up
 *
 * While down, ids without a verdict get SCHEMA_WAIT without a request
 * until a second has passed since the last attempt. */
#include "registry/schema_cache.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_US  1000000LL
#define REPORT_US 10000000LL

typedef struct entry {
    uint32_t id;
    int verdict; /* SCHEMA_READY or SCHEMA_DEAD */
    avro_txn_plan_t *plan;
    char *why;
} entry_t;

struct schema_cache {
    registry_client_t *client;
    const avro_txn_reader_t *rd;
    entry_t *entries;
    size_t n, cap;
    int32_t *slots; /* index into entries, -1 = empty */
    size_t nslots;
    /* the registry's state */
    int down;
    int64_t down_since_us, last_try_us, last_report_us;
    char reason[512];
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t slot_of(uint32_t id, size_t nslots)
{
    return (size_t)((id * 0x9e3779b1u) & (nslots - 1));
}

static int grow(schema_cache_t *sc)
{
    size_t nslots = sc->nslots ? sc->nslots * 2 : 64;
    int32_t *slots = malloc(nslots * sizeof *slots);
    entry_t *entries = realloc(sc->entries, nslots / 2 * sizeof *entries);
    if (slots == NULL || entries == NULL) {
        free(slots);
        if (entries) sc->entries = entries;
        return -1;
    }
    sc->entries = entries;
    sc->cap = nslots / 2;
    for (size_t i = 0; i < nslots; i++)
        slots[i] = -1;
    for (size_t e = 0; e < sc->n; e++) {
        size_t s = slot_of(sc->entries[e].id, nslots);
        while (slots[s] >= 0)
            s = (s + 1) & (nslots - 1);
        slots[s] = (int32_t)e;
    }
    free(sc->slots);
    sc->slots = slots;
    sc->nslots = nslots;
    return 0;
}

schema_cache_t *schema_cache_new(registry_client_t *client, const avro_txn_reader_t *rd)
{
    schema_cache_t *sc = calloc(1, sizeof *sc);
    if (sc == NULL || grow(sc) != 0) {
        registry_client_free(client);
        if (sc) free(sc->entries);
        free(sc);
        return NULL;
    }
    sc->client = client;
    sc->rd = rd;
    return sc;
}

void schema_cache_free(schema_cache_t *sc)
{
    if (sc == NULL) return;
    for (size_t i = 0; i < sc->n; i++) {
        avro_txn_plan_free(sc->entries[i].plan);
        free(sc->entries[i].why);
    }
    free(sc->entries);
    free(sc->slots);
    registry_client_free(sc->client);
    free(sc);
}

int schema_cache_down(const schema_cache_t *sc)
{
    return sc->down;
}

static entry_t *find(const schema_cache_t *sc, uint32_t id)
{
    for (size_t s = slot_of(id, sc->nslots); sc->slots[s] >= 0; s = (s + 1) & (sc->nslots - 1))
        if (sc->entries[sc->slots[s]].id == id) return &sc->entries[sc->slots[s]];
    return NULL;
}

/* A new entry for id (not present). NULL when out of memory. */
static entry_t *insert(schema_cache_t *sc, uint32_t id)
{
    if (sc->n + 1 > sc->cap && grow(sc) != 0) return NULL;
    size_t s = slot_of(id, sc->nslots);
    while (sc->slots[s] >= 0)
        s = (s + 1) & (sc->nslots - 1);
    entry_t *e = &sc->entries[sc->n];
    memset(e, 0, sizeof *e);
    e->id = id;
    sc->slots[s] = (int32_t)sc->n++;
    return e;
}

/* The registry's schema text (of the given type) as a verdict in e. */
static void judge(schema_cache_t *sc, entry_t *e, char *schema, const char *type)
{
    char why[AVRO_ERR_MAX + 64], err[AVRO_ERR_MAX];
    avro_schema_t *w = NULL;
    if (strcmp(type, "AVRO") != 0) {
        snprintf(why, sizeof why,
                 "schema id %u is a %s schema; bankstream reads Avro (or JSON "
                 "without a schema id)",
                 e->id, type);
    } else if (avro_schema_parse(schema, strlen(schema), &w, err, sizeof err) != 0) {
        snprintf(why, sizeof why, "the registry's schema is not valid Avro: %s", err);
    } else if ((e->plan = avro_txn_plan_new(sc->rd, w, err, sizeof err)) == NULL) {
        snprintf(why, sizeof why, "%s", err);
    } else {
        e->verdict = SCHEMA_READY;
        return;
    }
    e->verdict = SCHEMA_DEAD;
    e->why = strdup(why);
}

static void report_up(schema_cache_t *sc, int64_t now)
{
    if (!sc->down) return;
    sc->down = 0;
    log_info("schema registry at %s reachable again after %.0f s; resuming",
             registry_client_url(sc->client), (double)(now - sc->down_since_us) / 1e6);
}

static void report_down(schema_cache_t *sc, int64_t now, const char *reason)
{
    snprintf(sc->reason, sizeof sc->reason, "%s", reason);
    if (!sc->down) {
        sc->down = 1;
        sc->down_since_us = sc->last_report_us = now;
        log_warn("schema registry unreachable: %s; batches with Avro messages wait for it", reason);
    }
}

static void remind(schema_cache_t *sc, int64_t now)
{
    if (!sc->down || now - sc->last_report_us < REPORT_US) return;
    sc->last_report_us = now;
    log_warn("schema registry still unreachable after %.0f s: %s",
             (double)(now - sc->down_since_us) / 1e6, sc->reason);
}

int schema_cache_get(schema_cache_t *sc, uint32_t id, const avro_txn_plan_t **plan,
                     const char **why)
{
    entry_t *e = find(sc, id);
    if (e == NULL && sc->client == NULL) {
        e = insert(sc, id);
        if (e == NULL) return SCHEMA_WAIT;
        e->verdict = SCHEMA_DEAD;
        e->why = strdup("no schema registry configured (set [registry] url or run --registry URL)");
    }
    if (e == NULL) {
        int64_t now = mono_us();
        remind(sc, now);
        if (sc->down && now - sc->last_try_us < RETRY_US) return SCHEMA_WAIT;
        sc->last_try_us = now;
        char err[512], type[40], *schema = NULL;
        int rc = registry_client_schema_by_id(sc->client, id, &schema, type, sizeof type, err,
                                              sizeof err);
        if (rc == REGISTRY_UNAVAILABLE) {
            report_down(sc, now, err);
            return SCHEMA_WAIT;
        }
        report_up(sc, now);
        e = insert(sc, id);
        if (e == NULL) {
            free(schema);
            return SCHEMA_WAIT; /* out of memory: try again later */
        }
        if (rc == REGISTRY_OK) {
            judge(sc, e, schema, type);
        } else {
            e->verdict = SCHEMA_DEAD;
            e->why = strdup(err);
        }
        free(schema);
    }
    if (e->verdict == SCHEMA_READY) {
        *plan = e->plan;
        return SCHEMA_READY;
    }
    *why = e->why ? e->why : "out of memory keeping the reason";
    return SCHEMA_DEAD;
}
