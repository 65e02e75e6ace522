/* sink_pg.c - the PostgreSQL sink: one batch, one commit (see sink.h).
 *
 * Exactly-once rests on four invariants:
 *   1. A batch's rows (transacoes, transacoes_scores, transacoes_duplicadas,
 *      dead_letters) and its batch_log row, holding the per-partition start
 *      and end offsets, commit together: in ONE transaction, or (with
 *      `[sink] connections` > 1) in one transaction per slice made one by
 *      two-phase commit, whose decision is the COMMIT of the batch_log row
 *      (4). On start the processor reads the newest batch_log row and
 *      resumes Kafka there (restore.c).
 *   2. One processor per database (pg/pglock.h): the sink's session takes
 *      the processor lock when it connects, before restore reads anything,
 *      and again after every reconnect, before it writes anything; a run
 *      that finds it held stops with one line naming the holder. Every
 *      batch transaction first checks that this session still holds it,
 *      that bankstream_meta's database_id is still the one read at start (a
 *      database re-initialized under the processor stops it) and that
 *      batch_log's newest batch is the one before this batch.
 *   3. A retry after a lost connection decides "committed" by the batch's
 *      identity, its topic and start and end offsets, never by its id alone:
 *      another batch under the same id is an error that says so.
 *   4. Sliced commits (sink_slices.h): each slice prepares its transaction
 *      (PREPARE TRANSACTION, named by pg/pgprepared.h after the batch's
 *      identity); only when every slice is prepared does this session
 *      INSERT the batch_log row and COMMIT: that commit is the decision;
 *      then every slice is COMMIT PREPARED. No prepared transaction is left
 *      behind: a failure before the decision rolls the prepared slices back;
 *      one after it commits them; one that loses the sessions leaves them to
 *      the resolution (pg/pgprepared.h: batch_log decides) that this sink
 *      runs behind the fence (pg/pglock.h) when it opens, after every failure
 *      and when it closes, and that `init` runs too.
 * Readers: between the decision and the last COMMIT PREPARED (a round trip
 * to the server, milliseconds) a reader may see a batch's batch_log row
 * before every row of the batch; a reader that needs whole batches takes
 * them up to max(batch_id) of a batch_log read after its rows, or runs with
 * [sink] connections = 1.
 *
 * Rows go in with binary COPY (sink_rows.h, pg/pgcopy.h); the batch_log
 * row with a parameterized INSERT. Session and transaction:
 *
 *   connect --sink_setup--> OWNER (application_name 'bankstream run
 *   <topic>', the lock, the database id; prepared transactions of an
 *   earlier run resolved; slice sessions joined)
 *   OWNER, one connection: BEGIN -> check_owner -> COPY transacoes -> COPY
 *   transacoes_scores -> COPY transacoes_duplicadas -> COPY dead_letters ->
 *   INSERT batch_log -> COMMIT                                (commit_once)
 *   OWNER, N connections: BEGIN -> check_owner -> slices start (COPY,
 *   PREPARE on N threads) -> COPY duplicates, dead letters -> slices wait ->
 *   INSERT batch_log -> COMMIT -> slices COMMIT PREPARED    (commit_sliced)
 *   OWNER, one connection, pipelined ([sink] pipeline = on): batch k+1
 *   queued while batch k commits is written at once by the ahead session
 *   (sink_ahead.h): BEGIN -> name the lock's backend for the dashboard's
 *   triggers (write_ahead) -> COPY its rows, all four tables; its turn, on
 *   the sink thread in that session: check_owner (the sink's session holds
 *   the lock; batch_log ends at k) -> INSERT batch_log -> COMMIT
 *                                                            (commit_ahead)
 *   ahead failed -> rolled back -> commit_once in the sink's session; ahead
 *   lost during its COMMIT -> its backend ended (end_lost_session) ->
 *   batch_committed -> done, or commit_once
 *   lost -> PQreset with backoff for retry_seconds -> sink_setup ->
 *   batch_committed (identity) -> done, or commit again       (pg_commit)
 *
 * Slices whose transactions wait on each other (an INSERT trigger writing
 * one summary row from every slice: a prepared slice keeps its row locks
 * until the decision, which waits for the slice that waits) are seen by
 * sink_slices_wait; that batch and every later one then commit through one
 * connection, with a warning that names the triggers.
 *
 * Pipelined, invariant 1 holds as it is (one transaction per batch, its
 * rows with its batch_log row) and 2 is checked in the ahead session's
 * transaction just before its batch_log row, after the batch before it
 * committed: the sink's session (lock_pid) must still hold the lock, and
 * batch_log must end at the batch before. Only the rows' writing overlaps
 * the previous commit; commits stay in order, one at a time.
 *
 * Test hook: BANKSTREAM_TEST_SINK_PAUSE=prepared:N (every slice of batch N
 * prepared, before the decision), decided:N (batch N's batch_log row
 * committed, before any COMMIT PREPARED) or ahead:N (the rows of the first
 * batch from N on that is written ahead, not committed) makes the sink
 * thread (the ahead thread for ahead:N) stop there for good, saying so on
 * stderr, so that a test can kill -9 the processor at exactly that point
 * (tests/integration/77-slices.sh, 70-restart.sh). Nothing else reads it. */
