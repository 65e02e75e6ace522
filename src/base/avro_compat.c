/* avro_compat.c - can a reader schema read a writer's data (see avro_compat.h).
 *
 * can_read walks the two graphs in step. Termination: a (reader, writer)
 * pair of named types already on the walk's stack is taken as readable (the
 * rest of the walk decides it); every call spends one unit of a budget, so
 * schemas that share types in a diamond pattern cannot make it exponential. */
#include "base/avro_compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define COMPAT_BUDGET    200000 /* calls of can_read per check */
#define COMPAT_MAX_STACK 64

typedef struct walk {
    const avro_node_t *r[COMPAT_MAX_STACK], *w[COMPAT_MAX_STACK];
    int depth;
    long budget;
    char path[96];
    char *err;
    size_t errsize;
} walk_t;

static int names_agree(const avro_node_t *r, const avro_node_t *w)
{
    const char *ws = avro_short_name(w->name);
    if (strcmp(avro_short_name(r->name), ws) == 0) return 1;
    for (size_t i = 0; i < r->n_aliases; i++)
        if (strcmp(avro_short_name(r->aliases[i]), ws) == 0) return 1;
    return 0;
}

static int promotes(avro_type_t r, avro_type_t w)
{
    switch (w) {
    case AVRO_INT:
        return r == AVRO_LONG || r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_LONG:
        return r == AVRO_FLOAT || r == AVRO_DOUBLE;
    case AVRO_FLOAT:
        return r == AVRO_DOUBLE;
    case AVRO_STRING:
        return r == AVRO_BYTES;
    case AVRO_BYTES:
        return r == AVRO_STRING;
    default:
        return 0;
    }
}

static int exact(const avro_node_t *r, const avro_node_t *w)
{
    if (r->type != w->type || r->type == AVRO_UNION) return 0;
    if (r->type == AVRO_RECORD || r->type == AVRO_ENUM) return names_agree(r, w);
    if (r->type == AVRO_FIXED) return names_agree(r, w) && r->size == w->size;
    return 1;
}

int avro_types_match(const avro_node_t *r, const avro_node_t *w)
{
    return exact(r, w) || promotes(r->type, w->type);
}

int avro_union_branch_for(const avro_node_t *r, const avro_node_t *w)
{
    for (size_t i = 0; i < r->n; i++)
        if (exact(r->branches[i], w)) return (int)i;
    for (size_t i = 0; i < r->n; i++)
        if (promotes(r->branches[i]->type, w->type)) return (int)i;
    return -1;
}

static int fail(walk_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(walk_t *k, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (k->errsize) {
        if (k->path[0])
            snprintf(k->err, k->errsize, "field %s: %s", k->path, msg);
        else
            snprintf(k->err, k->errsize, "%s", msg);
    }
    return -1;
}

static const char *describe(const avro_node_t *n)
{
    return n->name ? avro_short_name(n->name) : avro_type_name(n->type);
}

static int can_read(walk_t *k, const avro_node_t *r, const avro_node_t *w);

static int can_read_field(walk_t *k, const char *name, const avro_node_t *r, const avro_node_t *w)
{
    size_t old = strlen(k->path);
    if (old < sizeof k->path - 40)
        snprintf(k->path + old, sizeof k->path - old, "%s%.32s", old ? "." : "", name);
    int rc = can_read(k, r, w);
    if (rc == 0) k->path[old] = '\0';
    return rc;
}

static int can_read_record(walk_t *k, const avro_node_t *r, const avro_node_t *w)
{
    for (size_t i = 0; i < r->n; i++) {
        const avro_field_t *rf = &r->fields[i];
        const avro_field_t *wf = NULL;
        for (size_t j = 0; j < w->n && !wf; j++)
            if (strcmp(w->fields[j].name, rf->name) == 0) wf = &w->fields[j];
        for (size_t a = 0; a < rf->n_aliases && !wf; a++)
            for (size_t j = 0; j < w->n && !wf; j++)
                if (strcmp(w->fields[j].name, rf->aliases[a]) == 0) wf = &w->fields[j];
        if (wf) {
            if (can_read_field(k, rf->name, rf->type, wf->type) != 0) return -1;
        } else if (rf->dflt == NULL) {
            return fail(k, "reader field %.40s is missing from the writer and has no default",
                        rf->name);
        }
    }
    return 0;
}

static int can_read(walk_t *k, const avro_node_t *r, const avro_node_t *w)
{
    if (--k->budget < 0) return fail(k, "schemas too complex to compare");
    if (w->type == AVRO_UNION) {
        for (size_t i = 0; i < w->n; i++)
            if (can_read(k, r, w->branches[i]) != 0) return -1;
        return 0;
    }
    if (r->type == AVRO_UNION) {
        int b = avro_union_branch_for(r, w);
        if (b < 0)
            return fail(k, "writer type %s matches no branch of the reader's union", describe(w));
        return can_read(k, r->branches[b], w);
    }
    if (!avro_types_match(r, w)) {
        if (r->type == w->type && r->type == AVRO_FIXED && names_agree(r, w))
            return fail(k, "fixed %s has another size in the writer", describe(r));
        return fail(k, "writer type %s cannot be read as %s", describe(w), describe(r));
    }
    switch (r->type) {
    case AVRO_RECORD: {
        for (int i = 0; i < k->depth; i++)
            if (k->r[i] == r && k->w[i] == w) return 0; /* decided further up */
        if (k->depth == COMPAT_MAX_STACK) return fail(k, "types nested too deeply to compare");
        k->r[k->depth] = r;
        k->w[k->depth] = w;
        k->depth++;
        int rc = can_read_record(k, r, w);
        k->depth--;
        return rc;
    }
    case AVRO_ENUM:
        if (r->enum_default >= 0) return 0;
        for (size_t i = 0; i < w->n; i++) {
            size_t j = 0;
            while (j < r->n && strcmp(r->symbols[j], w->symbols[i]) != 0)
                j++;
            if (j == r->n)
                return fail(k, "writer symbol %.40s of enum %s is not in the reader's enum",
                            w->symbols[i], describe(r));
        }
        return 0;
    case AVRO_ARRAY:
    case AVRO_MAP:
        return can_read(k, r->items, w->items);
    default:
        return 0;
    }
}

int avro_schema_can_read(const avro_node_t *r, const avro_node_t *w, char *errstr, size_t errsize)
{
    walk_t k;
    memset(&k, 0, sizeof k);
    k.budget = COMPAT_BUDGET;
    k.err = errstr;
    k.errsize = errsize;
    if (errsize) errstr[0] = '\0';
    return can_read(&k, r, w);
}
