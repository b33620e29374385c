/*
 * flag — the flag. See flag.h.
 */
#include "flag.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/logic.h"
#include "flagset.h"
#include "text.h"

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

const char *flag_type_name(enum flag_type type)
{
    static const char *const names[] = {"boolean", "string", "number", "object"};
    return names[type];
}

/* ---- building -------------------------------------------------------------- */

/* Most flags are the original's on/off kind: they share one document and
 * one variants array, made once and never changed or freed, so such a flag
 * costs two allocations. The shared document's reference count is never
 * touched (jansson's decref reads it without an atomic before counting
 * down); every other document belongs to one flag. */
#define ORIGINAL_MEMBERS "\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"on\""

static pthread_once_t original_once = PTHREAD_ONCE_INIT;
static json_t *original_doc;                       /* NULL only when out of memory */
static struct flag_variant original_variants[2];   /* "off", "on": sorted by name */

static void make_original(void)
{
    static char off_name[] = "\"off\"", on_name[] = "\"on\"", off_value[] = "false", on_value[] = "true";

    original_doc = json_pack("{s:{s:b, s:b}, s:s}", "variants", "on", 1, "off", 0, "defaultVariant", "on");
    if (original_doc == NULL)
        return;
    original_variants[0] = (struct flag_variant){
        "off", 3, json_object_get(json_object_get(original_doc, "variants"), "off"), off_name, 5, off_value, 5};
    original_variants[1] = (struct flag_variant){
        "on", 2, json_object_get(json_object_get(original_doc, "variants"), "on"), on_name, 4, on_value, 4};
}

json_t *flag_original_document(void)
{
    return json_pack("{s:{s:b, s:b}, s:s}", "variants", "on", 1, "off", 0, "defaultVariant", "on");
}

/* Compact JSON text of value (malloc'd), with its length. */
static char *dump(const json_t *value, size_t *len)
{
    char *text = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    *len = text ? strlen(text) : 0;
    return text;
}

/* s[0..len) as a JSON string (malloc'd): bytes that are not UTF-8 (rows
 * another program wrote may hold them) shown as U+FFFD. A name that keeps
 * the name rule needs no escaping and skips jansson. */
static char *string_json(const char *s, size_t len, size_t *out_len)
{
    char *repaired = NULL, *text;
    json_t *json;

    if (flag_name_valid(s, len)) {
        text = malloc(len + 3);
        if (text != NULL) {
            text[0] = '"';
            memcpy(text + 1, s, len);
            memcpy(text + 1 + len, "\"", 2);
            *out_len = len + 2;
        }
        return text;
    }
    if (!text_utf8_valid(s, len)) {
        repaired = malloc(TEXT_REPAIRED_MAX(len));
        if (repaired == NULL)
            return NULL;
        len = text_utf8_repair(s, len, repaired);
        s = repaired;
    }
    json = json_stringn(s, len);
    text = dump(json, out_len);
    json_decref(json);
    free(repaired);
    return text;
}

