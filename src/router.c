/*
 * router — method + path to route. See router.h.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

#define GET_LIKE (METHOD_GET | METHOD_HEAD)

enum http_method router_method(const char *method)
{
    if (strcmp(method, "GET") == 0) return METHOD_GET;
    if (strcmp(method, "HEAD") == 0) return METHOD_HEAD;
    if (strcmp(method, "POST") == 0) return METHOD_POST;
    if (strcmp(method, "PUT") == 0) return METHOD_PUT;
    if (strcmp(method, "DELETE") == 0) return METHOD_DELETE;
    return METHOD_OTHER;
}

void router_match(const char *method, const char *path, struct route_match *out)
{
    static const char flags_prefix[] = "/flags/";

    memset(out, 0, sizeof *out);
    out->method = router_method(method);

    if (strcmp(path, "/health") == 0) {
        out->id = ROUTE_HEALTH;
        out->allowed = GET_LIKE;
    } else if (strcmp(path, "/ready") == 0) {
        out->id = ROUTE_READY;
        out->allowed = GET_LIKE;
    } else if (strcmp(path, "/flags") == 0) {
        out->id = ROUTE_FLAGS;
        out->allowed = GET_LIKE | METHOD_POST;
    } else if (strncmp(path, flags_prefix, sizeof flags_prefix - 1) == 0 &&
               path[sizeof flags_prefix - 1] != '\0' &&
               strchr(path + sizeof flags_prefix - 1, '/') == NULL) {
        out->id = ROUTE_FLAG;
        out->allowed = GET_LIKE | METHOD_PUT | METHOD_DELETE;
        out->param = path + sizeof flags_prefix - 1;
        out->param_len = strlen(out->param);
    } else {
        return;
    }
    out->method_allowed = (out->allowed & out->method) != 0;
}

const char *router_allow_header(unsigned allowed, char *buf, size_t buflen)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {METHOD_GET, "GET"}, {METHOD_HEAD, "HEAD"}, {METHOD_POST, "POST"},
        {METHOD_PUT, "PUT"}, {METHOD_DELETE, "DELETE"},
    };
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((allowed & names[i].bit) && len < buflen)
            len += (size_t)snprintf(buf + len, buflen - len, "%s%s", len ? ", " : "", names[i].name);
    }
    return buf;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t router_unescape(char *text)
{
    char *in = text, *out = text;

    while (*in != '\0') {
        int hi, lo;
        if (in[0] == '%' && (hi = hex_value(in[1])) >= 0 && (lo = hex_value(in[2])) >= 0 &&
            (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - text);
}
