/* report.c - the run's totals and its closing summary (see report.h). */
#include "stream/report.h"
#include "base/timeparse.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int totals_init(run_totals_t *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    int rc = histo_init(&t->latency) | histo_init(&t->visible);
    for (int s = 0; s < STAGE_COUNT; s++)
        rc |= histo_init(&t->stage[s]);
    return rc ? -1 : 0;
}

void totals_free(run_totals_t *t)
{
    histo_free(&t->latency);
    histo_free(&t->visible);
    for (int s = 0; s < STAGE_COUNT; s++)
        histo_free(&t->stage[s]);
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
    for (size_t i = 0; i < b->nrows; i++) {
        if (b->rows[i].kind != ROW_TXN) continue;
        int64_t ts = b->rows[i].rec.kafka_ts_ms;
        histo_add(&t->latency, b->result_us / 1000 - ts);
        histo_add(&t->visible, b->committed_us / 1000 - ts);
        histo_add(&t->stage[STAGE_CUT_WAIT], b->start_us / 1000 - ts);
    }
    histo_add(&t->stage[STAGE_DECIDE], (b->result_us - b->start_us) / 1000);
    histo_add(&t->stage[STAGE_ARCHIVE], (b->queued_us - b->result_us) / 1000);
    histo_add(&t->stage[STAGE_QUEUE], (b->commit_start_us - b->queued_us) / 1000);
    histo_add(&t->stage[STAGE_COMMIT], (b->committed_us - b->commit_start_us) / 1000);
    histo_add(&t->stage[STAGE_ACK], (b->acked_us - b->committed_us) / 1000);
    t->commit_us += b->committed_us - b->commit_start_us;
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

void report_print(run_totals_t *t, const cluster_rank_stats_t *stats, int nranks)
{
    pthread_mutex_lock(&t->mu);
    const batch_counts_t *k = &t->counts;
    double secs = t->first_cut_us && t->last_commit_us > t->first_cut_us
                      ? (double)(t->last_commit_us - t->first_cut_us) / 1e6
                      : 0;
    int64_t p50 = histo_percentile(&t->latency, 0.5), p99 = histo_percentile(&t->latency, 0.99);
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
    printf("latency to commit ms p50 %" PRId64 ", p99 %" PRId64 "\n",
           histo_percentile(&t->visible, 0.5), histo_percentile(&t->visible, 0.99));
    static const char *const names[STAGE_COUNT] = {"wait for the cut",   "decide", "archive",
                                                   "queue for the sink", "commit", "Kafka ack"};
    printf("stages ms p50/p99:");
    for (int s = 0; s < STAGE_COUNT; s++)
        printf("%s %s %" PRId64 "/%" PRId64, s ? "," : "", names[s],
               histo_percentile(&t->stage[s], 0.5), histo_percentile(&t->stage[s], 0.99));
    printf("\n");
    double commit_secs = (double)t->commit_us / 1e6;
    printf("sink %.1f s in commits, %.0f msg/s while committing\n", commit_secs,
           commit_secs > 0 ? (double)k->messages / commit_secs : 0.0);
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
