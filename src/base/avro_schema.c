/* avro_schema.c - Avro schema JSON -> a bounded graph of avro_node_t (see avro_schema.h).
 *
 * Design:
 *   1. cJSON parses the text once; the tree is kept for the schema's life,
 *      so names and defaults point into it (no copies).
 *   2. Nodes, field tables and fullnames live in one arena, freed at once.
 *      Primitive types named by a plain string share static nodes.
 *   3. Named types are registered before their body is parsed, so a record
 *      can refer to itself; a reference to a name not yet defined fails
 *      (Avro defines types in reading order).
 *   4. zero_width is set bottom-up: a record is zero-width when all its
 *      fields are; a type still being parsed counts as not zero-width, which
 *      can only under-state it (safe: the decoder then just loops).
 *   5. Errors carry the path of record and field names down to the failure. */
#include "base/avro_schema.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK  16384
#define ARENA_MAX    (16u << 20) /* bytes a schema's arena may take */
#define PATH_MAX_LEN 96

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
} arena_block_t;

struct avro_schema {
    cJSON *json;
    char *text; /* compact JSON */
    const avro_node_t *root;
    arena_block_t *blocks;
    size_t arena_total;
};

typedef struct named {
    const char *fullname;
    avro_node_t *node;
} named_t;

typedef struct parser {
    avro_schema_t *s;
    size_t nodes;
    named_t *named;
    size_t n_named, cap_named;
    char path[PATH_MAX_LEN + 8];
    char *err;
    size_t errsize;
    int oom;
} parser_t;

static const char *const type_names[] = {"null",   "boolean", "int",    "long",   "float",
                                         "double", "bytes",   "string", "record", "enum",
                                         "array",  "map",     "union",  "fixed"};

/* The primitives as plain strings name them: shared, never freed. */
static const avro_node_t primitives[] = {
    {.type = AVRO_NULL, .zero_width = 1, .enum_default = -1},
    {.type = AVRO_BOOLEAN, .enum_default = -1},
    {.type = AVRO_INT, .enum_default = -1},
    {.type = AVRO_LONG, .enum_default = -1},
    {.type = AVRO_FLOAT, .enum_default = -1},
    {.type = AVRO_DOUBLE, .enum_default = -1},
    {.type = AVRO_BYTES, .enum_default = -1},
    {.type = AVRO_STRING, .enum_default = -1},
};

const char *avro_type_name(avro_type_t t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "unknown";
}

const char *avro_short_name(const char *fullname)
{
    const char *dot = strrchr(fullname, '.');
    return dot ? dot + 1 : fullname;
}

