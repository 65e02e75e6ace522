/* produce_sink_file.c - `produce --output FILE`: the messages as key<TAB>value
 * lines (see produce_sink.h), for tests, benchmarks (kcat -P -K '\t' -l) and
 * for looking at what would be sent. Lines are written in place into a 1 MB
 * buffer that goes out in one fwrite when it is nearly full, and before the
 * pacer sleeps, so a paced file grows as the topic would. */
#include "tools/produce_sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct file_sink {
    produce_sink_t base;
    FILE *fp;
    int owned; /* fclose on destroy (not stdout) */
    const char *path;
    size_t used;
    char buf[1 << 20];
} file_sink_t;

static int file_sink_drain(file_sink_t *fs, char *errstr, size_t errsize)
{
    if (fs->used > 0 && fwrite(fs->buf, 1, fs->used, fs->fp) != fs->used) {
        snprintf(errstr, errsize, "cannot write %s: %s", fs->path, strerror(errno));
        return -1;
    }
    fs->used = 0;
    return 0;
}

static char *file_sink_reserve(produce_sink_t *s)
{
    file_sink_t *fs = (file_sink_t *)s;
    return fs->buf + fs->used; /* send keeps PRODUCE_LINE_MAX bytes free */
}

static int file_sink_send(produce_sink_t *s, const txn_t *t, size_t klen, size_t vlen, char *errstr,
                          size_t errsize)
{
    file_sink_t *fs = (file_sink_t *)s;
    fs->used += klen + vlen + 2;
    if (fs->used + PRODUCE_LINE_MAX > sizeof fs->buf) return file_sink_drain(fs, errstr, errsize);
    return 0;
}

static int file_sink_idle(produce_sink_t *s, char *errstr, size_t errsize)
{
    file_sink_t *fs = (file_sink_t *)s;
    if (file_sink_drain(fs, errstr, errsize) != 0) return -1;
    if (fflush(fs->fp) != 0) {
        snprintf(errstr, errsize, "cannot write %s: %s", fs->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int file_sink_finish(produce_sink_t *s, int stopping, char *errstr, size_t errsize)
{
    return file_sink_idle(s, errstr, errsize);
}

static void file_sink_destroy(produce_sink_t *s)
{
    file_sink_t *fs = (file_sink_t *)s;
    if (fs->owned && fs->fp) fclose(fs->fp);
    free(fs);
}

produce_sink_t *produce_sink_file_open(const char *path, char *errstr, size_t errsize)
{
    file_sink_t *fs = calloc(1, sizeof *fs);
    if (fs == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    fs->base = (produce_sink_t){file_sink_reserve, file_sink_send, file_sink_idle, file_sink_finish,
                                file_sink_destroy};
    fs->path = path;
    if (strcmp(path, "-") == 0) {
        fs->fp = stdout;
        fs->path = "standard output";
    } else {
        fs->fp = fopen(path, "w");
        fs->owned = 1;
        if (fs->fp == NULL) {
            snprintf(errstr, errsize, "cannot create %s: %s", path, strerror(errno));
            free(fs);
            return NULL;
        }
    }
    return &fs->base;
}