#include "base/log.h"
#include "pg/pgconn.h"
#include "pg/pgcopy.h"
#include "pg/pglock.h"
#include "pg/pgprepared.h"
#include "stream/sink.h"
#include "stream/sink_ahead.h"
#include "stream/sink_rows.h"
#include "stream/sink_slices.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum pause_point { PAUSE_NONE = 0, PAUSE_PREPARED, PAUSE_DECIDED, PAUSE_AHEAD };

typedef struct pg_sink {
    stream_sink_t base;
    PGconn *conn; /* the sink's session: the lock, batch_log, duplicates, dead letters */
    char topic[256];
    char appname[300];     /* 'bankstream run <topic>' */
    char database_id[128]; /* bankstream_meta's, read when the sink opened */
    int session_ok;        /* this session has the lock and was checked */
    int slices_ready;      /* since the session was checked or a commit failed: prepared
                            * transactions resolved, slice sessions joined */
    atomic_int lock_pid;   /* backend that took the lock last, 0 = none (the ahead
                            * thread reads it too) */
    int64_t retry_seconds;
    int connections;       /* [sink] connections */
    sink_slices_t *slices; /* connections > 1, until slices waited on each other */
    sink_ahead_t *ahead;   /* [sink] pipeline with one connection */
    int ahead_lost_pid;    /* the ahead session lost during its COMMIT: its backend, to end
                            * before batch_log is asked (0 = none) */
    int64_t committed, committed_ahead; /* batches, and those committed in the ahead session */
    enum pause_point pause;
    int64_t pause_batch;
    pgcopy_t copy;
} pg_sink_t;

