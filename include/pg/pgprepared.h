/* pgprepared.h - the prepared transactions (two-phase commit) of a batch
 * committed through several connections: their names, and resolving the
 * ones a stopped processor left behind.
 *
 * A sliced batch (stream/sink_slices.h) prepares one transaction per slice
 * and then commits the batch_log row in its own session: that COMMIT is the
 * decision. A prepared transaction holds its locks and its rows' xid until
 * someone commits or rolls it back, whoever made it, even after its
 * session ended: VACUUM cannot pass it and a later writer of the same rows
 * waits on it. So every one must be resolved, and batch_log says how: the
 * name (gid) of each carries the batch and the batch's identity (its topic
 * and offsets, as sink_pg.c's retries use), and
 *
 *   batch_log has the batch with that identity  -> COMMIT PREPARED
 *   anything else                               -> ROLLBACK PREPARED
 *
 * gid = "bankstream:<batch>:<identity>:<slice>/<slices>:<database id>",
 * identity = the first 16 hex digits of SHA-256("<topic>\n<start
 * offsets>\n<end offsets>"), the offsets as PostgreSQL prints a bigint[]
 * ("{0,10,20}"). The database id (bankstream_meta) tells apart a database
 * initialized again under the same name: its batches are other batches. */
#ifndef BS_PGPREPARED_H
#define BS_PGPREPARED_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define PGPREPARED_PREFIX   "bankstream:"
#define PGPREPARED_GID_SIZE 200 /* PostgreSQL's limit, with the NUL */

/* The batch's identity digest into out[17] (16 hex digits). */
void pgprepared_identity(const char *topic, const char *starts, const char *ends, char out[17]);

/* The gid of slice `slice` (0-based) of `slices`. 0, or -1 when it would
 * not fit PGPREPARED_GID_SIZE or holds a quote (a database id of that
 * kind is not one init writes). */
int pgprepared_gid(char out[PGPREPARED_GID_SIZE], int64_t batch, const char *identity, int slice,
                   int slices, const char *database_id);

/* A gid taken apart. */
typedef struct pgprepared_name {
    int64_t batch;
    char identity[17];
    int slice, slices;
    char database_id[128];
} pgprepared_name_t;

/* Parse a gid of pgprepared_gid's form. 0, or -1 when it is not one. */
int pgprepared_parse(const char *gid, pgprepared_name_t *out);

/* COMMIT PREPARED (commit 1) or ROLLBACK PREPARED (0) gid, on any session
 * of the database, outside a transaction block. 0; 1 when no prepared
 * transaction has that name (resolved already); -1 with errstr. */
int pgprepared_finish(PGconn *conn, const char *gid, int commit, char *errstr, size_t errsize);

/* What pgprepared_resolve did. */
typedef struct pgprepared_counts {
    int committed, rolled_back;
    int unknown; /* "bankstream:" gids of another form: left alone */
    char first_unknown[PGPREPARED_GID_SIZE];
} pgprepared_counts_t;

/* Resolve every prepared transaction named by bankstream in conn's
 * database, by batch_log as above (a gid of another database id is rolled
 * back). The caller holds the processor lock and the fence exclusively
 * (pg/pglock.h), outside a transaction block. Returns 0 with *counts
 * filled, or -1 with errstr (the ones resolved before the failure stay
 * resolved; *counts says how many). */
int pgprepared_resolve(PGconn *conn, const char *database_id, pgprepared_counts_t *counts,
                       char *errstr, size_t errsize);

/* How many prepared transactions of bankstream this database holds: >= 0,
 * or -1 with errstr. */
int pgprepared_count(PGconn *conn, char *errstr, size_t errsize);

#endif
