/* libFuzzer target: request bodies through the flag decoders, and every
 * accepted name through the name rule and into a flag (whose rendering
 * must be valid JSON naming it). Any crash, leak, sanitizer report or
 * broken invariant aborts. */
#include <jansson.h>
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
        struct flag_row row = {.name = create.name, .is_enabled = create.is_enabled};
        struct flag *flag;
        json_t *rendered;
        if (!flag_name_valid(create.name, strlen(create.name)))
            abort();                       /* decoder accepted a bad name */
        flag = flag_create(&row);
        if (flag == NULL)
            abort();
        rendered = json_loadb(flag->body, flag->body_len, 0, NULL);
        if (rendered == NULL || strcmp(json_string_value(json_object_get(rendered, "name")), create.name) != 0)
            abort();
        json_decref(rendered);
        flag_unref(flag);
    } else if (err[0] == '\0') {
        abort();                           /* a refusal must say why */
    }
    err[0] = '\0';
    if (flag_decode_update((const char *)data, size, &update, err, sizeof err) != 0 && err[0] == '\0')
        abort();
    return 0;
}
