/* sink_ahead.h - the PostgreSQL sink's second session, which writes the
 * next batch's rows while the sink's own session commits the batch before
 * it (`[sink] pipeline = on`, the default with one connection).
 *
 * Batches still commit one at a time, in order, each in ONE transaction
 * with its batch_log row. What overlaps is the part a commit spends most of
 * its time on: PostgreSQL inserting the rows into the tables' indexes,
 * which one backend does serially. The ahead session opens its batch's
 * transaction and COPYs the rows as soon as the batch is queued; when the
 * batch's turn comes, the sink checks the owner and the batch_log chain in
 * that transaction, inserts the batch_log row and commits (sink_pg.c).
 *
 * The ahead session's state:
 *
 *   IDLE --start(b)--> WRITING --rows written--> READY --take(b)--> HELD
 *     ^                   |                        |                  |
 *     |                   +--failure--> FAILED     +--forget--+       |
 *     |                                   |                   |       |
 *     +------take(b) (says why) ----------+                   |       |
 *     +------forget ------------------------------------------+       |
 *     +------release (committed, rolled back, or the session lost) ---+
 *
 * FAILED and forget leave no transaction open: it was rolled back, or the
 * session is closed (a lost session is reopened, on the thread, at the
 * next start, no sooner than a backoff of 1 s doubling to 30 s).
 * Session: application_name '<the sink's> [ahead]'; it does not hold the
 * processor lock (the sink's session does), so the sink's check in its
 * transaction names the sink's backend (pg/pglock.h's pglock_held_by_sql).
 *
 * Threads: start, idle and forget may be called from any thread (the commit
 * queue calls start and idle from the main thread); take and release from
 * the sink thread only. The connection is used by one thread at a time:
 * the ahead thread while WRITING, the caller of take while HELD. */
#ifndef BS_SINK_AHEAD_H
#define BS_SINK_AHEAD_H

#include "pg/pgcopy.h"
#include "stream/batch.h"

#include <libpq-fe.h>
#include <stddef.h>

typedef struct sink_ahead sink_ahead_t;

/* What the ahead session writes for b, inside the transaction it opened:
 * 0, or -1 with errstr. Called on the ahead thread. */
typedef int (*sink_ahead_write_fn)(PGconn *conn, pgcopy_t *copy, const batch_t *b, void *arg,
                                   char *errstr, size_t errsize);

/* The session to the server of conninfo (connected at the first start) and
 * its thread. NULL when out of memory or no thread can be started. */
sink_ahead_t *sink_ahead_new(const char *conninfo, const char *appname, sink_ahead_write_fn write,
                             void *arg);

/* 1 when start would take a batch now (IDLE, not backing off), else 0. */
int sink_ahead_idle(sink_ahead_t *a);

/* IDLE -> WRITING: write b's rows from now on. b must stay alive until take
 * or forget. 1 when taken, 0 when not (not idle); never blocks. */
int sink_ahead_start(sink_ahead_t *a, const batch_t *b);

/* b's turn. When b was started: wait for its rows; READY -> HELD, returning
 * the session with b's transaction open and its rows written; or FAILED ->
 * IDLE, returning NULL with errstr saying why. When b was not started: NULL,
 * errstr empty. */
PGconn *sink_ahead_take(sink_ahead_t *a, const batch_t *b, char *errstr, size_t errsize);

/* HELD -> IDLE, the transaction over: session_ok 1 when it ended on a live
 * session (committed or rolled back), 0 when the session is in doubt: it is
 * closed, and *lost_pid (its backend, which may still be running) is for
 * the caller to end before it asks whether the transaction committed. */
void sink_ahead_release(sink_ahead_t *a, int session_ok, int *lost_pid);

/* Whatever was started: wait for its writing to stop, roll it back, IDLE. */
void sink_ahead_forget(sink_ahead_t *a);

/* Stop the thread, close the session (what it held is rolled back), free.
 * NULL-safe. */
void sink_ahead_free(sink_ahead_t *a);

#endif
