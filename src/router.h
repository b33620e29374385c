/*
 * router — maps a method and a decoded path to a route.
 *
 * Owns: how a request path is decoded, the table of routes and the methods
 * each accepts (which is also the Allow header of a 405). Pure: no I/O, no
 * allocation; the route's path parameter points into the caller's string.
 */
#ifndef TM_ROUTER_H
#define TM_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

enum route_id {
    ROUTE_NOT_FOUND = 0,
    ROUTE_HEALTH,      /* /health */
    ROUTE_READY,       /* /ready */
    ROUTE_FLAGS,       /* /flags */
    ROUTE_FLAG,        /* /flags/<name> */
};

enum http_method {
    METHOD_GET = 1 << 0,
    METHOD_HEAD = 1 << 1,
    METHOD_POST = 1 << 2,
    METHOD_PUT = 1 << 3,
    METHOD_DELETE = 1 << 4,
    METHOD_OTHER = 1 << 5,
};

struct route_match {
    enum route_id id;
    enum http_method method;
    unsigned allowed;          /* bitmask of enum http_method */
    bool method_allowed;
    const char *param;         /* <name> for ROUTE_FLAG, else NULL */
    size_t param_len;
};

enum http_method router_method(const char *method);
void router_match(const char *method, const char *path, struct route_match *out);
/* Percent-decodes text in place, once, and returns its new length. "%00"
 * stays as it is: a NUL would cut the string short, so "a%00b" must not
 * turn into "a". Used for the path and the query arguments. */
size_t router_unescape(char *text);

/* "GET, HEAD, POST" for an allowed mask; buf needs 64 bytes. */
const char *router_allow_header(unsigned allowed, char *buf, size_t buflen);

#endif
