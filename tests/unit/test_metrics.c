/* test_metrics.c - the /metrics endpoint, scraped over real TCP on 127.0.0.1.
 *
 * The reference is the test's own bookkeeping of the calls it made (sums,
 * and histogram buckets counted directly as "observations <= le"); the
 * exposition is fetched with a plain socket client written here, parsed line
 * by line, and, when curl is installed, fetched again with curl. Also: 404s,
 * port 0 (disabled, updates are no-ops), port in use, restart on the same
 * port, and consistency of scrapes taken while two threads update. */
#include "stream/metrics.h"
#include "base/rng.h"
#include "engine/rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---------------------------------------------------------------- helpers */

/* A port nobody listens on right now: bind port 0 and ask which one we got. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Start on a free port (retrying if another process took it meanwhile). */
static metrics_t *start_free(int *port)
{
    char err[256];
    for (int tries = 0; tries < 20; tries++) {
        *port = free_port();
        metrics_t *m = metrics_start(*port, err, sizeof err);
        if (m) return m;
    }
    fail_msg("metrics_start kept failing: %s", err);
    return NULL;
}

typedef struct http_reply {
    int status;
    char content_type[128];
    char *body; /* malloc'ed, NUL-terminated */
    size_t body_len;
} http_reply_t;

/* One HTTP/1.0 request with a plain socket. Returns 0, or -1 when the
 * connection is refused. */
static int http_request(int port, const char *method, const char *path, http_reply_t *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", method, path,
                     port);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);

    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        assert_true(got >= 0);
        if (got == 0) break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';

    char *end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    *end = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &r->status), 1);
    for (char *h = strstr(buf, "\r\n"); h; h = strstr(h + 2, "\r\n"))
        if (strncasecmp(h + 2, "Content-Type: ", 14) == 0)
            sscanf(h + 16, "%127[^\r]", r->content_type);
    r->body_len = len - (size_t)(end + 4 - buf);
    r->body = malloc(r->body_len + 1);
    assert_non_null(r->body);
    memcpy(r->body, end + 4, r->body_len + 1);
    free(buf);
    return 0;
}

#define MAX_SAMPLES 2048

/* A parsed exposition: samples "name{labels}" -> value text, and the
 * families declared by HELP/TYPE before their samples. */
typedef struct expo {
    int n;
    char key[MAX_SAMPLES][256];
    char value[MAX_SAMPLES][256];
    int nfam;
    char fam[64][64];
    char famtype[64][16];
} expo_t;

static const char *family_type(const expo_t *e, const char *name)
{
    for (int i = 0; i < e->nfam; i++)
        if (strcmp(e->fam[i], name) == 0) return e->famtype[i];
    return NULL;
}

/* Parse text format 0.0.4 strictly enough for what metrics.c writes: every
 * sample's family must have had "# HELP" then "# TYPE" just before its first
 * sample; a histogram's samples are name_bucket/_sum/_count. */
static void expo_parse(const char *text, expo_t *e)
{
    memset(e, 0, sizeof *e);
    char help_for[64] = "";
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl); /* every line ends with \n */
        char l[256];
        size_t len = (size_t)(nl - line);
        assert_true(len < sizeof l);
        memcpy(l, line, len);
        l[len] = '\0';
        line = nl + 1;

        char name[64], type[16];
        if (strncmp(l, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(l + 7, "%63s", name), 1);
            assert_true(strlen(l + 7) > strlen(name) + 1); /* some help text */
            strcpy(help_for, name);
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(l + 7, "%63s %15s", name, type), 2);
            assert_string_equal(name, help_for);
            assert_null(family_type(e, name));
            assert_true(e->nfam < 64);
            strcpy(e->fam[e->nfam], name);
            strcpy(e->famtype[e->nfam], type);
            e->nfam++;
            continue;
        }
        assert_true(l[0] != '#' && l[0] != '\0');
        char *sp = strrchr(l, ' ');
        assert_non_null(sp);
        *sp = '\0';
        assert_true(e->n < MAX_SAMPLES);
        for (int i = 0; i < e->n; i++)
            assert_string_not_equal(e->key[i], l);
        snprintf(e->key[e->n], sizeof e->key[0], "%s", l);
        snprintf(e->value[e->n], sizeof e->value[0], "%s", sp + 1);
        e->n++;

        /* its family is the last one declared */
        size_t nlen = strcspn(l, "{");
        snprintf(name, sizeof name, "%.*s", (int)nlen, l);
        const char *fam = e->fam[e->nfam - 1];
        assert_true(e->nfam > 0);
        if (strcmp(e->famtype[e->nfam - 1], "histogram") == 0) {
            char b[80], s[80], c[80];
            snprintf(b, sizeof b, "%s_bucket", fam);
            snprintf(s, sizeof s, "%s_sum", fam);
            snprintf(c, sizeof c, "%s_count", fam);
            assert_true(strcmp(name, b) == 0 || strcmp(name, s) == 0 || strcmp(name, c) == 0);
        } else {
            assert_string_equal(name, fam);
        }
    }
}

