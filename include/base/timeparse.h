/* timeparse.h - wire timestamps <-> µs since the epoch, and the calendar.
 *
 * Everything inside bankstream is UTC microseconds since 1970-01-01 (txn_t.time_us).
 * This module converts at the edges, with no locale and no TZ-variable dependence:
 *
 *   - timeparse_iso8601 reads the producer's data_horario strings,
 *   - timeparse_format_iso writes the form PostgreSQL reads for `timestamp`,
 *     timeparse_format_utc the ISO-8601 UTC form the HDF5 files record;
 *   - the local hour in a named zone is tz.h's.
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

/* Format us as ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS.ffffffZ" (27 chars), as the
 * HDF5 files' created_iso attributes and `snapshot ls/show` print it.
 * Returns what snprintf returns. */
int timeparse_format_utc(int64_t us, char *buf, size_t size);

/* Wall-clock time now (CLOCK_REALTIME), µs since the epoch. */
int64_t timeparse_now_us(void);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31,
 * not validated), and the inverse. Exposed for tests and other modules. */
int64_t timeparse_days_from_civil(int64_t year, int month, int day);
void timeparse_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

/* Floor division and modulo (towards minus infinity), leap years and month
 * lengths of the proleptic Gregorian calendar (month 1-12). */
int64_t timeparse_floor_div(int64_t a, int64_t b);
int64_t timeparse_floor_mod(int64_t a, int64_t b);
int timeparse_is_leap(int64_t year);
int timeparse_days_in_month(int64_t year, int month);

/* The value of n decimal digits at s, or -1 if one is not a digit. */
int timeparse_digits(const char *s, int n);

#endif
