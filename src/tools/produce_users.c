/* produce_users.c - `produce`'s two reads from PostgreSQL (see
 * produce_users.h), kept out of the command so that it knows no SQL. */
#include "tools/produce_users.h"
#include "base/ids.h"
#include "base/money.h"
#include "pg/pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int undefined_table(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && strcmp(state, "42P01") == 0;
}

/* Count the rows of transacoes (0 when the table does not exist). Returns 0
 * or -1 with errstr filled. */
static int produce_users_count_txns(PGconn *pg, long long *count, char *errstr, size_t errsize)
{
    int rc = 0;
    PGresult *res = PQexec(pg, "SELECT count(*) FROM transacoes");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        *count = atoll(PQgetvalue(res, 0, 0));
    } else if (undefined_table(res)) {
        *count = 0;
    } else {
        snprintf(errstr, errsize, "cannot count transacoes: %s", PQerrorMessage(pg));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int produce_users_read(const char *flag_conninfo, txgen_user_t **users, size_t *n_users,
                       long long *n_txns, char *errstr, size_t errsize)
{
    char conninfo[4096];
    txgen_user_t *u = NULL;
    PGconn *pg = NULL;
    PGresult *res = NULL;
    int rc = -1;
    if (pgconn_resolve(flag_conninfo, conninfo, sizeof conninfo, errstr, errsize) != 0) goto done;
    pg = pgconn_open_wait(conninfo, PGCONN_WAIT_SECONDS, errstr, errsize);
    if (pg == NULL) goto done;
    res = PQexec(pg, "SELECT id_usuario, saldo FROM usuarios ORDER BY id_usuario");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (undefined_table(res))
            snprintf(errstr, errsize,
                     "the database has no usuarios table; run 'bankstream init' first");
        else
            snprintf(errstr, errsize, "cannot read usuarios: %s", PQerrorMessage(pg));
        goto done;
    }
    size_t n = (size_t)PQntuples(res);
    u = calloc(n ? n : 1, sizeof *u);
    if (u == NULL) {
        snprintf(errstr, errsize, "out of memory for %zu users", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, (int)i, 0), *saldo = PQgetvalue(res, (int)i, 1);
        if (ids_parse(id, strlen(id), u[i].id) != 0) {
            snprintf(errstr, errsize, "usuarios row %zu: bad id_usuario '%s'", i + 1, id);
            goto done;
        }
        if (PQgetisnull(res, (int)i, 1)) {
            u[i].saldo_cents = 0;
        } else if (money_parse(saldo, &u[i].saldo_cents) != 0) {
            snprintf(errstr, errsize, "usuarios row %zu: bad saldo '%s'", i + 1, saldo);
            goto done;
        }
    }
    if (n < 2) {
        snprintf(errstr, errsize,
                 "the usuarios table holds %zu users, need at least 2; run 'bankstream init' first",
                 n);
        goto done;
    }
    if (n_txns && produce_users_count_txns(pg, n_txns, errstr, errsize) != 0) goto done;
    *users = u;
    *n_users = n;
    u = NULL;
    rc = 0;
done:
    free(u);
    PQclear(res);
    if (pg) PQfinish(pg);
    return rc;
}
