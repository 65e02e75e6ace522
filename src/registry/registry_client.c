/* registry_client.c - Confluent Schema Registry REST client on libcurl (see
 * registry_client.h).
 *
 * One easy handle per client, reused (keep-alive). Every request goes
 * through registry_request: it tries the URLs from the one that answered
 * last, moving on after a transport error or a 5xx, and leaves the answer's
 * status and body (capped at REGISTRY_MAX_BODY) in the client. What an
 * answer means is decided by the two calls above it. Text from the server
 * is made printable before it reaches an error message (it may end up in a
 * dead-letter row). */
#include "registry/registry_client.h"

#include "base/errstr.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URLS        8
#define DEFAULT_TIMEOUT 10
#define CONNECT_TIMEOUT 5
#define CONTENT_TYPE    "Content-Type: application/vnd.schemaregistry.v1+json"
#define ACCEPT                                                                                     \
    "Accept: application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, "        \
    "application/json"

struct registry_client {
    CURL *curl;
    char *urls[MAX_URLS];
    int n_urls, current;
    struct curl_slist *headers;
    char *user_info, *bearer, *ca, *cert, *key, *key_password, *proxy;
    int verify_peer, verify_host;
    long timeout_s;
    /* the last answer */
    long status;
    char *body;
    size_t len;
    int too_big;
    char curl_err[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* s as printable ASCII (others '?'), at most max bytes, into out[max + 4]. */
static const char *printable(const char *s, size_t max, char *out)
{
    size_t i = 0;
    for (; s && s[i] && i < max; i++)
        out[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
    if (s && s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    registry_client_t *rc = arg;
    size_t n = size * nmemb;
    if (rc->len + n > REGISTRY_MAX_BODY) {
        rc->too_big = 1;
        return 0; /* aborts the transfer */
    }
    char *b = realloc(rc->body, rc->len + n + 1);
    if (b == NULL) return 0;
    memcpy(b + rc->len, data, n);
    rc->body = b;
    rc->len += n;
    b[rc->len] = '\0';
    return n;
}

static int set_string(char **dst, const char *v, char *errstr, size_t errsize)
{
    free(*dst);
    *dst = strdup(v);
    if (*dst == NULL) errstr_set(errstr, errsize, "out of memory");
    return *dst ? 0 : -1;
}

static int add_header(registry_client_t *rc, const char *h, char *errstr, size_t errsize)
{
    struct curl_slist *l = curl_slist_append(rc->headers, h);
    if (l == NULL) {
        errstr_set(errstr, errsize, "out of memory");
        return -1;
    }
    rc->headers = l;
    return 0;
}

/* The url setting (a later one replaces an earlier one). */
static int set_urls(registry_client_t *rc, const char *v, char *errstr, size_t errsize)
{
    const char *p = v;
    for (int i = 0; i < rc->n_urls; i++)
        free(rc->urls[i]);
    rc->n_urls = rc->current = 0;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '/'))
            n--;
        if (n == 0) break;
        if (rc->n_urls == MAX_URLS) {
            errstr_set(errstr, errsize, "[registry] url: at most %d URLs", MAX_URLS);
            return -1;
        }
        char *u = strndup(p, n);
        if (u == NULL) {
            errstr_set(errstr, errsize, "out of memory");
            return -1;
        }
        rc->urls[rc->n_urls++] = u;
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
            char q[72];
            errstr_set(errstr, errsize,
                       "[registry] url '%s' is not an http:// or https:// URL (e.g. %s)",
                       printable(u, 64, q), REGISTRY_DEFAULT_URL);
            return -1;
        }
        p += strcspn(p, ",");
    }
    if (rc->n_urls == 0) {
        errstr_set(errstr, errsize,
                   "[registry] url is empty; give the registry's base URL (e.g. %s)",
                   REGISTRY_DEFAULT_URL);
        return -1;
    }
    return 0;
}