static void perr(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first error wins; it is prefixed with the path when there is one.
 * Quoted input is made printable by the callers (printable()). */
static void perr(parser_t *p, const char *fmt, ...)
{
    if (p->err == NULL || p->errsize == 0 || p->err[0] != '\0') return;
    char msg[AVRO_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->path[0])
        snprintf(p->err, p->errsize, "at %s: %s", p->path, msg);
    else
        snprintf(p->err, p->errsize, "%s", msg);
}

/* s as at most 24 printable characters (others as '?'), for messages. */
static const char *printable(const char *s, char out[32])
{
    size_t i = 0;
    for (; i < 24 && s[i]; i++)
        out[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
    if (i == 24 && s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

static void *arena_alloc(parser_t *p, size_t size)
{
    avro_schema_t *s = p->s;
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    arena_block_t *b = s->blocks;
    if (b == NULL || b->cap - b->used < size) {
        size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        if (s->arena_total + cap > ARENA_MAX) {
            perr(p, "schema too large (more than %u MiB in memory)", ARENA_MAX >> 20);
            return NULL;
        }
        b = malloc(sizeof *b + cap);
        if (b == NULL) {
            p->oom = 1;
            perr(p, "out of memory");
            return NULL;
        }
        b->cap = cap;
        b->used = 0;
        b->next = s->blocks;
        s->blocks = b;
        s->arena_total += cap;
    }
    void *r = (char *)b->data + b->used;
    b->used += size;
    memset(r, 0, size);
    return r;
}

static avro_node_t *new_node(parser_t *p, avro_type_t t)
{
    if (++p->nodes > AVRO_SCHEMA_MAX_NODES) {
        perr(p, "schema has more than %d types", AVRO_SCHEMA_MAX_NODES);
        return NULL;
    }
    avro_node_t *n = arena_alloc(p, sizeof *n);
    if (n) {
        n->type = t;
        n->enum_default = -1;
    }
    return n;
}

static int primitive_of(const char *name)
{
    for (int t = AVRO_NULL; t <= AVRO_STRING; t++)
        if (strcmp(name, type_names[t]) == 0) return t;
    return -1;
}

/* Avro name: [A-Za-z_][A-Za-z0-9_]* */
static int name_ok(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* A fullname or a namespace: dot-separated names (a namespace may be ""). */
static int dotted_ok(const char *s, int empty_ok)
{
    if (*s == '\0') return empty_ok;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (!name_ok(s, n)) return 0;
        if (!dot) return 1;
        s = dot + 1;
    }
}

/* name in namespace ns -> fullname in the arena (name itself when dotted or ns empty). */
static const char *make_fullname(parser_t *p, const char *name, const char *ns)
{
    if (strchr(name, '.') || ns == NULL || *ns == '\0') return name;
    size_t a = strlen(ns), b = strlen(name);
    char *f = arena_alloc(p, a + b + 2);
    if (f == NULL) return NULL;
    memcpy(f, ns, a);
    f[a] = '.';
    memcpy(f + a + 1, name, b + 1);
    return f;
}

static avro_node_t *lookup(parser_t *p, const char *fullname)
{
    for (size_t i = 0; i < p->n_named; i++)
        if (strcmp(p->named[i].fullname, fullname) == 0) return p->named[i].node;
    return NULL;
}

static int define(parser_t *p, const char *fullname, avro_node_t *n)
{
    char q[32];
    if (primitive_of(avro_short_name(fullname)) >= 0 && strchr(fullname, '.') == NULL) {
        perr(p, "'%s' is a primitive type and cannot be redefined", printable(fullname, q));
        return -1;
    }
    if (lookup(p, fullname)) {
        perr(p, "type '%s' is defined twice", printable(fullname, q));
        return -1;
    }
    if (p->n_named == p->cap_named) {
        size_t cap = p->cap_named ? p->cap_named * 2 : 16;
        named_t *nn = realloc(p->named, cap * sizeof *nn);
        if (nn == NULL) {
            p->oom = 1;
            perr(p, "out of memory");
            return -1;
        }
        p->named = nn;
        p->cap_named = cap;
    }
    p->named[p->n_named++] = (named_t){fullname, n};
    n->name = fullname;
    return 0;
}

/* A reference by name: fullname, or relative to ns, else the null namespace. */
static const avro_node_t *resolve_ref(parser_t *p, const char *name, const char *ns)
{
    int prim = primitive_of(name);
    if (prim >= 0) {
        if (++p->nodes > AVRO_SCHEMA_MAX_NODES) {
            perr(p, "schema has more than %d types", AVRO_SCHEMA_MAX_NODES);
            return NULL;
        }
        return &primitives[prim];
    }
    char q[32];
    const avro_node_t *n = NULL;
    if (strchr(name, '.') == NULL && ns && *ns) {
        const char *full = make_fullname(p, name, ns);
        if (full == NULL) return NULL;
        n = lookup(p, full);
    }
    if (n == NULL) n = lookup(p, name);
    if (n == NULL) perr(p, "unknown type '%s'", printable(name, q));
    return n;
}

static const avro_node_t *parse_type(parser_t *p, const cJSON *j, const char *ns, int depth);

/* Push ".name" (or "name") on the error path; returns the old length. */
static size_t path_push(parser_t *p, const char *name)
{
    size_t old = strlen(p->path);
    if (old < PATH_MAX_LEN) {
        char q[32];
        snprintf(p->path + old, sizeof p->path - old, "%s%s", old ? "." : "", printable(name, q));
    }
    return old;
}

static void path_pop(parser_t *p, size_t old)
{
    p->path[old] = '\0';
}

static const char *get_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* aliases: an optional array of names, made full in ns when named_type. */
static int parse_aliases(parser_t *p, const cJSON *obj, const char *ns, int named_type,
                         const char *const **out, size_t *n_out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "aliases");
    *out = NULL;
    *n_out = 0;
    if (a == NULL) return 0;
    if (!cJSON_IsArray(a)) {
        perr(p, "\"aliases\" must be an array of names");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(a);
    if (n == 0) return 0;
    const char **v = arena_alloc(p, n * sizeof *v);
    if (v == NULL) return -1;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        char q[32];
        if (!cJSON_IsString(it) ||
            !(named_type ? dotted_ok(it->valuestring, 0)
                         : name_ok(it->valuestring, strlen(it->valuestring)))) {
            perr(p, "alias %s is not a valid name",
                 cJSON_IsString(it) ? printable(it->valuestring, q) : "(not a string)");
            return -1;
        }
        v[i] = named_type ? make_fullname(p, it->valuestring, ns) : it->valuestring;
        if (v[i] == NULL) return -1;
        i++;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* Is JSON value d a valid default for type t? (Avro's Java rule: a union
 * takes a value of any of its branches.) */
static int default_ok(const avro_node_t *t, const cJSON *d, int depth)
{
    if (depth > AVRO_SCHEMA_MAX_DEPTH) return 0;
    switch (t->type) {
    case AVRO_NULL:
        return cJSON_IsNull(d);
    case AVRO_BOOLEAN:
        return cJSON_IsBool(d);
    case AVRO_INT:
        return cJSON_IsNumber(d) && d->valuedouble == floor(d->valuedouble) &&
               d->valuedouble >= -2147483648.0 && d->valuedouble <= 2147483647.0;
    case AVRO_LONG:
        return cJSON_IsNumber(d) && d->valuedouble == floor(d->valuedouble) &&
               d->valuedouble >= -9223372036854775808.0 && d->valuedouble < 9223372036854775808.0;
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return cJSON_IsNumber(d);
    case AVRO_BYTES:
    case AVRO_STRING:
    case AVRO_FIXED:
        return cJSON_IsString(d);
    case AVRO_ENUM:
        if (!cJSON_IsString(d)) return 0;
        for (size_t i = 0; i < t->n; i++)
            if (strcmp(t->symbols[i], d->valuestring) == 0) return 1;
        return 0;
    case AVRO_ARRAY: {
        if (!cJSON_IsArray(d)) return 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, d) if (!default_ok(t->items, it, depth + 1)) return 0;
        return 1;
    }
    case AVRO_MAP: {
        if (!cJSON_IsObject(d)) return 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, d) if (!default_ok(t->items, it, depth + 1)) return 0;
        return 1;
    }
    case AVRO_RECORD:
        if (!cJSON_IsObject(d)) return 0;
        for (size_t i = 0; i < t->n; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, t->fields[i].name);
            if (v == NULL) {
                if (t->fields[i].dflt == NULL) return 0;
            } else if (!default_ok(t->fields[i].type, v, depth + 1)) {
                return 0;
            }
        }
        return 1;
    case AVRO_UNION:
        for (size_t i = 0; i < t->n; i++)
            if (default_ok(t->branches[i], d, depth + 1)) return 1;
        return 0;
    }
    return 0;
}

static int parse_fields(parser_t *p, avro_node_t *rec, const cJSON *fields, const char *ns,
                        int depth)
{
    if (!cJSON_IsArray(fields)) {
        perr(p, "record needs \"fields\", an array");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(fields);
    avro_field_t *f = n ? arena_alloc(p, n * sizeof *f) : NULL;
    if (n && f == NULL) return -1;
    size_t i = 0;
    const cJSON *it;
    int zero = 1;
    cJSON_ArrayForEach(it, fields)
    {
        char q[32];
        const char *name = cJSON_IsObject(it) ? get_string(it, "name") : NULL;
        if (name == NULL || !name_ok(name, strlen(name))) {
            perr(p, "field %zu needs a \"name\" that is a valid Avro name%s%s", i,
                 name ? ", not " : "", name ? printable(name, q) : "");
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(f[k].name, name) == 0) {
                perr(p, "field %s appears twice", printable(name, q));
                return -1;
            }
        size_t mark = path_push(p, name);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        if (type == NULL) {
            perr(p, "field has no \"type\"");
            return -1;
        }
        f[i].name = name;
        f[i].type = parse_type(p, type, ns, depth + 1);
        if (f[i].type == NULL) return -1;
        if (parse_aliases(p, it, ns, 0, &f[i].aliases, &f[i].n_aliases) != 0) return -1;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "default");
        if (d) {
            if (!default_ok(f[i].type, d, 0)) {
                perr(p, "the default does not match the field's type %s",
                     avro_type_name(f[i].type->type));
                return -1;
            }
            f[i].dflt = d;
        }
        zero &= f[i].type->zero_width;
        path_pop(p, mark);
        i++;
    }
    rec->fields = f;
    rec->n = n;
    rec->zero_width = zero;
    return 0;
}

static int parse_enum(parser_t *p, avro_node_t *e, const cJSON *obj)
{
    const cJSON *sy = cJSON_GetObjectItemCaseSensitive(obj, "symbols");
    char q[32];
    if (!cJSON_IsArray(sy)) {
        perr(p, "enum needs \"symbols\", an array of names");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(sy), i = 0;
    const char **v = n ? arena_alloc(p, n * sizeof *v) : NULL;
    if (n && v == NULL) return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, sy)
    {
        if (!cJSON_IsString(it) || !name_ok(it->valuestring, strlen(it->valuestring))) {
            perr(p, "enum symbol %zu is not a valid name", i);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(v[k], it->valuestring) == 0) {
                perr(p, "enum symbol %s appears twice", printable(it->valuestring, q));
                return -1;
            }
        v[i++] = it->valuestring;
    }
    e->symbols = v;
    e->n = n;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "default");
    if (d) {
        for (size_t k = 0; cJSON_IsString(d) && k < n; k++)
            if (strcmp(v[k], d->valuestring) == 0) e->enum_default = (int)k;
        if (e->enum_default < 0) {
            perr(p, "enum default is not one of its symbols");
            return -1;
        }
    }
    return 0;
}

/* record, error, enum, fixed: the name, then the body. */
static const avro_node_t *parse_named(parser_t *p, const cJSON *obj, const char *kind,
                                      const char *ns, int depth)
{
    char q[32];
    const char *name = get_string(obj, "name");
    if (name == NULL || !dotted_ok(name, 0)) {
        perr(p, "%s needs a \"name\" that is a valid Avro name%s%s", kind, name ? ", not " : "",
             name ? printable(name, q) : "");
        return NULL;
    }
    const cJSON *nsj = cJSON_GetObjectItemCaseSensitive(obj, "namespace");
    const char *own_ns = ns;
    if (strchr(name, '.')) {
        own_ns = NULL; /* set below from the fullname */
    } else if (nsj && !cJSON_IsNull(nsj)) {
        if (!cJSON_IsString(nsj) || !dotted_ok(nsj->valuestring, 1)) {
            perr(p, "%s %s: \"namespace\" is not a valid namespace", kind, printable(name, q));
            return NULL;
        }
        own_ns = nsj->valuestring;
    }
    avro_type_t t = strcmp(kind, "enum") == 0    ? AVRO_ENUM
                    : strcmp(kind, "fixed") == 0 ? AVRO_FIXED
                                                 : AVRO_RECORD;
    avro_node_t *n = new_node(p, t);
    if (n == NULL) return NULL;
    const char *full = make_fullname(p, name, own_ns);
    if (full == NULL || define(p, full, n) != 0) return NULL;
    /* the namespace of what this type encloses: the fullname's prefix */
    char *inner_ns = NULL;
    const char *dot = strrchr(full, '.');
    if (dot) {
        inner_ns = arena_alloc(p, (size_t)(dot - full) + 1);
        if (inner_ns == NULL) return NULL;
        memcpy(inner_ns, full, (size_t)(dot - full));
    }
    if (parse_aliases(p, obj, inner_ns, 1, &n->aliases, &n->n_aliases) != 0) return NULL;
    size_t mark = path_push(p, avro_short_name(full));
    int rc = 0;
    if (t == AVRO_RECORD) {
        rc = parse_fields(p, n, cJSON_GetObjectItemCaseSensitive(obj, "fields"), inner_ns, depth);
    } else if (t == AVRO_ENUM) {
        rc = parse_enum(p, n, obj);
    } else {
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(obj, "size");
        if (!cJSON_IsNumber(size) || size->valuedouble != floor(size->valuedouble) ||
            size->valuedouble < 0 || size->valuedouble > 2147483647.0) {
            perr(p, "fixed needs a \"size\", a whole number of bytes");
            rc = -1;
        } else {
            n->size = (int64_t)size->valuedouble;
            n->zero_width = n->size == 0;
        }
    }
    if (rc == 0) path_pop(p, mark);
    return rc == 0 ? n : NULL;
}

static const avro_node_t *parse_union(parser_t *p, const cJSON *arr, const char *ns, int depth)
{
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    avro_node_t *u = new_node(p, AVRO_UNION);
    if (u == NULL) return NULL;
    const avro_node_t **b = n ? arena_alloc(p, n * sizeof *b) : NULL;
    if (n && b == NULL) return NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        b[i] = parse_type(p, it, ns, depth + 1);
        if (b[i] == NULL) return NULL;
        if (b[i]->type == AVRO_UNION) {
            perr(p, "a union cannot hold a union directly (branch %zu)", i);
            return NULL;
        }
        for (size_t k = 0; k < i; k++) {
            int named = b[i]->name != NULL;
            if (b[k]->type == b[i]->type && (!named || strcmp(b[k]->name, b[i]->name) == 0)) {
                perr(p, "union has two branches of type %s (%zu and %zu)",
                     named ? "with the same name" : avro_type_name(b[i]->type), k, i);
                return NULL;
            }
        }
        i++;
    }
    u->branches = b;
    u->n = n;
    return u;
}