/* "{v0,v1,...}" of n values, malloc'd (NULL when out of memory). */
static char *format_array(const int64_t *v, int n)
{
    size_t size = 24 * (size_t)(n > 0 ? n : 1) + 3, len = 0;
    char *out = malloc(size);
    if (out == NULL) return NULL;
    out[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%" PRId64, i ? "," : "", v[i]);
    snprintf(out + len, size - len, "}");
    return out;
}

/* The batch's start and end offsets and, per partition, the Kafka
 * timestamp of the row with the highest offset (-1: none), as arrays. */
typedef struct batch_arrays {
    char *starts, *ends, *last_ts;
} batch_arrays_t;

static void batch_arrays_free(batch_arrays_t *a)
{
    free(a->starts);
    free(a->ends);
    free(a->last_ts);
}

static int batch_arrays(const batch_t *b, batch_arrays_t *a, char *errstr, size_t errsize)
{
    int n = b->nparts;
    int64_t *ts = malloc(sizeof *ts * (size_t)(n > 0 ? n : 1));
    int64_t *top = malloc(sizeof *top * (size_t)(n > 0 ? n : 1));
    memset(a, 0, sizeof *a);
    if (ts && top) {
        for (int p = 0; p < n; p++)
            ts[p] = top[p] = -1;
        for (size_t i = 0; i < b->nrows; i++) {
            const txn_record_t *rec = &b->rows[i].rec;
            int p = rec->partition;
            if (p < 0 || p >= n || rec->offset < top[p]) continue;
            top[p] = rec->offset;
            ts[p] = rec->kafka_ts_ms;
        }
        a->starts = format_array(b->start_offsets, n);
        a->ends = format_array(b->end_offsets, n);
        a->last_ts = format_array(ts, n);
    }
    free(ts);
    free(top);
    if (a->starts && a->ends && a->last_ts) return 0;
    batch_arrays_free(a);
    snprintf(errstr, errsize, "out of memory formatting batch %" PRId64 "'s offsets", b->id);
    return -1;
}

static int insert_batch_log(pg_sink_t *s, PGconn *conn, const batch_t *b, const batch_arrays_t *a,
                            char *errstr, size_t errsize)
{
    char id[24], n[6][24];
    const batch_counts_t *k = &b->counts;
    snprintf(id, sizeof id, "%" PRId64, b->id);
    snprintf(n[0], sizeof n[0], "%" PRId64, k->messages);
    snprintf(n[1], sizeof n[1], "%" PRId64, k->by_status[STATUS_APPROVED]);
    snprintf(n[2], sizeof n[2], "%" PRId64, k->by_status[STATUS_REJECTED]);
    snprintf(n[3], sizeof n[3], "%" PRId64, k->by_status[STATUS_NOT_PROCESSED] + k->duplicates);
    snprintf(n[4], sizeof n[4], "%" PRId64, k->dead);
    snprintf(n[5], sizeof n[5], "%d", b->ranks);
    const char *params[12] = {id,   s->topic, a->ends, a->starts, n[0],       n[1],
                              n[2], n[3],     n[4],    n[5],      a->last_ts, b->note};
    PGresult *r = PQexecParams(conn,
                               "INSERT INTO batch_log (batch_id, topic, end_offsets, start_offsets,"
                               " n_mensagens, n_aprovadas, n_rejeitadas, n_nao_processadas,"
                               " n_dead_letters, ranks, last_ts_ms, nota) VALUES ($1, $2, $3, $4,"
                               " $5, $6, $7, $8, $9, $10, $11, $12)",
                               12, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc) pgconn_error(conn, r, "INSERT INTO batch_log failed", errstr, errsize);
    PQclear(r);
    return rc;
}

/* The database's identity as init recorded it (as pgstate_database_id). */
static const char database_id_sql[] =
    "coalesce((SELECT valor FROM bankstream_meta WHERE chave = 'database_id'),"
    " (SELECT valor FROM bankstream_meta WHERE chave = 'initialized_at'), '')";

/* A failure on the session: transient (1) when the connection is gone,
 * else fatal (-1). */
static int session_failure(pg_sink_t *s)
{
    return PQstatus(s->conn) == CONNECTION_OK ? -1 : 1;
}

/* Invariant 2, on a new session: application_name, the processor lock,
 * the database's identity. `batch` is the batch being retried (0 at open).
 * Returns 0 (s->session_ok set); 1, transient, with errstr: the connection
 * failed, or this processor's previous session still holds the lock (the
 * server has not noticed that it is gone yet); -1 with errstr: another
 * processor holds the database, or it is not the database this run started
 * on (the run stops). */
static int session_setup(pg_sink_t *s, int64_t batch, char *errstr, size_t errsize)
{
    if (pgconn_set_application_name(s->conn, s->appname, errstr, errsize) != 0)
        return session_failure(s);
    char holder[1024];
    int pid = 0;
    int got = pglock_take(s->conn, 0, holder, sizeof holder, &pid, errstr, errsize);
    if (got == PGLOCK_ERROR) return session_failure(s);
    if (got == PGLOCK_BUSY) {
        if (s->lock_pid != 0 && pid == s->lock_pid) {
            snprintf(errstr, errsize,
                     "this processor's previous session (backend pid %d) still holds the "
                     "database; waiting for the server to end it",
                     pid);
            return 1;
        }
        if (batch == 0)
            snprintf(errstr, errsize,
                     "%s; only one processor may run per database: stop that one first", holder);
        else
            snprintf(errstr, errsize,
                     "%s: another processor took the database while this one was reconnecting "
                     "to commit batch %" PRId64 "; this one stops without committing it",
                     holder, batch);
        return -1;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s", database_id_sql);
    PGresult *r = PQexec(s->conn, sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        pgconn_error(s->conn, r, "reading bankstream_meta failed (run 'bankstream init' first?)",
                     errstr, errsize);
        PQclear(r);
        return session_failure(s);
    }
    const char *id = PQgetvalue(r, 0, 0);
    int same = batch == 0 || strcmp(id, s->database_id) == 0;
    if (batch == 0)
        snprintf(s->database_id, sizeof s->database_id, "%s", id);
    else if (!same)
        snprintf(errstr, errsize,
                 "the database was re-initialized while this processor ran (its id is now %s, "
                 "was %s); this processor stops without committing batch %" PRId64
                 ": start 'bankstream run' again to process the new database",
                 *id ? id : "(none)", s->database_id, batch);
    PQclear(r);
    if (!same) return -1;
    s->lock_pid = PQbackendPID(s->conn);
    s->session_ok = 1;
    return 0;
}

/* Resolve the prepared transactions an interrupted sliced commit left
 * (invariant 4), this run's included: the slice sessions are closed first,
 * then the fence is taken, so that no slice session of any run can still
 * prepare. 0; 1 (transient) with errstr: the fence is still held by
 * sessions the server has not ended yet, or the session was lost; -1 with
 * errstr. */
static int resolve_prepared(pg_sink_t *s, char *errstr, size_t errsize)
{
    char holders[512], ignored[256];
    if (s->slices) sink_slices_disconnect(s->slices);
    int fence = pglock_fence_take(s->conn, holders, sizeof holders, errstr, errsize);
    if (fence == PGLOCK_ERROR) return session_failure(s);
    if (fence == PGLOCK_BUSY) {
        snprintf(errstr, errsize,
                 "slice sessions of an earlier run are still open (%s); waiting for the server "
                 "to end them before resolving prepared transactions",
                 holders);
        return 1;
    }
    pgprepared_counts_t k;
    int rc = pgprepared_resolve(s->conn, s->database_id, &k, errstr, errsize);
    pglock_fence_release(s->conn, ignored, sizeof ignored);
    if (k.committed || k.rolled_back)
        log_warn("resolved %d prepared transaction(s) of an interrupted batch commit: %d "
                 "committed (batch_log holds their batch), %d rolled back",
                 k.committed + k.rolled_back, k.committed, k.rolled_back);
    if (k.unknown)
        log_warn("%d prepared transaction(s) named like bankstream's ('%s') are not of a form "
                 "this version knows; left alone: finish them by hand (COMMIT PREPARED or "
                 "ROLLBACK PREPARED) if no other program made them",
                 k.unknown, k.first_unknown);
    return rc == 0 ? 0 : session_failure(s);
}

/* The session (invariant 2), then the prepared transactions (4), then the
 * slice sessions: whichever is not ready. 0, 1 (transient) or -1, with
 * errstr, as session_setup. */
static int sink_setup(pg_sink_t *s, int64_t batch, char *errstr, size_t errsize)
{
    if (!s->session_ok) {
        s->slices_ready = 0;
        int rc = session_setup(s, batch, errstr, errsize);
        if (rc != 0) return rc;
    }
    if (!s->slices_ready) {
        int rc = resolve_prepared(s, errstr, errsize);
        if (rc == 0 && s->slices) rc = sink_slices_connect(s->slices, s->lock_pid, errstr, errsize);
        if (rc != 0) return rc;
        s->slices_ready = 1;
    }
    return 0;
}

/* Invariant 2, inside the batch transaction on conn (the sink's session,
 * or the ahead session: then the sink's session must hold the lock); also
 * the transaction's start time as created_at holds it (µs of its wall time
 * since the Unix epoch), for the slices. 0, or -1 with errstr. */
static int check_owner(pg_sink_t *s, PGconn *conn, const batch_t *b, int64_t *created_at_us,
                       char *errstr, size_t errsize)
{
    char sql[2048], held[640];
    if (conn == s->conn)
        snprintf(held, sizeof held, "%s", pglock_held_sql());
    else
        pglock_held_by_sql(s->lock_pid, held, sizeof held);
    snprintf(sql, sizeof sql,
             "SELECT %s, %s, (SELECT coalesce(max(batch_id), 0) FROM batch_log),"
             " current_database(), (extract(epoch FROM now()::timestamp) * 1000000)::int8",
             held, database_id_sql);
    PGresult *r = PQexec(conn, sql);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(conn, r, "checking that this processor still owns the database failed", errstr,
                     errsize);
        goto done;
    }
    const char *holds = PQgetvalue(r, 0, 0), *id = PQgetvalue(r, 0, 1);
    const char *db = PQgetvalue(r, 0, 3);
    int64_t newest = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    *created_at_us = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    if (strcmp(holds, "t") != 0)
        snprintf(errstr, errsize,
                 "this processor's session no longer holds the processor lock of database "
                 "\"%s\"; it stops without committing batch %" PRId64,
                 db, b->id);
    else if (strcmp(id, s->database_id) != 0)
        snprintf(errstr, errsize,
                 "database \"%s\" was re-initialized while this processor ran (its id is now "
                 "%s, was %s); this processor stops without committing batch %" PRId64
                 ": start 'bankstream run' again to process the new database",
                 db, *id ? id : "(none)", s->database_id, b->id);
    else if (newest != b->id - 1)
        snprintf(errstr, errsize,
                 "batch_log of database \"%s\" ends at batch %" PRId64 ", not %" PRId64
                 ": another processor committed batches in it; this one stops without "
                 "committing batch %" PRId64,
                 db, newest, b->id - 1, b->id);
    else
        rc = 0;
done:
    PQclear(r);
    return rc;
}

/* The duplicates and dead letters (they go with the batch_log row). */
static int copy_home_rows(PGconn *conn, pgcopy_t *copy, const batch_t *b, const char *topic,
                          char *errstr, size_t errsize)
{
    if (b->counts.duplicates) {
        sink_rows_duplicates(copy, b, topic);
        if (pgcopy_send(conn, sink_rows_duplicates_sql, copy, errstr, errsize) != 0) return -1;
    }
    if (b->counts.dead) {
        sink_rows_dead_letters(copy, b, topic);
        if (pgcopy_send(conn, sink_rows_dead_letters_sql, copy, errstr, errsize) != 0) return -1;
    }
    return 0;
}

/* Every row of the batch but its batch_log row, in conn's open transaction. */
static int copy_batch_rows(PGconn *conn, pgcopy_t *copy, const batch_t *b, const char *topic,
                           char *errstr, size_t errsize)
{
    sink_rows_transacoes(copy, b, 0, 1, INT64_MIN);
    if (pgcopy_send(conn, sink_rows_transacoes_sql(0), copy, errstr, errsize) != 0) return -1;
    sink_rows_scores(copy, b, 0, 1);
    if (pgcopy_send(conn, sink_rows_scores_sql, copy, errstr, errsize) != 0) return -1;
    return copy_home_rows(conn, copy, b, topic, errstr, errsize);
}

/* The test hook (see the top of the file). */
static void test_pause(const pg_sink_t *s, enum pause_point point, int64_t batch)
{
    if (s->pause != point) return;
    if (point == PAUSE_AHEAD ? batch < s->pause_batch : batch != s->pause_batch) return;
    log_warn("BANKSTREAM_TEST_SINK_PAUSE: batch %" PRId64 " stops here (%s) until this process "
             "is killed",
             batch,
             point == PAUSE_PREPARED  ? "every slice prepared, not decided"
             : point == PAUSE_DECIDED ? "decided"
                                      : "its rows written ahead, not committed");
    for (;;)
        sleep(1);
}

/* One transaction. 0; 1 (transient: the session was lost) or -1, with
 * errstr. */
static int commit_once(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a, char *errstr,
                       size_t errsize)
{
    int64_t created_at_us;
    if (pgconn_exec(s->conn, "BEGIN", NULL, errstr, errsize) != 0) return session_failure(s);
    if (check_owner(s, s->conn, b, &created_at_us, errstr, errsize) != 0) goto fail;
    if (copy_batch_rows(s->conn, &s->copy, b, s->topic, errstr, errsize) != 0) goto fail;
    if (insert_batch_log(s, s->conn, b, a, errstr, errsize) != 0) goto fail;
    if (pgconn_exec(s->conn, "COMMIT", NULL, errstr, errsize) != 0) return session_failure(s);
    return 0;
fail:
    pgconn_rollback(s->conn);
    return session_failure(s);
}

/* Slices waited on each other (sink_slices_wait): from this batch on, one
 * connection. */
static void stop_slicing(pg_sink_t *s, const batch_t *b, const char *why)
{
    log_warn("[sink] connections = %d: %s; batch %" PRId64
             " and the batches after it commit through one connection (to keep several, make "
             "such triggers write rows that no two transactions share)",
             s->connections, why, b->id);
    sink_slices_free(s->slices);
    s->slices = NULL;
}

/* One transaction per slice and one for the batch_log row, made one by
 * two-phase commit (invariant 4). 0; 1 (transient) or -1, with errstr. */
static int commit_sliced(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a, char *errstr,
                         size_t errsize)
{
    int64_t created_at_us;
    char identity[17], err[1024] = "", ignored[512];
    pgprepared_identity(s->topic, a->starts, a->ends, identity);
    if (pgconn_exec(s->conn, "BEGIN", NULL, errstr, errsize) != 0) return session_failure(s);
    if (check_owner(s, s->conn, b, &created_at_us, errstr, errsize) != 0 ||
        sink_slices_start(s->slices, b, identity, s->database_id, created_at_us, errstr, errsize) !=
            0) {
        pgconn_rollback(s->conn);
        return session_failure(s);
    }
    int home = copy_home_rows(s->conn, &s->copy, b, s->topic, errstr, errsize);
    int sliced = sink_slices_wait(s->slices, home == 0 ? s->conn : NULL, err, sizeof err);
    if (home != 0 || sliced != SLICES_PREPARED) {
        pgconn_rollback(s->conn);
        int left = sink_slices_finish(s->slices, 0, s->conn, ignored, sizeof ignored);
        if (home != 0) return left ? 1 : session_failure(s);
        snprintf(errstr, errsize, "%s", err);
        if (sliced == SLICES_WAITING) {
            stop_slicing(s, b, err);
            if (left) return 1; /* resolved by the next sink_setup, then one connection */
            return commit_once(s, b, a, errstr, errsize);
        }
        return sliced == SLICES_LOST || left ? 1 : -1;
    }
    test_pause(s, PAUSE_PREPARED, b->id);
    if (insert_batch_log(s, s->conn, b, a, errstr, errsize) != 0) {
        pgconn_rollback(s->conn);
        int left = sink_slices_finish(s->slices, 0, s->conn, ignored, sizeof ignored);
        return left ? 1 : session_failure(s);
    }
    if (pgconn_exec(s->conn, "COMMIT", NULL, errstr, errsize) != 0) {
        if (PQstatus(s->conn) != CONNECTION_OK) return 1; /* decided? batch_log will say */
        sink_slices_finish(s->slices, 0, s->conn, ignored, sizeof ignored);
        return -1;
    }
    test_pause(s, PAUSE_DECIDED, b->id);
    if (sink_slices_finish(s->slices, 1, s->conn, errstr, errsize) != 0)
        return 1; /* committed; the resolution of the retry commits what is left */
    return 0;
}

/* Invariant 3: is this batch in batch_log? 1 yes (same id, topic and
 * offsets), 0 no, -1 could not tell (errstr), -2 another batch holds its
 * id (errstr says so: the run stops). */
static int batch_committed(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a, char *errstr,
                           size_t errsize)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, b->id);
    const char *params[4] = {id, s->topic, a->starts, a->ends};
    PGresult *r = PQexecParams(s->conn,
                               "SELECT topic = $2 AND start_offsets = $3::bigint[]"
                               " AND end_offsets = $4::bigint[], topic,"
                               " start_offsets::text, end_offsets::text"
                               " FROM batch_log WHERE batch_id = $1",
                               4, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_error(s->conn, r, "reading batch_log failed", errstr, errsize);
    } else if (PQntuples(r) == 0) {
        rc = 0;
    } else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
        rc = 1;
    } else {
        snprintf(errstr, errsize,
                 "batch_log holds another batch under id %" PRId64
                 " (topic %s, offsets %s to %s, where this one is topic %s, %s to %s): another "
                 "processor committed it while this one was reconnecting; this one stops "
                 "without committing its batch %" PRId64,
                 b->id, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), s->topic,
                 a->starts, a->ends, b->id);
        rc = -2;
    }
    PQclear(r);
    return rc;
}