static const char *expo_get(const expo_t *e, const char *key)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->key[i], key) == 0) return e->value[i];
    return NULL;
}

static void expect_int(const expo_t *e, const char *key, int64_t want)
{
    const char *v = expo_get(e, key);
    if (v == NULL) fail_msg("no sample %s", key);
    char w[32];
    snprintf(w, sizeof w, "%" PRId64, want);
    if (strcmp(v, w) != 0) fail_msg("%s is %s, expected %s", key, v, w);
}

static void scrape(int port, expo_t *e, http_reply_t *r)
{
    assert_int_equal(http_request(port, "GET", "/metrics", r), 0);
    assert_int_equal(r->status, 200);
    assert_int_equal(strncmp(r->content_type, "text/plain; version=0.0.4", 25), 0);
    assert_int_equal(strlen(r->body), r->body_len);
    expo_parse(r->body, e);
}

/* ------------------------------------------------------------------ tests */

static const double le_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *const le_text[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                      "0.5",   "1",    "2.5",   "5",    "10"};
#define NLE 11

/* The counts of a batch, as metrics_batch_committed takes them. */
static batch_counts_t counts_of(int64_t messages, int64_t approved, int64_t rejected,
                                int64_t not_processed, int64_t duplicates, int64_t dead,
                                const int64_t *reasons)
{
    batch_counts_t k;
    memset(&k, 0, sizeof k);
    k.messages = messages;
    k.by_status[STATUS_APPROVED] = approved;
    k.by_status[STATUS_REJECTED] = rejected;
    k.by_status[STATUS_NOT_PROCESSED] = not_processed;
    k.duplicates = duplicates;
    k.dead = dead;
    if (reasons) memcpy(k.by_reason, reasons, sizeof k.by_reason);
    return k;
}

typedef struct reference {
    int64_t batches, messages, approved, rejected, not_processed, duplicates, dead, last_id;
    int64_t by_reason[REASON_COUNT];
    double secs[64];
    double sum;
} reference_t;

static void commit_one(metrics_t *m, reference_t *ref, rng_t *rng, double cut, double commit)
{
    int64_t a = (int64_t)rng_below(rng, 1000), rj = 0, np = (int64_t)rng_below(rng, 5);
    int64_t dup = (int64_t)rng_below(rng, 3), dead = (int64_t)rng_below(rng, 2);
    int64_t reasons[REASON_COUNT] = {0};
    for (int r = REASON_INSUFFICIENT_FUNDS; r <= REASON_UNKNOWN_RECEIVER; r++) {
        reasons[r] = (int64_t)rng_below(rng, 50);
        rj += reasons[r];
    }
    reasons[REASON_TOO_LATE] = np / 2;
    reasons[REASON_OLDER_THAN_LAST] = np - np / 2;
    int64_t id = 100 + ref->batches;
    batch_counts_t k = counts_of(a + rj + np + dup + dead, a, rj, np, dup, dead, reasons);
    metrics_batch_committed(m, id, &k, cut, commit);
    ref->secs[ref->batches] = cut + commit;
    ref->sum += cut + commit;
    ref->batches++;
    ref->messages += a + rj + np + dup + dead;
    ref->approved += a;
    ref->rejected += rj;
    ref->not_processed += np;
    ref->duplicates += dup;
    ref->dead += dead;
    ref->last_id = id;
    for (int r = 0; r < REASON_COUNT; r++)
        ref->by_reason[r] += reasons[r];
}

