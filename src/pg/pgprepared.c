/* pgprepared.c - names of a sliced batch's prepared transactions and the
 * resolution of those a stopped processor left (see pgprepared.h).
 *
 * Resolution reads the list once (pg_prepared_xacts of this database),
 * then decides each gid alone: its batch's batch_log row, the identity
 * recomputed from it exactly as the sink computed it before preparing. A
 * gid names no connection or session, so any session of the database may
 * finish it: the one that made it may be long gone. */
#include "pg/pgprepared.h"
#include "pg/pgconn.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pgprepared_identity(const char *topic, const char *starts, const char *ends, char out[17])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok =
        ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, topic, strlen(topic)) == 1 && EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
        EVP_DigestUpdate(ctx, starts, strlen(starts)) == 1 && EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
        EVP_DigestUpdate(ctx, ends, strlen(ends)) == 1 && EVP_DigestFinal_ex(ctx, md, &n) == 1 &&
        n >= 8;
    EVP_MD_CTX_free(ctx);
    if (!ok) memset(md, 0, 8); /* never happens with SHA-256; a zero digest still matches itself */
    for (int i = 0; i < 8; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[16] = '\0';
}

int pgprepared_gid(char out[PGPREPARED_GID_SIZE], int64_t batch, const char *identity, int slice,
                   int slices, const char *database_id)
{
    if (strchr(database_id, '\'') || strchr(database_id, '\\')) return -1;
    int n = snprintf(out, PGPREPARED_GID_SIZE, PGPREPARED_PREFIX "%" PRId64 ":%s:%d/%d:%s", batch,
                     identity, slice, slices, database_id);
    return n > 0 && n < PGPREPARED_GID_SIZE ? 0 : -1;
}

int pgprepared_parse(const char *gid, pgprepared_name_t *out)
{
    static const char prefix[] = PGPREPARED_PREFIX;
    memset(out, 0, sizeof *out);
    if (strncmp(gid, prefix, sizeof prefix - 1) != 0) return -1;
    const char *p = gid + sizeof prefix - 1;
    int used = 0;
    if (sscanf(p, "%" SCNd64 ":%16[0-9a-f]:%d/%d:%n", &out->batch, out->identity, &out->slice,
               &out->slices, &used) != 4 ||
        used == 0)
        return -1;
    if (strlen(out->identity) != 16 || out->batch < 1 || out->slices < 1 || out->slice < 0 ||
        out->slice >= out->slices || strlen(p + used) >= sizeof out->database_id)
        return -1;
    strcpy(out->database_id, p + used);
    return 0;
}

int pgprepared_finish(PGconn *conn, const char *gid, int commit, char *errstr, size_t errsize)
{
    char sql[PGPREPARED_GID_SIZE + 40];
    if (strchr(gid, '\'') || strchr(gid, '\\')) {
        snprintf(errstr, errsize, "refusing to quote prepared transaction name '%s'", gid);
        return -1;
    }
    snprintf(sql, sizeof sql, "%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK", gid);
    PGresult *r = PQexec(conn, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42704") == 0) { /* undefined_object: not prepared (now) */
            rc = 1;
        } else {
            char what[PGPREPARED_GID_SIZE + 64];
            snprintf(what, sizeof what, "%s failed", sql);
            pgconn_error(conn, r, what, errstr, errsize);
            rc = -1;
        }
    }
    PQclear(r);
    return rc;
}

/* Commit (1) or roll back (0) the prepared gid n names? -1 with errstr. */
static int decide(PGconn *conn, const pgprepared_name_t *n, const char *database_id, char *errstr,
                  size_t errsize)
{
    if (strcmp(n->database_id, database_id) != 0) return 0;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, n->batch);
    const char *params[1] = {id};
    PGresult *r = PQexecParams(conn,
                               "SELECT topic, start_offsets::text, end_offsets::text"
                               " FROM batch_log WHERE batch_id = $1",
                               1, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(conn, r, "reading batch_log to resolve prepared transactions failed", errstr,
                     errsize);
    } else if (PQntuples(r) == 0) {
        rc = 0;
    } else {
        char identity[17];
        pgprepared_identity(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                            identity);
        rc = strcmp(identity, n->identity) == 0;
    }
    PQclear(r);
    return rc;
}

int pgprepared_resolve(PGconn *conn, const char *database_id, pgprepared_counts_t *counts,
                       char *errstr, size_t errsize)
{
    memset(counts, 0, sizeof *counts);
    PGresult *list = PQexec(conn, "SELECT gid FROM pg_prepared_xacts"
                                  " WHERE database = current_database()"
                                  " AND gid LIKE '" PGPREPARED_PREFIX "%' ORDER BY prepared");
    if (PQresultStatus(list) != PGRES_TUPLES_OK) {
        pgconn_error(conn, list, "listing prepared transactions (pg_prepared_xacts) failed", errstr,
                     errsize);
        PQclear(list);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(list) && rc == 0; i++) {
        const char *gid = PQgetvalue(list, i, 0);
        pgprepared_name_t n;
        if (pgprepared_parse(gid, &n) != 0) {
            if (counts->unknown++ == 0)
                snprintf(counts->first_unknown, sizeof counts->first_unknown, "%s", gid);
            continue;
        }
        int commit = decide(conn, &n, database_id, errstr, errsize);
        if (commit < 0) {
            rc = -1;
            break;
        }
        int done = pgprepared_finish(conn, gid, commit, errstr, errsize);
        if (done < 0) {
            rc = -1;
        } else if (done == 0) {
            if (commit)
                counts->committed++;
            else
                counts->rolled_back++;
        }
    }
    PQclear(list);
    return rc;
}

int pgprepared_count(PGconn *conn, char *errstr, size_t errsize)
{
    PGresult *r = PQexec(conn, "SELECT count(*) FROM pg_prepared_xacts"
                               " WHERE database = current_database()"
                               " AND gid LIKE '" PGPREPARED_PREFIX "%'");
    int n = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        pgconn_error(conn, r, "counting prepared transactions (pg_prepared_xacts) failed", errstr,
                     errsize);
    else
        n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}
