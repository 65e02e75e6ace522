/* registry_server.c - the in-memory Confluent-compatible Schema Registry
 * of `bankstream broker --registry-port` (see registry_server.h).
 *
 * Invariants:
 *   1. Schema ids are 1 + the index in `schemas`; a schema is stored once,
 *      keyed by its compact JSON text, and never removed (ids are global and
 *      stable, as in Confluent's registry).
 *   2. A subject's versions are 1..n in order, each a schema id.
 *   3. All state is read and written under rs->mu; answers are built under
 *      it as cJSON and printed after (MHD's thread serves one at a time, but
 *      the lock keeps this true with any threading mode).
 *   4. A request body is read whole (at most REGISTRY_SERVER_MAX_BODY) before
 *      the request is served; a larger one is answered 413 at once.
 *
 * Request flow (libmicrohttpd calls serve() several times per request):
 *   first call: allocate the body buffer (req_t) -> upload chunks: append
 *   -> last call (*upload_data_size == 0): route() -> queue the answer;
 *   on_completed() frees the req_t. */
#include "tools/registry_server.h"
#include "base/avro_compat.h"
#include "base/avro_schema.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
#define MAX_SEGMENTS 8

typedef struct schema_rec {
    avro_schema_t *parsed; /* its text is the key */
} schema_rec_t;

typedef struct subject {
    char *name;
    uint32_t *ids; /* versions 1..n */
    size_t n, cap;
    char level[24]; /* "" = the global level */
} subject_t;

struct registry_server {
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;
    schema_rec_t *schemas;
    size_t n_schemas, cap_schemas;
    subject_t *subjects;
    size_t n_subjects, cap_subjects;
    char level[24];
};

typedef struct req {
    char *body;
    size_t len;
    int too_big;
} req_t;

/* An answer: status and JSON (or raw text for the .../schema endpoints). */
typedef struct answer {
    unsigned status;
    cJSON *json;
    char *raw;
} answer_t;

static const char *const levels[] = {"NONE",           "BACKWARD",           "BACKWARD_TRANSITIVE",
                                     "FORWARD",        "FORWARD_TRANSITIVE", "FULL",
                                     "FULL_TRANSITIVE"};

/* ---- answers ---- */

static void err_answer(answer_t *a, unsigned status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void err_answer(answer_t *a, unsigned status, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON_Delete(a->json);
    a->status = status;
    a->json = cJSON_CreateObject();
    if (a->json) {
        cJSON_AddNumberToObject(a->json, "error_code", code);
        cJSON_AddStringToObject(a->json, "message", msg);
    }
}

static void ok_answer(answer_t *a, cJSON *j)
{
    a->status = MHD_HTTP_OK;
    a->json = j;
}

/* ---- state ---- */

static subject_t *find_subject(registry_server_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_subjects; i++)
        if (strcmp(rs->subjects[i].name, name) == 0) return &rs->subjects[i];
    return NULL;
}

static int find_schema(const registry_server_t *rs, const char *text)
{
    for (size_t i = 0; i < rs->n_schemas; i++)
        if (strcmp(avro_schema_text(rs->schemas[i].parsed), text) == 0) return (int)i + 1;
    return 0;
}

static const schema_rec_t *schema_by_id(const registry_server_t *rs, double id)
{
    if (!(id >= 1 && id <= (double)rs->n_schemas) || id != (double)(size_t)id) return NULL;
    return &rs->schemas[(size_t)id - 1];
}

static const char *subject_level(const registry_server_t *rs, const subject_t *s)
{
    return s && s->level[0] ? s->level : rs->level;
}

static int level_ok(const char *l)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(levels[i], l) == 0) return 1;
    return 0;
}

/* Parse a version segment: 1..n, "latest" or -1. 0 with *v (1-based), or -1. */
static int parse_version(const subject_t *s, const char *seg, size_t *v)
{
    if (strcmp(seg, "latest") == 0 || strcmp(seg, "-1") == 0) {
        *v = s ? s->n : 0;
        return 0;
    }
    char *end;
    long x = strtol(seg, &end, 10);
    if (*seg == '\0' || *end || x < 1 || x > 2147483647L) return -1;
    *v = (size_t)x;
    return 0;
}

/* Is `cand` compatible with subject s's versions (up to `upto`, 1-based)
 * under level? 1 yes, 0 no (reason in why). */
