/* log.c - one-line diagnostics on stderr, prefixed with the subcommand name. */
#include "base/log.h"

#include <stdio.h>

static const char *log_command = "bankstream";
static void log_line(const char *level, const char *fmt, va_list ap)
{
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "bankstream %s: %s%s\n", log_command, level, line);
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
