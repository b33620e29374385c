/*
 * flagdoc — flag documents: decode, merge, check. See flagdoc.h.
 */
#include "flagdoc.h"

#include <stdio.h>
#include <string.h>

#include "eval/logic.h"

#define NAME_RULE "1-100 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit"

/* The members a document may hold, in their stored order. */
static const char *const document_members[] = {"variants", "defaultVariant", "targeting", "metadata", "description"};
#define DOCUMENT_MEMBERS (sizeof document_members / sizeof document_members[0])

/* ---- decoding ----------------------------------------------------------- */

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
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* is_enabled (the original's) and state (flagd's) both say whether the
 * flag is on; when both are given they must agree. */
static int decode_state(const json_t *root, struct flagdoc_change *out, char *err, size_t errlen)
{
    const json_t *enabled = json_object_get(root, "is_enabled"), *state = json_object_get(root, "state");
    bool from_state = false;

    if (enabled != NULL) {
        if (!json_is_boolean(enabled)) {
            snprintf(err, errlen, "'is_enabled' must be a boolean (true or false)");
            return -1;
        }
        out->has_enabled = true;
        out->is_enabled = json_is_true(enabled);
    }
    if (state != NULL) {
        const char *text = json_string_value(state);
        if (text == NULL || (strcmp(text, "ENABLED") != 0 && strcmp(text, "DISABLED") != 0)) {
            snprintf(err, errlen, "state: must be \"ENABLED\" or \"DISABLED\"");
            return -1;
        }
        from_state = strcmp(text, "ENABLED") == 0;
        if (out->has_enabled && out->is_enabled != from_state) {
            snprintf(err, errlen, "'is_enabled' and 'state' disagree; give one of them");
            return -1;
        }
        out->has_enabled = true;
        out->is_enabled = from_state;
    }
    return 0;
}

/* Copies the document members present in root into out->members. */
static int take_members(const json_t *root, struct flagdoc_change *out, char *err, size_t errlen)
{
    out->members = json_object();
    if (out->members == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < DOCUMENT_MEMBERS; i++) {
        json_t *value = json_object_get(root, document_members[i]);
        if (value != NULL && json_object_set(out->members, document_members[i], value) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int decode(const json_t *root, bool need_name, struct flagdoc_change *out, char *err, size_t errlen)
{
    const json_t *name = json_object_get(root, "name");

    memset(out, 0, sizeof *out);
    if (need_name) {
        if (name == NULL || !json_is_string(name)) {
            snprintf(err, errlen, "'name' is required and must be a string");
            return -1;
        }
        if (!flag_name_valid(json_string_value(name), json_string_length(name))) {
            snprintf(err, errlen, "'name' must be " NAME_RULE);
            return -1;
        }
        memcpy(out->name, json_string_value(name), json_string_length(name) + 1);
    }
    if (decode_state(root, out, err, errlen) != 0 || take_members(root, out, err, errlen) != 0) {
        flagdoc_change_clear(out);
        return -1;
    }
    return 0;
}

int flagdoc_decode_create(const char *body, size_t len, struct flagdoc_change *out, char *err, size_t errlen)
{
    json_t *root = parse_object(body, len, err, errlen);
    int rc;

    memset(out, 0, sizeof *out);
    if (root == NULL)
        return -1;
    rc = decode(root, true, out, err, errlen);
    json_decref(root);
    return rc;
}

int flagdoc_decode_update(const char *body, size_t len, struct flagdoc_change *out, char *err, size_t errlen)
{
    json_t *root = parse_object(body, len, err, errlen);
    int rc;

    memset(out, 0, sizeof *out);
    if (root == NULL)
        return -1;
    rc = decode(root, false, out, err, errlen);
    json_decref(root);
    if (rc == 0 && !out->has_enabled && !flagdoc_change_has_members(out)) {
        snprintf(err, errlen, "nothing to change: give 'is_enabled' (true or false), state, variants, "
                              "defaultVariant, targeting, metadata or description");
        flagdoc_change_clear(out);
        return -1;
    }
    return rc;
}

int flagdoc_decode_flagd(const char *key, const json_t *flag, struct flagdoc_change *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!flag_name_valid(key, strlen(key))) {
        snprintf(err, errlen, "the flag key must be " NAME_RULE);
        return -1;
    }
    if (!json_is_object(flag)) {
        snprintf(err, errlen, "must be an object (a flag definition)");
        return -1;
    }
    if (json_object_get(flag, "state") == NULL) {
        snprintf(err, errlen, "state: required (\"ENABLED\" or \"DISABLED\")");
        return -1;
    }
    if (json_object_get(flag, "variants") == NULL) {
        snprintf(err, errlen, "variants: required");
        return -1;
    }
    if (decode(flag, false, out, err, errlen) != 0)
        return -1;
    memcpy(out->name, key, strlen(key) + 1);
    return 0;
}

void flagdoc_change_clear(struct flagdoc_change *change)
{
    json_decref(change->members);
    change->members = NULL;
}

bool flagdoc_change_has_members(const struct flagdoc_change *change)
{
    return change->members != NULL && json_object_size(change->members) > 0;
}

/* ---- checking -------------------------------------------------------------- */

static const char *type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_STRING:
        return "a string";
    case JSON_OBJECT:
        return "an object";
    default:
        return NULL;
    }
}

