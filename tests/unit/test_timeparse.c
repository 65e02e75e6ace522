/* test_timeparse.c - timeparse against independent references: glibc's
 * timegm/gmtime_r for the calendar, ISO parsing and formatting, and python3's
 * zoneinfo (run at test time through popen) for local hours in real zones. */
#include "base/rng.h"
#include "base/timeparse.h"
#include "base/tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define US 1000000LL

/* Reference: µs of a UTC calendar time through glibc's timegm. */
static int64_t ref_us(int y, int mo, int d, int h, int mi, int s, int64_t frac)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * US + frac;
}

static int parse(const char *s, int64_t *us)
{
    return timeparse_iso8601(s, strlen(s), us);
}

static void test_civil_matches_timegm(void **state)
{
    rng_t r;
    rng_seed(&r, 1, 77);
    for (int i = 0; i < 200000; i++) {
        int y = 1 + (int)rng_below(&r, 9999), m = 1 + (int)rng_below(&r, 12);
        int d = 1 + (int)rng_below(&r, 28);
        struct tm tm = {0};
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
        int64_t days = timeparse_days_from_civil(y, m, d);
        assert_int_equal(days * 86400, (int64_t)timegm(&tm));
        int64_t yy;
        int mm, dd;
        timeparse_civil_from_days(days, &yy, &mm, &dd);
        assert_int_equal(yy, y);
        assert_int_equal(mm, m);
        assert_int_equal(dd, d);
    }
    /* every day over four centuries, both directions */
    int64_t first = timeparse_days_from_civil(1800, 1, 1);
    for (int64_t z = first; z < first + 146097; z++) {
        time_t t = (time_t)(z * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        int64_t y;
        int m, d;
        timeparse_civil_from_days(z, &y, &m, &d);
        assert_int_equal(y, tm.tm_year + 1900);
        assert_int_equal(m, tm.tm_mon + 1);
        assert_int_equal(d, tm.tm_mday);
    }
}

static void test_iso_valid_forms(void **state)
{
    int64_t us = -1;
    assert_int_equal(parse("1970-01-01T00:00:00", &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(parse("2025-06-20T14:03:11.123456", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 123456));
    assert_int_equal(parse("2025-06-20 14:03:11.123456", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 123456));
    assert_int_equal(parse("2025-06-20T14:03:11", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 0));
    /* fraction digits scale: .5 = 500000 µs, .000001 = 1 µs */
    assert_int_equal(parse("2025-06-20T14:03:11.5", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 500000));
    assert_int_equal(parse("2025-06-20T14:03:11.12", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 120000));
    assert_int_equal(parse("2025-06-20T14:03:11.000001", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 1));
    /* zones: Z is UTC, an offset is subtracted */
    assert_int_equal(parse("2025-06-20T14:03:11Z", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 0));
    assert_int_equal(parse("2025-06-20T14:03:11.25-03:00", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 17, 3, 11, 250000));
    assert_int_equal(parse("2025-06-20T01:03:11+05:30", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 19, 19, 33, 11, 0));
    assert_int_equal(parse("2025-06-20T01:03:11+00:00", &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 1, 3, 11, 0));
    /* leap days */
    assert_int_equal(parse("2024-02-29T23:59:59.999999", &us), 0);
    assert_int_equal(us, ref_us(2024, 2, 29, 23, 59, 59, 999999));
    assert_int_equal(parse("2000-02-29T00:00:00", &us), 0);
    assert_int_equal(us, ref_us(2000, 2, 29, 0, 0, 0, 0));
    /* before the epoch and far years */
    assert_int_equal(parse("1969-12-31T23:59:59.999999", &us), 0);
    assert_int_equal(us, -1);
    assert_int_equal(parse("0001-01-01T00:00:00", &us), 0);
    assert_int_equal(us, ref_us(1, 1, 1, 0, 0, 0, 0));
    assert_int_equal(parse("9999-12-31T23:59:59.999999", &us), 0);
    assert_int_equal(us, ref_us(9999, 12, 31, 23, 59, 59, 999999));
    /* exactly len bytes are read: what follows is not looked at */
    const char buf[] = "2025-06-20T14:03:11.123456GARBAGE";
    assert_int_equal(timeparse_iso8601(buf, 26, &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 123456));
    assert_int_equal(timeparse_iso8601(buf, 19, &us), 0);
    assert_int_equal(us, ref_us(2025, 6, 20, 14, 3, 11, 0));
}

static void test_iso_invalid_forms(void **state)
{
    static const char *bad[] = {
        "",
        "2025-06-20",
        "2025-06-20T14:03",
        "2025-06-20T14:03:1",
        "2025-13-01T00:00:00",
        "2025-00-10T00:00:00",
        "2025-04-31T00:00:00",
        "2025-06-00T00:00:00",
        "2023-02-29T00:00:00",
        "1900-02-29T00:00:00",
        "2025-06-20T24:00:00",
        "2025-06-20T23:60:00",
        "2025-06-20T23:59:60",
        "2025-06-20t14:03:11",
        "2025-06-20_14:03:11",
        "2025/06/20T14:03:11",
        "2025-06-20T14-03-11",
        "2025-06-20T14:03:11.",
        "2025-06-20T14:03:11.1234567",
        "2025-06-20T14:03:11,5",
        "2025-06-20T14:03:11z",
        "2025-06-20T14:03:11+3:00",
        "2025-06-20T14:03:11+03",
        "2025-06-20T14:03:11+0300",
        "2025-06-20T14:03:11+24:00",
        "2025-06-20T14:03:11+03:60",
        "2025-06-20T14:03:11Z+03:00",
        "2025-06-20T14:03:11 ",
        " 2025-06-20T14:03:11",
        "2025-6-20T14:03:11",
        "+2025-06-20T14:03:11",
        "-025-06-20T14:03:11",
        "2025-06-20T14:03:11.12a",
        "2025-06-20T1a:03:11",
        "1750428191123",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 12345;
        if (parse(bad[i], &us) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(us, 12345); /* untouched on failure */
    }
    /* an embedded NUL inside len */
    int64_t us = 7;
    assert_int_equal(timeparse_iso8601("2025-06-20T14:03:11\0Z", 21, &us), -1);
    assert_int_equal(us, 7);
}

/* Random instants: format with gmtime_r as the reference, parse back,
 * and compare timeparse_format_iso with the same reference text. */
static void test_iso_round_trip_random(void **state)
{
    rng_t r;
    rng_seed(&r, 2, 77);
    int64_t lo = ref_us(1, 1, 1, 0, 0, 0, 0), hi = ref_us(9999, 12, 31, 23, 59, 59, 999999);
    for (int i = 0; i < 200000; i++) {
        int64_t us = lo + (int64_t)(rng_next(&r) % (uint64_t)(hi - lo));
        int64_t secs = us >= 0 ? us / US : -((-us + US - 1) / US);
        int64_t frac = us - secs * US;
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        char ref[128], mine[64], iso[160];
        snprintf(ref, sizeof ref, "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
        assert_int_equal(timeparse_format_iso(us, mine, sizeof mine), 26);
        assert_string_equal(mine, ref);
        int64_t back = 0;
        assert_int_equal(parse(mine, &back), 0); /* space form */
        assert_int_equal(back, us);
        snprintf(iso, sizeof iso, "%.10sT%s", ref, ref + 11);
        assert_int_equal(parse(iso, &back), 0);
        assert_int_equal(back, us);
        /* with an offset: the same local text at +HH:MM is that much earlier */
        int oh = (int)rng_below(&r, 24), om = (int)rng_below(&r, 60);
        char sign = rng_below(&r, 2) ? '+' : '-';
        snprintf(iso, sizeof iso, "%.10sT%s%c%02d:%02d", ref, ref + 11, sign, oh, om);
        assert_int_equal(parse(iso, &back), 0);
        int64_t off = ((int64_t)oh * 3600 + om * 60) * US;
        assert_int_equal(back, sign == '+' ? us - off : us + off);
    }
}

static void test_format_edges(void **state)
{
    char buf[64];
    assert_int_equal(timeparse_format_iso(0, buf, sizeof buf), 26);
    assert_string_equal(buf, "1970-01-01 00:00:00.000000");
    timeparse_format_iso(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31 23:59:59.999999");
    timeparse_format_iso(4102444800000000LL, buf, sizeof buf);
    assert_string_equal(buf, "2100-01-01 00:00:00.000000");
    char small[11];
    assert_int_equal(timeparse_format_iso(0, small, sizeof small), 26);
    assert_string_equal(small, "1970-01-01");
    /* extremes do not trap (UBSan) and still print something */
    assert_true(timeparse_format_iso(INT64_MIN, buf, sizeof buf) > 0);
    assert_true(timeparse_format_iso(INT64_MAX, buf, sizeof buf) > 0);

    /* The HDF5 files' form (created_iso). */
    assert_int_equal(timeparse_format_utc(0, buf, sizeof buf), 27);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    timeparse_format_utc(1750428191123456LL, buf, sizeof buf);
    assert_string_equal(buf, "2025-06-20T14:03:11.123456Z");
    timeparse_format_utc(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
}

static void test_now(void **state)
{
    int64_t a = (int64_t)time(NULL) * US;
    int64_t now = timeparse_now_us();
    int64_t b = ((int64_t)time(NULL) + 1) * US;
    assert_true(now >= a && now <= b);
}

static void test_tzhour_errors(void **state)
{
    tzhour_t z;
    char err[256];
    static const char *bad[] = {"",
                                "Nowhere/Atlantis",
                                "../etc/passwd",
                                "America/../../etc/passwd",
                                "/etc/localtime",
                                "America",
                                "zone.tab",
                                "right/UTC",
                                "a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (tzhour_init(&z, bad[i], err, sizeof err) != -1) fail_msg("accepted zone '%s'", bad[i]);
        assert_true(strlen(err) > 0);
        tzhour_free(&z);
    }
    assert_int_equal(tzhour_init(&z, "Nowhere/Atlantis", err, sizeof err), -1);
    assert_non_null(strstr(err, "Nowhere/Atlantis"));
    assert_int_equal(tzhour_init(&z, "zone.tab", err, sizeof err), -1);
    assert_non_null(strstr(err, "TZif"));
    if (access("/usr/share/zoneinfo/right/UTC", R_OK) == 0) {
        assert_int_equal(tzhour_init(&z, "right/UTC", err, sizeof err), -1);
        assert_non_null(strstr(err, "leap"));
    }
    assert_int_equal(tzhour_init(&z, "UTC", err, sizeof err), 0);
    tzhour_free(&z);
    tzhour_free(&z); /* twice is safe */
}

/* tzhour against python3's zoneinfo. The instants of every zone go to python
 * in one file and one process (python3 may be a slow-starting pyenv shim). */
struct zone_case {
    const char *zone;
    int from_year, to_year, n;
};

static const struct zone_case zone_cases[] = {
    /* the brief's pair: DST until 2019, and the trivial zone */
    {"America/Sao_Paulo", 2000, 2030, 5000},
    {"UTC", 2000, 2030, 3000},
    /* footer rules used after 2037: New York; Dublin's negative DST; Nuuk's
     * negative change time; Santiago's 24:00; Lord Howe's half hour; and a
     * fixed half-hour offset */
    {"America/New_York", 1970, 2100, 3000},
    {"Europe/Dublin", 1970, 2100, 3000},
    {"America/Nuuk", 1970, 2100, 3000},
    {"America/Santiago", 1970, 2100, 3000},
    {"Australia/Lord_Howe", 1970, 2100, 3000},
    {"Asia/Kolkata", 1970, 2100, 3000},
};
#define NZONES (sizeof zone_cases / sizeof zone_cases[0])

struct probe {
    int zone;
    int64_t us;
};

/* Random instants in [from, to), and instants around every change of offset
 * that tzhour itself sees there (a day-step scan, then bisection to the µs):
 * a misplaced change disagrees with python at one of them. */
static size_t zone_probes(int zi, tzhour_t *z, struct probe *out, size_t room, rng_t *r)
{
    const struct zone_case *c = &zone_cases[zi];
    int64_t lo = ref_us(c->from_year, 1, 1, 0, 0, 0, 0), hi = ref_us(c->to_year, 1, 1, 0, 0, 0, 0);
    size_t cnt = 0;
    for (int i = 0; i < c->n; i++)
        out[cnt++] = (struct probe){zi, lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo))};
    const int64_t day = 86400 * US;
    for (int64_t a = lo; a < hi; a += day) {
        int64_t b = a + day;
        if (tzhour_offset(z, a) == tzhour_offset(z, b)) continue;
        int32_t before = tzhour_offset(z, a);
        while (b - a > 1) { /* invariant: offset(a) == before != offset(b) */
            int64_t m = a + (b - a) / 2;
            if (tzhour_offset(z, m) == before)
                a = m;
            else
                b = m;
        }
        int64_t around[7] = {b - 3600 * US, b - US, b - 1, b, b + 1, b + US, b + 3600 * US};
        if (cnt + 7 > room) fail_msg("%s: more offset changes than expected", c->zone);
        for (int k = 0; k < 7; k++)
            out[cnt++] = (struct probe){zi, around[k]};
        a = b - b % US - day + US; /* continue the day steps just after the change */
    }
    return cnt;
}

static void test_tzhour_against_python(void **state)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0) skip();
    tzhour_t z[NZONES];
    char err[256];
    size_t cap = 0, cnt = 0;
    for (size_t i = 0; i < NZONES; i++) {
        if (tzhour_init(&z[i], zone_cases[i].zone, err, sizeof err) != 0) fail_msg("%s", err);
        cap += (size_t)zone_cases[i].n +
               7 * 4 * (size_t)(zone_cases[i].to_year - zone_cases[i].from_year + 1);
    }
    struct probe *pr = malloc(cap * sizeof *pr);
    assert_non_null(pr);
    rng_t r;
    rng_seed(&r, 11, 78);
    for (size_t i = 0; i < NZONES; i++)
        cnt += zone_probes((int)i, &z[i], pr + cnt, cap - cnt, &r);
    assert_true(cnt <= cap);

    char path[] = "/tmp/test_timeparse.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < cnt; i++)
        fprintf(f, "%s %lld\n", zone_cases[pr[i].zone].zone, (long long)pr[i].us);
    fclose(f);

    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import sys, datetime as d, zoneinfo\n"
             "e = d.datetime(1970, 1, 1, tzinfo=d.timezone.utc)\n"
             "for l in open(sys.argv[1]):\n"
             "    name, us = l.split()\n"
             "    t = (e + d.timedelta(microseconds=int(us))).astimezone(zoneinfo.ZoneInfo(name))\n"
             "    print(t.hour, int(t.utcoffset().total_seconds()))' %s",
             path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = 0;
    int hour, off;
    while (got < cnt && fscanf(p, "%d %d", &hour, &off) == 2) {
        tzhour_t *zz = &z[pr[got].zone];
        int mine = tzhour_hour(zz, pr[got].us);
        int32_t myoff = tzhour_offset(zz, pr[got].us);
        if (mine != hour || myoff != off) {
            char when[64];
            timeparse_format_iso(pr[got].us, when, sizeof when);
            fail_msg("%s at %s UTC: tzhour says hour %d offset %d, python %d offset %d", zz->name,
                     when, mine, (int)myoff, hour, off);
        }
        got++;
    }
    int prc = pclose(p);
    unlink(path);
    assert_int_equal(prc, 0);
    assert_int_equal(got, cnt);

    /* cached answers equal those of a fresh zone, whatever the lookup order */
    for (size_t i = cnt; i-- > 0;) {
        if (i % 101 != 0) continue;
        tzhour_t fresh;
        assert_int_equal(tzhour_init(&fresh, zone_cases[pr[i].zone].zone, err, sizeof err), 0);
        assert_int_equal(tzhour_hour(&fresh, pr[i].us), tzhour_hour(&z[pr[i].zone], pr[i].us));
        tzhour_free(&fresh);
    }
    free(pr);
    for (size_t i = 0; i < NZONES; i++)
        tzhour_free(&z[i]);
}

static void test_tzhour_speed_sanity(void **state)
{
    tzhour_t z;
    char err[256];
    assert_int_equal(tzhour_init(&z, "America/Sao_Paulo", err, sizeof err), 0);
    /* 2018-11-04 03:00 UTC = 00:00 -03 became 01:00 -02 (DST start) */
    int64_t t = ref_us(2018, 11, 4, 3, 0, 0, 0);
    assert_int_equal(tzhour_hour(&z, t - 1), 23);
    assert_int_equal(tzhour_hour(&z, t), 1);
    /* 2025: no DST any more, -03 all year */
    assert_int_equal(tzhour_hour(&z, ref_us(2025, 1, 15, 12, 0, 0, 0)), 9);
    assert_int_equal(tzhour_hour(&z, ref_us(2025, 7, 15, 2, 59, 59, 999999)), 23);
    /* any instant is answered, without overflow (UBSan) */
    static const int64_t extremes[] = {INT64_MIN, INT64_MIN + 1, -1, 0, INT64_MAX - 1, INT64_MAX};
    for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
        int h = tzhour_hour(&z, extremes[i]);
        assert_true(h >= 0 && h < 24);
    }
    tzhour_t ny;
    assert_int_equal(tzhour_init(&ny, "America/New_York", err, sizeof err), 0);
    for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
        int h = tzhour_hour(&ny, extremes[i]);
        assert_true(h >= 0 && h < 24);
    }
    tzhour_free(&ny);
    uint64_t sum = 0;
    int64_t base = ref_us(2025, 6, 20, 0, 0, 0, 0);
    for (int i = 0; i < 1000000; i++)
        sum += (uint64_t)tzhour_hour(&z, base + (int64_t)i * 997 * 1000);
    assert_true(sum > 0);
    tzhour_free(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_matches_timegm), cmocka_unit_test(test_iso_valid_forms),
        cmocka_unit_test(test_iso_invalid_forms),    cmocka_unit_test(test_iso_round_trip_random),
        cmocka_unit_test(test_format_edges),         cmocka_unit_test(test_now),
        cmocka_unit_test(test_tzhour_errors),        cmocka_unit_test(test_tzhour_against_python),
        cmocka_unit_test(test_tzhour_speed_sanity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
