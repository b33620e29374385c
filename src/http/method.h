/*
 * http/method — request methods as bits, so a route can name a set of them
 * and a 405 can list them. Shared by the transport (which parses them) and
 * the router (which matches them); a header only.
 */
#ifndef TM_HTTP_METHOD_H
#define TM_HTTP_METHOD_H

enum http_method {
    METHOD_GET = 1 << 0,
    METHOD_HEAD = 1 << 1,
    METHOD_POST = 1 << 2,
    METHOD_PUT = 1 << 3,
    METHOD_DELETE = 1 << 4,
    METHOD_PATCH = 1 << 5,
    METHOD_OPTIONS = 1 << 6,
    METHOD_OTHER = 1 << 7,     /* any other method llhttp knows */
};

#endif
