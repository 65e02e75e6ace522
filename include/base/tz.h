/* tz.h - the local hour of day in a named IANA time zone (rule t7).
 *
 * tzhour_init reads /usr/share/zoneinfo/<name> (TZif version 1-4: the 64-bit
 * transition table, and the POSIX TZ rule of the footer for instants after the
 * last transition, e.g. "<-03>3" or "EST5EDT,M3.2.0,M11.1.0"). Lookups are
 * exact at any instant: a binary search over the transitions (or the rule),
 * behind a direct-mapped cache keyed by UTC hour that only holds hours without
 * a transition inside them. Zone files with leap seconds ("right/...") are
 * refused.
 *
 * A tzhour_t is not thread-safe (the cache is written by lookups): use one per
 * thread. It owns heap memory: release it with tzhour_free. */
#ifndef BS_TZ_H
#define BS_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZHOUR_CACHE_SIZE 256 /* power of two */

typedef struct tzrule {
    int32_t std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    struct tzrule_date {
        char kind; /* 'J' (1-365, no Feb 29), 'N' (0-365), 'M' (month.week.day) */
        int n, m, w, d;
        int32_t secs; /* local time of day of the change, may be < 0 or > 24 h */
    } start, end;
} tzrule_t;

typedef struct tzhour {
    char name[64];
    int64_t *trans;     /* transition instants, UTC seconds, ascending */
    int32_t *trans_off; /* offset (seconds east of UTC) from trans[i] on */
    size_t ntrans;
    int32_t first_off; /* offset before the first transition */
    int has_rule;      /* rule governs instants >= the last transition */
    tzrule_t rule;
    struct tzhour_slot {
        int64_t hour; /* UTC hour number (floor(us / 3600e6)); INT64_MIN = empty */
        int32_t off;
    } cache[TZHOUR_CACHE_SIZE];
} tzhour_t;

/* Load zone tz_name ("America/Sao_Paulo", "UTC"). Names must be relative paths
 * under /usr/share/zoneinfo without "..". Returns 0, or -1 with errstr set and
 * *z holding nothing to free (tzhour_free on it is still safe). */
int tzhour_init(tzhour_t *z, const char *tz_name, char *errstr, size_t errsize);

/* UTC offset in seconds (east positive) in effect at instant us. */
int32_t tzhour_offset(tzhour_t *z, int64_t us);

/* Local hour of day, 0-23, at instant us (µs since the epoch). */
int tzhour_hour(tzhour_t *z, int64_t us);

/* Release what tzhour_init allocated; *z is left empty. Safe to call twice. */
void tzhour_free(tzhour_t *z);

#endif