/* One setting. 0, or -1 with errstr naming it. */
static int apply_setting(registry_client_t *rc, const char *k, const char *v, int *url_auth,
                         int *bearer_static, char *errstr, size_t errsize)
{
    char hdr[640];
    if (strcmp(k, "url") == 0) return set_urls(rc, v, errstr, errsize);
    if (strcmp(k, "basic.auth.credentials.source") == 0) {
        if (strcmp(v, "USER_INFO") != 0 && strcmp(v, "URL") != 0) {
            errstr_set(errstr, errsize,
                       "[registry] basic.auth.credentials.source = '%.40s': bankstream supports "
                       "USER_INFO and URL",
                       v);
            return -1;
        }
        *url_auth = strcmp(v, "URL") == 0;
        return 0;
    }
    if (strcmp(k, "basic.auth.user.info") == 0) {
        if (strchr(v, ':') == NULL) {
            errstr_set(errstr, errsize, "[registry] basic.auth.user.info must be user:password");
            return -1;
        }
        return set_string(&rc->user_info, v, errstr, errsize);
    }
    if (strcmp(k, "bearer.auth.credentials.source") == 0) {
        if (strcmp(v, "STATIC_TOKEN") != 0) {
            errstr_set(errstr, errsize,
                       "[registry] bearer.auth.credentials.source = '%.40s': bankstream supports "
                       "STATIC_TOKEN",
                       v);
            return -1;
        }
        *bearer_static = 1;
        return 0;
    }
    if (strcmp(k, "bearer.auth.token") == 0) return set_string(&rc->bearer, v, errstr, errsize);
    if (strcmp(k, "bearer.auth.logical.cluster") == 0) {
        snprintf(hdr, sizeof hdr, "target-sr-cluster: %.512s", v);
        return add_header(rc, hdr, errstr, errsize);
    }
    if (strcmp(k, "bearer.auth.identity.pool.id") == 0) {
        snprintf(hdr, sizeof hdr, "Confluent-Identity-Pool-Id: %.512s", v);
        return add_header(rc, hdr, errstr, errsize);
    }
    if (strcmp(k, "ssl.ca.location") == 0) {
        if (strcmp(v, "false") == 0) {
            rc->verify_peer = 0;
            return 0;
        }
        return set_string(&rc->ca, v, errstr, errsize);
    }
    if (strcmp(k, "ssl.certificate.location") == 0)
        return set_string(&rc->cert, v, errstr, errsize);
    if (strcmp(k, "ssl.key.location") == 0) return set_string(&rc->key, v, errstr, errsize);
    if (strcmp(k, "ssl.key.password") == 0)
        return set_string(&rc->key_password, v, errstr, errsize);
    if (strcmp(k, "ssl.endpoint.identification.algorithm") == 0) {
        rc->verify_host = strcmp(v, "https") == 0;
        if (!rc->verify_host && *v && strcmp(v, "none") != 0) {
            errstr_set(
                errstr, errsize,
                "[registry] ssl.endpoint.identification.algorithm = '%.40s': expected https, "
                "none or empty",
                v);
            return -1;
        }
        return 0;
    }
    if (strcmp(k, "proxy") == 0) return set_string(&rc->proxy, v, errstr, errsize);
    if (strcmp(k, "timeout") == 0) {
        char *end;
        long t = strtol(v, &end, 10);
        if (*v == '\0' || *end || t < 1 || t > 3600) {
            errstr_set(errstr, errsize, "[registry] timeout = '%.40s': expected seconds, 1 to 3600",
                       v);
            return -1;
        }
        rc->timeout_s = t;
        return 0;
    }
    errstr_set(errstr, errsize,
               "[registry] unknown setting '%.64s'; bankstream takes Confluent's client settings: "
               "url, basic.auth.*, bearer.auth.*, ssl.*, proxy, timeout",
               k);
    return -1;
}

registry_client_t *registry_client_new(const char *const *keys, const char *const *values, int n,
                                       char *errstr, size_t errsize)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        errstr_set(errstr, errsize, "cannot initialise libcurl: %s",
                   curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    registry_client_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL) {
        errstr_set(errstr, errsize, "out of memory");
        return NULL;
    }
    rc->verify_peer = rc->verify_host = 1;
    rc->timeout_s = DEFAULT_TIMEOUT;
    int url_auth = 0, bearer_static = 0;
    if (add_header(rc, ACCEPT, errstr, errsize) != 0 ||
        add_header(rc, CONTENT_TYPE, errstr, errsize) != 0)
        goto fail;
    for (int i = 0; i < n; i++)
        if (apply_setting(rc, keys[i], values[i], &url_auth, &bearer_static, errstr, errsize) != 0)
            goto fail;
    if (rc->n_urls == 0) {
        errstr_set(errstr, errsize,
                   "[registry] url is missing; give the registry's base URL (e.g. %s)",
                   REGISTRY_DEFAULT_URL);
        goto fail;
    }
    if (url_auth && rc->user_info) {
        errstr_set(
            errstr, errsize,
            "[registry] basic.auth.user.info is set but basic.auth.credentials.source is URL; "
            "remove one");
        goto fail;
    }
    if ((rc->key || rc->key_password) && rc->cert == NULL) {
        errstr_set(
            errstr, errsize,
            "[registry] ssl.key.location or ssl.key.password needs ssl.certificate.location");
        goto fail;
    }
    if (bearer_static != (rc->bearer != NULL)) {
        errstr_set(errstr, errsize,
                   "[registry] bearer.auth.credentials.source = STATIC_TOKEN and bearer.auth.token "
                   "go together");
        goto fail;
    }
    rc->curl = curl_easy_init();
    if (rc->curl == NULL) {
        errstr_set(errstr, errsize, "cannot create a libcurl handle");
        goto fail;
    }
    return rc;
