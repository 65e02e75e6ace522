/* errstr.c - filling a caller's error buffer, and quoting bad input in it
 * (see errstr.h). */
#include "base/errstr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void errstr_set(char *errstr, size_t errsize, const char *fmt, ...)
{
    if (errsize == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errsize, fmt, ap);
    va_end(ap);
}

void errstr_quote(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int esc = c < 0x20 || c > 0x7e || c == '\\' || c == '\'';
        if ((o - out) - 1 + (esc ? 4 : 1) > ERRSTR_QUOTE_MAX) {
            memcpy(o, "...", 3);
            o += 3;
            break;
        }
        if (esc) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '\'';
    *o = '\0';
}
