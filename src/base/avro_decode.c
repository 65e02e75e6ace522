/* avro_decode.c - Confluent-framed Avro -> txn_t (see avro_decode.h).
 *
 * Two stages:
 *   avro_txn_plan_new: once per writer schema. For each writer field, in
 *     writer order, a step: skip it (the reader lacks it), or read it into
 *     one of the seven slots with a conversion chosen by Avro's rules (for a
 *     writer union, one conversion per branch, CONV_ERR where the branch
 *     cannot be read). Slots the writer lacks take the reader's default,
 *     converted once here. Any field that cannot be resolved fails the plan.
 *   avro_txn_decode: per message. Runs the steps over the bytes, then
 *     validates the slots exactly as json_decode does.
 * Invariants of decoding: the cursor never passes `end` (every read checks
 * what is left first); lengths and counts are compared with what is left
 * before use; a value that cannot be empty (not zero-width) consumes at
 * least one byte, so a count above the bytes left is refused up front and a
 * loop runs at most once per byte; nesting is bounded by
 * AVRO_DECODE_MAX_DEPTH and the total work by DECODE_BUDGET. */
#include "base/avro_decode.h"
#include "base/avro_compat.h"
#include "base/errstr.h"
#include "base/ids.h"
#include "base/json_decode.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/timeparse.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECODE_BUDGET (1 << 22) /* values visited per message */

enum slot { S_ID, S_PAYER, S_RECEIVER, S_REGION, S_MODALITY, S_TIME, S_AMOUNT, S_COUNT };

static const char *const slot_names[S_COUNT] = {
    "id_transacao",         "id_usuario_pagador", "id_usuario_recebedor", "id_regiao",
    "modalidade_pagamento", "data_horario",       "valor_transacao",
};

/* How a writer value is read (its encoding and unit). */
enum conv {
    CONV_ERR = 0,
    CONV_TEXT,        /* string or bytes */
    CONV_INT,         /* zigzag varint, 32-bit */
    CONV_LONG,        /* zigzag varint, 64-bit */
    CONV_LONG_MICROS, /* long, timestamp-micros: a time in µs */
    CONV_LONG_NANOS,  /* long, timestamp-nanos: a time in ns */
    CONV_FLOAT,
    CONV_DOUBLE,
};

/* What a slot holds once read. */
enum kind { K_NONE = 0, K_TEXT, K_INT, K_REAL };

typedef struct value {
    int kind;
    const char *text;
    size_t len;
    int64_t i;       /* K_INT: a time in `unit_ns` units */
    int64_t unit_ns; /* 1000000 (ms), 1000 (µs) or 1 (ns) */
    double real;
} value_t;

typedef struct step {
    const avro_field_t *wf;
    int slot;       /* -1: skip */
    uint8_t conv;   /* writer not a union */
    uint8_t *bconv; /* writer union: one per branch */
} step_t;

struct avro_txn_reader {
    avro_schema_t *schema;
    const avro_node_t *slot_type[S_COUNT];
    value_t dflt[S_COUNT]; /* K_NONE: no default */
};

struct avro_txn_plan {
    const avro_txn_reader_t *rd;
    avro_schema_t *writer;
    step_t *steps;
    size_t n_steps;
    uint8_t *convs;        /* storage of the steps' bconv */
    value_t fill[S_COUNT]; /* reader defaults of the slots the writer lacks */
};

typedef struct cursor {
    const uint8_t *p, *end;
    long budget;
    const char *field; /* writer field being read, for errors */
    char *err;
    size_t errsize;
} cursor_t;

int avro_frame_parse(const void *msg, size_t len, uint32_t *schema_id, const uint8_t **body,
                     size_t *body_len)
{
    const uint8_t *m = msg;
    if (m == NULL || len < AVRO_FRAME_HEADER || m[0] != 0) return -1;
    *schema_id = (uint32_t)m[1] << 24 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 8 | m[4];
    *body = m + AVRO_FRAME_HEADER;
    *body_len = len - AVRO_FRAME_HEADER;
    return 0;
}

/* ---- the reader ------------------------------------------------------------------------- */

static int slot_of(const char *name)
{
    for (int k = 0; k < S_COUNT; k++)
        if (strcmp(name, slot_names[k]) == 0) return k;
    return -1;
}