fail:
    registry_client_free(rc);
    return NULL;
}

void registry_client_free(registry_client_t *rc)
{
    if (rc == NULL) return;
    if (rc->curl) curl_easy_cleanup(rc->curl);
    for (int i = 0; i < rc->n_urls; i++)
        free(rc->urls[i]);
    curl_slist_free_all(rc->headers);
    free(rc->user_info);
    free(rc->bearer);
    free(rc->ca);
    free(rc->cert);
    free(rc->key);
    free(rc->key_password);
    free(rc->proxy);
    free(rc->body);
    free(rc);
}

const char *registry_client_url(const registry_client_t *rc)
{
    return rc->urls[rc->current];
}

/* One request to one URL. 0 when an HTTP answer came (rc->status, rc->body),
 * -1 with errstr when none did. */
static int request_once(registry_client_t *rc, const char *base, const char *method,
                        const char *path, const char *body, char *errstr, size_t errsize)
{
    CURL *c = rc->curl;
    char url[2048];
    if ((size_t)snprintf(url, sizeof url, "%s%s", base, path) >= sizeof url) {
        errstr_set(errstr, errsize, "URL too long: %.60s...", url);
        return -1;
    }
    free(rc->body);
    rc->body = NULL;
    rc->len = 0;
    rc->too_big = 0;
    rc->status = 0;
    rc->curl_err[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, rc->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rc);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rc->curl_err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, rc->timeout_s);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "bankstream");
    if (rc->user_info) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, rc->user_info);
    }
    if (rc->bearer) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, rc->bearer);
    }
    if (rc->ca) curl_easy_setopt(c, CURLOPT_CAINFO, rc->ca);
    if (rc->cert) curl_easy_setopt(c, CURLOPT_SSLCERT, rc->cert);
    if (rc->key) curl_easy_setopt(c, CURLOPT_SSLKEY, rc->key);
    if (rc->key_password) curl_easy_setopt(c, CURLOPT_KEYPASSWD, rc->key_password);
    if (rc->proxy) curl_easy_setopt(c, CURLOPT_PROXY, rc->proxy);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, (long)rc->verify_peer);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, rc->verify_host && rc->verify_peer ? 2L : 0L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode res = curl_easy_perform(c);
    char q[140];
    if (res != CURLE_OK) {
        if (rc->too_big)
            errstr_set(errstr, errsize, "schema registry at %s: answer larger than %d MiB", base,
                       REGISTRY_MAX_BODY >> 20);
        else
            errstr_set(errstr, errsize, "schema registry at %s: %s", base,
                       printable(rc->curl_err[0] ? rc->curl_err : curl_easy_strerror(res), 128, q));
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rc->status);
    return 0;
}

/* The request on each URL in turn, from the one that answered last, until
 * one gives an answer below 500. 0 with the answer, -1 with errstr. */
static int registry_request(registry_client_t *rc, const char *method, const char *path,
                            const char *body, char *errstr, size_t errsize)
{
    for (int k = 0; k < rc->n_urls; k++) {
        int i = (rc->current + k) % rc->n_urls;
        if (request_once(rc, rc->urls[i], method, path, body, errstr, errsize) != 0) continue;
        if (rc->status >= 500) {
            char msg[160];
            errstr_set(errstr, errsize, "schema registry at %s answered HTTP %ld: %s", rc->urls[i],
                       rc->status, printable(rc->body, 120, msg));
            continue;
        }
        rc->current = i;
        return 0;
    }
    return -1;
}

/* The registry's error answer {"error_code": N, "message": "..."}: 1 with
 * both filled, 0 when the body is not one. */
static int confluent_error(const registry_client_t *rc, long *code, char *msg, size_t msgsize)
{
    cJSON *j = rc->body ? cJSON_ParseWithLength(rc->body, rc->len) : NULL;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "error_code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    int ok = cJSON_IsNumber(c);
    if (ok) {
        char q[132];
        *code = (long)c->valuedouble;
        snprintf(msg, msgsize, "%s", cJSON_IsString(m) ? printable(m->valuestring, 120, q) : "");
    }
    cJSON_Delete(j);
    return ok;
}

