/* dash_assets.h - the page and its libraries, embedded in the binary at
 * build time (scripts/embed-assets.py writes build/gen/dash_assets.c from
 * web/src and the npm packages under web/node_modules that `make deps`
 * fetched). Nothing is read from disk or a CDN at run time. */
#ifndef BS_DASH_ASSETS_H
#define BS_DASH_ASSETS_H

#include <stddef.h>

typedef struct dash_asset {
    const char *path;                /* URL path: "/", "/assets/app.js", ... */
    const char *content_type;        /* with charset for text */
    const unsigned char *data, *end; /* the bytes: [data, end) */
    int immutable;                   /* a versioned vendor file: cacheable */
} dash_asset_t;

/* The table, NULL-path terminated. */
extern const dash_asset_t dash_assets[];

/* 1 when the npm packages were missing at build time (the page then says to
 * run `make deps`), else 0. */
extern const int dash_assets_incomplete;

#endif