/* Can slot k hold a value of reader type t (not a union)? */
static int slot_accepts(int k, avro_type_t t)
{
    switch (k) {
    case S_TIME:
        return t == AVRO_LONG || t == AVRO_INT || t == AVRO_STRING || t == AVRO_BYTES;
    case S_AMOUNT:
        return t == AVRO_DOUBLE || t == AVRO_FLOAT;
    default:
        return t == AVRO_STRING || t == AVRO_BYTES;
    }
}

/* A reader default (already checked against its type by the parser) as a
 * slot value. 0, or -1 when the slot cannot use it. */
static int default_value(int k, const cJSON *d, value_t *v)
{
    memset(v, 0, sizeof *v);
    if (cJSON_IsString(d)) {
        if (k == S_AMOUNT) return -1;
        v->kind = K_TEXT;
        v->text = d->valuestring;
        v->len = strlen(d->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(d)) {
        if (k == S_AMOUNT) {
            v->kind = K_REAL;
            v->real = d->valuedouble;
            return 0;
        }
        if (k == S_TIME && d->valuedouble == floor(d->valuedouble) &&
            fabs(d->valuedouble) < 9.2e18) {
            v->kind = K_INT;
            v->i = (int64_t)d->valuedouble;
            v->unit_ns = 1000000;
            return 0;
        }
    }
    return -1;
}

avro_txn_reader_t *avro_txn_reader_new(const char *schema_json, char *errstr, size_t errsize)
{
    const char *text = schema_json ? schema_json : AVRO_TXN_READER_SCHEMA;
    avro_txn_reader_t *rd = calloc(1, sizeof *rd);
    if (rd == NULL) {
        errstr_set(errstr, errsize, "out of memory");
        return NULL;
    }
    char why[AVRO_ERR_MAX];
    if (avro_schema_parse(text, strlen(text), &rd->schema, why, sizeof why) != 0) {
        errstr_set(errstr, errsize, "reader schema: %s", why);
        goto fail;
    }
    const avro_node_t *root = avro_schema_root(rd->schema);
    if (root->type != AVRO_RECORD) {
        errstr_set(errstr, errsize, "reader schema: a record is needed, not %s",
                   avro_type_name(root->type));
        goto fail;
    }
    for (size_t i = 0; i < root->n; i++) {
        const avro_field_t *f = &root->fields[i];
        int k = slot_of(f->name);
        if (k < 0) {
            errstr_set(errstr, errsize, "reader schema: field %.40s is not one of the seven",
                       f->name);
            goto fail;
        }
        const avro_node_t *t = f->type;
        int ok = t->type == AVRO_UNION ? t->n > 0 : slot_accepts(k, t->type);
        for (size_t b = 0; t->type == AVRO_UNION && b < t->n; b++)
            ok &= slot_accepts(k, t->branches[b]->type);
        if (!ok) {
            errstr_set(errstr, errsize, "reader schema: field %s cannot be of type %s", f->name,
                       avro_type_name(t->type));
            goto fail;
        }
        rd->slot_type[k] = t;
        if (f->dflt && default_value(k, f->dflt, &rd->dflt[k]) != 0) {
            errstr_set(errstr, errsize, "reader schema: the default of field %s is not usable",
                       f->name);
            goto fail;
        }
    }
    for (int k = 0; k < S_COUNT; k++)
        if (rd->slot_type[k] == NULL) {
            errstr_set(errstr, errsize, "reader schema: field %s is missing", slot_names[k]);
            goto fail;
        }
    return rd;
fail:
    avro_txn_reader_free(rd);
    return NULL;
}

void avro_txn_reader_free(avro_txn_reader_t *rd)
{
    if (rd == NULL) return;
    avro_schema_free(rd->schema);
    free(rd);
}

/* ---- the plan --------------------------------------------------------------------------- */

static int has_logical(const avro_node_t *w, const char *a, const char *b)
{
    return w->logical && (strcmp(w->logical, a) == 0 || strcmp(w->logical, b) == 0);
}

/* How to read writer type w (not a union) into slot k of reader type r. */
static uint8_t conv_for(const avro_node_t *r, const avro_node_t *w, int k)
{
    const avro_node_t *rb = r;
    if (r->type == AVRO_UNION) {
        int b = avro_union_branch_for(r, w);
        if (b < 0) return CONV_ERR;
        rb = r->branches[b];
    } else if (!avro_types_match(r, w)) {
        return CONV_ERR;
    }
    if (!slot_accepts(k, rb->type)) return CONV_ERR;
    switch (w->type) {
    case AVRO_STRING:
    case AVRO_BYTES:
        return CONV_TEXT;
    case AVRO_INT:
        return CONV_INT;
    case AVRO_LONG:
        if (k == S_TIME && has_logical(w, "timestamp-micros", "local-timestamp-micros"))
            return CONV_LONG_MICROS;
        if (k == S_TIME && has_logical(w, "timestamp-nanos", "local-timestamp-nanos"))
            return CONV_LONG_NANOS;
        return CONV_LONG;
    case AVRO_FLOAT:
        return CONV_FLOAT;
    case AVRO_DOUBLE:
        return CONV_DOUBLE;
    default:
        return CONV_ERR;
    }
}

static const char *type_desc(const avro_node_t *n)
{
    return n->name ? avro_short_name(n->name) : avro_type_name(n->type);
}

/* "long or string" for a union, the type otherwise. */
static void reader_desc(const avro_node_t *r, char *out, size_t size)
{
    if (r->type != AVRO_UNION) {
        snprintf(out, size, "%s", type_desc(r));
        return;
    }
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->n && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s",
                                i == 0          ? ""
                                : i + 1 == r->n ? " or "
                                                : ", ",
                                type_desc(r->branches[i]));
}