/* The ahead session's writer (sink_ahead.h), on its thread. */
static int write_ahead(PGconn *conn, pgcopy_t *copy, const batch_t *b, void *arg, char *errstr,
                       size_t errsize)
{
    const pg_sink_t *s = arg;
    /* the dashboard's triggers: these rows are the processor's (schema_dashboard.c, design 5) */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT set_config('bankstream.sessao_processador', '%d', true)",
             atomic_load(&s->lock_pid));
    int rc =
        pgconn_exec(conn, sql, "naming the processor's session (bankstream.sessao_processador)",
                    errstr, errsize);
    if (rc == 0) rc = copy_batch_rows(conn, copy, b, s->topic, errstr, errsize);
    if (rc == 0) test_pause(s, PAUSE_AHEAD, b->id);
    return rc;
}

enum { AHEAD_COMMITTED = 0, AHEAD_NOT_COMMITTED, AHEAD_IN_DOUBT };

/* Commit b in the ahead session's transaction, when b was written ahead:
 * the same checks (invariant 2) and batch_log row as commit_once, in the
 * transaction that holds its rows. AHEAD_COMMITTED; AHEAD_NOT_COMMITTED
 * (not written ahead, or rolled back: the sink's session commits it);
 * AHEAD_IN_DOUBT (the session was lost during its COMMIT: its backend is
 * s->ahead_lost_pid, and batch_log decides once that backend has ended). */
