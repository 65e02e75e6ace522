/* cli.h - strict command-line parsing shared by every subcommand.
 *
 * Each parser returns 0 on success, or -1 after printing one line that names
 * the flag, the bad value and the accepted range; the caller then exits 2. */
#ifndef BS_CLI_H
#define BS_CLI_H

#include <stdint.h>

/* Parse a base-10 integer in [min, max]; rejects empty, signs out of range,
 * trailing characters and overflow. */
int cli_parse_int64(const char *flag, const char *text, int64_t min, int64_t max, int64_t *out);

/* Parse a finite decimal number in [min, max]. */
int cli_parse_double(const char *flag, const char *text, double min, double max, double *out);

/* Report an unknown option or a missing argument for getopt_long's return
 * value '?' or ':' (call with opterr = 0); always returns 2 (the exit code). */
int cli_usage_error(const char *cmd, char **argv, int optind_now, int optopt_now);

/* Report a surplus positional argument; returns 2. */
int cli_extra_argument(const char *cmd, const char *arg);

#endif
