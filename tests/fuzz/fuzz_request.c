/* libFuzzer target: request bodies through the flag decoders, and every
 * accepted name through the name rule and the renderer. Any crash, leak,
 * sanitizer report or broken invariant aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flag_create_request create;
    struct flag_update_request update;
    char err[256];

    if (flag_decode_create((const char *)data, size, &create, err, sizeof err) == 0) {
        size_t len;
        char *body;
        if (!flag_name_valid(create.name, strlen(create.name)))
            abort();                       /* decoder accepted a bad name */
        body = flag_render(create.name, create.is_enabled, &len);
        if (body == NULL || len != strlen(body))
            abort();
        free(body);
    } else if (err[0] == '\0') {
        abort();                           /* a refusal must say why */
    }
    err[0] = '\0';
    if (flag_decode_update((const char *)data, size, &update, err, sizeof err) != 0 && err[0] == '\0')
        abort();
    return 0;
}
