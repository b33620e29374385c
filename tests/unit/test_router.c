/* Unit tests for router.c: patterns, 404 vs 405, Allow, and per-segment
 * percent-decoding ("%2F" never separates segments). */
#include <string.h>

#include "check.h"
#include "router.h"

static const struct route_spec health = {METHOD_GET, "/health"};
static const struct route_spec list = {METHOD_GET, "/flags"};
static const struct route_spec create = {METHOD_POST, "/flags"};
static const struct route_spec get = {METHOD_GET, "/flags/{name}"};
static const struct route_spec put = {METHOD_PUT, "/flags/{name}"};
static const struct route_spec del = {METHOD_DELETE, "/flags/{name}"};
static const struct route_spec history = {METHOD_GET, "/flags/{name}/history"};
static const struct route_spec pair = {METHOD_GET, "/a/{x}/b/{y}"};
static const struct route_spec *const table[] = {&health, &list, &create, &get, &put, &del, &history, &pair};
#define COUNT (sizeof table / sizeof table[0])

static struct route_match m;
static char scratch[256];

static int route(enum http_method method, const char *path)
{
    router_match(table, COUNT, method, path, strlen(path), scratch, sizeof scratch, &m);
    return m.index;
}

static bool param_is(int i, const char *value)
{
    return i < m.param_count && m.params[i].len == strlen(value) && memcmp(m.params[i].value, value, m.params[i].len) == 0;
}

int main(void)
{
    char allow[64], longpath[600];

    CHECK(route(METHOD_GET, "/health") == 0);
    CHECK(route(METHOD_HEAD, "/health") == 0);              /* GET implies HEAD */
    CHECK(route(METHOD_POST, "/health") == -1 && m.allowed == (METHOD_GET | METHOD_HEAD));
    CHECK(route(METHOD_GET, "/flags") == 1 && m.param_count == 0);
    CHECK(route(METHOD_POST, "/flags") == 2);
    CHECK(route(METHOD_PUT, "/flags") == -1 && m.allowed == (METHOD_GET | METHOD_HEAD | METHOD_POST));
    CHECK(route(METHOD_GET, "/flags/beta") == 3 && param_is(0, "beta"));
    CHECK(route(METHOD_PUT, "/flags/beta") == 4 && param_is(0, "beta"));
    CHECK(route(METHOD_DELETE, "/flags/beta") == 5);
    CHECK(route(METHOD_OTHER, "/flags/beta") == -1 && m.allowed != 0);
    CHECK(route(METHOD_GET, "/flags/beta/history") == 6 && param_is(0, "beta"));
    CHECK(route(METHOD_GET, "/a/1/b/two") == 7 && param_is(0, "1") && param_is(1, "two"));
    CHECK(strcmp(router_allow_header(m.allowed, allow, sizeof allow), "GET, HEAD") == 0);

    /* Nothing fits: 404. */
    CHECK(route(METHOD_GET, "/") == -1 && m.allowed == 0);
    CHECK(route(METHOD_GET, "/flags/") == -1 && m.allowed == 0);       /* an empty name is no name */
    CHECK(route(METHOD_GET, "/flags/a/b") == -1 && m.allowed == 0);
    CHECK(route(METHOD_GET, "/flagsx") == -1 && m.allowed == 0);
    CHECK(route(METHOD_GET, "/health/") == -1 && m.allowed == 0);
    CHECK(route(METHOD_GET, "//flags") == -1 && m.allowed == 0);
    CHECK(route(METHOD_GET, "") == -1 && m.allowed == 0);
    CHECK(route(METHOD_GET, "flags") == -1 && m.allowed == 0);

    /* Decoding happens per segment, after splitting, once. */
    CHECK(route(METHOD_GET, "/flags%2Fx") == -1 && m.allowed == 0);   /* one segment, not two */
    CHECK(route(METHOD_GET, "/flags/a%2Fb") == 3 && param_is(0, "a/b"));
    CHECK(route(METHOD_GET, "/fl%61gs/my%2Dflag") == 3 && param_is(0, "my-flag"));
    CHECK(route(METHOD_GET, "/flags/a%252Db") == 3 && param_is(0, "a%2Db"));
    CHECK(route(METHOD_GET, "/flags/a%00b") == 3 && param_is(0, "a%00b"));   /* never a NUL */
    CHECK(route(METHOD_GET, "/flags/%zz%41") == 3 && param_is(0, "%zzA"));
    CHECK(route(METHOD_GET, "/flags/%e2%9c%93") == 3 && param_is(0, "\xe2\x9c\x93"));

    /* Paths that do not fit the scratch buffer, or have too many segments,
     * match nothing. */
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    CHECK(route(METHOD_GET, longpath) == -1 && m.allowed == 0);
    CHECK(route(METHOD_GET, "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17") == -1);

    CHECK(strcmp(router_allow_header(METHOD_GET | METHOD_HEAD | METHOD_PUT | METHOD_DELETE, allow, sizeof allow),
                 "GET, HEAD, PUT, DELETE") == 0);
    return CHECK_DONE("unit[router]");
}
