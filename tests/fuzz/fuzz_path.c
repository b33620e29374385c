/* libFuzzer target: request lines. The first byte picks a method, the rest
 * is a raw path: percent-decoding, routing and the Allow header must never
 * crash, and a routed flag name must point inside the decoded path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flag.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "BREW", ""};
    struct route_match m;
    char allow[64];
    char *path;
    long number;
    size_t len;

    if (size == 0)
        return 0;
    path = malloc(size);
    if (path == NULL)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    len = router_unescape(path);
    if (len != strlen(path) || len > size - 1)
        abort();
    router_match(methods[data[0] % 8], path, &m);
    if (m.param != NULL && (m.param < path || m.param + m.param_len > path + len))
        abort();
    if (m.param != NULL)
        (void)flag_name_valid(m.param, m.param_len);
    router_allow_header(m.allowed, allow, sizeof allow);
    if (config_parse_int(path, 1, 65535, &number) == 0 && (number < 1 || number > 65535))
        abort();
    free(path);
    return 0;
}
