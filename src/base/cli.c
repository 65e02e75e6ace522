/* cli.c - strict number parsing and uniform usage errors for all subcommands.
 *
 * strtoll/strtod alone accept "12abc", " 5" and silently clamp overflow; the
 * wrappers here refuse all of these so that "--count -5" or "--rate abc" stop
 * the command with a message naming the flag. */
#include "base/cli.h"
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_int64(const char *flag, const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    if (text == NULL || *text == '\0' || isspace((unsigned char)*text)) goto bad;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0') goto bad;
    if (v < min || v > max) goto bad;
    *out = v;
    return 0;
bad:
    log_error("%s expects a whole number from %lld to %lld, got '%s'", flag, (long long)min,
              (long long)max, text ? text : "");
    return -1;
}

int cli_parse_double(const char *flag, const char *text, double min, double max, double *out)
{
    char *end = NULL;
    if (text == NULL || *text == '\0' || isspace((unsigned char)*text)) goto bad;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v)) goto bad;
    if (v < min || v > max) goto bad;
    *out = v;
    return 0;
bad:
    log_error("%s expects a number from %g to %g, got '%s'", flag, min, max, text ? text : "");
    return -1;
}

int cli_usage_error(const char *cmd, char **argv, int optind_now, int optopt_now)
{
    const char *arg = argv[optind_now - 1];
    if (optopt_now != 0 && strncmp(arg, "--", 2) != 0)
        log_error("unknown or incomplete option '-%c'; see 'bankstream %s --help'", optopt_now,
                  cmd);
    else
        log_error("unknown option or missing value in '%s'; see 'bankstream %s --help'", arg, cmd);
    return 2;
}

int cli_extra_argument(const char *cmd, const char *arg)
{
    log_error("unexpected argument '%s'; see 'bankstream %s --help'", arg, cmd);
    return 2;
}
