/* timeparse.h - wire timestamps <-> µs since the epoch, and local hours of a zone.
 *
 * Everything inside bankstream is UTC microseconds since 1970-01-01 (txn_t.time_us).
 * This module converts at the edges, with no locale and no TZ-variable dependence:
 *
 *   - timeparse_iso8601 reads the producer's data_horario strings,
 *   - timeparse_format_iso writes the form PostgreSQL reads for `timestamp`,
 *   - tzhour_* gives the local hour of day in a named IANA zone (rule t7), from
 *     the zone's TZif file read once; the process TZ variable is never touched.
 *
 * Calendar arithmetic is proleptic Gregorian (days-from-civil), so every
 * function here is a pure function of its arguments and the zone file. */
#ifndef BS_TIMEPARSE_H
#define BS_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parse exactly len bytes of ISO-8601 text:
 *
 *   YYYY-MM-DD(T| )HH:MM:SS[.f{1,6}][Z|(+|-)HH:MM]
 *
 * Years 0000-9999; every calendar field is checked (month 1-12, day valid for
 * the month including leap years, hour 0-23, minute and second 0-59: no leap
 * second, no 24:00). A time WITHOUT a zone designator is taken as UTC (the
 * original producer sent Python's naive datetime.now().isoformat(), written on
 * UTC containers); 'Z' is UTC; an offset is applied (local - offset = UTC),
 * offset hours 00-23, minutes 00-59. Lower-case 't'/'z', week dates, ordinal
 * dates and comma fractions are refused.
 * Returns 0 and sets *us, or -1 leaving *us unchanged. */
int timeparse_iso8601(const char *text, size_t len, int64_t *us);

/* Format us (UTC) as "YYYY-MM-DD HH:MM:SS.ffffff" (26 chars; years beyond
 * 0000-9999 take more digits or a sign). Returns what snprintf returns: the
 * length it wanted, output truncated and NUL-terminated if size is too small. */
int timeparse_format_iso(int64_t us, char *buf, size_t size);

/* Wall-clock time now (CLOCK_REALTIME), µs since the epoch. */
int64_t timeparse_now_us(void);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31,
 * not validated), and the inverse. Exposed for tests and other modules. */
int64_t timeparse_days_from_civil(int64_t year, int month, int day);
void timeparse_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

/* ---- local hour in an IANA time zone ---------------------------------------
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
