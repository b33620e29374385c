/*
 * flag — the flag model. See flag.h.
 */
#include "flag.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define NAME_RULE "1-100 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit"

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool flag_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > FLAG_NAME_MAX || !is_alnum((unsigned char)name[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!is_alnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
            return false;
    }
    return true;
}

/* Parses body as a JSON object. Returns a new reference or NULL with err. */
static json_t *parse_object(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root;

    if (len == 0) {
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    root = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Reads an optional boolean member. Returns 1 if present, 0 if absent, -1
 * (with err) if present but not a boolean. */
static int optional_bool(json_t *obj, const char *key, bool *out, char *err, size_t errlen)
{
    json_t *value = json_object_get(obj, key);

    if (value == NULL)
        return 0;
    if (!json_is_boolean(value)) {
        snprintf(err, errlen, "'%s' must be a boolean (true or false)", key);
        return -1;
    }
    *out = json_is_true(value);
    return 1;
}

int flag_decode_create(const char *body, size_t len, struct flag_create_request *out,
                       char *err, size_t errlen)
{
    json_t *root = parse_object(body, len, err, errlen);
    json_t *name;
    int rc = -1;

    if (root == NULL)
        return -1;
    memset(out, 0, sizeof *out);
    name = json_object_get(root, "name");
    if (name == NULL || !json_is_string(name)) {
        snprintf(err, errlen, "'name' is required and must be a string");
    } else if (!flag_name_valid(json_string_value(name), json_string_length(name))) {
        snprintf(err, errlen, "'name' must be " NAME_RULE);
    } else if (optional_bool(root, "is_enabled", &out->is_enabled, err, errlen) >= 0) {
        memcpy(out->name, json_string_value(name), json_string_length(name) + 1);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int flag_decode_update(const char *body, size_t len, struct flag_update_request *out,
                       char *err, size_t errlen)
{
    json_t *root = parse_object(body, len, err, errlen);
    int present;

    if (root == NULL)
        return -1;
    present = optional_bool(root, "is_enabled", &out->is_enabled, err, errlen);
    json_decref(root);
    if (present == 0)
        snprintf(err, errlen, "'is_enabled' is required and must be a boolean (true or false)");
    return present == 1 ? 0 : -1;
}

char *flag_render(const char *name, bool is_enabled, size_t *len)
{
    json_t *obj = json_pack("{s:s, s:b}", "name", name, "is_enabled", is_enabled);
    char *text;

    if (obj == NULL)
        return NULL;
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text != NULL)
        *len = strlen(text);
    return text;
}
