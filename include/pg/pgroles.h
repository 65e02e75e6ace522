/* pgroles.h - the database roles `init` creates when asked: one for the
 * applications that wrote and read the original system's tables (its
 * producer and Spark job: `bank_etl` in the original), one read-only for
 * dashboards.
 *
 *   app     LOGIN; SELECT on usuarios, regioes, transacoes, transacoes_scores
 *           and both views; INSERT on transacoes and transacoes_scores;
 *           EXECUTE on limpar_transacoes_antigas;
 *   reader  LOGIN; SELECT on every table, view and sequence of the schema,
 *           and by default on those the role running init creates later
 *           (replay_runs, replay_resultados); EXECUTE on
 *           limpar_transacoes_antigas (which runs with its owner's rights
 *           and keeps the state, see schema.c).
 * Both get CONNECT on the database and USAGE on the schema, and never
 * SUPERUSER, CREATEDB or CREATEROLE: an existing role with one of those, or
 * the role running init, is refused rather than changed. The password goes
 * to the server already hashed (PQencryptPasswordConn: SCRAM-SHA-256 unless
 * the server's password_encryption says md5). */
#ifndef BS_PGROLES_H
#define BS_PGROLES_H

#include <libpq-fe.h>
#include <stddef.h>

typedef enum pgrole_kind { PGROLE_APP, PGROLE_READER } pgrole_kind_t;

/* Create the role (or, when it exists, set its password and LOGIN) and
 * grant what its kind needs, in the caller's transaction (the schema must
 * exist). Idempotent. Returns 1 (created), 0 (existed: updated) or -1 with
 * errstr (the caller's transaction is then aborted or unchanged). */
int pgroles_apply(PGconn *conn, pgrole_kind_t kind, const char *name, const char *password,
                  char *errstr, size_t errsize);

#endif
