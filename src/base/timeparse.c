/* timeparse.c - ISO-8601 <-> µs since the epoch, and the calendar.
 *
 * Calendar math is Howard Hinnant's days_from_civil / civil_from_days on
 * int64, valid for any year an int64 of µs can reach; no libc time calls, so
 * nothing depends on the locale or on the TZ variable. */
#include "base/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define US_PER_SEC  1000000LL
#define SEC_PER_DAY 86400LL

int64_t timeparse_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

int64_t timeparse_floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

int timeparse_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int timeparse_days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && timeparse_is_leap(y)) ? 29 : dim[m - 1];
}

int64_t timeparse_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void timeparse_civil_from_days(int64_t z, int64_t *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (m <= 2);
    *month = m;
    *day = d;
}

/* ---- ISO-8601 ----------------------------------------------------------- */

int timeparse_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int timeparse_iso8601(const char *s, size_t len, int64_t *us)
{
    /* fixed part: YYYY-MM-DDTHH:MM:SS is 19 bytes */
    if (len < 19) return -1;
    int year = timeparse_digits(s, 4), mon = timeparse_digits(s + 5, 2),
        day = timeparse_digits(s + 8, 2);
    int hour = timeparse_digits(s + 11, 2), min = timeparse_digits(s + 14, 2),
        sec = timeparse_digits(s + 17, 2);
    if (year < 0 || mon < 0 || day < 0 || hour < 0 || min < 0 || sec < 0) return -1;
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > timeparse_days_in_month(year, mon)) return -1;
    if (hour > 23 || min > 59 || sec > 59) return -1;

    size_t i = 19;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        i++;
        int n = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (++n > 6) return -1;
            frac = frac * 10 + (s[i++] - '0');
        }
        if (n == 0) return -1;
        for (; n < 6; n++)
            frac *= 10;
    }

    int64_t off = 0; /* seconds east of UTC */
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        if (len - i < 6) return -1;
        int oh = timeparse_digits(s + i + 1, 2), om = timeparse_digits(s + i + 4, 2);
        if (oh < 0 || om < 0 || s[i + 3] != ':' || oh > 23 || om > 59) return -1;
        off = (int64_t)oh * 3600 + om * 60;
        if (s[i] == '-') off = -off;
        i += 6;
    }
    if (i != len) return -1;

    int64_t days = timeparse_days_from_civil(year, mon, day);
    int64_t secs = days * SEC_PER_DAY + hour * 3600 + min * 60 + sec - off;
    *us = secs * US_PER_SEC + frac;
    return 0;
}

/* us as "YYYY-MM-DD<sep>HH:MM:SS.ffffff<zone>"; snprintf's return. */
static int format_time(int64_t us, char sep, const char *zone, char *buf, size_t size)
{
    int64_t secs = timeparse_floor_div(us, US_PER_SEC);
    int64_t frac =
        timeparse_floor_mod(us, US_PER_SEC); /* not us - secs * 1e6: overflows at INT64_MIN */
    int64_t days = timeparse_floor_div(secs, SEC_PER_DAY);
    int64_t sod = secs - days * SEC_PER_DAY;
    int64_t y;
    int m, d;
    timeparse_civil_from_days(days, &y, &m, &d);
    return snprintf(buf, size, "%04lld-%02d-%02d%c%02d:%02d:%02d.%06lld%s", (long long)y, m, d, sep,
                    (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (long long)frac,
                    zone);
}

int timeparse_format_iso(int64_t us, char *buf, size_t size)
{
    return format_time(us, ' ', "", buf, size);
}

int timeparse_format_utc(int64_t us, char *buf, size_t size)
{
    return format_time(us, 'T', "Z", buf, size);
}

int64_t timeparse_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}
