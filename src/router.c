/*
 * router — method + path to a route of a table. See router.h.
 *
 * Cost: O(routes x segments) string comparisons per request; the table
 * has a few dozen routes, which is cheaper than building a trie for it.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

struct segment {
    const char *text;          /* decoded */
    size_t len;
};

/* Splits "/a/b%2Fc" into decoded segments "a", "b/c". Returns the count, or
 * -1 when the path does not start with '/', has too many segments, or does
 * not fit in scratch. */
static int split(const char *path, size_t len, char *scratch, size_t scratch_len, struct segment *out)
{
    size_t used = 0;
    int count = 0;

    if (len == 0 || path[0] != '/')
        return -1;
    for (size_t at = 1; at <= len;) {
        const char *end = memchr(path + at, '/', len - at);
        size_t raw = end ? (size_t)(end - (path + at)) : len - at;
        if (count == ROUTER_MAX_SEGMENTS || used + raw + 1 > scratch_len)
            return -1;
        out[count].text = scratch + used;
        out[count].len = text_percent_decode(path + at, raw, scratch + used);
        used += out[count].len + 1;
        count++;
        at += raw + 1;
    }
    return count;
}

/* Whether the segments fit the pattern; fills params (at least
 * ROUTER_MAX_PARAMS) and *count if so. */
static bool fits(const char *pattern, const struct segment *segments, int count, struct route_param *params,
                 int *param_count)
{
    int index = 0, found = 0;
    const char *p = pattern;

    while (*p == '/') {
        const char *start = ++p;
        size_t len;
        if (index == count)
            return false;
        /* Most routes differ from the path in their first byte: no need
         * to measure the segment for them. */
        if (*start != '{' && *start != '/' && *start != '\0' &&
            (segments[index].len == 0 || *start != segments[index].text[0]))
            return false;
        while (*p != '\0' && *p != '/')
            p++;
        len = (size_t)(p - start);
        if (*start == '{') {
            if (segments[index].len == 0 || found == ROUTER_MAX_PARAMS)
                return false;
            params[found].value = segments[index].text;
            params[found].len = segments[index].len;
            found++;
        } else if (len != segments[index].len || memcmp(start, segments[index].text, len) != 0) {
            return false;
        }
        index++;
    }
    if (index != count)
        return false;
    *param_count = found;
    return true;
}

void router_match(const struct route_spec *const *specs, size_t count, enum http_method method,
                  const char *path, size_t len, char *scratch, size_t scratch_len, struct route_match *out)
{
    struct segment segments[ROUTER_MAX_SEGMENTS];
    struct route_param params[ROUTER_MAX_PARAMS];
    int segment_count = split(path, len, scratch, scratch_len, segments), param_count;

    out->index = -1;
    out->allowed = 0;
    out->param_count = 0;
    if (segment_count < 0)
        return;
    for (size_t i = 0; i < count; i++) {
        unsigned methods = specs[i]->methods;
        if (methods & METHOD_GET)
            methods |= METHOD_HEAD;
        if (!fits(specs[i]->pattern, segments, segment_count, params, &param_count))
            continue;
        out->allowed |= methods;
        if (out->index < 0 && (methods & method)) {
            out->index = (int)i;
            out->param_count = param_count;
            memcpy(out->params, params, (size_t)param_count * sizeof params[0]);
        }
    }
}

const char *router_allow_header(unsigned allowed, char *buf, size_t buflen)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {METHOD_GET, "GET"}, {METHOD_HEAD, "HEAD"}, {METHOD_POST, "POST"}, {METHOD_PUT, "PUT"},
        {METHOD_DELETE, "DELETE"}, {METHOD_PATCH, "PATCH"}, {METHOD_OPTIONS, "OPTIONS"},
    };
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((allowed & names[i].bit) && len < buflen)
            len += (size_t)snprintf(buf + len, buflen - len, "%s%s", len ? ", " : "", names[i].name);
    }
    return buf;
}
