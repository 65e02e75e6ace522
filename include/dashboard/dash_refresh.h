/* dash_refresh.h - keeps the dashboard's aggregates up to date: a thread
 * that calls dashboard_atualizar() (pg/schema_dashboard.c) every period.
 *
 * The processor's transactions do no aggregate work: its batches are
 * counted here, after they commit, up to the newest committed batch (the
 * watermark dashboard_estado.ate_batch), so the panels lag the stream by at
 * most about one period plus one call while a dashboard runs, and catch up
 * when one starts. Each call counts at most DASH_REFRESH_CHUNK rows in its
 * own transaction; a tick calls again until the watermark reaches the
 * newest batch. Any number of dashboards may run: the calls serialize on
 * the watermark row, and one that finds it busy skips its turn.
 *
 * The thread has its own connection, not read-only (the pool's are): it
 * runs that one constant statement and nothing else. A database without
 * the function (an older schema) or a failing call is logged (at most every
 * 60 s) and retried at the next tick.
 *
 * Life cycle: dash_refresh_start -> dash_refresh_stop. */
#ifndef BS_DASH_REFRESH_H
#define BS_DASH_REFRESH_H

#include <stddef.h>

#define DASH_REFRESH_CHUNK 100000 /* rows per dashboard_atualizar() call */

typedef struct dash_refresh dash_refresh_t;

/* Start the thread: first call at once, then every period_ms; lock_timeout
 * of the session timeout_ms. Returns the refresher, or NULL with err when
 * the thread cannot start (the database being down is not an error here:
 * the thread retries). */
dash_refresh_t *dash_refresh_start(const char *conninfo, int period_ms, int timeout_ms, char *err,
                                   size_t errsize);

/* Stop the thread (a call in progress is cancelled; its transaction rolls
 * back, so nothing is counted twice or lost) and free. NULL-safe. */
void dash_refresh_stop(dash_refresh_t *r);

#endif
