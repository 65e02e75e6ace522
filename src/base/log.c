/* log.c - one-line diagnostics on stderr, prefixed with the subcommand name. */
#include "base/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_command = "bankstream";
static char log_where[96]; /* "h2, rank 0" once set: the job spans hosts */
static void log_line(const char *level, const char *fmt, va_list ap)
{
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    if (log_where[0])
        fprintf(stderr, "bankstream %s (%s): %s%s\n", log_command, log_where, level, line);
    else
        fprintf(stderr, "bankstream %s: %s%s\n", log_command, level, line);
}

void log_set_where(const char *where)
{
    snprintf(log_where, sizeof log_where, "%s", where ? where : "");
}

static int log_quiet = 0;
static int log_verbose = 0;

void log_set_verbose(int verbose)
{
    log_verbose = verbose;
}

void log_debug(const char *fmt, ...)
{
    if (!log_verbose) return;
    va_list ap;
    va_start(ap, fmt);
    log_line("", fmt, ap);
    va_end(ap);
}

void log_set_command(const char *cmd)
{
    log_command = cmd;
}

void log_set_quiet(int quiet)
{
    log_quiet = quiet;
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("error: ", fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("warning: ", fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    if (log_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    log_line("", fmt, ap);
    va_end(ap);
}

#define LOG_KEYS 16

/* The rate limits of log_warn_every: one slot per key. */
static struct {
    char key[32];
    time_t last;
    unsigned held;
} log_limits[LOG_KEYS];
static pthread_mutex_t log_limits_mu = PTHREAD_MUTEX_INITIALIZER;

void log_warn_every(const char *key, int seconds, const char *fmt, ...)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned held = 0;
    int print = 1;
    pthread_mutex_lock(&log_limits_mu);
    int i = 0;
    while (i < LOG_KEYS && log_limits[i].key[0] && strcmp(log_limits[i].key, key) != 0)
        i++;
    if (i < LOG_KEYS) { /* a key beyond the table is never limited */
        if (log_limits[i].key[0] == '\0') {
            snprintf(log_limits[i].key, sizeof log_limits[i].key, "%s", key);
        } else if (now.tv_sec - log_limits[i].last < seconds) {
            log_limits[i].held++;
            print = 0;
        }
        if (print) {
            held = log_limits[i].held;
            log_limits[i].held = 0;
            log_limits[i].last = now.tv_sec;
        }
    }
    pthread_mutex_unlock(&log_limits_mu);
    if (!print) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (held)
        log_warn("%s (%u similar lines held back)", line, held);
    else
        log_warn("%s", line);
}
