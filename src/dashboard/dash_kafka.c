/* dash_kafka.c - the topic panel's numbers from the cluster (dash_kafka.h).
 *
 * Invariants:
 *   1. Only the watcher thread uses the librdkafka handle; it renders each
 *      answer to JSON outside the lock and swaps it in under k->mu, so a
 *      reader copies a whole answer or the one before.
 *   2. The handle is a consumer with the group's group.id that never
 *      subscribes nor commits (enable.auto.commit=false): OffsetFetch and
 *      ListGroups read the group without joining it.
 *   3. Every call is bounded (KAFKA_CALL_MS); a cluster that does not answer
 *      leaves the last good partitions and says why in "erro". */
#include "dashboard/dash_kafka.h"
#include "dashboard/dash_buf.h"
#include "kafka/kafka_conf.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KAFKA_CALL_MS 3000

struct dash_kafka {
    char brokers[512], topic[256], group[256];
    int interval_ms;
    rd_kafka_t *rk;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int stop;
    char *json; /* under mu: the last answer */
    size_t len;
};

/* Ask the cluster once and render the answer. Returns malloc'ed JSON. */
static char *dash_kafka_ask(dash_kafka_t *k, size_t *len)
{
    dash_buf_t b = {0};
    char err[512] = "";
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *list = NULL;
    const struct rd_kafka_group_list *groups = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, k->topic, NULL);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);

    rd_kafka_poll(k->rk, 0); /* serve the handle's own events */
    rd_kafka_resp_err_t e =
        rkt ? rd_kafka_metadata(k->rk, 0, rkt, &md, KAFKA_CALL_MS) : RD_KAFKA_RESP_ERR__FAIL;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, sizeof err, "metadata: %s", rd_kafka_err2str(e));
    } else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, sizeof err, "topic %s: %s", k->topic,
                 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not in the metadata");
    }
    const struct rd_kafka_metadata_topic *t = err[0] ? NULL : &md->topics[0];
    int np = t ? t->partition_cnt : 0;
    if (t) {
        list = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
        for (int i = 0; i < np; i++)
            rd_kafka_topic_partition_list_add(list, k->topic, t->partitions[i].id);
        e = rd_kafka_committed(k->rk, list, KAFKA_CALL_MS);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(err, sizeof err, "committed offsets of group %s: %s", k->group,
                     rd_kafka_err2str(e));
    }
    dash_buf_printf(&b, "{\"brokers\":");
    dash_buf_json_str(&b, k->brokers);
    dash_buf_printf(&b, ",\"topic\":");
    dash_buf_json_str(&b, k->topic);
    dash_buf_printf(&b, ",\"grupo\":");
    dash_buf_json_str(&b, k->group);
    dash_buf_printf(&b, ",\"atualizado_em\":%" PRId64 ",\"particoes\":[",
                    (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    int64_t total = 0, lag_total = 0;
    int have_lag = 0;
    for (int i = 0; i < np; i++) {
        const struct rd_kafka_metadata_partition *p = &t->partitions[i];
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t we =
            rd_kafka_query_watermark_offsets(k->rk, k->topic, p->id, &lo, &hi, KAFKA_CALL_MS);
        if (we != RD_KAFKA_RESP_ERR_NO_ERROR && err[0] == '\0')
            snprintf(err, sizeof err, "offsets of partition %d: %s", (int)p->id,
                     rd_kafka_err2str(we));
        int64_t committed = list ? list->elems[i].offset : RD_KAFKA_OFFSET_INVALID;
        dash_buf_printf(&b, "%s{\"particao\":%d,\"lider\":%d,\"replicas\":%d,\"isr\":%d",
                        i ? "," : "", (int)p->id, (int)p->leader, p->replica_cnt, p->isr_cnt);
        if (we == RD_KAFKA_RESP_ERR_NO_ERROR) {
            dash_buf_printf(&b,
                            ",\"inicio\":%" PRId64 ",\"fim\":%" PRId64 ",\"mensagens\":%" PRId64,
                            lo, hi, hi - lo);
            total += hi - lo;
        } else {
            dash_buf_printf(&b, ",\"inicio\":null,\"fim\":null,\"mensagens\":null");
        }
        if (committed >= 0) {
            dash_buf_printf(&b, ",\"commitado\":%" PRId64, committed);
            if (we == RD_KAFKA_RESP_ERR_NO_ERROR) {
                dash_buf_printf(&b, ",\"lag\":%" PRId64, hi - committed);
                lag_total += hi - committed;
                have_lag = 1;
            } else {
                dash_buf_printf(&b, ",\"lag\":null");
            }
        } else if (we == RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* nothing committed: everything from the first offset is unread */
            dash_buf_printf(&b, ",\"commitado\":null,\"lag\":%" PRId64, hi - lo);
            lag_total += hi - lo;
            have_lag = 1;
        } else {
            dash_buf_printf(&b, ",\"commitado\":null,\"lag\":null");
        }
        dash_buf_printf(&b, "}");
    }
    dash_buf_printf(&b, "],\"total_mensagens\":%" PRId64 ",\"lag_total\":", total);
    if (have_lag)
        dash_buf_printf(&b, "%" PRId64, lag_total);
    else
        dash_buf_printf(&b, "null");
    dash_buf_printf(&b, ",\"estado_grupo\":");
    if (np > 0 &&
        rd_kafka_list_groups(k->rk, k->group, &groups, KAFKA_CALL_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        groups->group_cnt == 1) {
        dash_buf_json_str(&b, groups->groups[0].state);
        dash_buf_printf(&b, ",\"membros\":%d", groups->groups[0].member_cnt);
    } else {
        dash_buf_printf(&b, "null,\"membros\":null");
    }
    dash_buf_printf(&b, ",\"ok\":%s,\"erro\":", err[0] ? "false" : "true");
    dash_buf_json_str(&b, err[0] ? err : NULL);
    dash_buf_printf(&b, "}");
    if (groups) rd_kafka_group_list_destroy(groups);
    if (list) rd_kafka_topic_partition_list_destroy(list);
    if (md) rd_kafka_metadata_destroy(md);
    if (rkt) rd_kafka_topic_destroy(rkt);
    return dash_buf_take(&b, len);
}

static void *dash_kafka_main(void *arg)
{
    dash_kafka_t *k = arg;
    for (;;) {
        size_t len = 0;
        char *json = dash_kafka_ask(k, &len);
        pthread_mutex_lock(&k->mu);
        if (json) {
            free(k->json);
            k->json = json;
            k->len = len;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += k->interval_ms / 1000;
        until.tv_nsec += (long)(k->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!k->stop && pthread_cond_timedwait(&k->wake, &k->mu, &until) != ETIMEDOUT) {
        }
        int stop = k->stop;
        pthread_mutex_unlock(&k->mu);
        if (stop) return NULL;
    }
}

dash_kafka_t *dash_kafka_start(const char *brokers, const char *topic, const char *group,
                               int interval_ms, char *err, size_t errsize)
{
    dash_kafka_t *k = calloc(1, sizeof *k);
    if (k == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    snprintf(k->brokers, sizeof k->brokers, "%s", brokers);
    snprintf(k->topic, sizeof k->topic, "%s", topic);
    snprintf(k->group, sizeof k->group, "%s", group);
    k->interval_ms = interval_ms;
    const char *overrides[] = {"enable.auto.commit=false", "socket.timeout.ms=5000"};
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, overrides, 2, err, errsize);
    if (conf == NULL || kafka_conf_set(conf, "group.id", group, err, errsize) != 0) {
        if (conf) rd_kafka_conf_destroy(conf);
        free(k);
        return NULL;
    }
    char kerr[256];
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (k->rk == NULL) {
        snprintf(err, errsize, "cannot create the Kafka client: %s", kerr);
        rd_kafka_conf_destroy(conf);
        free(k);
        return NULL;
    }
    conf = NULL; /* rd_kafka_new took it */
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->wake, NULL);
    dash_buf_t b = {0};
    dash_buf_printf(&b, "{\"brokers\":");
    dash_buf_json_str(&b, k->brokers);
    dash_buf_printf(&b, ",\"topic\":");
    dash_buf_json_str(&b, k->topic);
    dash_buf_printf(&b, ",\"grupo\":");
    dash_buf_json_str(&b, k->group);
    dash_buf_printf(&b, ",\"ok\":false,\"erro\":\"ainda sem leitura\",\"particoes\":[]}");
    k->json = dash_buf_take(&b, &k->len);
    if (pthread_create(&k->thread, NULL, dash_kafka_main, k) != 0) {
        snprintf(err, errsize, "cannot start the Kafka watcher thread");
        free(k->json);
        rd_kafka_destroy(k->rk);
        pthread_cond_destroy(&k->wake);
        pthread_mutex_destroy(&k->mu);
        free(k);
        return NULL;
    }
    return k;
}

char *dash_kafka_json(dash_kafka_t *k, size_t *len)
{
    dash_buf_t b = {0};
    if (k == NULL) {
        dash_buf_printf(&b, "{\"brokers\":null,\"ok\":false,\"erro\":null,\"particoes\":[]}");
        return dash_buf_take(&b, len);
    }
    pthread_mutex_lock(&k->mu);
    if (k->json) dash_buf_append(&b, k->json, k->len);
    pthread_mutex_unlock(&k->mu);
    return dash_buf_take(&b, len);
}

void dash_kafka_stop(dash_kafka_t *k)
{
    if (k == NULL) return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->wake);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    rd_kafka_consumer_close(k->rk);
    rd_kafka_destroy(k->rk);
    free(k->json);
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
