/* dash_metrics.h - the processor's Prometheus metrics, polled into a small
 * time series kept in the dashboard process.
 *
 * A thread GETs the URL (plain http://host[:port]/path, as served by
 * stream/metrics.c) every interval, keeps every bankstream_* sample of the
 * answer, and remembers the last DASH_METRICS_KEEP polls in a ring. The page
 * turns counters into rates and the histogram into a distribution.
 *
 * Life cycle: dash_metrics_start -> dash_metrics_json (any thread) ->
 * dash_metrics_stop. */
#ifndef BS_DASH_METRICS_H
#define BS_DASH_METRICS_H

#include <stddef.h>

#define DASH_METRICS_KEEP 300 /* polls kept: 10 minutes at 2 s */

typedef struct dash_metrics dash_metrics_t;

/* Start polling url every interval_ms. Returns the poller, or NULL with err
 * when the URL is not http://host[:port][/path] or the thread cannot start.
 * The first poll happens at once; an unreachable endpoint is not an error
 * here (the JSON says so). */
dash_metrics_t *dash_metrics_start(const char *url, int interval_ms, char *err, size_t errsize);

/* The series as JSON (malloc'ed, the caller frees; NULL when out of memory):
 * {"url": ..., "ok": bool, "erro": text|null, "t": [ms since the epoch...],
 *  "series": {"name{labels}": [value|null, ...], ...}}. m NULL gives
 * {"url": null, ...} with no samples. */
char *dash_metrics_json(dash_metrics_t *m, size_t *len);

/* Stop the thread (within about one poll timeout) and free. NULL-safe. */
void dash_metrics_stop(dash_metrics_t *m);

#endif
