/* archiver.c - the stream's HDF5 archives, one file per snapshot interval,
 * and the archiver that keeps nothing (see archiver.h).
 *
 * The open interval's file is DIR/archive-<first>.h5.partial (h5archive.h);
 * publish renames it to DIR/archive-<first>-<last>.h5 and fsyncs DIR. */
#include "stream/archiver.h"
#include "base/log.h"
#include "base/mkdirs.h"
#include "h5/h5archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct h5_archiver {
    archiver_t base;
    char dir[512], topic[256];
    h5archive_writer_t *w; /* the open interval, or NULL */
    int64_t first, last;   /* its batches */
    int off;               /* archiving stopped after a failure */
} h5_archiver_t;

static void stop_archiving(h5_archiver_t *a, const char *err)
{
    log_warn("archive: %s; archiving stops for this run (the tables are complete)", err);
    h5archive_abort(a->w);
    a->w = NULL;
    a->off = 1;
}

/* Open the interval that starts at batch `first`. 0 or -1 (archiving stopped). */
static int open_interval(h5_archiver_t *a, int64_t first)
{
    char path[1100], err[1024];
    if (mkdirs(a->dir) != 0) {
        snprintf(err, sizeof err, "cannot create %s: %s", a->dir, strerror(errno));
        stop_archiving(a, err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/archive-%012" PRId64 ".h5", a->dir, first);
    a->w = h5archive_create(path, "stream", a->topic, 0, err, sizeof err);
    if (a->w == NULL) {
        stop_archiving(a, err);
        return -1;
    }
    a->first = a->last = first;
    return 0;
}

static int h5_append(archiver_t *base, int64_t first, const txn_record_t *recs, size_t n)
{
    h5_archiver_t *a = (h5_archiver_t *)base;
    char err[1024];
    if (a->off) return -1;
    if (a->w == NULL && open_interval(a, first) != 0) return -1;
    if (n == 0) return 0;
    if (h5archive_append(a->w, recs, n, err, sizeof err) != 0) {
        stop_archiving(a, err);
        return -1;
    }
    a->last = recs[n - 1].batch_id;
    return 0;
}

static void h5_append_batch(archiver_t *base, batch_t *b)
{
    h5_archiver_t *a = (h5_archiver_t *)base;
    txn_record_t recs[512];
    size_t n = 0;
    for (size_t k = 0; k < b->ndecided && !a->off; k++) {
        recs[n++] = b->rows[b->decided[k]].rec;
        if (n == sizeof recs / sizeof recs[0]) {
            h5_append(base, b->id, recs, n);
            n = 0;
        }
    }
    h5_append(base, b->id, recs, n);
    a->last = b->id;
    batch_enter(b, BATCH_ARCHIVED);
}

/* After the interval [first, last] is published: remove the archives it
 * supersedes (a crash after an interval's archive was published but before
 * its snapshot makes the next run rebuild a longer interval from the same
 * first batch), and partial files crashes left, so that the archives of a
 * directory never overlap. */
static void remove_superseded(h5_archiver_t *a)
{
    DIR *d = opendir(a->dir);
    struct dirent *e;
    int removed = 0;
    while (d && (e = readdir(d)) != NULL) {
        long long f = 0, l = 0;
        int n = 0;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", a->dir, e->d_name);
        size_t len = strlen(e->d_name);
        if (sscanf(e->d_name, "archive-%lld-%lld.h5%n", &f, &l, &n) == 2 && (size_t)n == len &&
            f >= a->first && l <= a->last && !(f == a->first && l == a->last)) {
            if (unlink(path) == 0) {
                log_info("archive %s removed: batches %lld..%lld are in the archive of %" PRId64
                         "..%" PRId64,
                         e->d_name, f, l, a->first, a->last);
                removed++;
            }
        } else if (strncmp(e->d_name, "archive-", 8) == 0 && len > 8 &&
                   strcmp(e->d_name + len - 8, ".partial") == 0 && unlink(path) == 0) {
            removed++; /* left by a crash: its interval is rebuilt from the database */
        }
    }
    if (d) closedir(d);
    int dfd = removed ? open(a->dir, O_RDONLY | O_DIRECTORY) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static void h5_publish(archiver_t *base)
{
    h5_archiver_t *a = (h5_archiver_t *)base;
    char final_path[1100], err[1300];
    if (a->w == NULL) return;
    snprintf(final_path, sizeof final_path, "%s/archive-%012" PRId64 "-%012" PRId64 ".h5", a->dir,
             a->first, a->last);
    int rc = h5archive_close(a->w, final_path, err, sizeof err);
    a->w = NULL;
    if (rc != 0)
        stop_archiving(a, err);
    else
        remove_superseded(a);
}

static void h5_close(archiver_t *base)
{
    h5_archiver_t *a = (h5_archiver_t *)base;
    h5archive_abort(a->w);
    free(a);
}

archiver_t *archiver_h5_open(const char *dir, const char *topic)
{
    h5_archiver_t *a = calloc(1, sizeof *a);
    if (a == NULL) return NULL;
    a->base = (archiver_t){h5_append_batch, h5_append, h5_publish, h5_close};
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    snprintf(a->topic, sizeof a->topic, "%s", topic);
    return &a->base;
}

static void none_append_batch(archiver_t *a, batch_t *b)
{
    batch_enter(b, BATCH_ARCHIVED);
}

static int none_append(archiver_t *a, int64_t first, const txn_record_t *recs, size_t n)
{
    return 0;
}

static void none_publish(archiver_t *a) {}

static void none_close(archiver_t *a) {}

archiver_t *archiver_none(void)
{
    static archiver_t none = {none_append_batch, none_append, none_publish, none_close};
    return &none;
}

void archiver_close(archiver_t *a)
{
    if (a) a->close(a);
}