avro_txn_plan_t *avro_txn_plan_new(const avro_txn_reader_t *rd, avro_schema_t *writer, char *errstr,
                                   size_t errsize)
{
    avro_txn_plan_t *pl = calloc(1, sizeof *pl);
    if (pl == NULL) {
        avro_schema_free(writer);
        errstr_set(errstr, errsize, "out of memory");
        return NULL;
    }
    pl->rd = rd;
    pl->writer = writer;
    const avro_node_t *wroot = avro_schema_root(writer);
    const avro_node_t *rroot = avro_schema_root(rd->schema);
    if (wroot->type != AVRO_RECORD) {
        errstr_set(errstr, errsize, "the writer schema is %s, not a record",
                   avro_type_name(wroot->type));
        goto fail;
    }
    if (!avro_types_match(rroot, wroot)) {
        errstr_set(errstr, errsize, "the writer's record %.60s is not %s (nor one of its aliases)",
                   wroot->name, rroot->name);
        goto fail;
    }
    size_t nconv = 0;
    for (size_t i = 0; i < wroot->n; i++)
        if (wroot->fields[i].type->type == AVRO_UNION) nconv += wroot->fields[i].type->n;
    pl->steps = calloc(wroot->n ? wroot->n : 1, sizeof *pl->steps);
    pl->convs = calloc(nconv ? nconv : 1, 1);
    if (pl->steps == NULL || pl->convs == NULL) {
        errstr_set(errstr, errsize, "out of memory");
        goto fail;
    }
    pl->n_steps = wroot->n;
    for (size_t i = 0; i < wroot->n; i++) {
        pl->steps[i].wf = &wroot->fields[i];
        pl->steps[i].slot = -1;
    }
    /* Each reader field: its writer field (by name, then by alias), or its default. */
    uint8_t *next_conv = pl->convs;
    for (size_t r = 0; r < rroot->n; r++) {
        const avro_field_t *rf = &rroot->fields[r];
        int k = slot_of(rf->name);
        step_t *st = NULL;
        for (size_t i = 0; i < wroot->n && !st; i++)
            if (strcmp(wroot->fields[i].name, rf->name) == 0) st = &pl->steps[i];
        for (size_t a = 0; a < rf->n_aliases && !st; a++)
            for (size_t i = 0; i < wroot->n && !st; i++)
                if (strcmp(wroot->fields[i].name, rf->aliases[a]) == 0) st = &pl->steps[i];
        if (st == NULL) {
            if (rd->dflt[k].kind == K_NONE) {
                errstr_set(errstr, errsize,
                           "field %s is missing from the writer schema and has no default in "
                           "bankstream's reader schema",
                           rf->name);
                goto fail;
            }
            pl->fill[k] = rd->dflt[k];
            continue;
        }
        if (st->slot >= 0) {
            errstr_set(errstr, errsize, "writer field %.40s matches two reader fields",
                       st->wf->name);
            goto fail;
        }
        st->slot = k;
        const avro_node_t *w = st->wf->type;
        char rdesc[64];
        reader_desc(rf->type, rdesc, sizeof rdesc);
        if (w->type != AVRO_UNION) {
            st->conv = conv_for(rf->type, w, k);
            if (st->conv == CONV_ERR) {
                errstr_set(errstr, errsize, "field %s: writer type %s cannot be read as %s",
                           rf->name, type_desc(w), rdesc);
                goto fail;
            }
            continue;
        }
        st->bconv = next_conv;
        next_conv += w->n;
        int readable = 0;
        for (size_t b = 0; b < w->n; b++) {
            st->bconv[b] = conv_for(rf->type, w->branches[b], k);
            readable |= st->bconv[b] != CONV_ERR;
        }
        if (!readable) {
            errstr_set(errstr, errsize,
                       "field %s: no branch of the writer's union can be read as %s", rf->name,
                       rdesc);
            goto fail;
        }
    }
    return pl;
fail:
    avro_txn_plan_free(pl);
    return NULL;
}

