/* dash_buf.h - a growing text buffer for the dashboard's JSON answers.
 *
 * Appends never fail visibly: on out-of-memory the buffer is marked and
 * every later append is a no-op, so a caller checks once, at the end
 * (dash_buf_take returns NULL). */
#ifndef BS_DASH_BUF_H
#define BS_DASH_BUF_H

#include <stddef.h>

typedef struct dash_buf {
    char *p;
    size_t len, cap;
    int oom;
} dash_buf_t;

/* Append formatted text. */
void dash_buf_printf(dash_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append len bytes. */
void dash_buf_append(dash_buf_t *b, const char *s, size_t len);

/* Append s as a JSON string literal, quotes included; bytes that are not
 * valid UTF-8 become U+FFFD, control characters \u00XX. NULL appends null. */
void dash_buf_json_str(dash_buf_t *b, const char *s);

/* Append a double as JSON: %.17g-exact shortest text, null when not finite. */
void dash_buf_json_num(dash_buf_t *b, double v);

/* The NUL-terminated text (the caller frees it) and its length, leaving b
 * empty; NULL (and b freed) if an append ran out of memory. */
char *dash_buf_take(dash_buf_t *b, size_t *len);

/* Free whatever b holds; b is empty again. */
void dash_buf_free(dash_buf_t *b);

#endif