static bool same_type(const json_t *a, const json_t *b)
{
    return a == NULL || b == NULL || type_name(a) == type_name(b);
}

static int check_variants(const json_t *variants, char *err, size_t errlen)
{
    const char *name, *first_type = NULL;
    json_t *value;

    if (!json_is_object(variants) || json_object_size(variants) == 0) {
        snprintf(err, errlen, "variants: must be an object with at least one variant (name -> value)");
        return -1;
    }
    if (json_object_size(variants) > FLAGDOC_VARIANTS_MAX) {
        snprintf(err, errlen, "variants: at most %d variants", FLAGDOC_VARIANTS_MAX);
        return -1;
    }
    json_object_foreach((json_t *)variants, name, value) {
        const char *type = type_name(value);
        size_t len = strlen(name);
        if (len == 0 || len > FLAGDOC_VARIANT_NAME_MAX) {
            snprintf(err, errlen, "variants: names are 1 to %d bytes", FLAGDOC_VARIANT_NAME_MAX);
            return -1;
        }
        if (type == NULL) {
            snprintf(err, errlen, "variants.%.100s: must be a boolean, string, number or object", name);
            return -1;
        }
        if (first_type == NULL) {
            first_type = type;
        } else if (type != first_type) {
            snprintf(err, errlen, "variants.%.100s: must be %s like the other variants", name, first_type);
            return -1;
        }
    }
    return 0;
}

static int check_default(const json_t *variants, const json_t *def, char *err, size_t errlen)
{
    if (json_is_null(def))
        return 0;
    if (!json_is_string(def)) {
        snprintf(err, errlen, "defaultVariant: must be a variant name or null");
        return -1;
    }
    if (json_object_get(variants, json_string_value(def)) == NULL) {
        snprintf(err, errlen, "defaultVariant: \"%.100s\" is not a variant", json_string_value(def));
        return -1;
    }
    return 0;
}

static int check_metadata(const json_t *metadata, char *err, size_t errlen)
{
    const char *key;
    json_t *value;

    if (!json_is_object(metadata)) {
        snprintf(err, errlen, "metadata: must be an object of strings, numbers and booleans");
        return -1;
    }
    if (json_object_size(metadata) > FLAGDOC_METADATA_MAX) {
        snprintf(err, errlen, "metadata: at most %d entries", FLAGDOC_METADATA_MAX);
        return -1;
    }
    json_object_foreach((json_t *)metadata, key, value) {
        if (!json_is_string(value) && !json_is_number(value) && !json_is_boolean(value)) {
            snprintf(err, errlen, "metadata.%.100s: must be a string, number or boolean", key);
            return -1;
        }
    }
    return 0;
}

static int check_targeting(const json_t *targeting, const struct flagset *set, bool strict, char *err, size_t errlen,
                           char *warning, size_t warnlen)
{
    struct logic_options options = {.strict = true, .resolve_ref = set ? flagset_resolve : NULL,
                                    .ref_ctx = (void *)set, .path = "targeting"};
    char message[LOGIC_MESSAGE_MAX], lenient_message[LOGIC_MESSAGE_MAX];
    struct logic_rule *rule = logic_compile(targeting, &options, message, sizeof message);

    if (rule != NULL) {
        logic_rule_free(rule);
        return 0;
    }
    if (strict) {
        snprintf(err, errlen, "%s", message);
        return -1;
    }
    /* A flagd file: what flagd loads is kept, and what it will do with it
     * is reported. */
    options.strict = false;
    rule = logic_compile(targeting, &options, lenient_message, sizeof lenient_message);
    if (rule == NULL) {
        snprintf(err, errlen, "%s", lenient_message);
        return -1;
    }
    logic_rule_free(rule);
    if (warning != NULL && lenient_message[0] != '\0')
        snprintf(warning, warnlen, "%s (kept; an evaluation that reaches it answers PARSE_ERROR, as in flagd)",
                 lenient_message);
    else if (warning != NULL)
        snprintf(warning, warnlen, "%s (kept; flagd's schema refuses it but flagd loads it, and it evaluates "
                                   "as in flagd)", message);
    return 0;
}

