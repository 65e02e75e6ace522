/* replay_out.c - the two outputs of `bankstream replay` (see replay_out.h). */
#include "replay/replay_out.h"
#include "engine/exchange.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"
#include "pg/schema.h"
#include "engine/rules.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every rank learns rank 0's rc and message. Returns rc (0 or -1). */
static int agree_with_root(MPI_Comm comm, int rc, char *errstr, size_t errsize)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rc ? errstr : "");
    if (MPI_Bcast(&rc, 1, MPI_INT, 0, comm) != MPI_SUCCESS ||
        MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, comm) != MPI_SUCCESS) {
        snprintf(errstr, errsize, "MPI failure while writing the results");
        return -1;
    }
    if (rc) snprintf(errstr, errsize, "%s", msg);
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- postgres */

typedef struct pg_out {
    MPI_Comm comm;
    int rank;
    PGconn *conn; /* rank 0 */
    long long replay_id;
    pgcopy_t copy;
} pg_out_t;

/* A row as gathered on rank 0. */
typedef struct pg_row {
    uint8_t id[16];
    int64_t batch_id;
    double t5, t6, t7;
    uint8_t status, reason, pad[6];
} pg_row_t;

/* Rank 0: COPY rows[0..n) into replay_resultados. 0 or -1 + errstr. */
static int pg_copy(pg_out_t *o, const pg_row_t *rows, int n, char *errstr, size_t errsize)
{
    pgcopy_t *c = &o->copy;
    pgcopy_begin(c);
    for (int i = 0; i < n; i++) {
        const pg_row_t *r = &rows[i];
        const char *status = r->status < 3 ? txn_status_names[r->status] : NULL;
        const char *reason = r->reason < REASON_COUNT ? txn_reason_names[r->reason] : NULL;
        pgcopy_row(c, 9);
        pgcopy_int8(c, o->replay_id);
        pgcopy_uuid(c, r->id);
        pgcopy_int8(c, r->batch_id);
        if (status)
            pgcopy_text(c, status, strlen(status));
        else
            pgcopy_null(c);
        if (reason)
            pgcopy_text(c, reason, strlen(reason));
        else
            pgcopy_null(c);
        if (status) /* never NULL for a decided row: false unless approved */
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
    return pgcopy_send(
        o->conn,
        "COPY replay_resultados (replay_id, id_transacao, batch_id, status, motivo,"
        " transacao_aprovada, t5_score, t6_score, t7_score) FROM STDIN (FORMAT binary)",
        c, errstr, errsize);
}

/* Collective: the slices of all ranks, in rank (= row) order, to rank 0,
 * which COPYs them. */
static int pg_write(void *state, const replay_rows_t *rows, char *errstr, size_t errsize)
{
    pg_out_t *o = state;
    pg_row_t *mine = malloc((rows->n ? rows->n : 1) * sizeof *mine), *all = NULL;
    int nall = 0, failed = mine == NULL, any_failed = 1;
    for (size_t i = 0; !failed && i < rows->n; i++) {
        pg_row_t *r = &mine[i];
        memset(r, 0, sizeof *r);
        memcpy(r->id, rows->id[i], 16);
        r->batch_id = rows->batch_id[i];
        r->status = rows->status[i];
        r->reason = rows->reason[i];
        r->t5 = rows->t5[i];
        r->t6 = rows->t6[i];
        r->t7 = rows->t7[i];
    }
    char gerr[512];
    if (exchange_gather(o->comm, 0, mine, failed ? 0 : (int)rows->n, sizeof *mine, (void **)&all,
                        &nall, gerr, sizeof gerr) != 0)
        failed = 1;
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, o->comm);
    int rc = 0;
    if (any_failed) {
        snprintf(errstr, errsize, "out of memory gathering the results on rank 0");
        rc = -1;
    } else if (o->rank == 0 && nall > 0) {
        rc = pg_copy(o, all, nall, errstr, errsize);
    }
    free(mine);
    free(all);
    return agree_with_root(o->comm, rc, errstr, errsize);
}

