/*
 * api/console_assets — the web console's files, embedded in the binary at
 * build time (scripts/embed-console.sh writes the table from console/ into
 * build/gen/console_assets.c). Served by api/console.c.
 */
#ifndef TM_API_CONSOLE_ASSETS_H
#define TM_API_CONSOLE_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct console_asset {
    const char *path;           /* "/", "/assets/app.js", "/assets/app.<hash>.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const unsigned char *gzip_data;   /* the same bytes gzip-compressed; NULL */
    size_t gzip_len;                  /* when that would not save a tenth  */
    const char *hash;           /* 12 hex digits of the bytes' SHA-256 */
    bool immutable;             /* the name holds the hash: cache for good */
};

extern const struct console_asset console_assets[];
extern const size_t console_asset_count;

#endif
