/* pgroles.c - the roles `init` creates (see pgroles.h).
 *
 * Role names and the password hash cannot be query parameters in utility
 * statements: they are quoted with PQescapeIdentifier/PQescapeLiteral. */
#include "pg/pgroles.h"
#include "pg/pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The names a statement template refers to, already quoted. */
typedef struct role_names {
    const char *role, *db, *schema, *password;
} role_names_t;

/* Run the template with {role}, {db}, {schema} and {password} replaced by
 * n's quoted names. 0, or -1 with errstr "<what> failed: ...". */
static int exec_template(PGconn *conn, const char *what, const char *tmpl, const role_names_t *n,
                         char *errstr, size_t errsize)
{
    static const char *const keys[] = {"{role}", "{db}", "{schema}", "{password}"};
    const char *vals[] = {n->role, n->db, n->schema, n->password};
    size_t size = strlen(tmpl) + 1;
    for (const char *p = strchr(tmpl, '{'); p; p = strchr(p + 1, '{'))
        for (int k = 0; k < 4; k++)
            if (vals[k] && strncmp(p, keys[k], strlen(keys[k])) == 0) size += strlen(vals[k]);
    char *sql = malloc(size), *out = sql;
    if (sql == NULL) {
        snprintf(errstr, errsize, "%s failed: out of memory", what);
        return -1;
    }
    while (*tmpl) {
        int k = 0;
        while (k < 4 && !(*tmpl == '{' && vals[k] && strncmp(tmpl, keys[k], strlen(keys[k])) == 0))
            k++;
        if (k < 4) {
            size_t len = strlen(vals[k]);
            memcpy(out, vals[k], len);
            out += len;
            tmpl += strlen(keys[k]);
        } else {
            *out++ = *tmpl++;
        }
    }
    *out = '\0';
    int rc = pgconn_exec(conn, sql, what, errstr, errsize);
    free(sql);
    return rc;
}

/* 1 when the role exists, 0 when not, -1 (errstr) when it exists with
 * rights bankstream never gives, or is the role running init. */
static int role_exists(PGconn *conn, const char *name, char *errstr, size_t errsize)
{
    const char *params[1] = {name};
    PGresult *r = PQexecParams(conn,
                               "SELECT rolsuper, rolcreatedb, rolcreaterole, rolname = current_user"
                               " FROM pg_roles WHERE rolname = $1",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(conn, r, "reading pg_roles failed", errstr, errsize);
        PQclear(r);
        return -1;
    }
    int rc = PQntuples(r) == 1;
    if (rc == 1) {
        static const char *const what[] = {"SUPERUSER", "CREATEDB", "CREATEROLE", NULL};
        for (int k = 0; k < 3; k++)
            if (strcmp(PQgetvalue(r, 0, k), "t") == 0) {
                snprintf(errstr, errsize,
                         "role \"%s\" exists with %s; bankstream gives its roles no such right "
                         "and will not change this one: choose another name",
                         name, what[k]);
                rc = -1;
                break;
            }
        if (rc == 1 && strcmp(PQgetvalue(r, 0, 3), "t") == 0) {
            snprintf(errstr, errsize,
                     "role \"%s\" is the role running 'bankstream init'; choose another name",
                     name);
            rc = -1;
        }
    }
    PQclear(r);
    return rc;
}

int pgroles_apply(PGconn *conn, pgrole_kind_t kind, const char *name, const char *password,
                  char *errstr, size_t errsize)
{
    int rc = -1, exists;
    char *role = NULL, *hash = NULL, *pw = NULL, *db = NULL, *schema = NULL;
    PGresult *r = NULL;
    if (name[0] == '\0' || strlen(name) > 63) {
        snprintf(errstr, errsize, "role name '%s' must be 1 to 63 bytes", name);
        return -1;
    }
    exists = role_exists(conn, name, errstr, errsize);
    if (exists < 0) return -1;
    role = PQescapeIdentifier(conn, name, strlen(name));
    hash = PQencryptPasswordConn(conn, password, name, NULL);
    if (role == NULL || hash == NULL) {
        pgconn_error(conn, NULL, "preparing the role's password failed", errstr, errsize);
        goto done;
    }
    pw = PQescapeLiteral(conn, hash, strlen(hash));
    r = PQexec(conn, "SELECT quote_ident(current_database()), quote_ident(current_schema())");
    if (pw == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(conn, r, "reading the database and schema names failed", errstr, errsize);
        goto done;
    }
    db = strdup(PQgetvalue(r, 0, 0));
    schema = strdup(PQgetvalue(r, 0, 1));
    if (db == NULL || schema == NULL) {
        snprintf(errstr, errsize, "out of memory");
        goto done;
    }
    role_names_t names = {role, db, schema, pw};
    char what[160];
    snprintf(what, sizeof what, "%s role \"%s\"", exists ? "updating" : "creating", name);
    if (exec_template(conn, what,
                      exists ? "ALTER ROLE {role} WITH LOGIN PASSWORD {password}"
                             : "CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                               " PASSWORD {password}",
                      &names, errstr, errsize) != 0)
        goto done;
    snprintf(what, sizeof what, "granting to role \"%s\"", name);
    if (exec_template(conn, what,
                      "GRANT CONNECT ON DATABASE {db} TO {role};"
                      " GRANT USAGE ON SCHEMA {schema} TO {role};"
                      " GRANT EXECUTE ON FUNCTION limpar_transacoes_antigas(integer) TO {role}",
                      &names, errstr, errsize) != 0)
        goto done;
    if (exec_template(conn, what,
                      kind == PGROLE_APP
                          ? "GRANT SELECT ON usuarios, regioes, transacoes, transacoes_scores,"
                            " vw_performance_stats, vw_performance_temporal TO {role};"
                            " GRANT INSERT ON transacoes, transacoes_scores TO {role}"
                          : "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};"
                            " GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};"
                            " ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
                            " GRANT SELECT ON TABLES TO {role};"
                            " ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
                            " GRANT SELECT ON SEQUENCES TO {role}",
                      &names, errstr, errsize) != 0)
        goto done;
    rc = exists ? 0 : 1;
done:
    PQclear(r);
    PQfreemem(role);
    PQfreemem(hash);
    PQfreemem(pw);
    free(db);
    free(schema);
    return rc;
}
