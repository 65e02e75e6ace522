/* produce_sink_hdf5.c - `produce --hdf5 FILE`: the transactions straight into
 * an HDF5 transaction archive (h5archive.h), no broker, for replays of
 * historic data. Records, not lines: reserve returns NULL, so the command
 * skips the JSON. Each row is what the stream would have archived before
 * deciding it (no partition or offset, status STATUS_NONE, no scores), so an
 * archive holds exactly the transactions the same flags send to Kafka. The
 * archive is published only when all --count rows came (a stop signal
 * before that leaves nothing behind). */
#include "tools/produce_sink.h"
#include "h5/h5archive.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define HDF5_SINK_ROWS 4096 /* rows handed to h5archive_append at a time */

typedef struct hdf5_sink {
    produce_sink_t base;
    h5archive_writer_t *w; /* NULL once published */
    const char *path;
    int64_t count, sent;
    size_t n;
    txn_record_t rows[HDF5_SINK_ROWS];
} hdf5_sink_t;

static char *hdf5_sink_reserve(produce_sink_t *s)
{
    return NULL;
}

static int hdf5_sink_append(hdf5_sink_t *hs, char *errstr, size_t errsize)
{
    int rc = h5archive_append(hs->w, hs->rows, hs->n, errstr, errsize);
    hs->n = 0;
    return rc;
}

static int hdf5_sink_send(produce_sink_t *s, const txn_t *t, size_t klen, size_t vlen, char *errstr,
                          size_t errsize)
{
    hdf5_sink_t *hs = (hdf5_sink_t *)s;
    txn_record_t *r = &hs->rows[hs->n++]; /* the other fields are set at open */
    r->txn = *t;
    r->kafka_ts_ms = t->time_us / 1000;
    hs->sent++;
    return hs->n == HDF5_SINK_ROWS ? hdf5_sink_append(hs, errstr, errsize) : 0;
}

static int hdf5_sink_idle(produce_sink_t *s, char *errstr, size_t errsize)
{
    return 0;
}

static int hdf5_sink_finish(produce_sink_t *s, int stopping, char *errstr, size_t errsize)
{
    hdf5_sink_t *hs = (hdf5_sink_t *)s;
    if (hs->sent < hs->count) {
        snprintf(errstr, errsize, "interrupted after %lld of %lld messages; %s was not written",
                 (long long)hs->sent, (long long)hs->count, hs->path);
        return -1;
    }
    if (hdf5_sink_append(hs, errstr, errsize) != 0) return -1;
    h5archive_writer_t *w = hs->w;
    hs->w = NULL; /* h5archive_close frees it, published or not */
    return h5archive_close(w, NULL, errstr, errsize);
}

static void hdf5_sink_destroy(produce_sink_t *s)
{
    hdf5_sink_t *hs = (hdf5_sink_t *)s;
    h5archive_abort(hs->w);
    free(hs);
}

produce_sink_t *produce_sink_hdf5_open(const char *path, const char *topic, uint64_t seed,
                                       int64_t count, char *errstr, size_t errsize)
{
    hdf5_sink_t *hs = calloc(1, sizeof *hs);
    if (hs == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    hs->base = (produce_sink_t){hdf5_sink_reserve, hdf5_sink_send, hdf5_sink_idle, hdf5_sink_finish,
                                hdf5_sink_destroy};
    hs->path = path;
    hs->count = count;
    for (size_t i = 0; i < HDF5_SINK_ROWS; i++) {
        txn_record_t *r = &hs->rows[i]; /* batch_id, reason: 0 */
        r->offset = -1;
        r->partition = -1;
        r->status = STATUS_NONE;
        r->t5 = r->t6 = r->t7 = NAN;
    }
    hs->w = h5archive_create(path, "produce", topic, seed, errstr, errsize);
    if (hs->w == NULL) {
        free(hs);
        return NULL;
    }
    return &hs->base;
}
