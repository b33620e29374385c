/* libFuzzer target: request bodies through the flag document decoders
 * (POST and PUT /flags), every accepted document through the checks and
 * into a flag, whose renderings must be valid JSON naming it, and one
 * evaluation of it. Any crash, leak, sanitizer report or broken invariant
 * aborts. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/logic.h"
#include "flag.h"
#include "flagdoc.h"

static void check_flag(const char *name, bool enabled, const char *document)
{
    struct flag_row row = {.name = name, .is_enabled = enabled, .document = document, .version = 1};
    struct flag *flag = flag_create(&row, NULL);
    struct flag_result result;
    struct arena arena;
    json_t *rendered;

    if (flag == NULL)
        abort();
    rendered = json_loadb(flag->body, flag->body_len, 0, NULL);
    if (rendered == NULL || strcmp(json_string_value(json_object_get(rendered, "name")), name) != 0)
        abort();
    json_decref(rendered);
    rendered = json_loadb(flag->summary, flag->summary_len, 0, NULL);
    if (rendered == NULL)
        abort();
    json_decref(rendered);
    arena_init(&arena, LOGIC_ARENA_LIMIT);
    flag_evaluate(flag, NULL, 1, &arena, &result);
    if (result.reason == FLAG_REASON_TARGETING_MATCH && result.variant == NULL)
        abort();
    arena_free(&arena);
    flag_unref(flag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flagdoc_change change;
    char err[FLAGDOC_MESSAGE_MAX];

    if (flagdoc_decode_create((const char *)data, size, &change, err, sizeof err) == 0) {
        json_t *doc;
        if (!flag_name_valid(change.name, strlen(change.name)))
            abort();                       /* decoder accepted a bad name */
        doc = flagdoc_build(NULL, &change, NULL, true, err, sizeof err, NULL, 0);
        if (doc != NULL) {
            char *text = json_dumps(doc, JSON_COMPACT);
            if (text == NULL)
                abort();
            check_flag(change.name, change.is_enabled, text);
            free(text);
            json_decref(doc);
        } else if (err[0] == '\0') {
            abort();
        }
        flagdoc_change_clear(&change);
    } else if (err[0] == '\0') {
        abort();                           /* a refusal must say why */
    }
    err[0] = '\0';
    if (flagdoc_decode_update((const char *)data, size, &change, err, sizeof err) != 0 && err[0] == '\0')
        abort();
    flagdoc_change_clear(&change);
    return 0;
}
