/* msgdecode.c - JSON or Confluent-framed Avro, by the first byte (see msgdecode.h). */
#include "stream/msgdecode.h"
#include "base/avro_decode.h"
#include "base/json_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct msgdecode {
    avro_txn_reader_t *reader;
    schema_cache_t *cache;
};

msgdecode_t *msgdecode_new(const job_config_t *job, char *errstr, size_t errsize)
{
    msgdecode_t *d = calloc(1, sizeof *d);
    registry_client_t *client = NULL;
    if (d == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    d->reader = avro_txn_reader_new(NULL, errstr, errsize);
    if (d->reader == NULL) goto fail;
    const char *keys[JOB_MAX_REGISTRY_PROPS + 1], *values[JOB_MAX_REGISTRY_PROPS + 1];
    int n = 0, url_set = 0, no_registry = 0; /* no url, or an empty one: no registry */
    for (int i = 0; i < job->n_registry_props; i++) {
        keys[n] = job->registry_keys[i];
        values[n] = job->registry_values[i];
        if (strcmp(keys[n], "url") == 0) {
            url_set = 1;
            no_registry = values[n][0] == '\0';
        }
        n++;
    }
    if (url_set && !no_registry) {
        client = registry_client_new(keys, values, n, errstr, errsize);
        if (client == NULL) goto fail;
    }
    d->cache = schema_cache_new(client, d->reader); /* owns client now */
    if (d->cache == NULL) {
        snprintf(errstr, errsize, "out of memory");
        goto fail;
    }
    return d;
fail:
    msgdecode_free(d);
    return NULL;
}

void msgdecode_free(msgdecode_t *d)
{
    if (d == NULL) return;
    schema_cache_free(d->cache);
    avro_txn_reader_free(d->reader);
    free(d);
}

int msgdecode_ready(msgdecode_t *d, const void *msg, size_t len)
{
    uint32_t id;
    const uint8_t *body;
    size_t blen;
    const avro_txn_plan_t *plan;
    const char *why;
    if (d == NULL || avro_frame_parse(msg, len, &id, &body, &blen) != 0) return 1;
    return schema_cache_get(d->cache, id, &plan, &why) != SCHEMA_WAIT;
}

int msgdecode_txn(msgdecode_t *d, const void *msg, size_t len, txn_t *out, char *errstr,
                  size_t errsize)
{
    char why[JSON_DECODE_ERR_MAX + AVRO_ERR_MAX];
    const uint8_t *m = msg;
    if (len == 0 || m[0] != 0) {
        if (json_decode_txn(msg, len, out, why, sizeof why) == 0) return 0;
        snprintf(errstr, errsize, "json: %s", why);
        return -1;
    }
    uint32_t id;
    const uint8_t *body;
    size_t blen;
    if (avro_frame_parse(msg, len, &id, &body, &blen) != 0) {
        snprintf(errstr, errsize,
                 "avro: %zu bytes are too short for the Confluent framing (magic byte 0 and a "
                 "4-byte schema id)",
                 len);
        return -1;
    }
    if (d == NULL) {
        snprintf(errstr, errsize, "avro schema %u: this decoder reads JSON only", id);
        return -1;
    }
    const avro_txn_plan_t *plan = NULL;
    const char *dead = NULL;
    int v;
    while ((v = schema_cache_get(d->cache, id, &plan, &dead)) == SCHEMA_WAIT) {
        struct timespec pause = {0, 200 * 1000000L}; /* only when not asked ready first */
        nanosleep(&pause, NULL);
    }
    if (v == SCHEMA_DEAD) {
        snprintf(errstr, errsize, "avro schema %u: %s", id, dead);
        return -1;
    }
    if (avro_txn_decode(plan, body, blen, out, why, sizeof why) == 0) return 0;
    snprintf(errstr, errsize, "avro schema %u: %s", id, why);
    return -1;
}
