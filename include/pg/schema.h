/* schema.h - bankstream's PostgreSQL schema (database `bank`).
 *
 * The tables, views and function of the original system (SYSTEM.md), with the
 * same names and columns, plus bankstream's additions: status/motivo and the
 * Kafka position of each result row, transacoes_duplicadas, batch_log (the
 * exactly-once ledger), dead_letters and bankstream_meta; and the tables of
 * replay's results (replay_runs, replay_resultados).
 *
 * schema_ddl and schema_drop_ddl first take the advisory lock SCHEMA_LOCK_KEY
 * for their transaction, so concurrent creators (several commands started at
 * once) serialize instead of failing on catalog conflicts. */
#ifndef BS_SCHEMA_H
#define BS_SCHEMA_H

#include <libpq-fe.h>
#include <stddef.h>

#define SCHEMA_VERSION  1
#define SCHEMA_LOCK_KEY 7451235119458336617 /* pg_advisory_xact_lock key */

/* "SELECT pg_advisory_xact_lock(SCHEMA_LOCK_KEY)": run it first in a
 * transaction that inspects or changes the schema. */
extern const char schema_lock_sql[];

/* The DDL, idempotent (IF NOT EXISTS / CREATE OR REPLACE): several
 * statements in one string, for PQexec. */
extern const char schema_ddl[];

/* Drops every bankstream table, view and function (IF EXISTS ... CASCADE). */
extern const char schema_drop_ddl[];

/* The tables `replay --out postgres` writes (replay_runs,
 * replay_resultados), idempotent; created by the first replay inside its
 * own transaction, not by init, and not dropped by schema_drop_ddl. */
extern const char schema_replay_ddl[];

/* The dashboard's aggregate tables, their functions and the statement-level
 * triggers on transacoes that keep them exactly consistent with its rows
 * (schema.c says how); idempotent. When the aggregates are empty and
 * transacoes is not (a database made before them), it counts the rows
 * already there (dashboard_reconstruir()). Run by schema_create after
 * schema_ddl. */
extern const char schema_dashboard_ddl[];

/* Drops what schema_dashboard_ddl creates; run by schema_drop first. */
extern const char schema_dashboard_drop_ddl[];

/* bankstream's tables, in creation order, NULL-terminated. */
extern const char *const schema_tables[];

/* Create whatever part of the schema is missing. Inside the caller's
 * transaction if one is open (then nothing is committed here), else as one
 * implicit transaction. Returns 0, or -1 with err filled (the caller's
 * transaction is then aborted; without one, nothing was created). */
int schema_create(PGconn *conn, char *err, size_t errsize);

/* Create the replay tables if missing (schema_replay_ddl), same transaction
 * rules as schema_create. Returns 0 or -1 with err filled. */
int schema_create_replay(PGconn *conn, char *err, size_t errsize);

/* Drop the whole schema (schema_drop_ddl), same transaction rules as
 * schema_create. Returns 0 or -1 with err filled. */
int schema_drop(PGconn *conn, char *err, size_t errsize);

/* Check that every table exists as a table whose leading columns have the
 * names and types of this version, and that the views and the function
 * exist. Read-only and safe inside a transaction (a mismatch does not abort
 * it). Returns 0, or -1 with err naming the first difference and telling to
 * run 'bankstream init' (or 'init --force'). */
int schema_check(PGconn *conn, char *err, size_t errsize);

#endif
