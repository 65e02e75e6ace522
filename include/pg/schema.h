/* schema.h - bankstream's PostgreSQL schema (database `bank`).
 *
 * The tables, views and function of the original system (SYSTEM.md), with the
 * same names, columns and column types, plus bankstream's additions:
 * status/motivo and the Kafka position of each result row (all defaulted or
 * nullable, so that the original's writers still insert), transacoes_duplicadas,
 * batch_log (the exactly-once ledger), dead_letters, bankstream_meta, and what
 * retention keeps of the rows it deletes (saldos_expurgados,
 * transacoes_ids_expurgados, filled by a trigger on transacoes); and the
 * tables of replay's results (replay_runs, replay_resultados), and the
 * dashboard's aggregates (schema_dashboard.h).
 *
 * Versions: 1 was bankstream's first layout; 2 adds the original's view and
 * parameter names, the defaults, retention's tables and trigger, the topic
 * of dead letters and duplicates, dead_letters.tamanho/sha256 and
 * batch_log.last_ts_ms/nota. schema_create upgrades a database of version
 * 1, or one the original's seed script built, in place (every row kept).
 *
 * schema_create and schema_drop first take the advisory lock SCHEMA_LOCK_KEY
 * for their transaction, so concurrent creators (several commands started at
 * once) serialize instead of failing on catalog conflicts. */
#ifndef BS_SCHEMA_H
#define BS_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

#define SCHEMA_VERSION  2
#define SCHEMA_LOCK_KEY 7451235119458336617 /* pg_advisory_xact_lock key */

/* transacoes.status of a row bankstream did not decide (the original's
 * rows, an INSERT of the original's columns only): the column's default. */
#define SCHEMA_STATUS_HISTORIC "historico"

/* "SELECT pg_advisory_xact_lock(SCHEMA_LOCK_KEY)": run it first in a
 * transaction that inspects or changes the schema. */
extern const char schema_lock_sql[];

/* Drops every bankstream table, view and function (IF EXISTS ... CASCADE). */
extern const char schema_drop_ddl[];

/* The tables `replay --out postgres` writes (replay_runs,
 * replay_resultados), idempotent; created by the first replay inside its
 * own transaction, not by init, and not dropped by schema_drop_ddl. */
extern const char schema_replay_ddl[];

/* bankstream's tables, in creation order, NULL-terminated. */
extern const char *const schema_tables[];

/* Create whatever part of the schema is missing and upgrade what is older
 * (a version-1 database, the original's tables), idempotently: runs a list
 * of named steps, so that a failure names the object. Inside the caller's
 * transaction if one is open (then nothing is committed here), else each
 * step in its own. Returns 0, or -1 with err "creating <object> failed: ..."
 * (the caller's transaction is then aborted). */
int schema_create(PGconn *conn, char *err, size_t errsize);

/* Create the replay tables if missing (schema_replay_ddl), same transaction
 * rules as schema_create. Returns 0 or -1 with err filled. */
int schema_create_replay(PGconn *conn, char *err, size_t errsize);

/* Drop the whole schema (schema_drop_ddl), same transaction rules as
 * schema_create. Returns 0 or -1 with err filled. */
int schema_drop(PGconn *conn, char *err, size_t errsize);

/* Check that every table exists as a table whose leading columns have the
 * names and types of this version, that the views, the function and the
 * retention trigger exist. Read-only and safe inside a transaction (a
 * mismatch does not abort it). Returns 0, or -1 with err naming the first
 * difference and what to do: 'bankstream init' for an older layout that it
 * upgrades, 'init --force' for another one. */
int schema_check(PGconn *conn, char *err, size_t errsize);

/* Before init changes anything: check that each of bankstream's tables that
 * exists is one schema_create can bring to this version without losing a
 * row: a table (not a view), whose columns are those of this version, or a
 * leading part of them holding at least the original system's columns (or
 * those of version 1 for bankstream's own tables), or this version's
 * followed by columns of the user's. Read-only. Returns 0, or -1 with err
 * naming the table and its columns. */
int schema_check_upgradable(PGconn *conn, char *err, size_t errsize);

#endif
