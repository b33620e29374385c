/* Unit tests for router.c. */
#include <string.h>

#include "check.h"
#include "router.h"

static struct route_match m;

static enum route_id route(const char *method, const char *path)
{
    router_match(method, path, &m);
    return m.id;
}

int main(void)
{
    char allow[64];

    CHECK(route("GET", "/health") == ROUTE_HEALTH && m.method_allowed);
    CHECK(route("HEAD", "/health") == ROUTE_HEALTH && m.method_allowed);
    CHECK(route("POST", "/health") == ROUTE_HEALTH && !m.method_allowed);
    CHECK(route("GET", "/ready") == ROUTE_READY && m.method_allowed);
    CHECK(route("GET", "/flags") == ROUTE_FLAGS && m.method_allowed && m.param == NULL);
    CHECK(route("POST", "/flags") == ROUTE_FLAGS && m.method_allowed);
    CHECK(route("PUT", "/flags") == ROUTE_FLAGS && !m.method_allowed);
    CHECK(route("GET", "/flags/beta") == ROUTE_FLAG && m.method_allowed);
    CHECK(m.param_len == 4 && strncmp(m.param, "beta", 4) == 0);
    CHECK(route("PUT", "/flags/beta") == ROUTE_FLAG && m.method_allowed);
    CHECK(route("DELETE", "/flags/beta") == ROUTE_FLAG && m.method_allowed);
    CHECK(route("POST", "/flags/beta") == ROUTE_FLAG && !m.method_allowed);
    CHECK(route("BREW", "/flags/beta") == ROUTE_FLAG && !m.method_allowed && m.method == METHOD_OTHER);

    CHECK(route("GET", "/") == ROUTE_NOT_FOUND);
    CHECK(route("GET", "/flags/") == ROUTE_NOT_FOUND);
    CHECK(route("GET", "/flags/a/b") == ROUTE_NOT_FOUND);
    CHECK(route("GET", "/flagsx") == ROUTE_NOT_FOUND);
    CHECK(route("GET", "/health/") == ROUTE_NOT_FOUND);
    CHECK(route("GET", "") == ROUTE_NOT_FOUND);

    CHECK(strcmp(router_allow_header(METHOD_GET | METHOD_HEAD | METHOD_POST, allow, sizeof allow),
                 "GET, HEAD, POST") == 0);
    route("PATCH", "/flags/x");
    CHECK(strcmp(router_allow_header(m.allowed, allow, sizeof allow), "GET, HEAD, PUT, DELETE") == 0);
    /* Percent-decoding: once, never to a NUL, malformed escapes kept. */
    struct { const char *in, *out; } cases[] = {
        {"/flags/my%2Dflag", "/flags/my-flag"}, {"/flags/a%252Db", "/flags/a%2Db"},
        {"/flags/a%00b", "/flags/a%00b"}, {"/x%2f%2F", "/x//"}, {"%", "%"}, {"%4", "%4"},
        {"%zz%41", "%zzA"}, {"%e2%9c%93", "\xe2\x9c\x93"}, {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        strcpy(buf, cases[i].in);
        size_t len = router_unescape(buf);
        CHECK(strcmp(buf, cases[i].out) == 0 && len == strlen(cases[i].out));
    }
    return CHECK_DONE("unit[router]");
}
