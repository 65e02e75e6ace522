/* log.h - one-line diagnostics on stderr.
 *
 * Modules return error codes and fill an errstr buffer; only command entry
 * points (cmd_*.c) turn an error into a message and an exit status. Every
 * message is one line: "bankstream <cmd>: <what failed>: <what to do>". */
#ifndef BS_LOG_H
#define BS_LOG_H

#include <stdarg.h>

/* Name of the running subcommand, used as the message prefix ("produce"). */
void log_set_command(const char *cmd);

/* Where this process runs, for jobs that span hosts ("h2, rank 0"): every
 * line then reads "bankstream <cmd> (<where>): ...". NULL or "" clears it.
 * Call before other threads log. */
void log_set_where(const char *where);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log_warn, at most once every `seconds` per key (a library's retry loop
 * cannot flood the log); the next line printed says how many were held
 * back. Thread-safe. */
void log_warn_every(const char *key, int seconds, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Per-batch detail, printed only after log_set_verbose(1). */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_verbose(int verbose);

/* Silence log_info (for --quiet); errors and warnings are always printed. */
void log_set_quiet(int quiet);

#endif
