/* money.c - centavos <-> reais at the boundaries (JSON doubles, SQL text). */
#include "base/money.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int money_from_double(double reais, int64_t *cents)
{
    if (!isfinite(reais)) return MONEY_NAN;
    if (reais < 0) return MONEY_NEGATIVE;
    if (reais > (double)MONEY_MAX_CENTS / 100.0) return MONEY_TOO_BIG;
    char buf[64];
    snprintf(buf, sizeof buf, "%.2f", reais);
    int64_t v;
    if (money_parse(buf, &v) != 0) return MONEY_NAN;
    if (v > MONEY_MAX_CENTS) return MONEY_TOO_BIG;
    *cents = v;
    return MONEY_OK;
}

int money_format(int64_t cents, char *buf, size_t size)
{
    const char *sign = "";
    uint64_t mag = (uint64_t)cents;
    if (cents < 0) {
        sign = "-";
        mag = (uint64_t)0 - (uint64_t)cents;
    }
    return snprintf(buf, size, "%s%llu.%02llu", sign, (unsigned long long)(mag / 100),
                    (unsigned long long)(mag % 100));
}

int money_parse(const char *text, int64_t *cents)
{
    const char *p = text;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (*p < '0' || *p > '9') return -1;
    uint64_t whole = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 15) return -1;
        whole = whole * 10 + (uint64_t)(*p++ - '0');
    }
    uint64_t frac = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9' && n < 2) {
            frac = frac * 10 + (uint64_t)(*p++ - '0');
            n++;
        }
        if (n == 0) return -1;
        if (n == 1) frac *= 10;
    }
    if (*p != '\0') return -1;
    uint64_t v = whole * 100 + frac;
    if (v > (uint64_t)MONEY_MAX_CENTS) return -1;
    *cents = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int money_check_amount(double reais, int64_t *cents, char *errstr, size_t errsize)
{
    int64_t c = 0;
    switch (money_from_double(reais, &c)) {
    case MONEY_OK:
        break;
    case MONEY_NEGATIVE:
        snprintf(errstr, errsize, "valor_transacao must be positive (got %.15g)", reais);
        return -1;
    case MONEY_TOO_BIG:
        snprintf(
            errstr, errsize,
            "valor_transacao %.15g does not fit the database's numeric(15,2) (max %lld.%02lld)",
            reais, MONEY_MAX_CENTS / 100, MONEY_MAX_CENTS % 100);
        return -1;
    default:
        snprintf(errstr, errsize, "valor_transacao is not finite");
        return -1;
    }
    if (c == 0) {
        if (reais == 0)
            snprintf(errstr, errsize, "valor_transacao must be positive (got 0)");
        else
            snprintf(errstr, errsize, "valor_transacao is zero after rounding to cents (got %.6g)",
                     reais);
        return -1;
    }
    *cents = c;
    return 0;
}