void avro_txn_plan_free(avro_txn_plan_t *pl)
{
    if (pl == NULL) return;
    avro_schema_free(pl->writer);
    free(pl->steps);
    free(pl->convs);
    free(pl);
}

/* ---- binary reading --------------------------------------------------------------------- */

static int derr(cursor_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first error of a message, prefixed with the field being read. */
static int derr(cursor_t *c, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    errstr_set(c->err, c->errsize, "field %.40s: %s", c->field, msg);
    return -1;
}

static size_t left(const cursor_t *c)
{
    return (size_t)(c->end - c->p);
}

/* A zigzag varint of at most max_bytes (10: long, 5: int). */
static int read_varint(cursor_t *c, int max_bytes, int64_t *v)
{
    uint64_t acc = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (c->p == c->end) return derr(c, "truncated (a number runs past the end)");
        uint8_t b = *c->p++;
        if (i == 9 && b > 1) return derr(c, "varint overflows 64 bits");
        acc |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (max_bytes == 5 && acc > 0xffffffffu) return derr(c, "int overflows 32 bits");
            *v = (int64_t)((acc >> 1) ^ (0 - (acc & 1)));
            return 0;
        }
    }
    return derr(c, "varint longer than %d bytes", max_bytes);
}

static int read_long(cursor_t *c, int64_t *v)
{
    return read_varint(c, 10, v);
}

static int read_int(cursor_t *c, int64_t *v)
{
    return read_varint(c, 5, v);
}

/* Take n bytes (n checked against what is left). */
static int take(cursor_t *c, int64_t n, const uint8_t **at, const char *what)
{
    if (n < 0) return derr(c, "negative %s length %lld", what, (long long)n);
    if ((uint64_t)n > left(c))
        return derr(c, "%s length %lld exceeds the %zu bytes left", what, (long long)n, left(c));
    *at = c->p;
    c->p += n;
    return 0;
}

static int read_text(cursor_t *c, const char **s, size_t *len)
{
    int64_t n;
    const uint8_t *at = NULL;
    if (read_long(c, &n) != 0 || take(c, n, &at, "string") != 0) return -1;
    *s = (const char *)at;
    *len = (size_t)n;
    return 0;
}

static int read_fixed_le(cursor_t *c, int n, uint64_t *bits)
{
    const uint8_t *at = NULL;
    if (take(c, n, &at, n == 4 ? "float" : "double") != 0) return -1;
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | at[i];
    *bits = v;
    return 0;
}

static int skip(cursor_t *c, const avro_node_t *t, int depth);

/* The blocks of an array or a map. */
static int skip_blocks(cursor_t *c, const avro_node_t *t, int depth)
{
    int map = t->type == AVRO_MAP;
    int zero = !map && t->items->zero_width; /* items take no bytes: nothing to walk */
    for (;;) {
        int64_t count, size = -1;
        if (read_long(c, &count) != 0) return -1;
        if (count == 0) return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return derr(c, "%s block count out of range",
                            t->type == AVRO_MAP ? "map" : "array");
            count = -count;
            if (read_long(c, &size) != 0) return -1;
            if (size < 0 || (uint64_t)size > left(c))
                return derr(c, "block size %lld exceeds the %zu bytes left", (long long)size,
                            left(c));
        }
        if (zero) {
            if (size > 0)
                return derr(c, "block of empty values claims %lld bytes", (long long)size);
            continue;
        }
        if ((uint64_t)count > left(c))
            return derr(c, "%s block of %lld items exceeds the %zu bytes left",
                        map ? "map" : "array", (long long)count, left(c));
        const uint8_t *start = c->p;
        for (int64_t i = 0; i < count; i++) {
            if (map) {
                const char *k;
                size_t klen;
                if (read_text(c, &k, &klen) != 0) return -1;
            }
            if (skip(c, t->items, depth + 1) != 0) return -1;
        }
        if (size >= 0 && c->p - start != size)
            return derr(c, "block size %lld does not match its items (%lld bytes)", (long long)size,
                        (long long)(c->p - start));
    }
}