static void check_against(const expo_t *e, const reference_t *ref, int ranks)
{
    expect_int(e, "bankstream_up", 1);
    expect_int(e, "bankstream_ranks", ranks);
    expect_int(e, "bankstream_batches_committed_total", ref->batches);
    expect_int(e, "bankstream_messages_total", ref->messages);
    expect_int(e, "bankstream_transactions_total{status=\"aprovada\"}", ref->approved);
    expect_int(e, "bankstream_transactions_total{status=\"rejeitada\"}", ref->rejected);
    expect_int(e, "bankstream_transactions_total{status=\"nao_processada\"}", ref->not_processed);
    static const char *const motivos[] = {
        NULL,       "saldo_insuficiente",   "limite_excedido",
        "risco",    "pagador_desconhecido", "recebedor_desconhecido",
        "atrasada", "anterior_a_ultima",    "data_futura"};
    for (int r = REASON_INSUFFICIENT_FUNDS; r < REASON_COUNT; r++) {
        char key[128];
        snprintf(key, sizeof key, "bankstream_rejections_total{motivo=\"%s\"}", motivos[r]);
        expect_int(e, key, ref->by_reason[r]);
    }
    expect_int(e, "bankstream_duplicates_total", ref->duplicates);
    expect_int(e, "bankstream_dead_letters_total", ref->dead);
    if (ref->batches)
        expect_int(e, "bankstream_last_batch_id", ref->last_id);
    else
        assert_null(expo_get(e, "bankstream_last_batch_id"));
    for (int i = 0; i < NLE; i++) {
        int64_t under = 0;
        for (int64_t k = 0; k < ref->batches; k++)
            under += ref->secs[k] <= le_bounds[i];
        char key[128];
        snprintf(key, sizeof key, "bankstream_batch_seconds_bucket{le=\"%s\"}", le_text[i]);
        expect_int(e, key, under);
    }
    expect_int(e, "bankstream_batch_seconds_bucket{le=\"+Inf\"}", ref->batches);
    expect_int(e, "bankstream_batch_seconds_count", ref->batches);
    const char *sum = expo_get(e, "bankstream_batch_seconds_sum");
    assert_non_null(sum);
    char *end;
    double got = strtod(sum, &end);
    assert_true(*end == '\0');
    if (got != ref->sum) fail_msg("sum %s, expected %.17g", sum, ref->sum);

    assert_string_equal(family_type(e, "bankstream_up"), "gauge");
    assert_string_equal(family_type(e, "bankstream_ranks"), "gauge");
    assert_string_equal(family_type(e, "bankstream_last_batch_id"), "gauge");
    assert_string_equal(family_type(e, "bankstream_kafka_lag"), "gauge");
    assert_string_equal(family_type(e, "bankstream_batch_seconds"), "histogram");
    const char *counters[] = {
        "bankstream_batches_committed_total", "bankstream_messages_total",
        "bankstream_transactions_total",      "bankstream_rejections_total",
        "bankstream_duplicates_total",        "bankstream_dead_letters_total"};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        assert_string_equal(family_type(e, counters[i]), "counter");
}

static void test_exposition(void **state)
{
    int port;
    metrics_t *m = start_free(&port);
    assert_int_equal(metrics_port(m), port);
    static expo_t e;
    http_reply_t r;
    reference_t ref;
    memset(&ref, 0, sizeof ref);

    /* before anything happened: zeros, no last batch, no lag */
    scrape(port, &e, &r);
    check_against(&e, &ref, 0);
    assert_int_equal(e.n, 4 + 3 + (REASON_COUNT - 1) + 2 + NLE + 3);
    free(r.body);

    rng_t rng;
    rng_seed(&rng, 7, 1);
    metrics_set_ranks(m, 4);
    /* durations on and around bucket bounds; le is inclusive */
    const double cuts[] = {0.001, 0.005, 0.1, 0.05, 0.3, 2.0, 9.99, 10.0, 20.0, 0.0, -1.0};
    const double commits[] = {0.002, 0.0, 0.0, 0.05, 0.2, 0.5, 0.0, 0.0, 5.0, 0.0, 0.5};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        double c = cuts[i], k = commits[i];
        if (c + k < 0) {
            /* a clock stepped back: observed as 0 */
            batch_counts_t none = counts_of(0, 0, 0, 0, 0, 0, NULL);
            metrics_batch_committed(m, 100 + ref.batches, &none, c, k);
            ref.secs[ref.batches] = 0;
            ref.last_id = 100 + ref.batches;
            ref.batches++;
            continue;
        }
        commit_one(m, &ref, &rng, c, k);
    }
    metrics_set_lag(m, 0, 12);
    metrics_set_lag(m, 3, 0);
    metrics_set_lag(m, 1023, 987654321012LL);
    metrics_set_lag(m, 0, 7); /* overwritten: a gauge */
    metrics_set_lag(m, 1024, 5);
    metrics_set_lag(m, -1, 5);

    scrape(port, &e, &r);
    check_against(&e, &ref, 4);
    expect_int(&e, "bankstream_kafka_lag{partition=\"0\"}", 7);
    expect_int(&e, "bankstream_kafka_lag{partition=\"3\"}", 0);
    expect_int(&e, "bankstream_kafka_lag{partition=\"1023\"}", 987654321012LL);
    /* exactly these samples: the fixed ones, last batch id, three lags */
    assert_int_equal(e.n, 4 + 3 + (REASON_COUNT - 1) + 2 + 1 + NLE + 3 + 3);

    /* an independent client sees the same bytes */
    if (system("command -v curl >/dev/null 2>&1") == 0) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "curl -sf http://127.0.0.1:%d/metrics", port);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char *got = calloc(1, r.body_len + 2);
        assert_non_null(got);
        size_t n = fread(got, 1, r.body_len + 1, p);
        assert_int_equal(pclose(p), 0);
        assert_int_equal(n, r.body_len);
        assert_memory_equal(got, r.body, r.body_len);
        free(got);
    } else {
        print_message("curl not installed: skipped the cross-check with curl\n");
    }
    free(r.body);
    metrics_stop(m);
}

