/* dash_buf.c - a growing text buffer and JSON literals (see dash_buf.h). */
#include "dashboard/dash_buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for n more bytes plus a NUL. Returns 0, or -1 (and marks oom). */
static int dash_buf_reserve(dash_buf_t *b, size_t n)
{
    if (b->oom) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void dash_buf_append(dash_buf_t *b, const char *s, size_t len)
{
    if (dash_buf_reserve(b, len) != 0) return;
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void dash_buf_printf(dash_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || dash_buf_reserve(b, (size_t)n) != 0) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

void dash_buf_json_str(dash_buf_t *b, const char *s)
{
    if (s == NULL) {
        dash_buf_append(b, "null", 4);
        return;
    }
    dash_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            dash_buf_append(b, esc, 2);
            p++;
        } else if (*p < 0x20) {
            dash_buf_printf(b, "\\u%04x", *p);
            p++;
        } else {
            size_t n = utf8_len(p);
            if (n == 0) {
                dash_buf_append(b, "\xEF\xBF\xBD", 3);
                p++;
            } else {
                dash_buf_append(b, (const char *)p, n);
                p += n;
            }
        }
    }
    dash_buf_append(b, "\"", 1);
}

void dash_buf_json_num(dash_buf_t *b, double v)
{
    if (!isfinite(v)) {
        dash_buf_append(b, "null", 4);
        return;
    }
    char num[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(num, sizeof num, "%.*g", prec, v);
        if (strtod(num, NULL) == v) break;
    }
    dash_buf_append(b, num, strlen(num));
}

char *dash_buf_take(dash_buf_t *b, size_t *len)
{
    if (b->oom) {
        dash_buf_free(b);
        return NULL;
    }
    if (b->p == NULL) dash_buf_append(b, "", 0);
    if (b->oom) {
        dash_buf_free(b);
        return NULL;
    }
    char *p = b->p;
    if (len) *len = b->len;
    memset(b, 0, sizeof *b);
    return p;
}

void dash_buf_free(dash_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
