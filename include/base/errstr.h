/* errstr.h - filling a caller's error buffer, and quoting bad input in it.
 *
 * Functions that can fail take (char *errstr, size_t errsize) and write one
 * line there; the decoders quote the offending input so a dead letter or a
 * log line shows what was wrong without letting control bytes or a megabyte
 * of garbage through. Shared so every message quotes input the same way. */
#ifndef BS_ERRSTR_H
#define BS_ERRSTR_H

#include <stddef.h>

/* Printable characters of input quoted in an error, before "...". */
#define ERRSTR_QUOTE_MAX 32
/* Size of a buffer errstr_quote writes: quotes, "...", and the NUL. */
#define ERRSTR_QUOTE_SIZE (ERRSTR_QUOTE_MAX + 8)

/* vsnprintf into errstr[errsize]; nothing when errsize is 0. */
void errstr_set(char *errstr, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The n bytes at s as 'text' into out[ERRSTR_QUOTE_SIZE]: printable ASCII
 * kept, other bytes (and \ and ') as \xHH, cut with "..." after
 * ERRSTR_QUOTE_MAX characters. */
void errstr_quote(const char *s, size_t n, char *out);

#endif
