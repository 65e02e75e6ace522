/* tz.c - the local hour of an instant in an IANA zone, from its TZif file.
 *
 * Design:
 *   1. A zone is loaded once (tzhour_init) into a sorted array of transitions
 *      plus the footer's POSIX rule; a lookup returns the offset AND the
 *      interval [lo, hi) over which it holds, so the per-hour cache only keeps
 *      hours that lie entirely inside one interval and is therefore exact.
 *   2. The rule is evaluated on the fly for the years around the instant
 *      (y-2 .. y+2) so that changes scheduled near New Year, or with the
 *      RFC 8536 extended times (-167..167 h), still bracket the instant. */
#include "base/tz.h"
#include "base/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define US_PER_SEC  1000000LL
#define SEC_PER_DAY 86400LL
#define ZONEINFO    "/usr/share/zoneinfo"
#define TZIF_MAX    (1 << 20) /* largest zone file we read; real ones are < 4 KiB */

/* ---- POSIX TZ rules (TZif footer) --------------------------------------- */

/* Parse "[+-]hh[:mm[:ss]]" with hours up to maxh; returns seconds or sets *ok=0. */
static int32_t rule_parse_hms(const char **pp, int maxh, int *ok)
{
    const char *p = *pp;
    int sign = 1;
    if (*p == '+' || *p == '-') sign = (*p++ == '-') ? -1 : 1;
    int h = 0, n = 0;
    while (*p >= '0' && *p <= '9' && n < 3) {
        h = h * 10 + (*p++ - '0');
        n++;
    }
    if (n == 0 || h > maxh) *ok = 0;
    int32_t v = h * 3600;
    for (int part = 0; part < 2 && *p == ':'; part++) {
        int x = timeparse_digits(p + 1, 2);
        if (x < 0 || x > 59) {
            *ok = 0;
            break;
        }
        v += part == 0 ? x * 60 : x;
        p += 3;
    }
    *pp = p;
    return sign * v;
}

/* Skip a zone abbreviation: "<...>" or 3+ letters. */
static int rule_skip_name(const char **pp)
{
    const char *p = *pp;
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        if (*p != '>') return -1;
        p++;
    } else {
        const char *s = p;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
            p++;
        if (p - s < 3) return -1;
    }
    *pp = p;
    return 0;
}

static int rule_parse_date(const char **pp, struct tzrule_date *r)
{
    const char *p = *pp;
    char *end;
    memset(r, 0, sizeof *r);
    if (*p == 'J') {
        r->kind = 'J';
        r->n = (int)strtol(p + 1, &end, 10);
        if (end == p + 1 || r->n < 1 || r->n > 365) return -1;
        p = end;
    } else if (*p == 'M') {
        r->kind = 'M';
        r->m = (int)strtol(p + 1, &end, 10);
        if (end == p + 1 || *end != '.' || r->m < 1 || r->m > 12) return -1;
        p = end + 1;
        r->w = (int)strtol(p, &end, 10);
        if (end == p || *end != '.' || r->w < 1 || r->w > 5) return -1;
        p = end + 1;
        r->d = (int)strtol(p, &end, 10);
        if (end == p || r->d < 0 || r->d > 6) return -1;
        p = end;
    } else if (*p >= '0' && *p <= '9') {
        r->kind = 'N';
        r->n = (int)strtol(p, &end, 10);
        if (r->n > 365) return -1;
        p = end;
    } else {
        return -1;
    }
    r->secs = 2 * 3600;
    if (*p == '/') {
        p++;
        int ok = 1;
        r->secs = rule_parse_hms(&p, 167, &ok);
        if (!ok) return -1;
    }
    *pp = p;
    return 0;
}

/* Parse a POSIX TZ string such as "<-03>3" or "EST5EDT,M3.2.0,M11.1.0". */
static int rule_parse(const char *s, tzrule_t *r)
{
    const char *p = s;
    int ok = 1;
    memset(r, 0, sizeof *r);
    if (rule_skip_name(&p) != 0) return -1;
    r->std_off = -rule_parse_hms(&p, 24, &ok);
    if (!ok) return -1;
    if (*p == '\0') return 0;
    if (rule_skip_name(&p) != 0) return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        r->dst_off = -rule_parse_hms(&p, 24, &ok);
        if (!ok) return -1;
    }
    if (*p == '\0') { /* POSIX leaves the default to the implementation; glibc's */
        const char *def = "M3.2.0,M11.1.0";
        if (rule_parse_date(&def, &r->start) != 0 || *def++ != ',' ||
            rule_parse_date(&def, &r->end) != 0)
            return -1;
        return 0;
    }
    if (*p++ != ',' || rule_parse_date(&p, &r->start) != 0) return -1;
    if (*p++ != ',' || rule_parse_date(&p, &r->end) != 0) return -1;
    return *p == '\0' ? 0 : -1;
}