static int compatible(const registry_server_t *rs, const char *level, const subject_t *s,
                      size_t upto, const avro_schema_t *cand, char *why, size_t whysize)
{
    int transitive = strstr(level, "_TRANSITIVE") != NULL;
    int backward = strncmp(level, "BACKWARD", 8) == 0 || strncmp(level, "FULL", 4) == 0;
    int forward = strncmp(level, "FORWARD", 7) == 0 || strncmp(level, "FULL", 4) == 0;
    if (strcmp(level, "NONE") == 0 || s == NULL || upto == 0) return 1;
    size_t from = transitive ? 1 : upto;
    for (size_t v = upto; v >= from; v--) {
        const avro_node_t *old = avro_schema_root(rs->schemas[s->ids[v - 1] - 1].parsed);
        const avro_node_t *now = avro_schema_root(cand);
        char err[AVRO_ERR_MAX];
        if (backward && avro_schema_can_read(now, old, err, sizeof err) != 0) {
            snprintf(why, whysize,
                     "{oldSchemaVersion: %zu, %s: the new schema cannot read data "
                     "written with it: %s}",
                     v, level, err);
            return 0;
        }
        if (forward && avro_schema_can_read(old, now, err, sizeof err) != 0) {
            snprintf(why, whysize,
                     "{oldSchemaVersion: %zu, %s: data written with the new schema "
                     "cannot be read with it: %s}",
                     v, level, err);
            return 0;
        }
    }
    return 1;
}

/* The schema of a request body {"schema": "...", "schemaType": ..., "references": [...]}:
 * parsed, or NULL with an error answer. */
static avro_schema_t *body_schema(const req_t *rq, answer_t *a)
{
    cJSON *j = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->len);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "schema");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "schemaType");
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(j, "references");
    avro_schema_t *out = NULL;
    char err[AVRO_ERR_MAX];
    if (!cJSON_IsString(s)) {
        err_answer(a, 422, 42201, "Invalid schema: the request needs a \"schema\" string");
    } else if (t && !cJSON_IsNull(t) &&
               !(cJSON_IsString(t) && strcmp(t->valuestring, "AVRO") == 0)) {
        err_answer(a, 422, 42201, "Invalid schema: bankstream's registry holds AVRO schemas only");
    } else if (cJSON_IsArray(refs) && cJSON_GetArraySize(refs) > 0) {
        err_answer(a, 422, 42201, "Invalid schema: schema references are not supported");
    } else if (avro_schema_parse(s->valuestring, strlen(s->valuestring), &out, err, sizeof err) !=
               0) {
        err_answer(a, 422, 42201, "Invalid schema: %s", err);
    }
    cJSON_Delete(j);
    return out;
}

static cJSON *version_json(const registry_server_t *rs, const subject_t *s, size_t v)
{
    uint32_t id = s->ids[v - 1];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    cJSON_AddStringToObject(o, "subject", s->name);
    cJSON_AddNumberToObject(o, "version", (double)v);
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "schema", avro_schema_text(rs->schemas[id - 1].parsed));
    return o;
}

/* ---- endpoints ---- */

static void do_register(registry_server_t *rs, const char *name, const req_t *rq, answer_t *a)
{
    avro_schema_t *cand = body_schema(rq, a);
    if (cand == NULL) return;
    subject_t *s = find_subject(rs, name);
    int id = find_schema(rs, avro_schema_text(cand));
    if (s && id)
        for (size_t v = 0; v < s->n; v++)
            if (s->ids[v] == (uint32_t)id) { /* already a version: the same id */
                avro_schema_free(cand);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "id", id);
                ok_answer(a, o);
                return;
            }
    char why[512];
    if (!compatible(rs, subject_level(rs, s), s, s ? s->n : 0, cand, why, sizeof why)) {
        avro_schema_free(cand);
        err_answer(a, 409, 409,
                   "Schema being registered is incompatible with an earlier schema for subject "
                   "\"%s\", details: [%s]",
                   name, why);
        return;
    }
    if ((!id && rs->n_schemas == REGISTRY_SERVER_MAX_SCHEMAS) ||
        (!s && rs->n_subjects == REGISTRY_SERVER_MAX_SUBJECTS)) {
        avro_schema_free(cand);
        err_answer(a, 500, 50001,
                   "Error in the backend data store: the in-memory registry is "
                   "full");
        return;
    }
    if (!id) {
        if (rs->n_schemas == rs->cap_schemas) {
            size_t cap = rs->cap_schemas ? rs->cap_schemas * 2 : 16;
            schema_rec_t *n = realloc(rs->schemas, cap * sizeof *n);
            if (n == NULL) goto oom;
            rs->schemas = n;
            rs->cap_schemas = cap;
        }
        rs->schemas[rs->n_schemas++].parsed = cand;
        cand = NULL;
        id = (int)rs->n_schemas;
    }
    if (s == NULL) {
        if (rs->n_subjects == rs->cap_subjects) {
            size_t cap = rs->cap_subjects ? rs->cap_subjects * 2 : 16;
            subject_t *n = realloc(rs->subjects, cap * sizeof *n);
            if (n == NULL) goto oom;
            rs->subjects = n;
            rs->cap_subjects = cap;
        }
        s = &rs->subjects[rs->n_subjects];
        memset(s, 0, sizeof *s);
        s->name = strdup(name);
        if (s->name == NULL) goto oom;
        rs->n_subjects++;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        uint32_t *n = realloc(s->ids, cap * sizeof *n);
        if (n == NULL) goto oom;
        s->ids = n;
        s->cap = cap;
    }
    s->ids[s->n++] = (uint32_t)id;
    avro_schema_free(cand);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    ok_answer(a, o);
    return;