json_t *flagdoc_build(const json_t *current, const struct flagdoc_change *change, const struct flagset *set,
                      bool strict, char *err, size_t errlen, char *warning, size_t warnlen)
{
    /* A deep copy: current is a flag's document, shared with readers on
     * other threads. */
    json_t *merged = current ? json_deep_copy(current) : flag_original_document(), *doc = NULL;
    const json_t *variants, *def, *targeting, *metadata, *description;
    bool variants_given;

    if (warning != NULL && warnlen > 0)
        warning[0] = '\0';
    if (merged == NULL)
        goto oom;
    variants_given = change->members && json_object_get(change->members, "variants") != NULL;
    if (change->members != NULL && json_object_update(merged, change->members) != 0)
        goto oom;
    /* New variants without a defaultVariant: the caller's default (flagd's
     * schema makes it optional), unless the old one still names a variant. */
    if (variants_given && json_object_get(change->members, "defaultVariant") == NULL) {
        const json_t *old = json_object_get(merged, "defaultVariant");
        if (current == NULL || !json_is_string(old) ||
            json_object_get(json_object_get(merged, "variants"), json_string_value(old)) == NULL)
            json_object_set_new(merged, "defaultVariant", json_null());
    }
    variants = json_object_get(merged, "variants");
    def = json_object_get(merged, "defaultVariant");

    targeting = json_object_get(merged, "targeting");
    metadata = json_object_get(merged, "metadata");
    description = json_object_get(merged, "description");
    if (check_variants(variants, err, errlen) != 0 || check_default(variants, def ? def : json_null(), err, errlen) != 0)
        goto fail;
    /* Through the API a flag keeps its type: clients ask for it typed
     * (getBooleanValue ...), and a changed type would turn every one of
     * their evaluations into an error. A flagd file may change it, as
     * flagd allows. */
    if (strict && current != NULL && variants_given && json_object_size(variants) > 0 &&
        !same_type(json_object_iter_value(json_object_iter(json_object_get(current, "variants"))),
                   json_object_iter_value(json_object_iter((json_t *)variants)))) {
        snprintf(err, errlen, "variants: must stay %s like the flag's current variants (a flag keeps its type; "
                              "create another flag for another type)",
                 type_name(json_object_iter_value(json_object_iter(json_object_get(current, "variants")))));
        goto fail;
    }
    if (targeting != NULL && !json_is_null(targeting) &&
        check_targeting(targeting, set, strict, err, errlen, warning, warnlen) != 0)
        goto fail;
    if (metadata != NULL && !json_is_null(metadata) && check_metadata(metadata, err, errlen) != 0)
        goto fail;
    if (description != NULL && !json_is_null(description) &&
        (!json_is_string(description) || json_string_length(description) > FLAGDOC_DESCRIPTION_MAX)) {
        snprintf(err, errlen, "description: must be a string of at most %d bytes", FLAGDOC_DESCRIPTION_MAX);
        goto fail;
    }
    /* The normalized form: fixed member order, nothing empty kept. */
    doc = json_pack("{s:O, s:O}", "variants", variants, "defaultVariant", def ? def : json_null());
    if (doc == NULL)
        goto oom;
    if (targeting != NULL && !json_is_null(targeting) && !(json_is_object(targeting) && json_object_size(targeting) == 0))
        json_object_set(doc, "targeting", (json_t *)targeting);
    if (metadata != NULL && json_is_object(metadata) && json_object_size(metadata) > 0)
        json_object_set(doc, "metadata", (json_t *)metadata);
    if (description != NULL && json_is_string(description))
        json_object_set(doc, "description", (json_t *)description);
    json_decref(merged);
    return doc;

oom:
    snprintf(err, errlen, "out of memory");
fail:
    json_decref(merged);
    json_decref(doc);
    return NULL;
}
