/* money.h - money is an integer number of centavos everywhere inside.
 *
 * A double appears only at the wire boundary (JSON valor_transacao) and is
 * converted here with correct rounding: the decimal value printed by "%.2f"
 * is parsed back as an integer. glibc rounds the exact binary value to the
 * nearest cent, exact ties to even (10.125 -> 10.12, 10.375 -> 10.38), which
 * is what the original producer's Python round(x, 2) does too. */
#ifndef BS_MONEY_H
#define BS_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* The largest amount numeric(15,2) holds: R$ 9,999,999,999,999.99. */
#define MONEY_MAX_CENTS 999999999999999LL

enum money_rc {
    MONEY_OK = 0,
    MONEY_NAN = -1,      /* NaN or infinite */
    MONEY_NEGATIVE = -2, /* below zero */
    MONEY_TOO_BIG = -3,  /* above MONEY_MAX_CENTS */
};

/* Convert reais to centavos, rounding the exact binary value to the nearest
 * cent, ties to even (see above). Returns a money_rc; *cents is set only on
 * MONEY_OK. */
int money_from_double(double reais, int64_t *cents);

/* Format centavos as "1234.56" ("-0.50" for negatives); returns the length. */
int money_format(int64_t cents, char *buf, size_t size);

/* Parse a decimal text with at most two fraction digits ("12", "12.3",
 * "-12.34") into centavos; returns 0 or -1 for anything else. */
int money_parse(const char *text, int64_t *cents);

/* A transaction's amount as the decoders accept it: finite, positive, at
 * most numeric(15,2), not zero once rounded to cents. 0 with *cents, or -1
 * with a message naming valor_transacao in errstr (the same words whatever
 * the encoding). */
int money_check_amount(double reais, int64_t *cents, char *errstr, size_t errsize);

#endif