static const avro_node_t *parse_type(parser_t *p, const cJSON *j, const char *ns, int depth)
{
    if (depth > AVRO_SCHEMA_MAX_DEPTH) {
        perr(p, "types nested deeper than %d", AVRO_SCHEMA_MAX_DEPTH);
        return NULL;
    }
    if (cJSON_IsString(j)) return resolve_ref(p, j->valuestring, ns);
    if (cJSON_IsArray(j)) return parse_union(p, j, ns, depth);
    if (!cJSON_IsObject(j)) {
        perr(p, "a type must be a name, an object or an array (a union)");
        return NULL;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (type == NULL) {
        perr(p, "a type object needs a \"type\"");
        return NULL;
    }
    if (cJSON_IsObject(type) || cJSON_IsArray(type)) return parse_type(p, type, ns, depth + 1);
    if (!cJSON_IsString(type)) {
        perr(p, "\"type\" must be a string, an object or an array");
        return NULL;
    }
    const char *t = type->valuestring;
    const char *logical = get_string(j, "logicalType");
    int prim = primitive_of(t);
    if (prim >= 0) {
        if (logical == NULL) return resolve_ref(p, t, ns);
        avro_node_t *n = new_node(p, (avro_type_t)prim);
        if (n == NULL) return NULL;
        n->logical = logical;
        n->zero_width = prim == AVRO_NULL;
        return n;
    }
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0 || strcmp(t, "enum") == 0 ||
        strcmp(t, "fixed") == 0) {
        avro_node_t *n = (avro_node_t *)parse_named(p, j, t, ns, depth);
        if (n && logical) n->logical = logical;
        return n;
    }
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        int arr = t[0] == 'a';
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, arr ? "items" : "values");
        if (items == NULL) {
            perr(p, "%s needs \"%s\"", t, arr ? "items" : "values");
            return NULL;
        }
        avro_node_t *n = new_node(p, arr ? AVRO_ARRAY : AVRO_MAP);
        if (n == NULL) return NULL;
        n->items = parse_type(p, items, ns, depth + 1);
        return n->items ? n : NULL;
    }
    return resolve_ref(p, t, ns); /* {"type": "SomeNamedType"} */
}

