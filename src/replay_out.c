/* replay_out.c - the two outputs of `bankstream replay` (see replay_out.h). */
#include "replay_out.h"
#include "pgconn.h"
#include "pgcopy.h"
#include "rules.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- postgres */

typedef struct pg_out {
    PGconn *conn;
    long long replay_id;
    pgcopy_t copy;
} pg_out_t;

static const char replay_ddl[] =
    "SET LOCAL client_min_messages = warning;"
    "CREATE TABLE IF NOT EXISTS replay_runs ("
    " replay_id bigserial PRIMARY KEY, descricao text NOT NULL,"
    " started_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS replay_resultados ("
    " replay_id bigint NOT NULL REFERENCES replay_runs, id_transacao uuid NOT NULL,"
    " batch_id bigint NOT NULL, status varchar(14), motivo varchar(24),"
    " transacao_aprovada bool, t5_score float, t6_score float, t7_score float);"
    "CREATE INDEX IF NOT EXISTS idx_replay_resultados_run ON replay_resultados (replay_id);";

static int pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errsize)
{
    PGresult *r = PQexec(conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) snprintf(errstr, errsize, "%s", PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

static int pg_write(void *state, const h5archive_row_t *rows, size_t n, char *errstr,
                    size_t errsize)
{
    pg_out_t *o = state;
    pgcopy_t *c = &o->copy;
    pgcopy_begin(c);
    for (size_t i = 0; i < n; i++) {
        const h5archive_row_t *r = &rows[i];
        const char *status = r->status < 3 ? rules_status_names[r->status] : NULL;
        const char *reason = r->reason < REASON_COUNT ? rules_reason_names[r->reason] : NULL;
        pgcopy_row(c, 9);
        pgcopy_int8(c, o->replay_id);
        pgcopy_uuid(c, r->txn.id);
        pgcopy_int8(c, r->batch_id);
        if (status)
            pgcopy_text(c, status, strlen(status));
        else
            pgcopy_null(c);
        if (reason)
            pgcopy_text(c, reason, strlen(reason));
        else
            pgcopy_null(c);
        if (r->status == STATUS_APPROVED || r->status == STATUS_REJECTED)
            pgcopy_bool(c, r->status == STATUS_APPROVED);
        else
            pgcopy_null(c);
        const double t[3] = {r->t5, r->t6, r->t7};
        for (int k = 0; k < 3; k++) {
            if (isnan(t[k]))
                pgcopy_null(c);
            else
                pgcopy_float8(c, t[k]);
        }
    }
    pgcopy_end(c);
    if (c->failed) {
        snprintf(errstr, errsize, "out of memory building COPY data");
        return -1;
    }
    PGresult *r = PQexec(o->conn, "COPY replay_resultados (replay_id, id_transacao, batch_id,"
                                  " status, motivo, transacao_aprovada, t5_score, t6_score,"
                                  " t7_score) FROM STDIN (FORMAT binary)");
    int rc = PQresultStatus(r) == PGRES_COPY_IN ? 0 : -1;
    PQclear(r);
    if (rc == 0 &&
        (PQputCopyData(o->conn, c->data, (int)c->len) != 1 || PQputCopyEnd(o->conn, NULL) != 1))
        rc = -1;
    while ((r = PQgetResult(o->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_COPY_IN) rc = -1;
        PQclear(r);
    }
    if (rc != 0)
        snprintf(errstr, errsize, "writing replay_resultados: %s", PQerrorMessage(o->conn));
    return rc;
}

static int pg_close(void *state, int ok, char *errstr, size_t errsize)
{
    pg_out_t *o = state;
    int rc = ok ? pg_exec(o->conn, "COMMIT", errstr, errsize) : -1;
    if (rc != 0) {
        char ignored[256];
        pg_exec(o->conn, "ROLLBACK", ignored, sizeof ignored);
    }
    PQfinish(o->conn);
    pgcopy_free(&o->copy);
    free(o);
    return rc;
}

int replay_out_postgres(replay_out_t *out, const char *conninfo, const char *description,
                        char *errstr, size_t errsize)
{
    pg_out_t *o = calloc(1, sizeof *o);
    if (o == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return -1;
    }
    o->conn = pgconn_open(conninfo, errstr, errsize);
    if (o->conn == NULL) goto fail;
    if (pg_exec(o->conn, "BEGIN", errstr, errsize) != 0 ||
        pg_exec(o->conn, replay_ddl, errstr, errsize) != 0)
        goto fail;
    const char *params[1] = {description};
    PGresult *r =
        PQexecParams(o->conn, "INSERT INTO replay_runs (descricao) VALUES ($1) RETURNING replay_id",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errstr, errsize, "creating the replay run: %s", PQerrorMessage(o->conn));
        PQclear(r);
        goto fail;
    }
    o->replay_id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    out->state = o;
    out->write = pg_write;
    out->close = pg_close;
    return 0;
fail:
    if (o->conn) PQfinish(o->conn);
    free(o);
    return -1;
}

long long replay_out_postgres_id(const replay_out_t *out)
{
    return out->write == pg_write ? ((const pg_out_t *)out->state)->replay_id : 0;
}

/* -------------------------------------------------------------------- hdf5 */

static int h5_write(void *state, const h5archive_row_t *rows, size_t n, char *errstr,
                    size_t errsize)
{
    return h5archive_append(state, rows, n, errstr, errsize);
}

static int h5_close(void *state, int ok, char *errstr, size_t errsize)
{
    if (ok) return h5archive_close(state, errstr, errsize);
    h5archive_abort(state);
    return -1;
}

int replay_out_hdf5(replay_out_t *out, const char *path, char *errstr, size_t errsize)
{
    h5archive_writer_t *w = h5archive_create(path, "replay", "", 0, errstr, errsize);
    if (w == NULL) return -1;
    out->state = w;
    out->write = h5_write;
    out->close = h5_close;
    return 0;
}
