/* restore.c - rank 0 restores the state of the last committed batch (see
 * restore.h).
 *
 * Every read is made in one REPEATABLE READ transaction, so that they all
 * see one state of the database, even while retention runs. Retention
 * (pg/schema.c, design 3) deletes whole batches and carries what they did
 * to balances: usuarios + carried + the remaining ledger is exact, and so
 * is a snapshot of the highest purged batch or a later one + the ledger
 * after it; an older snapshot is skipped (its roll-forward would need the
 * deleted rows), and so is rebuilding an archive of purged batches. */
#include "stream/restore.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "cluster/loader.h"
#include "pg/pgconn.h"
#include "pg/pgstate.h"
#include "pg/schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* What the acceptance of a snapshot needs to know. */
typedef struct usable {
    PGconn *db;
    const char *topic, *database_id;
    int64_t last_batch;
    int64_t purged;  /* retention deleted the transactions of batches up to this one */
    int said_purged; /* the first snapshot that is too old for it was warned about */
} usable_t;

/* h5snap_accept_fn (rank 0): is the snapshot at path usable: this topic
 * and database, a batch that committed with the same offsets? 1 yes, 0 no
 * (why says, or is empty for another topic's or a newer batch's), -1 on a
 * database failure. */
static int snapshot_usable(void *arg, const char *path, const h5snap_meta_t *meta, char *why,
                           size_t whysize)
{
    usable_t *u = arg;
    int64_t logged[RESTORE_MAX_PARTITIONS];
    int nlogged = 0;
    why[0] = '\0';
    if (meta->batch_id > u->last_batch || strcmp(meta->topic, u->topic) != 0) return 0;
    if (meta->batch_id < u->purged) { /* this one and every older one */
        if (!u->said_purged)
            snprintf(
                why, whysize,
                "skipping snapshot %s (batch %" PRId64 ") and any older one: retention "
                "(limpar_transacoes_antigas) deleted the transactions of batches up to %" PRId64
                ", so the ledger cannot roll forward from it; restoring from usuarios, the "
                "balances retention carried over and the ledger",
                path, meta->batch_id, u->purged);
        u->said_purged = 1;
        return 0;
    }
    if (strcmp(meta->origin, u->database_id) != 0) {
        snprintf(why, whysize,
                 "skipping snapshot %s: it belongs to database %s, not this one (%s); give "
                 "each database its own [snapshot] dir",
                 path, meta->origin[0] ? meta->origin : "(unknown)", u->database_id);
        return 0;
    }
    int found = pgstate_batch_offsets(u->db, u->topic, meta->batch_id, logged,
                                      RESTORE_MAX_PARTITIONS, &nlogged, why, whysize);
    if (found < 0) return -1;
    if (found != 0 || nlogged != meta->nparts ||
        memcmp(logged, meta->end_offsets, sizeof(int64_t) * (size_t)nlogged) != 0) {
        snprintf(why, whysize,
                 "skipping snapshot %s: batch_log has no batch %" PRId64
                 " of topic %s with the same offsets (a snapshot of another database?)",
                 path, meta->batch_id, meta->topic);
        return 0;
    }
    return 1;
}

/* Load the newest usable snapshot into the shards. Returns its batch id, 0
 * when none was usable, -1 with errstr. */
static int64_t load_snapshot(cluster_t *c, PGconn *db, const job_config_t *job,
                             const restored_t *st, char *errstr, size_t errsize)
{
    if (job->snapshot_dir[0] == '\0') return 0;
    usable_t u = {db, job->topic, st->database_id, st->last_batch, st->purged_batch, 0};
    h5snap_meta_t meta;
    char path[1024];
    if (cluster_command(c, CLUSTER_CMD_SNAP_NEWEST, errstr, errsize) != 0) return -1;
    int rc =
        cluster_step_snap_newest(c, snapshot_usable, &u, &meta, path, sizeof path, errstr, errsize);
    if (rc != 0) return rc > 0 ? 0 : -1;
    log_info("restored %" PRId64 " users from %s (batch %" PRId64 ")", meta.n_users, path,
             meta.batch_id);
    return meta.batch_id;
}

typedef struct rebuild {
    archiver_t *arch;
    int64_t first; /* the interval's first batch */
    int stopped;   /* the archiver stopped (and said why) */
} rebuild_t;