/* Walk over one value of writer type t, checking it is well formed. */
static int skip(cursor_t *c, const avro_node_t *t, int depth)
{
    int64_t v;
    const uint8_t *at = NULL;
    if (depth > AVRO_DECODE_MAX_DEPTH)
        return derr(c, "values nested deeper than %d", AVRO_DECODE_MAX_DEPTH);
    if (--c->budget < 0) return derr(c, "too many values to decode");
    switch (t->type) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        if (take(c, 1, &at, "boolean") != 0) return -1;
        return *at <= 1 ? 0 : derr(c, "boolean byte 0x%02x is neither 0 nor 1", *at);
    case AVRO_INT:
        return read_int(c, &v);
    case AVRO_LONG:
        return read_long(c, &v);
    case AVRO_FLOAT:
        return take(c, 4, &at, "float");
    case AVRO_DOUBLE:
        return take(c, 8, &at, "double");
    case AVRO_BYTES:
    case AVRO_STRING:
        if (read_long(c, &v) != 0) return -1;
        return take(c, v, &at, t->type == AVRO_STRING ? "string" : "bytes");
    case AVRO_FIXED:
        return take(c, t->size, &at, "fixed");
    case AVRO_ENUM:
        if (read_int(c, &v) != 0) return -1;
        if (v < 0 || (uint64_t)v >= t->n)
            return derr(c, "enum index %lld out of range (%zu symbols)", (long long)v, t->n);
        return 0;
    case AVRO_UNION:
        if (read_long(c, &v) != 0) return -1;
        if (v < 0 || (uint64_t)v >= t->n)
            return derr(c, "union branch %lld out of range (%zu branches)", (long long)v, t->n);
        return skip(c, t->branches[v], depth + 1);
    case AVRO_RECORD:
        for (size_t i = 0; i < t->n; i++)
            if (skip(c, t->fields[i].type, depth + 1) != 0) return -1;
        return 0;
    case AVRO_ARRAY:
    case AVRO_MAP:
        return skip_blocks(c, t, depth);
    }
    return derr(c, "unknown type");
}

/* One value of a slot, read the way conv says. */
static int read_slot(cursor_t *c, uint8_t conv, value_t *out)
{
    uint64_t bits;
    memset(out, 0, sizeof *out);
    switch (conv) {
    case CONV_TEXT:
        out->kind = K_TEXT;
        return read_text(c, &out->text, &out->len);
    case CONV_INT:
    case CONV_LONG:
    case CONV_LONG_MICROS:
    case CONV_LONG_NANOS:
        out->kind = K_INT;
        out->unit_ns = conv == CONV_LONG_MICROS ? 1000 : conv == CONV_LONG_NANOS ? 1 : 1000000;
        if ((conv == CONV_INT ? read_int(c, &out->i) : read_long(c, &out->i)) != 0) return -1;
        out->real = (double)out->i; /* an int or long read as double */
        return 0;
    case CONV_FLOAT: {
        if (read_fixed_le(c, 4, &bits) != 0) return -1;
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        out->kind = K_REAL;
        out->real = (double)f;
        return 0;
    }
    case CONV_DOUBLE:
        if (read_fixed_le(c, 8, &bits) != 0) return -1;
        out->kind = K_REAL;
        memcpy(&out->real, &bits, sizeof out->real);
        return 0;
    }
    return derr(c, "cannot be read");
}

/* ---- validation, as json_decode does it ------------------------------------------------- */

static int check_time(const value_t *v, int64_t *us, char *errstr, size_t errsize)
{
    char q[ERRSTR_QUOTE_SIZE];
    if (v->kind == K_TEXT) {
        int64_t t;
        errstr_quote(v->text, v->len, q);
        if (timeparse_iso8601(v->text, v->len, &t) != 0) {
            errstr_set(errstr, errsize, "data_horario %s is not epoch milliseconds or ISO-8601", q);
            return -1;
        }
        if (t < JSON_DECODE_TIME_MIN_US || t > JSON_DECODE_TIME_MAX_US) {
            errstr_set(errstr, errsize,
                       "data_horario out of range (%s; allowed 1970-01-01 to 2100-01-01)", q);
            return -1;
        }
        *us = t;
        return 0;
    }
    /* v->i in units of unit_ns: compare in that unit before scaling (no overflow) */
    int64_t lo = JSON_DECODE_TIME_MIN_US * 1000 / v->unit_ns;
    int64_t hi = v->unit_ns == 1 ? INT64_MAX : JSON_DECODE_TIME_MAX_US * 1000 / v->unit_ns;
    const char *unit = v->unit_ns == 1000000 ? "ms" : v->unit_ns == 1000 ? "us" : "ns";
    if (v->i < lo || v->i > hi || (v->unit_ns == 1 && v->i / 1000 > JSON_DECODE_TIME_MAX_US)) {
        errstr_set(errstr, errsize,
                   "data_horario out of range (%lld %s; allowed 1970-01-01 to 2100-01-01)",
                   (long long)v->i, unit);
        return -1;
    }
    *us = v->unit_ns == 1000000 ? v->i * 1000 : v->unit_ns == 1000 ? v->i : v->i / 1000;
    return 0;
}

