/*
 * flag — the flag. See flag.h.
 */
#include "flag.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

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

uint64_t flag_name_hash(const char *name, size_t len)
{
    /* FNV-1a, then MurmurHash3's 64-bit finalizer so that every bit depends
     * on every byte (the snapshot's index consumes the hash 5 bits at a
     * time from the low end). Not keyed: names are chosen by writers, and a
     * collision only costs a comparison. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

struct flag *flag_create(const struct flag_row *row)
{
    size_t name_len = strlen(row->name), body_len;
    struct flag *flag = NULL;
    json_t *doc, *shown_name;
    char *body;

    /* A row another program wrote may hold a name that is not UTF-8: it is
     * still a flag (reachable by its exact bytes), shown with U+FFFD. */
    if (text_utf8_valid(row->name, name_len)) {
        shown_name = json_stringn(row->name, name_len);
    } else {
        char *repaired = malloc(TEXT_REPAIRED_MAX(name_len));
        shown_name = repaired ? json_stringn(repaired, text_utf8_repair(row->name, name_len, repaired)) : NULL;
        free(repaired);
    }
    doc = shown_name ? json_pack("{s:o, s:b}", "name", shown_name, "is_enabled", row->is_enabled) : NULL;
    if (doc == NULL)
        return NULL;
    body_len = json_dumpb(doc, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    /* One allocation: the struct, the name and the body. */
    if (body_len > 0)
        flag = malloc(sizeof *flag + name_len + 1 + body_len);
    if (flag != NULL) {
        atomic_init(&flag->refs, 1);
        flag->name_hash = flag_name_hash(row->name, name_len);
        flag->id = row->id;
        flag->is_enabled = row->is_enabled;
        flag->name_len = name_len;
        memcpy(flag->name, row->name, name_len + 1);
        body = flag->name + name_len + 1;
        flag->body_len = json_dumpb(doc, body, body_len, JSON_COMPACT | JSON_PRESERVE_ORDER);
        flag->body = body;
    }
    json_decref(doc);
    return flag;
}

struct flag *flag_ref(struct flag *flag)
{
    atomic_fetch_add_explicit(&flag->refs, 1, memory_order_relaxed);
    return flag;
}

void flag_unref(struct flag *flag)
{
    if (flag != NULL && atomic_fetch_sub_explicit(&flag->refs, 1, memory_order_acq_rel) == 1)
        free(flag);
}