static void test_not_found(void **state)
{
    int port;
    metrics_t *m = start_free(&port);
    http_reply_t r;
    const char *paths[] = {"/", "/metrics/", "/metricsx", "/favicon.ico", "/METRICS"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        assert_int_equal(http_request(port, "GET", paths[i], &r), 0);
        assert_int_equal(r.status, 404);
        free(r.body);
    }
    assert_int_equal(http_request(port, "POST", "/metrics", &r), 0);
    assert_int_equal(r.status, 404);
    free(r.body);
    assert_int_equal(http_request(port, "DELETE", "/metrics", &r), 0);
    assert_int_equal(r.status, 404);
    free(r.body);
    /* HEAD: the headers of GET without a body */
    assert_int_equal(http_request(port, "HEAD", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    free(r.body);
    metrics_stop(m);
}

static void test_disabled(void **state)
{
    char err[256] = "";
    metrics_t *m = metrics_start(0, err, sizeof err);
    assert_non_null(m);
    assert_string_equal(err, "");
    assert_int_equal(metrics_port(m), 0);
    int64_t reasons[REASON_COUNT] = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int i = 0; i < 1000; i++) {
        batch_counts_t k1 = counts_of(10, 5, 3, 2, 0, 0, reasons),
                       k2 = counts_of(10, 5, 3, 2, 0, 0, NULL);
        metrics_batch_committed(m, i, &k1, 0.1, 0.2);
        metrics_batch_committed(m, i, &k2, 0.1, 0.2);
        metrics_set_lag(m, i, i);
        metrics_set_ranks(m, i);
    }
    metrics_stop(m);

    /* NULL is accepted everywhere */
    batch_counts_t one = counts_of(1, 1, 0, 0, 0, 0, reasons);
    metrics_batch_committed(NULL, 1, &one, 0, 0);
    metrics_set_lag(NULL, 0, 1);
    metrics_set_ranks(NULL, 2);
    assert_int_equal(metrics_port(NULL), 0);
    metrics_stop(NULL);
}

static void test_port_in_use(void **state)
{
    char err[256];
    int port;
    /* someone else's listener on 127.0.0.1:port */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    int tries = 0;
    for (;;) {
        port = free_port();
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0) break;
        assert_true(++tries < 20);
    }
    assert_int_equal(listen(fd, 4), 0);
    err[0] = '\0';
    assert_null(metrics_start(port, err, sizeof err));
    char want[256];
    snprintf(want, sizeof want,
             "metrics port %d is in use on 127.0.0.1; set [metrics] port to another port or 0",
             port);
    assert_string_equal(err, want);
    close(fd);

    /* another metrics server on the same port */
    metrics_t *m = start_free(&port);
    assert_null(metrics_start(port, err, sizeof err));
    snprintf(want, sizeof want,
             "metrics port %d is in use on 127.0.0.1; set [metrics] port to another port or 0",
             port);
    assert_string_equal(err, want);
    metrics_stop(m);

    /* out of range */
    assert_null(metrics_start(65536, err, sizeof err));
    assert_non_null(strstr(err, "metrics port 65536 is out of range"));
    assert_null(metrics_start(-1, err, sizeof err));
    assert_non_null(strstr(err, "metrics port -1 is out of range"));
}

/* [metrics] listen: "*" serves every IPv4 address (127.0.0.1 included);
 * what is not a numeric address, or not one of this host, is refused. */