static int pg_close(void *state, int ok, char *errstr, size_t errsize)
{
    pg_out_t *o = state;
    int rc = 0;
    if (o->rank == 0) {
        rc = ok ? pgconn_exec(o->conn, "COMMIT", NULL, errstr, errsize) : -1;
        if (rc != 0) pgconn_rollback(o->conn);
        PQfinish(o->conn);
        pgcopy_free(&o->copy);
    }
    rc = agree_with_root(o->comm, rc, errstr, errsize);
    free(o);
    return ok ? rc : -1;
}

/* Rank 0: connect, BEGIN, create the tables if needed, insert the run. */
static int pg_open_root(pg_out_t *o, const char *conninfo, const char *description, char *errstr,
                        size_t errsize)
{
    o->conn = pgconn_open_wait(conninfo, PGCONN_WAIT_SECONDS, errstr, errsize);
    if (o->conn == NULL) return -1;
    if (pgconn_exec(o->conn, "BEGIN", NULL, errstr, errsize) != 0 ||
        schema_create_replay(o->conn, errstr, errsize) != 0)
        return -1;
    const char *params[1] = {description};
    PGresult *r =
        PQexecParams(o->conn, "INSERT INTO replay_runs (descricao) VALUES ($1) RETURNING replay_id",
                     1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc == 0)
        o->replay_id = atoll(PQgetvalue(r, 0, 0));
    else
        snprintf(errstr, errsize, "creating the replay run: %s", PQerrorMessage(o->conn));
    PQclear(r);
    return rc;
}

int replay_out_postgres(replay_out_t *out, MPI_Comm comm, const char *conninfo,
                        const char *description, char *errstr, size_t errsize)
{
    pg_out_t *o = calloc(1, sizeof *o);
    int rank = 0, rc = 0, failed, any = 1;
    MPI_Comm_rank(comm, &rank);
    if (o == NULL) {
        snprintf(errstr, errsize, "out of memory");
        rc = -1;
    } else {
        o->comm = comm;
        o->rank = rank;
        if (rank == 0) rc = pg_open_root(o, conninfo, description, errstr, errsize);
    }
    failed = rc != 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm);
    if (rank == 0 && any && rc == 0) {
        snprintf(errstr, errsize, "a rank ran out of memory opening the output");
        rc = -1;
    }
    if (agree_with_root(comm, rc, errstr, errsize) != 0) {
        if (o && o->conn) PQfinish(o->conn);
        free(o);
        return -1;
    }
    out->state = o;
    out->write = pg_write;
    out->write_local = NULL;
    out->close = pg_close;
    return 0;
}

long long replay_out_postgres_id(const replay_out_t *out)
{
    return out->write == pg_write ? ((const pg_out_t *)out->state)->replay_id : 0;
}

/* -------------------------------------------------------------------- hdf5 */

/* The columns of rows as h5results takes them. */
static h5results_columns_t h5_columns(const replay_rows_t *rows)
{
    h5results_columns_t cols = {
        .id = rows->id,
        .batch_id = rows->batch_id,
        .status = rows->status,
        .reason = rows->reason,
        .t5 = rows->t5,
        .t6 = rows->t6,
        .t7 = rows->t7,
    };
    return cols;
}

static int h5_write_local(void *state, const replay_rows_t *rows, char *errstr, size_t errsize)
{
    h5results_columns_t cols = h5_columns(rows);
    return h5results_write_local(state, rows->first, (int64_t)rows->n, &cols, errstr, errsize);
}

static int h5_write(void *state, const replay_rows_t *rows, char *errstr, size_t errsize)
{
    h5results_columns_t cols = h5_columns(rows);
    return h5results_write(state, rows->first, (int64_t)rows->n, &cols, errstr, errsize);
}

static int h5_close(void *state, int ok, char *errstr, size_t errsize)
{
    if (ok) return h5results_close(state, errstr, errsize);
    h5results_abort(state);
    return -1;
}

int replay_out_hdf5(replay_out_t *out, MPI_Comm comm, const char *path, int64_t n_rows,
                    const h5results_meta_t *meta, char *errstr, size_t errsize)
{
    h5results_writer_t *w = h5results_create(comm, path, n_rows, meta, errstr, errsize);
    if (w == NULL) return -1;
    out->state = w;
    out->write = h5_write;
    out->write_local = h5results_local_writes(w) ? h5_write_local : NULL;
    out->close = h5_close;
    return 0;
}
