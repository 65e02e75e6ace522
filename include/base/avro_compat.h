/* avro_compat.h - Avro's schema resolution rules between a reader and a
 * writer type (specification, "Schema Resolution"), without data: what the
 * registry's compatibility checks and the transaction decoder's plan
 * (avro_decode.h) are built on.
 *
 * Matching at one level (avro_types_match): the same primitive; a promotion
 * (int -> long, float, double; long -> float, double; float -> double;
 * string <-> bytes); or two named types of one kind whose unqualified names
 * agree (or the writer's name is one of the reader's aliases), fixed also
 * of one size. A reader union takes a writer type into its first branch that
 * matches exactly, else the first that matches by promotion. */
#ifndef BS_AVRO_COMPAT_H
#define BS_AVRO_COMPAT_H

#include "base/avro_schema.h"

#include <stddef.h>

/* 1 when a value of writer type w (not a union) can be read as reader type r
 * (not a union) at this level (see above); deeper levels are not looked at. */
int avro_types_match(const avro_node_t *r, const avro_node_t *w);

/* The branch of reader union r that a value of writer type w (not a union)
 * is read into, or -1 when none matches. */
int avro_union_branch_for(const avro_node_t *r, const avro_node_t *w);

/* Can every value written with w be read with r? A writer union needs every
 * branch readable; a reader field missing from the writer needs a default; a
 * writer enum symbol missing from the reader needs the reader's enum default.
 * Recursive types terminate; the work is bounded (a pathological pair of
 * schemas is refused as too complex). Returns 0, or -1 with the first reason,
 * naming its path ("field valor_transacao: writer type string cannot be
 * read as double"). */
int avro_schema_can_read(const avro_node_t *r, const avro_node_t *w, char *errstr, size_t errsize);

#endif
