/* sink_check.c - drives the stream's PostgreSQL sink (stream/sink_pg.c)
 * and the state reads directly, for tests/integration/56-topics.sh, with
 * batches no broker could hold.
 *
 *   sink_check CONNINFO bigdead TOPIC N SIZE FILE
 *       commits ONE batch of N dead letters of SIZE bytes each (every row
 *       points at the same SIZE bytes of the batch's arena, so the driver
 *       holds one message, not N) through sink_pg_open + commit, as the
 *       next batch of the database on one partition of TOPIC; writes the
 *       message's bytes to FILE so that the test can hash them
 *   sink_check CONNINFO lastts TOPIC
 *       prints pgstate_last_ts of TOPIC: "<batch> <ts0>,<ts1>,..."
 * Exit status 0 when every call succeeded, 1 otherwise (errors on stderr). */
#include "pg/pgconn.h"
#include "pg/pgstate.h"
#include "stream/sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PARTS 1024

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The batch: next id of the database, partition 0 of topic from where its
 * batches ended. NULL with err. */
static batch_t *big_batch(PGconn *conn, const char *topic, int64_t n, int64_t size, char *msg,
                          char *err, size_t errsize)
{
    int64_t last = 0, ends[MAX_PARTS];
    int nparts = 0;
    if (pgstate_last_batch(conn, topic, &last, ends, MAX_PARTS, &nparts, err, errsize) != 0)
        return NULL;
    batch_t *b = batch_new(1);
    uint32_t raw_off = 0, err_off = 0;
    static const char why[] = "sink_check: a huge message";
    if (b == NULL || batch_arena_put(b, msg, (size_t)size, &raw_off) != 0 ||
        batch_arena_put(b, why, sizeof why - 1, &err_off) != 0) {
        snprintf(err, errsize, "out of memory");
        batch_free(b);
        return NULL;
    }
    b->id = last + 1;
    b->start_offsets[0] = nparts > 0 && ends[0] >= 0 ? ends[0] : 0;
    b->end_offsets[0] = b->start_offsets[0] + n;
    b->start_us = b->result_us = now_us();
    b->ranks = 1;
    for (int64_t i = 0; i < n; i++) {
        batch_row_t *r = batch_add_row(b);
        if (r == NULL) {
            snprintf(err, errsize, "out of memory");
            batch_free(b);
            return NULL;
        }
        r->kind = ROW_DEAD;
        r->rec.partition = 0;
        r->rec.offset = b->start_offsets[0] + i;
        r->rec.kafka_ts_ms = 1750000000000 + i;
        r->raw_off = raw_off;
        r->raw_len = (uint32_t)size;
        r->err_off = err_off;
        r->err_len = sizeof why - 1;
    }
    batch_count(b);
    return b;
}

static int bigdead(const char *conninfo, const char *topic, int64_t n, int64_t size,
                   const char *file)
{
    char err[2048];
    int rc = 1;
    char *msg = malloc((size_t)size);
    PGconn *conn = pgconn_open(conninfo, err, sizeof err);
    stream_sink_t *sink = NULL;
    batch_t *b = NULL;
    if (msg == NULL || conn == NULL) goto done;
    for (int64_t i = 0; i < size; i++) /* not JSON; compressible, not constant */
        msg[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    FILE *f = fopen(file, "wb");
    if (f == NULL || fwrite(msg, 1, (size_t)size, f) != (size_t)size || fclose(f) != 0) {
        snprintf(err, sizeof err, "cannot write %s", file);
        goto done;
    }
    b = big_batch(conn, topic, n, size, msg, err, sizeof err);
    if (b == NULL) goto done;
    sink = sink_pg_open(conninfo, 1, 0, 1, 10, topic, err, sizeof err);
    if (sink == NULL) goto done;
    int64_t t0 = now_us();
    if (sink->commit(sink, b, err, sizeof err) != 0) goto done;
    printf("committed batch %" PRId64 ": %" PRId64 " dead letters of %" PRId64 " bytes in %.1f s\n",
           b->id, n, size, (double)(now_us() - t0) / 1e6);
    rc = 0;
done:
    if (rc) fprintf(stderr, "sink_check bigdead: %s\n", err);
    sink_close(sink);
    batch_free(b);
    if (conn) PQfinish(conn);
    free(msg);
    return rc;
}

static int lastts(const char *conninfo, const char *topic)
{
    char err[1024];
    int64_t batch = 0, ts[MAX_PARTS];
    int n = 0;
    PGconn *conn = pgconn_open(conninfo, err, sizeof err);
    if (conn == NULL ||
        pgstate_last_ts(conn, topic, &batch, ts, MAX_PARTS, &n, err, sizeof err) != 0) {
        fprintf(stderr, "sink_check lastts: %s\n", err);
        if (conn) PQfinish(conn);
        return 1;
    }
    printf("%" PRId64 " ", batch);
    for (int i = 0; i < n; i++)
        printf("%s%" PRId64, i ? "," : "", ts[i]);
    printf("\n");
    PQfinish(conn);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[2], "bigdead") == 0)
        return bigdead(argv[1], argv[3], atoll(argv[4]), atoll(argv[5]), argv[6]);
    if (argc == 4 && strcmp(argv[2], "lastts") == 0) return lastts(argv[1], argv[3]);
    fprintf(stderr, "usage: sink_check CONNINFO bigdead TOPIC N SIZE FILE\n"
                    "       sink_check CONNINFO lastts TOPIC\n");
    return 2;
}