static int commit_ahead(pg_sink_t *s, const batch_t *b, const batch_arrays_t *a)
{
    char why[1024] = "";
    PGconn *conn = sink_ahead_take(s->ahead, b, why, sizeof why);
    if (conn == NULL) {
        if (why[0])
            log_warn("batch %" PRId64 ": writing its rows ahead failed (%s); the sink's own "
                     "session commits it",
                     b->id, why);
        return AHEAD_NOT_COMMITTED;
    }
    int64_t created_at_us;
    int rc = AHEAD_NOT_COMMITTED;
    if (check_owner(s, conn, b, &created_at_us, why, sizeof why) == 0 &&
        insert_batch_log(s, conn, b, a, why, sizeof why) == 0) {
        if (pgconn_exec(conn, "COMMIT", NULL, why, sizeof why) == 0)
            rc = AHEAD_COMMITTED;
        else if (PQstatus(conn) != CONNECTION_OK)
            rc = AHEAD_IN_DOUBT;
    }
    if (rc == AHEAD_NOT_COMMITTED) pgconn_rollback(conn);
    int alive = PQstatus(conn) == CONNECTION_OK;
    sink_ahead_release(s->ahead, alive, &s->ahead_lost_pid);
    if (rc != AHEAD_COMMITTED)
        log_warn("batch %" PRId64 ": its commit in the ahead session failed (%s); the sink's own "
                 "session %s",
                 b->id, strtok(why, "\n"),
                 rc == AHEAD_IN_DOUBT ? "asks batch_log whether it committed, and commits it if not"
                                      : "commits it");
    return rc;
}

