/*
 * export — the catalogue as a flagd document. See export.h.
 */
#include "export.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* One flag as flagd defines it. */
static json_t *flagd_flag(const struct flag *flag)
{
    json_t *out = json_pack("{s:s}", "state", flag->is_enabled ? "ENABLED" : "DISABLED");
    const char *key;
    json_t *value;

    if (out == NULL)
        return NULL;
    /* Deep copies: the snapshot's documents are shared with other
     * threads, whose reference counts a shallow copy would touch. */
    json_object_foreach(flag->doc, key, value)
        if (json_object_set_new(out, key, json_deep_copy(value)) != 0) {
            json_decref(out);
            return NULL;
        }
    return out;
}

char *export_flagd(const struct snapshot *snap, size_t *len)
{
    json_t *doc = json_pack("{s:s, s:{}}", "$schema", EXPORT_SCHEMA, "flags");
    json_t *flags = json_object_get(doc, "flags"), *evaluators;
    struct snapshot_cursor cursor;
    const struct flag *f;
    char *text = NULL, *with_newline;

    if (doc == NULL)
        return NULL;
    snapshot_cursor_after(snap, "", 0, &cursor);
    while ((f = snapshot_cursor_next(&cursor)) != NULL) {
        /* A name another program stored that is not UTF-8 cannot be a JSON
         * key: such a flag is left out. */
        if (!text_utf8_valid(f->name, f->name_len))
            continue;
        if (json_object_set_new(flags, f->name, flagd_flag(f)) != 0)
            goto out;
    }
    if (snap->flagset->count > 0) {
        evaluators = json_object();
        if (json_object_set_new(doc, "$evaluators", evaluators) != 0)
            goto out;
        for (size_t i = 0; i < snap->flagset->count; i++)
            if (json_object_set_new(evaluators, snap->flagset->evaluators[i].name,
                                    json_deep_copy(snap->flagset->evaluators[i].rule)) != 0)
                goto out;
    }
    if (json_object_size(snap->flagset->metadata) > 0 &&
        json_object_set_new(doc, "metadata", json_deep_copy(snap->flagset->metadata)) != 0)
        goto out;
    text = json_dumps(doc, JSON_INDENT(2));
out:
    json_decref(doc);
    if (text == NULL)
        return NULL;
    *len = strlen(text);
    with_newline = realloc(text, *len + 2);
    if (with_newline == NULL) {
        free(text);
        return NULL;
    }
    with_newline[(*len)++] = '\n';
    with_newline[*len] = '\0';
    return with_newline;
}