static int compare_variants(const void *a, const void *b)
{
    const struct flag_variant *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c != 0 ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

const struct flag_variant *flag_variant(const struct flag *flag, const char *name, size_t len)
{
    struct flag_variant key = {.name = name, .name_len = len};

    if (flag->variant_count == 0)
        return NULL;
    return bsearch(&key, flag->variants, flag->variant_count, sizeof key, compare_variants);
}

static enum flag_type type_of(const json_t *value)
{
    if (json_is_boolean(value))
        return FLAG_TYPE_BOOLEAN;
    if (json_is_string(value))
        return FLAG_TYPE_STRING;
    if (json_is_number(value))
        return FLAG_TYPE_NUMBER;
    return FLAG_TYPE_OBJECT;
}

static bool uses_original_variants(const struct flag *flag)
{
    return flag->variants == original_variants;
}

/* Takes the document's variants apart into flag->variants, sorted by name,
 * and finds the default. */
static int split_variants(struct flag *flag)
{
    const json_t *variants = json_object_get(flag->doc, "variants");
    const json_t *def = json_object_get(flag->doc, "defaultVariant");
    const struct flag_variant *found;
    const char *name;
    json_t *value;

    flag->default_variant = -1;
    if (flag->doc == original_doc) {
        flag->variants = original_variants;
        flag->variant_count = 2;
        flag->default_variant = 1;
        flag->type = FLAG_TYPE_BOOLEAN;
        return 0;
    }
    if (!json_is_object(variants) || json_object_size(variants) == 0) {
        flag->problem = "the stored document has no variants";
        return 0;
    }
    flag->variants = calloc(json_object_size(variants), sizeof *flag->variants);
    if (flag->variants == NULL)
        return -1;
    json_object_foreach((json_t *)variants, name, value) {
        struct flag_variant *v = &flag->variants[flag->variant_count++];
        if (flag->variant_count == 1)
            flag->type = type_of(value);
        v->name = name;
        v->name_len = strlen(name);
        v->value = value;
        v->name_json = string_json(name, v->name_len, &v->name_json_len);
        v->value_json = dump(value, &v->value_json_len);
        if (v->name_json == NULL || v->value_json == NULL)
            return -1;
    }
    qsort(flag->variants, flag->variant_count, sizeof *flag->variants, compare_variants);
    if (json_is_string(def) && (found = flag_variant(flag, json_string_value(def), json_string_length(def))) != NULL)
        flag->default_variant = (int)(found - flag->variants);
    return 0;
}

static int compile_targeting(struct flag *flag, const struct flagset *set)
{
    const json_t *targeting = json_object_get(flag->doc, "targeting");
    struct logic_options options = {.strict = false, .resolve_ref = set ? flagset_resolve : NULL,
                                    .ref_ctx = (void *)set};
    char message[LOGIC_MESSAGE_MAX];

    if (targeting == NULL || json_is_null(targeting) || (json_is_object(targeting) && json_object_size(targeting) == 0))
        return 0;
    flag->rule = logic_compile(targeting, &options, message, sizeof message);
    if (flag->rule == NULL) {
        if (strstr(message, "out of memory") != NULL)
            return -1;
        flag->problem = "the targeting rule nests too deeply to evaluate";
        return 0;
    }
    flag->uses_refs = logic_rule_uses_refs(flag->rule);
    if (flag->uses_refs && set != NULL)
        flag->bound_set = flagset_ref((struct flagset *)set);
    return 0;
}

/* Appends s[0..len) at *p. */
static void put(char **p, const char *s, size_t len)
{
    memcpy(*p, s, len);
    *p += len;
}

static void put_str(char **p, const char *s)
{
    put(p, s, strlen(s));
}

/* Gives back what the estimate in render() reserved beyond used bytes,
 * moving the pointers into the texts when realloc moved them. */
static void shrink_texts(struct flag *flag, size_t used)
{
    const char **fields[] = {&flag->name_json, &flag->summary, &flag->body, &flag->etag, &flag->created_at,
                             &flag->updated_at};
    size_t offsets[sizeof fields / sizeof fields[0]];
    char *shrunk;

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        offsets[i] = *fields[i] ? (size_t)(*fields[i] - flag->texts) : SIZE_MAX;
    shrunk = realloc(flag->texts, used);
    if (shrunk == NULL)
        return;   /* the larger block stays: still valid */
    flag->texts = shrunk;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        *fields[i] = offsets[i] == SIZE_MAX ? NULL : shrunk + offsets[i];
}

/* The renderings, all in one allocation (flag->texts): the name as JSON,
 * the list element, the whole flag, and the timestamps. */
static int render(struct flag *flag, const char *created_at, const char *updated_at)
{
    const json_t *metadata = json_object_get(flag->doc, "metadata");
    char *name_json, *doc_text = NULL, *p, version[24];
    size_t name_len, doc_len, total;
    const char *members;
    int rc = -1;

    name_json = string_json(flag->name, flag->name_len, &name_len);
    if (flag->doc == original_doc) {
        members = ORIGINAL_MEMBERS;
        doc_len = sizeof ORIGINAL_MEMBERS - 1;
    } else {
        doc_text = dump(flag->doc, &doc_len);   /* "{...}": its members are what is inside */
        members = doc_text ? doc_text + 1 : NULL;
        doc_len = doc_len >= 2 ? doc_len - 2 : 0;
    }
    if (json_is_object(metadata) && json_object_size(metadata) > 0 &&
        (flag->metadata_json = dump(metadata, &flag->metadata_len)) == NULL)
        goto out;
    if (name_json == NULL || members == NULL)
        goto out;
    snprintf(version, sizeof version, "%lld", (long long)flag->version);
    /* {"name":N,"is_enabled":false}  and
     * {"name":N,"is_enabled":false,"state":"DISABLED","type":"boolean",MEMBERS,
     *  "version":V,"created_at":"...","updated_at":"..."} */
    /* The name three times (its own copy, the summary, the body), the
     * members, each timestamp twice (in the body and its own copy), and the
     * fixed text around them: under 160 bytes with the version's 20 digits. */
    total = 3 * name_len + doc_len + 2 * (created_at ? strlen(created_at) + 1 : 0) +
            2 * (updated_at ? strlen(updated_at) + 1 : 0) + 256 + sizeof version;
    flag->texts = malloc(total);
    if (flag->texts == NULL)
        goto out;
    p = flag->texts;
    flag->name_json = p;
    flag->name_json_len = name_len;
    put(&p, name_json, name_len);
    flag->summary = p;
    put_str(&p, "{\"name\":");
    put(&p, name_json, name_len);
    put_str(&p, flag->is_enabled ? ",\"is_enabled\":true}" : ",\"is_enabled\":false}");
    flag->summary_len = (size_t)(p - flag->summary);
    flag->body = p;
    put(&p, flag->summary, flag->summary_len - 1);
    put_str(&p, flag->is_enabled ? ",\"state\":\"ENABLED\",\"type\":\"" : ",\"state\":\"DISABLED\",\"type\":\"");
    put_str(&p, flag_type_name(flag->type));
    put_str(&p, "\"");
    if (doc_len > 0) {
        put_str(&p, ",");
        put(&p, members, doc_len);
    }
    put_str(&p, ",\"version\":");
    put_str(&p, version);
    put_str(&p, ",\"created_at\":");
    put_str(&p, created_at ? "\"" : "null");
    if (created_at) {
        put_str(&p, created_at);   /* RFC 3339 from the store: nothing to escape */
        put_str(&p, "\"");
    }
    put_str(&p, ",\"updated_at\":");
    put_str(&p, updated_at ? "\"" : "null");
    if (updated_at) {
        put_str(&p, updated_at);
        put_str(&p, "\"");
    }
    put_str(&p, "}");
    flag->body_len = (size_t)(p - flag->body);
    /* The ETag (the version, quoted) and the timestamps, for a rebuilt
     * copy (flag_bind). */
    flag->etag = p;
    put_str(&p, "\"");
    put_str(&p, version);
    put(&p, "\"", 2);
    flag->created_at = created_at ? p : NULL;
    if (created_at)
        put(&p, created_at, strlen(created_at) + 1);
    flag->updated_at = updated_at ? p : NULL;
    if (updated_at)
        put(&p, updated_at, strlen(updated_at) + 1);
    shrink_texts(flag, (size_t)(p - flag->texts));
    rc = 0;
out:
    free(name_json);
    free(doc_text);
    return rc;
}

static void destroy(struct flag *flag)
{
    if (!uses_original_variants(flag)) {
        for (size_t i = 0; i < flag->variant_count; i++) {
            free(flag->variants[i].name_json);
            free(flag->variants[i].value_json);
        }
        free(flag->variants);
    }
    logic_rule_free(flag->rule);
    flagset_unref(flag->bound_set);
    if (flag->doc != original_doc)
        json_decref(flag->doc);
    free(flag->metadata_json);
    free(flag->texts);
    free(flag);
}

/* A flag from its parts; takes over doc (unless it is the shared
 * original document). */
static struct flag *build(const char *name, int64_t id, bool is_enabled, json_t *doc, int64_t version,
                          const char *created_at, const char *updated_at, const struct flagset *set,
                          const char *problem)
{
    size_t name_len = strlen(name);
    struct flag *flag = doc ? calloc(1, sizeof *flag + name_len + 1) : NULL;

    if (flag == NULL) {
        if (doc != original_doc)
            json_decref(doc);
        return NULL;
    }
    atomic_init(&flag->refs, 1);
    flag->name_hash = flag_name_hash(name, name_len);
    flag->id = id;
    flag->version = version;
    flag->is_enabled = is_enabled;
    flag->doc = doc;
    flag->problem = problem;
    flag->name_len = name_len;
    memcpy(flag->name, name, name_len + 1);
    if (split_variants(flag) != 0 || compile_targeting(flag, set) != 0 || render(flag, created_at, updated_at) != 0) {
        destroy(flag);
        return NULL;
    }
    return flag;
}

struct flag *flag_create(const struct flag_row *row, const struct flagset *set)
{
    const char *problem = NULL;
    json_t *doc = NULL;

    pthread_once(&original_once, make_original);
    if (row->document != NULL) {
        doc = json_loads(row->document, 0, NULL);
        if (doc == NULL || !json_is_object(doc)) {
            /* Not what this program writes: shown as a plain boolean,
             * every evaluation an error until someone rewrites it. */
            json_decref(doc);
            doc = NULL;
            problem = "the stored document is not a JSON object";
        }
    }
    if (doc == NULL)
        doc = original_doc;
    return build(row->name, row->id, row->is_enabled, doc, row->version > 0 ? row->version : 1, row->created_at,
                 row->updated_at, set, problem);
}

bool flag_needs_binding(const struct flag *flag, const struct flagset *set)
{
    return flag->uses_refs && set != NULL && flag->bound_set != set;
}

struct flag *flag_bind(struct flag *flag, const struct flagset *set)
{
    if (!flag_needs_binding(flag, set))
        return flag_ref(flag);
    /* A copy of the document: each flag owns its own (see original_doc). */
    return build(flag->name, flag->id, flag->is_enabled,
                 flag->doc == original_doc ? original_doc : json_deep_copy(flag->doc), flag->version,
                 flag->created_at, flag->updated_at, set, flag->problem);
}

struct flag *flag_ref(struct flag *flag)
{
    atomic_fetch_add_explicit(&flag->refs, 1, memory_order_relaxed);
    return flag;
}

void flag_unref(struct flag *flag)
{
    if (flag != NULL && atomic_fetch_sub_explicit(&flag->refs, 1, memory_order_acq_rel) == 1)
        destroy(flag);
}

/* ---- evaluation -------------------------------------------------------------- */

const char *flag_reason_text(enum flag_reason reason)
{
    static const char *const texts[] = {"STATIC", "DEFAULT", "TARGETING_MATCH", "DISABLED", "ERROR"};
    return texts[reason];
}

const char *flag_error_code(enum flag_error error)
{
    static const char *const codes[] = {"", "PARSE_ERROR", "GENERAL"};
    return codes[error];
}

/* The default variant, or no value: flagd's DEFAULT/STATIC outcome. */
static void use_default(const struct flag *flag, enum flag_reason reason, struct flag_result *out)
{
    if (flag->default_variant < 0) {
        out->reason = FLAG_REASON_DEFAULT;
        return;
    }
    out->reason = reason;
    out->variant = &flag->variants[flag->default_variant];
}

/* Whether v holds a number JSON cannot write (NaN, an infinity), anywhere. */
static bool has_non_finite(const struct jv *v)
{
    if (v->type == JV_NUMBER)
        return !isfinite(v->u.n);
    if (v->type == JV_ARRAY && v->computed)
        for (size_t i = 0; i < jv_array_len(v); i++) {
            struct jv item = jv_array_at(v, i);
            if (has_non_finite(&item))
                return true;
        }
    return false;   /* values from JSON are finite */
}

/* The variant name a targeting result stands for, as flagd's Go evaluator
 * reads it: it writes the result as JSON and takes the quotes out. A
 * string is used as it is; a boolean or number gives its text ("true",
 * "3", "1.5", "-0": Go's JSON numbers are JavaScript's but for -0). A
 * result Go cannot write (NaN, an infinity) is an error there: false. */
static bool variant_name(struct arena *arena, const struct jv *result, struct jv *name)
{
    json_t *json;
    char *text, *copy, *p;
    size_t len;

    if (result->type == JV_STRING) {
        *name = *result;
        return true;
    }
    if (has_non_finite(result))
        return false;
    if (result->type == JV_NUMBER && result->u.n == 0 && signbit(result->u.n)) {
        *name = jv_string("-0", 2);
        return true;
    }
    if (result->type == JV_NUMBER || result->type == JV_BOOL) {
        *name = jv_to_string(arena, result);
        return true;
    }
    json = jv_to_json(result);
    text = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(json);
    if (text == NULL) {
        *name = jv_null();
        return true;
    }
    len = strlen(text);
    copy = arena_alloc(arena, len + 1);
    p = copy;
    for (size_t i = 0; copy != NULL && i < len; i++)
        if (text[i] != '"')
            *p++ = text[i];
    free(text);
    *name = copy ? jv_string(copy, (size_t)(p - copy)) : jv_null();
    return true;
}

void flag_evaluate(const struct flag *flag, const json_t *context, int64_t now_s, struct arena *arena,
                   struct flag_result *out)
{
    struct logic_input input = {.context = context, .flag_key = flag->name, .flag_key_len = flag->name_len,
                                .timestamp = now_s};
    struct jv result, name;
    enum eval_status status;

    memset(out, 0, sizeof *out);
    if (!flag->is_enabled) {
        out->reason = FLAG_REASON_DISABLED;
        return;
    }
    if (flag->problem != NULL) {
        out->reason = FLAG_REASON_ERROR;
        out->error = FLAG_ERROR_PARSE;
        snprintf(out->detail, sizeof out->detail, "%s", flag->problem);
        return;
    }
    if (flag->rule == NULL) {
        use_default(flag, FLAG_REASON_STATIC, out);
        return;
    }
    status = logic_evaluate(flag->rule, &input, arena, &result, out->detail, sizeof out->detail);
    if (status != EVAL_OK) {
        out->reason = FLAG_REASON_ERROR;
        out->error = FLAG_ERROR_PARSE;
    } else if (result.type == JV_NULL || result.type == JV_UNDEFINED) {
        use_default(flag, FLAG_REASON_DEFAULT, out);
    } else if (!variant_name(arena, &result, &name)) {
        out->reason = FLAG_REASON_ERROR;
        out->error = FLAG_ERROR_PARSE;
        snprintf(out->detail, sizeof out->detail, "the targeting rule gave a number JSON cannot hold (NaN or infinite)");
    } else {
        out->variant = name.type == JV_STRING ? flag_variant(flag, name.u.s.p, name.u.s.len) : NULL;
        if (out->variant != NULL) {
            out->reason = FLAG_REASON_TARGETING_MATCH;
        } else {
            out->reason = FLAG_REASON_ERROR;
            out->error = FLAG_ERROR_GENERAL;
            if (name.type == JV_STRING)
                snprintf(out->detail, sizeof out->detail, "the targeting rule chose \"%.*s\", which is not a variant",
                         (int)(name.u.s.len > 100 ? 100 : name.u.s.len), name.u.s.p);
            else
                snprintf(out->detail, sizeof out->detail, "out of memory");
        }
    }
    arena_reset(arena);
}