/* Before batch_log may say whether an in-doubt COMMIT of the ahead session
 * happened, the backend that ran it must be gone (it may still be
 * committing): ended with pg_terminate_backend, then waited for. 0 (gone);
 * 1 (transient, with errstr: still there, or the sink's session failed). */
static int end_lost_session(pg_sink_t *s, char *errstr, size_t errsize)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", s->ahead_lost_pid);
    const char *params[1] = {pid};
    for (int i = 0; i < 50; i++) {
        PGresult *r = PQexecParams(s->conn,
                                   "SELECT count(*), bool_or(pg_terminate_backend(pid))"
                                   " FROM pg_stat_activity WHERE pid = $1",
                                   1, NULL, params, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        int left = ok ? atoi(PQgetvalue(r, 0, 0)) : -1;
        if (!ok) pgconn_error(s->conn, r, "ending the lost ahead session failed", errstr, errsize);
        PQclear(r);
        if (!ok) return 1;
        if (left == 0) {
            s->ahead_lost_pid = 0;
            return 0;
        }
        usleep(100 * 1000);
    }
    snprintf(errstr, errsize,
             "the ahead session's backend (pid %d), lost during a COMMIT, has not ended yet",
             s->ahead_lost_pid);
    return 1;
}

static int pg_commit(stream_sink_t *base, const batch_t *b, char *errstr, size_t errsize)
{
    pg_sink_t *s = (pg_sink_t *)base;
    batch_arrays_t a;
    if (batch_arrays(b, &a, errstr, errsize) != 0) return -1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned backoff_ms = 100;
    int rc = -1, in_doubt = 0;
    if (s->ahead) {
        int ahead = commit_ahead(s, b, &a);
        if (ahead == AHEAD_COMMITTED) {
            batch_arrays_free(&a);
            s->committed++;
            s->committed_ahead++;
            return 0;
        }
        in_doubt = ahead == AHEAD_IN_DOUBT;
    }
    for (int attempt = 0;; attempt++) {
        if (PQstatus(s->conn) == CONNECTION_OK) {
            /* A new session owns nothing until set up (invariant 2). */
            int ready = sink_setup(s, b->id, errstr, errsize);
            if (ready < 0) break;
            if (ready == 0 && s->ahead_lost_pid) ready = end_lost_session(s, errstr, errsize);
            if (ready == 0) {
                int done = attempt > 0 || in_doubt ? batch_committed(s, b, &a, errstr, errsize) : 0;
                if (done == 1) {
                    rc = 0;
                    break;
                }
                if (done == -2) break;
                if (done == 0) {
                    int once = s->slices ? commit_sliced(s, b, &a, errstr, errsize)
                                         : commit_once(s, b, &a, errstr, errsize);
                    if (once == 0) rc = 0;
                    /* An error on a live connection is not transient: report it. */
                    if (once <= 0) break;
                }
            }
        } else {
            snprintf(errstr, errsize, "%s", PQerrorMessage(s->conn));
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= s->retry_seconds) {
            size_t len = strlen(errstr);
            snprintf(errstr + len, errsize - len,
                     " (gave up on batch %" PRId64 " after %" PRId64 " s of retries)", b->id,
                     s->retry_seconds);
            break;
        }
        log_warn("database lost while committing batch %" PRId64 " (%s); retrying in %u ms", b->id,
                 strtok(errstr, "\n"), backoff_ms);
        usleep(backoff_ms * 1000);
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
        s->slices_ready = 0;
        if (PQstatus(s->conn) != CONNECTION_OK || !s->session_ok) {
            s->session_ok = 0;
            PQreset(s->conn);
        }
    }
    batch_arrays_free(&a);
    if (rc == 0) s->committed++;
    return rc;
}