oom:
    avro_schema_free(cand);
    err_answer(a, 500, 50001, "Error in the backend data store: out of memory");
}

static void do_lookup(registry_server_t *rs, const char *name, const req_t *rq, answer_t *a)
{
    avro_schema_t *cand = body_schema(rq, a);
    if (cand == NULL) return;
    subject_t *s = find_subject(rs, name);
    int id = find_schema(rs, avro_schema_text(cand));
    avro_schema_free(cand);
    if (s == NULL) {
        err_answer(a, 404, 40401, "Subject '%s' not found.", name);
        return;
    }
    for (size_t v = s->n; v >= 1 && id; v--)
        if (s->ids[v - 1] == (uint32_t)id) {
            ok_answer(a, version_json(rs, s, v));
            return;
        }
    err_answer(a, 404, 40403, "Schema not found");
}

static void do_compat(registry_server_t *rs, const char *name, const char *ver, int verbose,
                      const req_t *rq, answer_t *a)
{
    subject_t *s = find_subject(rs, name);
    size_t v;
    if (parse_version(s, ver, &v) != 0) {
        err_answer(a, 422, 42202,
                   "The specified version '%s' is not a valid version id. Allowed values are "
                   "between [1, 2^31-1] and the string \"latest\"",
                   ver);
        return;
    }
    if (s == NULL) {
        err_answer(a, 404, 40401, "Subject '%s' not found.", name);
        return;
    }
    if (v > s->n) {
        err_answer(a, 404, 40402, "Version %zu not found.", v);
        return;
    }
    avro_schema_t *cand = body_schema(rq, a);
    if (cand == NULL) return;
    char why[512] = "";
    const char *level = subject_level(rs, s);
    /* against the given version, or all up to it when the level is transitive and
     * "latest" was asked */
    int ok = compatible(rs, level, s, v, cand, why, sizeof why);
    avro_schema_free(cand);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "is_compatible", ok);
    if (verbose) {
        cJSON *m = cJSON_AddArrayToObject(o, "messages");
        if (!ok && m) cJSON_AddItemToArray(m, cJSON_CreateString(why));
    }
    ok_answer(a, o);
}

static void do_config(registry_server_t *rs, const char *method, const char *name,
                      int default_to_global, const req_t *rq, answer_t *a)
{
    subject_t *s = name ? find_subject(rs, name) : NULL;
    if (strcmp(method, "GET") == 0) {
        const char *l = name ? (s && s->level[0] ? s->level : NULL) : rs->level;
        if (l == NULL && default_to_global) l = rs->level;
        if (l == NULL) {
            err_answer(a, 404, 40408,
                       "Subject '%s' does not have subject-level compatibility configured", name);
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "compatibilityLevel", l);
        ok_answer(a, o);
        return;
    }
    if (strcmp(method, "DELETE") == 0 && name) {
        if (s == NULL || !s->level[0]) {
            err_answer(a, 404, 40401, "Subject '%s' not found.", name);
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "compatibilityLevel", s->level);
        s->level[0] = '\0';
        ok_answer(a, o);
        return;
    }
    if (strcmp(method, "PUT") != 0) {
        err_answer(a, 405, 405, "HTTP 405 Method Not Allowed");
        return;
    }
    cJSON *j = cJSON_ParseWithLength(rq->body ? rq->body : "", rq->len);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "compatibility");
    if (!cJSON_IsString(c) || !level_ok(c->valuestring)) {
        cJSON_Delete(j);
        err_answer(a, 422, 42203,
                   "Invalid compatibility level. Valid values are none, backward, "
                   "forward, full, backward_transitive, forward_transitive, and "
                   "full_transitive");
        return;
    }
    if (name && s == NULL) {
        err_answer(a, 404, 40401, "Subject '%s' not found.", name);
        cJSON_Delete(j);
        return;
    }
    snprintf(name ? s->level : rs->level, sizeof rs->level, "%s", c->valuestring);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "compatibility", c->valuestring);
    cJSON_Delete(j);
    ok_answer(a, o);
}