static int on_record(void *ctx, const txn_record_t *r)
{
    rebuild_t *rb = ctx;
    rb->stopped = rb->arch->append(rb->arch, rb->first, r, 1) != 0;
    return rb->stopped ? -1 : 0;
}

/* The reads of stream_restore, inside its transaction. */
static int restore_reads(cluster_t *c, PGconn *db, const job_config_t *job, cutter_t *ct,
                         archiver_t *arch, restored_t *st, char *errstr, size_t errsize)
{
    char err[1024] = "";
    if (schema_check(db, errstr, errsize) != 0) return -1;
    if (pgstate_last_batch(db, job->topic, &st->last_batch, st->start_offsets,
                           RESTORE_MAX_PARTITIONS, &st->nstart, errstr, errsize) != 0 ||
        pgstate_database_id(db, st->database_id, sizeof st->database_id, errstr, errsize) != 0 ||
        pgstate_purged_batch(db, &st->purged_batch, errstr, errsize) != 0)
        return -1;
    int64_t ts_batch = 0;
    if (pgstate_last_ts(db, job->topic, &ts_batch, st->last_ts_ms, RESTORE_MAX_PARTITIONS,
                        &st->nlast_ts, errstr, errsize) != 0)
        return -1;
    ct->next_batch_id = st->last_batch + 1;
    st->last_snapshot = load_snapshot(c, db, job, st, errstr, errsize);
    if (st->last_snapshot < 0) return -1;
    int rc = st->last_snapshot > 0 ? 0 : loader_users(c, db, err, sizeof err);
    if (rc == 0) rc = loader_deltas(c, db, st->last_snapshot, err, sizeof err);
    if (rc == 0) rc = pgstate_each_seen_id(db, dedupe_seed, &ct->dedupe, err, sizeof err);
    if (rc != 0) {
        snprintf(errstr, errsize, "restoring state from the database failed: %s", err);
        return -1;
    }
    /* An archiver that stops on the way has said so; a database that fails
     * the read fails the restore. The rows of purged batches are gone: no
     * archive is rebuilt without them. */
    rebuild_t rb = {arch, st->last_snapshot + 1, 0};
    int rebuild = st->last_batch > st->last_snapshot && arch != archiver_none();
    if (rebuild && st->purged_batch > st->last_snapshot) {
        log_warn("not rebuilding the archive of batches %" PRId64 "..%" PRId64
                 " from the database: retention deleted the transactions of batches up to "
                 "%" PRId64 "; the archives go on from batch %" PRId64,
                 rb.first, st->last_batch, st->purged_batch, st->last_batch + 1);
        rebuild = 0;
    }
    if (rebuild && arch->append(arch, rb.first, NULL, 0) == 0) {
        if (pgstate_each_record(db, job->topic, st->last_snapshot, on_record, &rb, err,
                                sizeof err) == 0)
            log_info("archive of batches %" PRId64 "..%" PRId64 " rebuilt from the database",
                     rb.first, st->last_batch);
        else if (!rb.stopped) {
            snprintf(errstr, errsize, "rebuilding the archive from the database failed: %s", err);
            return -1;
        }
    }
    return 0;
}

int stream_restore(cluster_t *c, PGconn *db, const job_config_t *job, cutter_t *ct,
                   archiver_t *arch, restored_t *st, char *errstr, size_t errsize)
{
    int64_t t0 = timeparse_now_us();
    memset(st, 0, sizeof *st);
    if (pgconn_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL, errstr,
                    errsize) != 0)
        return -1;
    int rc = restore_reads(c, db, job, ct, arch, st, errstr, errsize);
    if (rc == 0) rc = pgconn_exec(db, "COMMIT", NULL, errstr, errsize);
    if (rc != 0) {
        pgconn_rollback(db);
        return -1;
    }
    log_info("restored state as of batch %" PRId64 " in %.1f s (%s, %" PRIu64
             " committed transactions)",
             st->last_batch, (double)(timeparse_now_us() - t0) / 1e6,
             st->last_snapshot > 0  ? "snapshot + ledger"
             : st->purged_batch > 0 ? "usuarios + balances carried by retention + ledger"
                                    : "usuarios + ledger",
             ct->dedupe.seen.added);
    return 0;
}