/* Local seconds since the epoch at which date rule d fires in year y. */
static int64_t rule_date_local(const struct tzrule_date *d, int64_t y)
{
    int64_t jan1 = timeparse_days_from_civil(y, 1, 1), days;
    if (d->kind == 'J') {
        days = jan1 + d->n - 1 + (timeparse_is_leap(y) && d->n >= 60);
    } else if (d->kind == 'N') {
        days = jan1 + d->n;
    } else {
        int64_t first = timeparse_days_from_civil(y, d->m, 1);
        int wd = (int)timeparse_floor_mod(first + 4, 7); /* 1970-01-01 was a Thursday */
        int day = 1 + (d->d - wd + 7) % 7 + 7 * (d->w - 1);
        while (day > timeparse_days_in_month(y, d->m))
            day -= 7;
        days = first + day - 1;
    }
    return days * SEC_PER_DAY + d->secs;
}

struct rule_event {
    int64_t at;  /* UTC second of the change */
    int32_t off; /* offset from then on */
    int start;   /* 1 = DST starts, 0 = DST ends */
};

/* Offset at UTC second t under rule r, and the interval [*lo, *hi) it holds for. */
static int32_t rule_offset(const tzrule_t *r, int64_t t, int64_t *lo, int64_t *hi)
{
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    if (!r->has_dst) return r->std_off;
    int64_t y;
    int m, d;
    timeparse_civil_from_days(timeparse_floor_div(t, SEC_PER_DAY), &y, &m, &d);
    struct rule_event ev[10];
    int n = 0;
    for (int64_t yy = y - 2; yy <= y + 2; yy++) {
        ev[n].at = rule_date_local(&r->end, yy) - r->dst_off;
        ev[n].off = r->std_off;
        ev[n++].start = 0;
        ev[n].at = rule_date_local(&r->start, yy) - r->std_off;
        ev[n].off = r->dst_off;
        ev[n++].start = 1;
    }
    /* insertion sort by (at, start): on a tie the start wins (year-round DST) */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && (ev[j].at < ev[j - 1].at ||
                                  (ev[j].at == ev[j - 1].at && ev[j].start < ev[j - 1].start));
             j--) {
            struct rule_event tmp = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = tmp;
        }
    int k = -1;
    for (int i = 0; i < n && ev[i].at <= t; i++)
        k = i;
    if (k < 0) { /* cannot happen for sane rules: five years bracket t */
        *hi = ev[0].at;
        return ev[0].start ? r->std_off : r->dst_off;
    }
    *lo = ev[k].at;
    if (k + 1 < n) *hi = ev[k + 1].at;
    return ev[k].off;
}

/* ---- TZif --------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int tzif_parse(tzhour_t *z, const unsigned char *f, size_t flen, const char *path,
                      char *errstr, size_t errsize)
{
    int rc = -1;
    const unsigned char *p = f, *endp = f + flen;
    int version = 0;
    uint32_t cnt[6]; /* isut, isstd, leap, time, type, char */

    for (int pass = 0; pass < 2; pass++) {
        if (endp - p < 44 || memcmp(p, "TZif", 4) != 0) goto bad;
        if (pass == 0) {
            if (p[4] != 0 && (p[4] < '2' || p[4] > '9')) goto bad;
            version = p[4] ? p[4] - '0' : 1;
        }
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(p + 20 + 4 * i);
        p += 44;
        if (cnt[2] != 0) {
            snprintf(errstr, errsize, "time zone file %s has leap seconds; use a zone without them",
                     path);
            goto out;
        }
        if (cnt[4] == 0 || cnt[4] > 256 || cnt[3] > 100000 || cnt[5] > 100000 || cnt[0] > cnt[4] ||
            cnt[1] > cnt[4])
            goto bad;
        size_t tsz = pass == 0 ? 4 : 8; /* v1 block: 32-bit times; v2+ block: 64-bit */
        size_t blk = cnt[3] * tsz + cnt[3] + cnt[4] * 6 + cnt[5] + cnt[0] + cnt[1];
        if ((size_t)(endp - p) < blk) goto bad;
        if (pass == 0 && version >= 2) { /* skip the 32-bit block, read the 64-bit one */
            p += blk;
            continue;
        }
        const unsigned char *tt = p, *idx = p + cnt[3] * tsz, *types = idx + cnt[3];
        z->ntrans = cnt[3];
        z->trans = malloc((cnt[3] ? cnt[3] : 1) * sizeof *z->trans);
        z->trans_off = malloc((cnt[3] ? cnt[3] : 1) * sizeof *z->trans_off);
        if (!z->trans || !z->trans_off) {
            snprintf(errstr, errsize, "out of memory reading %s", path);
            goto out;
        }
        for (uint32_t i = 0; i < cnt[3]; i++) {
            z->trans[i] = tsz == 8 ? be64(tt + 8 * i) : (int64_t)(int32_t)be32(tt + 4 * i);
            if (idx[i] >= cnt[4] || (i > 0 && z->trans[i] <= z->trans[i - 1])) goto bad;
            z->trans_off[i] = (int32_t)be32(types + 6 * idx[i]);
        }
        z->first_off = (int32_t)be32(types);
        p += blk;
        break;
    }
    for (size_t i = 0; i < z->ntrans; i++)
        if (z->trans_off[i] < -26 * 3600 || z->trans_off[i] > 26 * 3600) goto bad;
    if (z->first_off < -26 * 3600 || z->first_off > 26 * 3600) goto bad;

    if (version >= 2) { /* footer: "\n<POSIX TZ>\n" */
        if (endp - p < 2 || *p != '\n') goto bad;
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(endp - p - 1));
        if (!nl || nl - p - 1 >= 128) goto bad;
        char tzs[128];
        memcpy(tzs, p + 1, (size_t)(nl - p - 1));
        tzs[nl - p - 1] = '\0';
        if (tzs[0] != '\0') {
            if (rule_parse(tzs, &z->rule) != 0) {
                snprintf(errstr, errsize, "time zone file %s: cannot read its rule '%.40s'", path,
                         tzs);
                goto out;
            }
            z->has_rule = 1;
        }
    }
    rc = 0;
    goto out;
