/* pglock.h - one processor per database: the advisory lock that `run`'s
 * PostgreSQL sink holds for as long as its session lives, and that `init`
 * must be able to take before it changes anything.
 *
 * PostgreSQL's advisory locks belong to one database (pg_locks.database), so
 * the lock is per DATABASE, not per topic: two processors on two topics of
 * one database would each keep balances the other cannot see. The sink
 * takes it with pg_try_advisory_lock (session level) when it connects and
 * again after every reconnect, before it writes anything; `init` takes it
 * with pg_try_advisory_xact_lock for its one transaction. Either is refused
 * while another session holds it, with one line naming the holder from
 * pg_locks + pg_stat_activity (the sink sets application_name to
 * 'bankstream run <topic>', init to 'bankstream init').
 *
 * The fence (a second key) guards the prepared transactions of a sink that
 * commits a batch through several connections (stream/sink_slices.h): each
 * of its slice sessions holds the fence SHARED for as long as it lives, and
 * joins only while its processor holds the processor lock, so a PREPARE
 * TRANSACTION can only come from a session of the lock's holder. Before
 * resolving prepared transactions it did not make itself (pg/pgprepared.h),
 * a processor or `init` takes the fence EXCLUSIVE, which it gets only once
 * every slice session of any earlier processor has ended: none of them can
 * then prepare anything behind the resolution's back. */
#ifndef BS_PGLOCK_H
#define BS_PGLOCK_H

#include <libpq-fe.h>
#include <stddef.h>

/* The lock's key ("bankstrm" in ASCII); distinct from SCHEMA_LOCK_KEY. */
#define PGLOCK_KEY 7089068696235438701

/* The fence's key ("bankfenc" in ASCII). */
#define PGLOCK_FENCE_KEY 7089068696016350819

/* Outcomes of pglock_take and of the fence's calls. */
enum { PGLOCK_TAKEN = 1, PGLOCK_BUSY = 0, PGLOCK_ERROR = -1 };

/* Try to take the processor lock: for the session (xact 0) or for the open
 * transaction (xact 1). Never waits. Returns PGLOCK_TAKEN; PGLOCK_BUSY with
 * holder filled (pglock_holder's line) and *holder_pid set (0 when the
 * holder could not be seen); or PGLOCK_ERROR with errstr (in a transaction,
 * the transaction is then aborted). holder_pid may be NULL. */
int pglock_take(PGconn *conn, int xact, char *holder, size_t holdersize, int *holder_pid,
                char *errstr, size_t errsize);

/* A boolean SQL expression, true when this session holds the lock (at
 * session or transaction level), for a query of the caller's. */
const char *pglock_held_sql(void);

/* The same expression for another session of the same processor (the
 * sink's ahead session, stream/sink_ahead.h): true when backend pid holds
 * the lock. Written into out (at least 512 bytes). */
void pglock_held_by_sql(int pid, char *out, size_t outsize);

/* Describe the session that holds the lock, other than this one, as one
 * line: "database D is in use by 'bankstream run T' (topic T; PostgreSQL
 * backend pid P, client H, connected since S)". Returns 1 (held: holder
 * and *pid filled), 0 (nobody else holds it) or -1 with errstr. */
int pglock_holder(PGconn *conn, char *holder, size_t holdersize, int *pid, char *errstr,
                  size_t errsize);

/* Try to take the fence exclusively for the session (never waits).
 * Returns PGLOCK_TAKEN; PGLOCK_BUSY with holders filled ("backend pids 12
 * (bankstream run t [slice 1/3]), ..."): slice sessions of a processor are
 * still open (for a killed one, until the server notices that it is gone);
 * or PGLOCK_ERROR with errstr. Release it with pglock_fence_release. */
int pglock_fence_take(PGconn *conn, char *holders, size_t holderssize, char *errstr,
                      size_t errsize);

/* Release the session's exclusive hold of the fence. 0, or -1 with errstr. */
int pglock_fence_release(PGconn *conn, char *errstr, size_t errsize);

/* A slice session joins its processor: takes the fence shared for the
 * session, then checks that backend lock_pid (the processor's own session)
 * holds the processor lock. Returns PGLOCK_TAKEN; PGLOCK_BUSY with errstr
 * (the fence is held exclusively, or lock_pid no longer holds the lock:
 * another processor may have taken the database); PGLOCK_ERROR with errstr.
 * The session keeps the fence until it ends. */
int pglock_fence_join(PGconn *conn, int lock_pid, char *errstr, size_t errsize);

#endif
