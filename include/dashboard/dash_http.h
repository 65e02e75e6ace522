/* dash_http.h - the dashboard's web server (libmicrohttpd): the embedded
 * page and assets (dash_assets.h) and /api/NAME (dash_api.h).
 *
 * GET and HEAD only (405 otherwise). Answers carry nosniff, a Content
 * Security Policy that allows this origin only (no CDN, no inline script),
 * and no-store on the API. A small pool of threads serves the connections;
 * each API call takes a database connection from dash_db's pool. */
#ifndef BS_DASH_HTTP_H
#define BS_DASH_HTTP_H

#include "dashboard/dash_api.h"

#include <stddef.h>

typedef struct dash_http dash_http_t;

/* Listen on addr (an IPv4 or IPv6 literal) and port (0: any free port) with
 * threads threads. api must outlive the server. Returns the server, or NULL
 * with err ("... is in use" when the port is taken). */
dash_http_t *dash_http_start(const char *addr, int port, int threads, const dash_api_t *api,
                             char *err, size_t errsize);

/* The port actually bound. */
int dash_http_port(const dash_http_t *h);

/* Stop serving (waits for the threads) and free. NULL-safe. */
void dash_http_stop(dash_http_t *h);

#endif