static void do_subject_get(registry_server_t *rs, char **seg, int n, answer_t *a)
{
    /* seg: subjects, {s}, versions[, {v}[, schema]] */
    subject_t *s = find_subject(rs, seg[1]);
    if (s == NULL) {
        err_answer(a, 404, 40401, "Subject '%s' not found.", seg[1]);
        return;
    }
    if (n == 3) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t v = 1; v <= s->n; v++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v));
        ok_answer(a, arr);
        return;
    }
    size_t v;
    if (parse_version(s, seg[3], &v) != 0) {
        err_answer(a, 422, 42202,
                   "The specified version '%s' is not a valid version id. Allowed values are "
                   "between [1, 2^31-1] and the string \"latest\"",
                   seg[3]);
        return;
    }
    if (v == 0 || v > s->n) {
        err_answer(a, 404, 40402, "Version %zu not found.", v);
        return;
    }
    if (n == 5) {
        a->status = MHD_HTTP_OK;
        a->raw = strdup(avro_schema_text(rs->schemas[s->ids[v - 1] - 1].parsed));
        return;
    }
    ok_answer(a, version_json(rs, s, v));
}

static void do_schema_get(registry_server_t *rs, char **seg, int n, answer_t *a)
{
    /* seg: schemas, ids, {id}[, schema | versions] */
    char *end;
    double id = strtod(seg[2], &end);
    const schema_rec_t *r = *seg[2] && !*end ? schema_by_id(rs, id) : NULL;
    if (r == NULL) {
        err_answer(a, 404, 40403, "Schema %.20s not found", seg[2]);
        return;
    }
    if (n == 4 && strcmp(seg[3], "schema") == 0) {
        a->status = MHD_HTTP_OK;
        a->raw = strdup(avro_schema_text(r->parsed));
        return;
    }
    if (n == 4 && strcmp(seg[3], "versions") == 0) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < rs->n_subjects; i++)
            for (size_t v = 0; v < rs->subjects[i].n; v++)
                if (rs->subjects[i].ids[v] == (uint32_t)id) {
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "subject", rs->subjects[i].name);
                    cJSON_AddNumberToObject(o, "version", (double)v + 1);
                    cJSON_AddItemToArray(arr, o);
                }
        ok_answer(a, arr);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "schema", avro_schema_text(r->parsed));
    ok_answer(a, o);
}

static void do_subject_delete(registry_server_t *rs, const char *name, answer_t *a)
{
    subject_t *s = find_subject(rs, name);
    if (s == NULL) {
        err_answer(a, 404, 40401, "Subject '%s' not found.", name);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t v = 1; v <= s->n; v++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v));
    free(s->name);
    free(s->ids);
    *s = rs->subjects[--rs->n_subjects];
    ok_answer(a, arr);
}

/* The endpoint for method + path segments. Called under rs->mu. */
static void route(registry_server_t *rs, struct MHD_Connection *conn, const char *method,
                  char **seg, int n, const req_t *rq, answer_t *a)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    const char *verbose = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "verbose");
    const char *dtg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "defaultToGlobal");
    if (n == 0 && get) {
        ok_answer(a, cJSON_CreateObject());
    } else if (n >= 3 && n <= 4 && strcmp(seg[0], "schemas") == 0 && strcmp(seg[1], "ids") == 0) {
        if (get)
            do_schema_get(rs, seg, n, a);
        else
            err_answer(a, 405, 405, "HTTP 405 Method Not Allowed");
    } else if (n == 2 && strcmp(seg[0], "schemas") == 0 && strcmp(seg[1], "types") == 0 && get) {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_CreateString("AVRO"));
        ok_answer(a, arr);
    } else if (n == 1 && strcmp(seg[0], "subjects") == 0 && get) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < rs->n_subjects; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(rs->subjects[i].name));
        ok_answer(a, arr);
    } else if (n == 2 && strcmp(seg[0], "subjects") == 0) {
        if (post)
            do_lookup(rs, seg[1], rq, a);
        else if (strcmp(method, "DELETE") == 0)
            do_subject_delete(rs, seg[1], a);
        else
            err_answer(a, 405, 405, "HTTP 405 Method Not Allowed");
    } else if (n >= 3 && n <= 5 && strcmp(seg[0], "subjects") == 0 &&
               strcmp(seg[2], "versions") == 0 && (n != 5 || strcmp(seg[4], "schema") == 0)) {
        if (n == 3 && post)
            do_register(rs, seg[1], rq, a);
        else if (get)
            do_subject_get(rs, seg, n, a);
        else
            err_answer(a, 405, 405, "HTTP 405 Method Not Allowed");
    } else if (n == 5 && strcmp(seg[0], "compatibility") == 0 && strcmp(seg[1], "subjects") == 0 &&
               strcmp(seg[3], "versions") == 0 && post) {
        do_compat(rs, seg[2], seg[4], verbose && strcmp(verbose, "true") == 0, rq, a);
    } else if ((n == 1 || n == 2) && strcmp(seg[0], "config") == 0) {
        do_config(rs, method, n == 2 ? seg[1] : NULL, dtg && strcmp(dtg, "true") == 0, rq, a);
    } else {
        err_answer(a, 404, 404, "HTTP 404 Not Found");
    }
}

