/*
 * router — matches a method and a request path against a table of routes.
 *
 * Owns: what a path pattern is ("/flags/{name}": literal segments and
 * named parameters, one segment each), splitting a path into segments
 * before any decoding (so "%2F" never separates), percent-decoding each
 * segment once, and the Allow header of a 405. It knows no route of its
 * own: the API gives it the table. Pure: no I/O, no allocation; decoded
 * parameters go into the caller's buffer.
 */
#ifndef TM_ROUTER_H
#define TM_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "http/method.h"

#define ROUTER_MAX_PARAMS 4
#define ROUTER_MAX_SEGMENTS 16

/* A route: the methods it answers (GET implies HEAD) and its pattern. */
struct route_spec {
    unsigned methods;          /* bitmask of enum http_method */
    const char *pattern;
};

struct route_param {
    const char *value;         /* decoded, NUL-terminated, in the caller's buffer */
    size_t len;
};

struct route_match {
    int index;                 /* the route for this method and path, or -1 */
    unsigned allowed;          /* the methods of every route whose pattern fits
                                * the path: 0 means 404, else a -1 index is 405 */
    int param_count;
    struct route_param params[ROUTER_MAX_PARAMS];
};

/* Matches path[0..len) (without the query) against specs[0..count).
 * scratch receives the decoded segments and needs len + ROUTER_MAX_SEGMENTS
 * bytes; a path that does not fit, or has more than ROUTER_MAX_SEGMENTS
 * segments, matches nothing. */
void router_match(const struct route_spec *const *specs, size_t count, enum http_method method,
                  const char *path, size_t len, char *scratch, size_t scratch_len, struct route_match *out);

/* "GET, HEAD, POST" for an allowed mask. */
const char *router_allow_header(unsigned allowed, char *buf, size_t buflen);

#endif