/* The slots into a txn_t, refusing what json_decode refuses. */
static int slots_to_txn(const value_t *v, txn_t *t, char *errstr, size_t errsize)
{
    char q[ERRSTR_QUOTE_SIZE];
    uint8_t *ids[3] = {t->id, t->payer, t->receiver};
    for (int k = S_ID; k <= S_RECEIVER; k++)
        if (ids_parse(v[k].text, v[k].len, ids[k - S_ID]) != 0) {
            errstr_quote(v[k].text, v[k].len, q);
            errstr_set(errstr, errsize, "%s is not a UUID: %s", slot_names[k], q);
            return -1;
        }
    int region = region_index(v[S_REGION].text, v[S_REGION].len);
    if (region < 0) {
        errstr_quote(v[S_REGION].text, v[S_REGION].len, q);
        errstr_set(errstr, errsize, "unknown id_regiao %s", q);
        return -1;
    }
    t->region = (uint8_t)region;
    int mod = modality_index(v[S_MODALITY].text, v[S_MODALITY].len);
    if (mod < 0) {
        errstr_quote(v[S_MODALITY].text, v[S_MODALITY].len, q);
        errstr_set(errstr, errsize,
                   "unknown modalidade_pagamento %s (expected PIX, TED, DOC, Boleto)", q);
        return -1;
    }
    t->modality = (uint8_t)mod;
    if (check_time(&v[S_TIME], &t->time_us, errstr, errsize) != 0) return -1;
    return money_check_amount(v[S_AMOUNT].real, &t->amount_cents, errstr, errsize);
}

int avro_txn_decode(const avro_txn_plan_t *pl, const void *body, size_t len, txn_t *out,
                    char *errstr, size_t errsize)
{
    if (len > AVRO_DECODE_MAX_BYTES) {
        errstr_set(errstr, errsize, "message too large (%zu bytes > %d)", len,
                   AVRO_DECODE_MAX_BYTES);
        return -1;
    }
    const uint8_t *start = body ? (const uint8_t *)body : (const uint8_t *)"";
    if (body == NULL) len = 0;
    cursor_t c = {start, start + len, DECODE_BUDGET, "", errstr, errsize};
    value_t v[S_COUNT];
    memcpy(v, pl->fill, sizeof v);
    for (size_t i = 0; i < pl->n_steps; i++) {
        const step_t *st = &pl->steps[i];
        const avro_node_t *w = st->wf->type;
        c.field = st->wf->name;
        if (st->slot < 0) {
            if (skip(&c, w, 1) != 0) return -1;
            continue;
        }
        uint8_t conv = st->conv;
        if (w->type == AVRO_UNION) {
            int64_t b;
            if (read_long(&c, &b) != 0) return -1;
            if (b < 0 || (uint64_t)b >= w->n)
                return derr(&c, "union branch %lld out of range (%zu branches)", (long long)b,
                            w->n);
            conv = st->bconv[b];
            if (conv == CONV_ERR) {
                char rdesc[64];
                reader_desc(pl->rd->slot_type[st->slot], rdesc, sizeof rdesc);
                return derr(&c, "%s (writer union branch %lld) cannot be read as %s",
                            type_desc(w->branches[b]), (long long)b, rdesc);
            }
        }
        if (read_slot(&c, conv, &v[st->slot]) != 0) return -1;
    }
    if (c.p != c.end) {
        errstr_set(errstr, errsize, "%zu bytes left after the record (is the schema id right?)",
                   left(&c));
        return -1;
    }
    txn_t t;
    memset(&t, 0, sizeof t);
    if (slots_to_txn(v, &t, errstr, errsize) != 0) return -1;
    *out = t;
    return 0;
}
