/* libFuzzer target: routing. The first byte picks a method, the rest is a
 * raw path: splitting, per-segment percent-decoding, matching against a
 * table like the API's and the Allow header must never crash; a route's
 * parameters must lie inside the scratch buffer and hold no NUL; and the
 * page-limit parser must keep its range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flag.h"
#include "router.h"

static const struct route_spec specs[] = {
    {METHOD_GET, "/health"}, {METHOD_GET, "/flags"}, {METHOD_POST, "/flags"}, {METHOD_GET, "/flags/{name}"},
    {METHOD_PUT | METHOD_DELETE, "/flags/{name}"}, {METHOD_GET, "/flags/{name}/usage/{window}"},
};
static const struct route_spec *const table[] = {&specs[0], &specs[1], &specs[2], &specs[3], &specs[4], &specs[5]};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum http_method methods[] = {METHOD_GET, METHOD_HEAD, METHOD_POST, METHOD_PUT,
                                               METHOD_DELETE, METHOD_PATCH, METHOD_OPTIONS, METHOD_OTHER};
    char scratch[512], allow[96];
    struct route_match m;
    long number;
    char *text;

    /* The transport never hands over a path with a NUL byte (llhttp refuses
     * one): a NUL in a parameter can then only come from decoding "%00",
     * which must not happen. */
    if (size == 0 || memchr(data + 1, '\0', size - 1) != NULL)
        return 0;
    router_match(table, 6, methods[data[0] % 8], (const char *)data + 1, size - 1, scratch, sizeof scratch, &m);
    if (m.index >= 6 || m.param_count < 0 || m.param_count > ROUTER_MAX_PARAMS)
        abort();
    for (int i = 0; i < m.param_count; i++) {
        const struct route_param *p = &m.params[i];
        if (p->value < scratch || p->value + p->len >= scratch + sizeof scratch || p->len == 0 ||
            memchr(p->value, '\0', p->len) != NULL)
            abort();
        (void)flag_name_valid(p->value, p->len);
    }
    router_allow_header(m.allowed, allow, sizeof allow);
    text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (config_parse_int(text, 1, 10000, &number) == 0 && (number < 1 || number > 10000))
        abort();
    free(text);
    return 0;
}