bad:
    snprintf(errstr, errsize, "time zone file %s is not a valid TZif file", path);
out:
    return rc;
}

static int tz_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(((tzhour_t *)0)->name) || name[0] == '/') return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '/' || *c == '_' || *c == '-' || *c == '+' || *c == '.'))
            return 0;
    for (const char *c = name; (c = strstr(c, "..")) != NULL; c++)
        if ((c == name || c[-1] == '/') && (c[2] == '\0' || c[2] == '/')) return 0;
    return 1;
}

int tzhour_init(tzhour_t *z, const char *tz_name, char *errstr, size_t errsize)
{
    int rc = -1;
    FILE *fp = NULL;
    unsigned char *buf = NULL;
    char path[sizeof ZONEINFO + 80];
    struct stat st;

    memset(z, 0, sizeof *z);
    for (size_t i = 0; i < TZHOUR_CACHE_SIZE; i++)
        z->cache[i].hour = INT64_MIN;
    if (!tz_name || !tz_name_ok(tz_name)) {
        snprintf(errstr, errsize,
                 "bad time zone name '%.40s': use an IANA name such as America/Sao_Paulo",
                 tz_name ? tz_name : "(null)");
        goto out;
    }
    snprintf(z->name, sizeof z->name, "%s", tz_name);
    snprintf(path, sizeof path, "%s/%s", ZONEINFO, tz_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errstr, errsize,
                 "unknown time zone '%s' (no file %s): use an IANA name such as "
                 "America/Sao_Paulo, or install tzdata",
                 tz_name, path);
        goto out;
    }
    if (st.st_size > TZIF_MAX || (fp = fopen(path, "rb")) == NULL ||
        (buf = malloc((size_t)st.st_size + 1)) == NULL) {
        snprintf(errstr, errsize, "cannot read time zone file %s", path);
        goto out;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, fp);
    rc = tzif_parse(z, buf, n, path, errstr, errsize);
out:
    if (fp) fclose(fp);
    free(buf);
    if (rc != 0) tzhour_free(z);
    return rc;
}

/* Offset at UTC second t and the interval [*lo, *hi) over which it holds. */
static int32_t tz_lookup(const tzhour_t *z, int64_t t, int64_t *lo, int64_t *hi)
{
    if (z->ntrans == 0 || t < z->trans[0]) {
        if (z->ntrans == 0 && z->has_rule) return rule_offset(&z->rule, t, lo, hi);
        *lo = INT64_MIN;
        *hi = z->ntrans ? z->trans[0] : INT64_MAX;
        return z->first_off;
    }
    size_t a = 0, b = z->ntrans; /* invariant: trans[a] <= t, and t < trans[b] if b < n */
    while (b - a > 1) {
        size_t mid = a + (b - a) / 2;
        if (z->trans[mid] <= t)
            a = mid;
        else
            b = mid;
    }
    if (a + 1 == z->ntrans && z->has_rule) {
        int32_t off = rule_offset(&z->rule, t, lo, hi);
        if (*lo < z->trans[a]) *lo = z->trans[a];
        return off;
    }
    *lo = z->trans[a];
    *hi = a + 1 < z->ntrans ? z->trans[a + 1] : INT64_MAX;
    return z->trans_off[a];
}

int32_t tzhour_offset(tzhour_t *z, int64_t us)
{
    int64_t hour = timeparse_floor_div(us, 3600 * US_PER_SEC);
    struct tzhour_slot *s = &z->cache[(uint64_t)hour & (TZHOUR_CACHE_SIZE - 1)];
    if (s->hour == hour) return s->off;
    int64_t lo, hi;
    int32_t off = tz_lookup(z, timeparse_floor_div(us, US_PER_SEC), &lo, &hi);
    if (lo <= hour * 3600 && hi >= hour * 3600 + 3600) {
        s->hour = hour;
        s->off = off;
    }
    return off;
}

int tzhour_hour(tzhour_t *z, int64_t us)
{
    int64_t local = timeparse_floor_div(us, US_PER_SEC) + tzhour_offset(z, us);
    return (int)(timeparse_floor_mod(local, SEC_PER_DAY) / 3600);
}

void tzhour_free(tzhour_t *z)
{
    free(z->trans);
    free(z->trans_off);
    z->trans = NULL;
    z->trans_off = NULL;
    z->ntrans = 0;
    z->has_rule = 0;
}
