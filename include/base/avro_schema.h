/* avro_schema.h - an Avro schema (JSON text) parsed into a bounded graph of types.
 *
 * Parsed: the whole Avro 1.11 schema language - primitives, record/error,
 * enum (with a default symbol), array, map, union, fixed, named-type
 * references (with namespaces, recursion allowed), aliases, logicalType
 * (kept as an annotation), field defaults (checked against their type, as
 * Avro's Java parser does). Unknown attributes are ignored.
 *
 * Whether one schema can read another's data is avro_compat.h's.
 *
 * Bounds, so that a schema from the network cannot exhaust memory or stack:
 * the text is at most AVRO_SCHEMA_MAX_BYTES, at most AVRO_SCHEMA_MAX_NODES
 * types, nested at most AVRO_SCHEMA_MAX_DEPTH deep (data nesting is bounded
 * separately by the decoder). Everything a schema holds is freed by
 * avro_schema_free.
 *
 * Errors: one line of printable ASCII under AVRO_ERR_MAX bytes, naming the
 * place in the schema ("field valor_transacao: unknown type 'dobule'"). */
#ifndef BS_AVRO_SCHEMA_H
#define BS_AVRO_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#define AVRO_SCHEMA_MAX_BYTES (256 * 1024)
#define AVRO_SCHEMA_MAX_NODES 4096
#define AVRO_SCHEMA_MAX_DEPTH 48
#define AVRO_ERR_MAX          200

typedef enum avro_type {
    AVRO_NULL,
    AVRO_BOOLEAN,
    AVRO_INT,
    AVRO_LONG,
    AVRO_FLOAT,
    AVRO_DOUBLE,
    AVRO_BYTES,
    AVRO_STRING,
    AVRO_RECORD,
    AVRO_ENUM,
    AVRO_ARRAY,
    AVRO_MAP,
    AVRO_UNION,
    AVRO_FIXED,
} avro_type_t;

typedef struct avro_node avro_node_t;
struct cJSON;

typedef struct avro_field {
    const char *name;
    const avro_node_t *type;
    const struct cJSON *dflt; /* the field's default (checked against type), or NULL */
    const char *const *aliases;
    size_t n_aliases;
} avro_field_t;

struct avro_node {
    avro_type_t type;
    const char *logical;        /* logicalType, or NULL */
    const char *name;           /* record, enum, fixed: the fullname */
    const char *const *aliases; /* record, enum, fixed: aliases, as fullnames */
    size_t n_aliases;
    size_t n;                           /* record: fields; enum: symbols; union: branches */
    const avro_field_t *fields;         /* record */
    const char *const *symbols;         /* enum */
    int enum_default;                   /* enum: index of the default symbol, -1 = none */
    const avro_node_t *const *branches; /* union */
    const avro_node_t *items;           /* array: items; map: values */
    int64_t size;                       /* fixed: bytes */
    int zero_width;                     /* every value is encoded in 0 bytes (null, fixed 0, ...) */
};

typedef struct avro_schema avro_schema_t;

/* Parse len bytes of schema JSON. Returns 0 with *out (free with
 * avro_schema_free), or -1 with errstr and *out NULL. */
int avro_schema_parse(const char *text, size_t len, avro_schema_t **out, char *errstr,
                      size_t errsize);
void avro_schema_free(avro_schema_t *s);
const avro_node_t *avro_schema_root(const avro_schema_t *s);
/* The schema as compact JSON (whitespace removed, attributes kept), owned by s. */
const char *avro_schema_text(const avro_schema_t *s);

/* "null", "boolean", ..., "fixed". */
const char *avro_type_name(avro_type_t t);

/* The unqualified part of a fullname ("a.b.C" -> "C"). */
const char *avro_short_name(const char *fullname);

#endif