/* At close: whatever a failed commit left prepared, resolved while this
 * session still holds the lock (a few tries: the slice sessions just closed
 * may take a moment to end). Otherwise the next run or init resolves it. */
static void resolve_at_close(pg_sink_t *s)
{
    char err[1024];
    if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK || !s->session_ok) return;
    int left = pgprepared_count(s->conn, err, sizeof err);
    for (int i = 0; left > 0 && i < 50; i++) {
        int rc = resolve_prepared(s, err, sizeof err);
        if (rc <= 0) {
            left = rc < 0 ? -1 : pgprepared_count(s->conn, err, sizeof err);
            break;
        }
        usleep(100 * 1000);
    }
    if (left != 0)
        log_warn("prepared transactions of bankstream may be left in the database (%s); the "
                 "next 'bankstream run' or 'bankstream init' resolves them",
                 left < 0 ? err : "their sessions did not end in time");
}

static int pg_ahead(stream_sink_t *base, const batch_t *b)
{
    pg_sink_t *s = (pg_sink_t *)base;
    return b ? sink_ahead_start(s->ahead, b) : sink_ahead_idle(s->ahead);
}

static void pg_forget(stream_sink_t *base)
{
    sink_ahead_forget(((pg_sink_t *)base)->ahead);
}

static void pg_close(stream_sink_t *base)
{
    pg_sink_t *s = (pg_sink_t *)base;
    if (s->ahead && s->committed)
        log_info("pipeline: %" PRId64 " of %" PRId64 " batches were written ahead, while the "
                 "batch before them committed",
                 s->committed_ahead, s->committed);
    sink_ahead_free(s->ahead); /* what it held is rolled back */
    resolve_at_close(s);
    sink_slices_free(s->slices);
    if (s->conn) PQfinish(s->conn); /* ends the session: releases the lock */
    pgcopy_free(&s->copy);
    free(s);
}