static void test_listen(void **state)
{
    char err[256];
    int port = free_port();
    metrics_t *m = metrics_start_on("*", port, err, sizeof err);
    if (m == NULL) fail_msg("listen *: %s", err);
    assert_string_equal(metrics_listen(m), "*");
    http_reply_t r;
    assert_int_equal(http_request(port, "GET", "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    metrics_stop(m);

    assert_null(metrics_start_on("metrics.example", port, err, sizeof err));
    assert_string_equal(err, "[metrics] listen = 'metrics.example' is not a numeric IPv4 or IPv6 "
                             "address of this host (or '*')");
    assert_null(metrics_start_on("198.51.100.77", port, err, sizeof err));
    assert_string_equal(err, "[metrics] listen = 198.51.100.77 is not an address of this host "
                             "(rank 0's); give one of its addresses, or '*'");
    m = metrics_start_on("", 0, err, sizeof err); /* disabled, default address */
    assert_non_null(m);
    assert_string_equal(metrics_listen(m), "127.0.0.1");
    metrics_stop(m);
}

static void test_restart(void **state)
{
    int port;
    char err[256];
    metrics_t *m = start_free(&port);
    for (int i = 0; i < 5; i++) {
        http_reply_t r;
        assert_int_equal(http_request(port, "GET", "/metrics", &r), 0);
        assert_int_equal(r.status, 200);
        free(r.body);
        metrics_stop(m);
        /* stopped: nothing listens any more */
        assert_int_equal(http_request(port, "GET", "/metrics", &r), -1);
        /* and the port can be taken again at once */
        m = metrics_start(port, err, sizeof err);
        if (m == NULL) fail_msg("restart %d on port %d: %s", i, port, err);
    }
    metrics_stop(m);
}

/* Two threads commit batches of 3 messages (one per status) while the main
 * thread scrapes: every scrape must be one consistent state, and the last
 * one, after the writers stopped, must hold every commit. */
#define SCRAPES 200

typedef struct writer_arg {
    metrics_t *m;
    atomic_int *stop;
    atomic_llong *progress; /* commits of both writers so far */
    int64_t commits;
} writer_arg_t;

static void *writer(void *arg)
{
    writer_arg_t *w = arg;
    int64_t reasons[REASON_COUNT] = {0};
    reasons[REASON_RISK] = 1;
    reasons[REASON_TOO_LATE] = 1;
    while (!atomic_load(w->stop)) {
        batch_counts_t k = counts_of(3, 1, 1, 1, 0, 0, reasons);
        metrics_batch_committed(w->m, w->commits, &k, 0.001, 0.001);
        metrics_set_lag(w->m, (int)(w->commits % 8), w->commits);
        w->commits++;
        atomic_fetch_add(w->progress, 1);
    }
    return NULL;
}

static void check_consistent(const expo_t *e, int64_t *batches)
{
    const char *v = expo_get(e, "bankstream_batches_committed_total");
    assert_non_null(v);
    *batches = strtoll(v, NULL, 10);
    expect_int(e, "bankstream_messages_total", 3 * *batches);
    expect_int(e, "bankstream_transactions_total{status=\"aprovada\"}", *batches);
    expect_int(e, "bankstream_transactions_total{status=\"nao_processada\"}", *batches);
    expect_int(e, "bankstream_rejections_total{motivo=\"risco\"}", *batches);
    expect_int(e, "bankstream_rejections_total{motivo=\"atrasada\"}", *batches);
    expect_int(e, "bankstream_batch_seconds_bucket{le=\"0.005\"}", *batches);
    expect_int(e, "bankstream_batch_seconds_count", *batches);
}

static void test_concurrent(void **state)
{
    int port;
    metrics_t *m = start_free(&port);
    atomic_int stop = 0;
    atomic_llong progress = 0;
    writer_arg_t w[2] = {{m, &stop, &progress, 0}, {m, &stop, &progress, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
    static expo_t e;
    int64_t batches = 0, previous = 0, grew = 0;
    for (int i = 0; i < SCRAPES; i++) {
        /* let the writers move on between scrapes, however loaded the machine */
        int64_t seen = atomic_load(&progress);
        while (atomic_load(&progress) == seen)
            sched_yield();
        http_reply_t r;
        scrape(port, &e, &r);
        free(r.body);
        check_consistent(&e, &batches);
        assert_true(batches >= previous);
        grew += batches > previous;
        previous = batches;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    http_reply_t r;
    scrape(port, &e, &r);
    free(r.body);
    check_consistent(&e, &batches);
    assert_int_equal(batches, w[0].commits + w[1].commits);
    for (int p = 0; p < 8; p++) {
        char key[64];
        snprintf(key, sizeof key, "bankstream_kafka_lag{partition=\"%d\"}", p);
        assert_non_null(expo_get(&e, key));
    }
    assert_true(grew > 0);
    print_message("%d consistent scrapes (%" PRId64 " saw new commits) during %" PRId64
                  " commits\n",
                  SCRAPES, grew, batches);
    metrics_stop(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition), cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_disabled),   cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_restart),    cmocka_unit_test(test_listen),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