int avro_schema_parse(const char *text, size_t len, avro_schema_t **out, char *errstr,
                      size_t errsize)
{
    parser_t p;
    memset(&p, 0, sizeof p);
    p.err = errstr;
    p.errsize = errsize;
    if (errsize) errstr[0] = '\0';
    *out = NULL;
    if (len == 0 || text == NULL) {
        perr(&p, "empty schema");
        return -1;
    }
    if (len > AVRO_SCHEMA_MAX_BYTES) {
        perr(&p, "schema too large (%zu bytes > %d)", len, AVRO_SCHEMA_MAX_BYTES);
        return -1;
    }
    p.s = calloc(1, sizeof *p.s);
    if (p.s == NULL) {
        perr(&p, "out of memory");
        return -1;
    }
    const char *end = NULL;
    p.s->json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (p.s->json == NULL) {
        size_t pos = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        perr(&p, "schema is not valid JSON (at byte %zu)", pos);
        goto fail;
    }
    for (size_t i = (size_t)(end - text); i < len; i++)
        if (!strchr(" \t\r\n", text[i])) {
            perr(&p, "schema has data after its JSON value (at byte %zu)", i);
            goto fail;
        }
    p.s->root = parse_type(&p, p.s->json, NULL, 0);
    if (p.s->root == NULL) goto fail;
    p.s->text = cJSON_PrintUnformatted(p.s->json);
    if (p.s->text == NULL) {
        perr(&p, "out of memory");
        goto fail;
    }
    free(p.named);
    *out = p.s;
    return 0;
fail:
    if (errsize && errstr[0] == '\0') perr(&p, "invalid schema");
    free(p.named);
    avro_schema_free(p.s);
    return -1;
}

void avro_schema_free(avro_schema_t *s)
{
    if (s == NULL) return;
    for (arena_block_t *b = s->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    cJSON_Delete(s->json);
    free(s->text);
    free(s);
}

const avro_node_t *avro_schema_root(const avro_schema_t *s)
{
    return s->root;
}

const char *avro_schema_text(const avro_schema_t *s)
{
    return s->text;
}