/* BANKSTREAM_TEST_SINK_PAUSE (see the top of the file). */
static void read_test_pause(pg_sink_t *s)
{
    const char *v = getenv("BANKSTREAM_TEST_SINK_PAUSE");
    char point[16];
    long long batch;
    if (v == NULL || *v == '\0') return;
    if (sscanf(v, "%15[a-z]:%lld", point, &batch) == 2 && batch > 0) {
        s->pause = strcmp(point, "prepared") == 0  ? PAUSE_PREPARED
                   : strcmp(point, "decided") == 0 ? PAUSE_DECIDED
                   : strcmp(point, "ahead") == 0   ? PAUSE_AHEAD
                                                   : PAUSE_NONE;
        s->pause_batch = batch;
    }
    if (s->pause == PAUSE_NONE)
        log_warn("BANKSTREAM_TEST_SINK_PAUSE='%s' ignored: expected prepared:N, decided:N or "
                 "ahead:N",
                 v);
}

/* [sink] connections > 1 needs prepared transactions on the server. 0, or
 * -1 with errstr naming the setting and the fix. */
static int check_prepared_setting(pg_sink_t *s, char *errstr, size_t errsize)
{
    PGresult *r = PQexec(s->conn, "SELECT current_setting('max_prepared_transactions')::int");
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        pgconn_error(s->conn, r, "reading max_prepared_transactions failed", errstr, errsize);
    } else {
        int max = atoi(PQgetvalue(r, 0, 0));
        if (max >= s->connections)
            rc = 0;
        else
            snprintf(errstr, errsize,
                     "[sink] connections = %d commits each batch through %d prepared "
                     "transactions (two-phase commit), but the server at %s:%s has "
                     "max_prepared_transactions = %d: set max_prepared_transactions = %d (at "
                     "least %d) in its postgresql.conf and restart it, or set [sink] "
                     "connections = 1",
                     s->connections, s->connections, PQhost(s->conn), PQport(s->conn), max,
                     s->connections * 2, s->connections);
    }
    PQclear(r);
    return rc;
}

stream_sink_t *sink_pg_open(const char *conninfo, int connections, int fallback, int pipeline,
                            int64_t retry_seconds, const char *topic, char *errstr, size_t errsize)
{
    pg_sink_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    s->base = (stream_sink_t){"postgres", 1, pg_commit, pg_close, NULL, NULL};
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    snprintf(s->appname, sizeof s->appname, "bankstream run %s", topic);
    s->retry_seconds = retry_seconds;
    s->connections = connections < 1 ? 1 : connections;
    read_test_pause(s);
    s->conn = pgconn_open(conninfo, errstr, errsize);
    if (s->conn == NULL) goto fail;
    if (s->connections > 1) {
        if (s->connections > SINK_SLICES_MAX) {
            snprintf(errstr, errsize, "[sink] connections = %d: at most %d", s->connections,
                     SINK_SLICES_MAX);
            goto fail;
        }
        if (check_prepared_setting(s, errstr, errsize) != 0) {
            if (!fallback || PQstatus(s->conn) != CONNECTION_OK) goto fail;
            /* auto: an embedded cluster started before it was configured for
             * prepared transactions (it is at its next start) */
            log_warn("%s; [sink] connections = auto: committing through one connection", errstr);
            s->connections = 1;
        }
    }
    if (s->connections > 1) {
        s->slices = sink_slices_new(conninfo, s->connections, s->appname);
        if (s->slices == NULL) {
            snprintf(errstr, errsize, "out of memory");
            goto fail;
        }
    }
    /* What an earlier run left (its sessions ending, its prepared
     * transactions) is waited for as a lost database would be. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned backoff_ms = 100;; backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000) {
        int rc = sink_setup(s, 0, errstr, errsize);
        if (rc == 0) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (rc < 0 || now.tv_sec - t0.tv_sec >= retry_seconds) goto fail;
        log_warn_every("sink open", 10, "%s; retrying", errstr);
        usleep(backoff_ms * 1000);
        if (PQstatus(s->conn) != CONNECTION_OK) {
            s->session_ok = 0;
            PQreset(s->conn);
        }
    }
    if (s->slices)
        log_info("committing each batch through %d connections (two-phase commit)", s->connections);
    if (!s->slices && pipeline) {
        s->ahead = sink_ahead_new(conninfo, s->appname, write_ahead, s);
        if (s->ahead == NULL) {
            snprintf(errstr, errsize, "cannot start the sink's ahead session");
            goto fail;
        }
        s->base.ahead = pg_ahead;
        s->base.forget = pg_forget;
    }
    return &s->base;
fail:
    pg_close(&s->base);
    return NULL;
}
