/* report.c - the run's totals and its closing summary (see report.h). */
#include "stream/report.h"
#include "base/timeparse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void totals_init(run_totals_t *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
}

void totals_free(run_totals_t *t)
{
    free(t->latencies_ms);
    pthread_mutex_destroy(&t->mu);
}

void totals_add(run_totals_t *t, const batch_t *b)
{
    pthread_mutex_lock(&t->mu);
    t->batches++;
    t->counts.messages += b->counts.messages;
    t->counts.duplicates += b->counts.duplicates;
    t->counts.dead += b->counts.dead;
    for (int s = 0; s < STATUS_COUNT; s++)
        t->counts.by_status[s] += b->counts.by_status[s];
    for (int r = 0; r < REASON_COUNT; r++)
        t->counts.by_reason[r] += b->counts.by_reason[r];
    if (t->nlat + b->nrows > t->latcap) {
        size_t cap = t->latcap ? t->latcap : 65536;
        while (cap < t->nlat + b->nrows)
            cap *= 2;
        int64_t *p = realloc(t->latencies_ms, cap * sizeof *p);
        if (p) { /* without room, later latencies are not sampled */
            t->latencies_ms = p;
            t->latcap = cap;
        }
    }
    for (size_t i = 0; i < b->nrows; i++)
        if (b->rows[i].kind == ROW_TXN && t->nlat < t->latcap)
            t->latencies_ms[t->nlat++] = b->result_us / 1000 - b->rows[i].rec.kafka_ts_ms;
    if (t->first_cut_us == 0 || b->start_us < t->first_cut_us) t->first_cut_us = b->start_us;
    t->last_commit_us = timeparse_now_us();
    pthread_mutex_unlock(&t->mu);
}

void totals_progress(run_totals_t *t, int64_t *batches, int64_t *messages)
{
    pthread_mutex_lock(&t->mu);
    *batches = t->batches;
    *messages = t->counts.messages;
    pthread_mutex_unlock(&t->mu);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void report_print(run_totals_t *t, const cluster_rank_stats_t *stats, int nranks)
{
    pthread_mutex_lock(&t->mu);
    const batch_counts_t *k = &t->counts;
    double secs = t->first_cut_us && t->last_commit_us > t->first_cut_us
                      ? (double)(t->last_commit_us - t->first_cut_us) / 1e6
                      : 0;
    int64_t p50 = 0, p99 = 0;
    if (t->nlat) {
        qsort(t->latencies_ms, t->nlat, sizeof *t->latencies_ms, cmp_i64);
        p50 = t->latencies_ms[t->nlat / 2];
        p99 = t->latencies_ms[(size_t)((double)(t->nlat - 1) * 0.99)];
    }
    printf("batches %" PRId64 ", messages %" PRId64 ", %.1f s, %.0f msg/s\n", t->batches,
           k->messages, secs, secs > 0 ? (double)k->messages / secs : 0.0);
    printf("approved %" PRId64 "\n", k->by_status[STATUS_APPROVED]);
    printf("rejected %" PRId64, k->by_status[STATUS_REJECTED]);
    for (int r = REASON_INSUFFICIENT_FUNDS; r <= REASON_UNKNOWN_RECEIVER; r++)
        printf("%s %s %" PRId64, r == REASON_INSUFFICIENT_FUNDS ? " (" : ",", txn_reason_names[r],
               k->by_reason[r]);
    printf(")\n");
    printf("not processed %" PRId64 " (duplicada %" PRId64 ", atrasada %" PRId64
           ", anterior_a_ultima %" PRId64 ", data_futura %" PRId64 ")\n",
           k->by_status[STATUS_NOT_PROCESSED] + k->duplicates, k->duplicates,
           k->by_reason[REASON_TOO_LATE], k->by_reason[REASON_OLDER_THAN_LAST],
           k->by_reason[REASON_FUTURE]);
    printf("dead letters %" PRId64 "\n", k->dead);
    printf("latency ms p50 %" PRId64 ", p99 %" PRId64 "\n", p50, p99);
    pthread_mutex_unlock(&t->mu);
    if (stats) {
        int64_t users = 0, money = 0;
        for (int r = 0; r < nranks; r++) {
            printf("rank %d: %" PRId64 " MiB resident, %" PRId64 " users\n", r,
                   stats[r].rss_kib / 1024, stats[r].users);
            users += stats[r].users;
            money += stats[r].money_cents;
        }
        printf("users %" PRId64 ", total balance %" PRId64 ".%02" PRId64 "\n", users, money / 100,
               money % 100);
    }
    fflush(stdout);
}