/* ---- HTTP ---- */

static enum MHD_Result send_answer(struct MHD_Connection *conn, answer_t *a)
{
    char *text = a->raw ? a->raw : a->json ? cJSON_PrintUnformatted(a->json) : NULL;
    cJSON_Delete(a->json);
    if (text == NULL) return MHD_NO; /* out of memory: drop the connection */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    enum MHD_Result rc = MHD_queue_response(conn, a->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **req_cls)
{
    registry_server_t *rs = cls;
    req_t *rq = *req_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL) return MHD_NO;
        *req_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || rq->len + n > REGISTRY_SERVER_MAX_BODY) {
            rq->too_big = 1;
            return MHD_YES;
        }
        char *b = realloc(rq->body, rq->len + n + 1);
        if (b == NULL) return MHD_NO;
        memcpy(b + rq->len, upload_data, n);
        rq->body = b;
        rq->len += n;
        b[rq->len] = '\0';
        return MHD_YES;
    }
    answer_t a = {0, NULL, NULL};
    if (rq->too_big) {
        err_answer(&a, 413, 413, "Request body larger than %d bytes", REGISTRY_SERVER_MAX_BODY);
        return send_answer(conn, &a);
    }
    /* the path's segments (MHD has unescaped it) */
    char path[4096], *seg[MAX_SEGMENTS + 1];
    int n = 0;
    snprintf(path, sizeof path, "%s", url);
    for (char *save = NULL, *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGMENTS) {
            n = MAX_SEGMENTS + 1;
            break;
        }
        seg[n++] = t;
    }
    if (n > MAX_SEGMENTS) {
        err_answer(&a, 404, 404, "HTTP 404 Not Found");
    } else {
        pthread_mutex_lock(&rs->mu);
        route(rs, conn, method, seg, n, rq, &a);
        pthread_mutex_unlock(&rs->mu);
    }
    if (a.json == NULL && a.raw == NULL) err_answer(&a, 500, 50001, "out of memory");
    return send_answer(conn, &a);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_t *rq = *req_cls;
    if (rq) {
        free(rq->body);
        free(rq);
    }
    *req_cls = NULL;
}

static int port_in_use(struct sockaddr_in sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int one = 1, used = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) used = errno == EADDRINUSE;
    close(fd);
    return used;
}

registry_server_t *registry_server_start(const char *addr, int port, char *errstr, size_t errsize)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (addr == NULL) addr = "127.0.0.1";
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        snprintf(errstr, errsize, "registry address '%s' is not a numeric IPv4 address", addr);
        return NULL;
    }
    registry_server_t *rs = calloc(1, sizeof *rs);
    if (rs == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&rs->mu, NULL);
    snprintf(rs->level, sizeof rs->level, "BACKWARD");
    rs->daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, serve, rs,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (rs->daemon == NULL) {
        if (port_in_use(sa))
            snprintf(errstr, errsize, "registry port %d is in use", port);
        else
            snprintf(errstr, errsize, "cannot serve the registry on %s:%d", addr, port);
        registry_server_stop(rs);
        return NULL;
    }
    return rs;
}

void registry_server_stop(registry_server_t *rs)
{
    if (rs == NULL) return;
    if (rs->daemon) MHD_stop_daemon(rs->daemon);
    for (size_t i = 0; i < rs->n_schemas; i++)
        avro_schema_free(rs->schemas[i].parsed);
    for (size_t i = 0; i < rs->n_subjects; i++) {
        free(rs->subjects[i].name);
        free(rs->subjects[i].ids);
    }
    free(rs->schemas);
    free(rs->subjects);
    pthread_mutex_destroy(&rs->mu);
    free(rs);
}