/* An answer that is not success: the outcome and its message. */
static int registry_failure(registry_client_t *rc, const char *what, char *errstr, size_t errsize)
{
    long code = 0;
    char msg[140], q[140];
    const char *url = registry_client_url(rc);
    int confluent = confluent_error(rc, &code, msg, sizeof msg);
    if (rc->status == 404 && confluent && code / 100 == 404) {
        errstr_set(errstr, errsize, "%s not found in the registry (error %ld: %s)", what, code,
                   msg);
        return REGISTRY_NOT_FOUND;
    }
    if (rc->status == 401 || rc->status == 403) {
        errstr_set(errstr, errsize,
                   "schema registry at %s refused access to %s (HTTP %ld); check "
                   "basic.auth.user.info or bearer.auth.token in [registry]",
                   url, what, rc->status);
        return REGISTRY_UNAVAILABLE;
    }
    if (rc->status == 404) {
        errstr_set(errstr, errsize,
                   "schema registry at %s answered HTTP 404 for %s without a registry error (is "
                   "url the registry's base URL?)",
                   url, what);
        return REGISTRY_UNAVAILABLE;
    }
    if (confluent) {
        errstr_set(errstr, errsize, "schema registry at %s refused %s (HTTP %ld, error %ld: %s)",
                   url, what, rc->status, code, msg);
        return rc->status == 408 || rc->status == 429 ? REGISTRY_UNAVAILABLE : REGISTRY_REFUSED;
    }
    errstr_set(errstr, errsize, "schema registry at %s answered HTTP %ld for %s: %s", url,
               rc->status, what, printable(rc->body, 120, q));
    return REGISTRY_UNAVAILABLE;
}

int registry_client_schema_by_id(registry_client_t *rc, uint32_t id, char **schema, char *type,
                                 size_t typesize, char *errstr, size_t errsize)
{
    char path[64], what[40];
    *schema = NULL;
    snprintf(path, sizeof path, "/schemas/ids/%u", id);
    snprintf(what, sizeof what, "schema id %u", id);
    if (registry_request(rc, "GET", path, NULL, errstr, errsize) != 0) return REGISTRY_UNAVAILABLE;
    if (rc->status != 200) return registry_failure(rc, what, errstr, errsize);
    cJSON *j = cJSON_ParseWithLength(rc->body ? rc->body : "", rc->len);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "schema");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "schemaType");
    int out = REGISTRY_OK;
    if (!cJSON_IsString(s)) {
        errstr_set(errstr, errsize,
                   "schema registry at %s answered %s without a \"schema\" string (is url the "
                   "registry's base URL?)",
                   registry_client_url(rc), what);
        out = REGISTRY_UNAVAILABLE;
    } else {
        char q[40];
        snprintf(type, typesize, "%s",
                 cJSON_IsString(t) ? printable(t->valuestring, 32, q) : "AVRO");
        *schema = strdup(s->valuestring);
        if (*schema == NULL) {
            errstr_set(errstr, errsize, "out of memory");
            out = REGISTRY_UNAVAILABLE;
        }
    }
    cJSON_Delete(j);
    return out;
}

int registry_client_register(registry_client_t *rc, const char *subject, const char *schema,
                             uint32_t *id, char *errstr, size_t errsize)
{
    char *esc = curl_easy_escape(rc->curl, subject, 0);
    char path[1024], what[320];
    int out = REGISTRY_UNAVAILABLE;
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    char *body = NULL;
    if (esc == NULL || req == NULL || cJSON_AddStringToObject(req, "schema", schema) == NULL ||
        (body = cJSON_PrintUnformatted(req)) == NULL) {
        errstr_set(errstr, errsize, "out of memory");
        goto out;
    }
    snprintf(path, sizeof path, "/subjects/%.900s/versions", esc);
    snprintf(what, sizeof what, "registering a schema under subject %.256s", subject);
    if (registry_request(rc, "POST", path, body, errstr, errsize) != 0) goto out;
    if (rc->status != 200) {
        out = registry_failure(rc, what, errstr, errsize);
        goto out;
    }
    ans = cJSON_ParseWithLength(rc->body ? rc->body : "", rc->len);
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(ans, "id");
    if (!cJSON_IsNumber(idj) || idj->valuedouble < 0 || idj->valuedouble > 4294967295.0) {
        errstr_set(errstr, errsize, "schema registry at %s answered %s without an \"id\"",
                   registry_client_url(rc), what);
        goto out;
    }
    *id = (uint32_t)idj->valuedouble;
    out = REGISTRY_OK;
out:
    curl_free(esc);
    cJSON_Delete(req);
    cJSON_Delete(ans);
    free(body);
    return out;
}
