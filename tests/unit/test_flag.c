/* Unit tests for flag.c and flagdoc.c: the name rule, request decoding,
 * documents and their messages, rendering, and evaluation as flagd
 * resolves a flag (reasons, variants, errors, $ref binding). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/logic.h"
#include "flag.h"
#include "flagdoc.h"
#include "flagset.h"

static bool valid(const char *name) { return flag_name_valid(name, strlen(name)); }

static void test_names(void)
{
    char longest[FLAG_NAME_MAX + 2];

    CHECK(valid("a"));
    CHECK(valid("9"));
    CHECK(valid("new-checkout.v2:eu_west"));
    CHECK(!valid(""));
    CHECK(!valid("-leading-dash"));
    CHECK(!valid(".hidden"));
    CHECK(!valid("_under"));
    CHECK(!valid("has space"));
    CHECK(!valid("slash/inside"));
    CHECK(!valid("percent%41"));
    CHECK(!valid("caf\xc3\xa9"));
    memset(longest, 'x', FLAG_NAME_MAX);
    longest[FLAG_NAME_MAX] = '\0';
    CHECK(valid(longest));
    longest[FLAG_NAME_MAX] = 'x';
    longest[FLAG_NAME_MAX + 1] = '\0';
    CHECK(!valid(longest));
    /* An embedded NUL is not part of any valid name. */
    CHECK(!flag_name_valid("ab\0cd", 5));
}

static int create(const char *body, struct flagdoc_change *out, char *err)
{
    int rc = flagdoc_decode_create(body, strlen(body), out, err, FLAGDOC_MESSAGE_MAX);
    if (rc == 0)
        flagdoc_change_clear(out);
    return rc;
}

static void test_decode_create(void)
{
    struct flagdoc_change in;
    char err[FLAGDOC_MESSAGE_MAX];

    CHECK(flagdoc_decode_create("{\"name\":\"beta\",\"is_enabled\":true}", 33, &in, err, sizeof err) == 0);
    CHECK(strcmp(in.name, "beta") == 0 && in.has_enabled && in.is_enabled && !flagdoc_change_has_members(&in));
    flagdoc_change_clear(&in);
    CHECK(flagdoc_decode_create("{\"name\":\"beta\"}", 15, &in, err, sizeof err) == 0 && !in.has_enabled);
    flagdoc_change_clear(&in);
    CHECK(create("{\"name\":\"beta\",\"extra\":[1,2],\"is_enabled\":false}", &in, err) == 0);
    CHECK(flagdoc_decode_create("{\"name\":\"b\",\"state\":\"ENABLED\",\"variants\":{\"x\":1}}", 49, &in, err,
                                sizeof err) == 0 && in.is_enabled && flagdoc_change_has_members(&in));
    flagdoc_change_clear(&in);

    CHECK(create("", &in, err) == -1 && strstr(err, "JSON object") != NULL);
    CHECK(create("[]", &in, err) == -1 && strstr(err, "JSON object") != NULL);
    CHECK(create("\"beta\"", &in, err) == -1 && strstr(err, "JSON object") != NULL);
    CHECK(create("{\"name\":", &in, err) == -1 && strstr(err, "invalid JSON") != NULL);
    CHECK(create("{}", &in, err) == -1 && strstr(err, "'name'") != NULL);
    CHECK(create("{\"name\":5}", &in, err) == -1 && strstr(err, "'name'") != NULL);
    CHECK(create("{\"name\":\"bad name\"}", &in, err) == -1 && strstr(err, "'name' must be") != NULL);
    CHECK(create("{\"name\":\"a\",\"is_enabled\":1}", &in, err) == -1 && strstr(err, "'is_enabled'") != NULL);
    CHECK(create("{\"name\":\"a\",\"is_enabled\":\"true\"}", &in, err) == -1);
    CHECK(create("{\"name\":\"a\",\"is_enabled\":null}", &in, err) == -1);
    CHECK(create("{\"name\":\"a\",\"name\":\"b\"}", &in, err) == -1);  /* duplicate key */
    CHECK(create("{\"name\":\"a\\u0000b\"}", &in, err) == -1);          /* NUL in a string */
    CHECK(flagdoc_decode_create("{\"name\":\"a\"}\0junk", 15, &in, err, sizeof err) == -1);
    CHECK(create("{\"name\":\"a\",\"state\":\"ON\"}", &in, err) == -1 &&
          strcmp(err, "state: must be \"ENABLED\" or \"DISABLED\"") == 0);
    CHECK(create("{\"name\":\"a\",\"state\":\"DISABLED\",\"is_enabled\":true}", &in, err) == -1 &&
          strstr(err, "disagree") != NULL);
}

static void test_decode_update(void)
{
    struct flagdoc_change in;
    char err[FLAGDOC_MESSAGE_MAX];

    CHECK(flagdoc_decode_update("{\"is_enabled\":true}", 19, &in, err, sizeof err) == 0 && in.is_enabled &&
          !flagdoc_change_has_members(&in));
    flagdoc_change_clear(&in);
    CHECK(flagdoc_decode_update("{\"is_enabled\":false,\"name\":\"x\"}", 31, &in, err, sizeof err) == 0 &&
          !in.is_enabled);
    flagdoc_change_clear(&in);
    CHECK(flagdoc_decode_update("{\"description\":\"d\"}", 19, &in, err, sizeof err) == 0 && !in.has_enabled &&
          flagdoc_change_has_members(&in));
    flagdoc_change_clear(&in);
    CHECK(flagdoc_decode_update("{}", 2, &in, err, sizeof err) == -1 && strstr(err, "nothing to change") != NULL);
    CHECK(flagdoc_decode_update("{\"is_enabled\":0}", 16, &in, err, sizeof err) == -1 &&
          strstr(err, "boolean") != NULL);
    CHECK(flagdoc_decode_update("nope", 4, &in, err, sizeof err) == -1);
}

/* flagdoc_build over a change given as JSON text; the message on failure. */
static json_t *build(const json_t *current, const char *change_text, const struct flagset *set, char *err)
{
    struct flagdoc_change change;
    json_t *doc = NULL;

    if (flagdoc_decode_update(change_text, strlen(change_text), &change, err, FLAGDOC_MESSAGE_MAX) != 0)
        return NULL;
    doc = flagdoc_build(current, &change, set, true, err, FLAGDOC_MESSAGE_MAX, NULL, 0);
    flagdoc_change_clear(&change);
    return doc;
}

static bool refused(const char *change_text, const char *message)
{
    char err[FLAGDOC_MESSAGE_MAX] = "";
    json_t *doc = build(NULL, change_text, NULL, err);
    bool ok = doc == NULL && strcmp(err, message) == 0;

    if (!ok)
        fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n", change_text, err, message);
    json_decref(doc);
    return ok;
}

static void test_documents(void)
{
    char err[FLAGDOC_MESSAGE_MAX], *text;
    json_t *doc, *next;

    CHECK(refused("{\"variants\":{\"red\":\"a\",\"blue\":1}}", "variants.blue: must be a string like the other variants"));
    CHECK(refused("{\"variants\":{\"a\":{},\"b\":[1]}}", "variants.b: must be a boolean, string, number or object"));
    CHECK(refused("{\"variants\":{}}", "variants: must be an object with at least one variant (name -> value)"));
    CHECK(refused("{\"variants\":{\"a\":1},\"defaultVariant\":\"x\"}", "defaultVariant: \"x\" is not a variant"));
    CHECK(refused("{\"defaultVariant\":3}", "defaultVariant: must be a variant name or null"));
    CHECK(refused("{\"targeting\":{\"foo\":[1]}}", "targeting: unknown operator \"foo\""));
    CHECK(refused("{\"metadata\":{\"team\":[1]}}", "metadata.team: must be a string, number or boolean"));
    CHECK(refused("{\"description\":7}", "description: must be a string of at most 1000 bytes"));

    /* The original's shape, then a change of variants: the old default no
     * longer names one, so the caller's default applies. */
    doc = build(NULL, "{\"description\":\"d\"}", NULL, err);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    CHECK(text && strcmp(text, "{\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"on\",\"description\":\"d\"}") == 0);
    free(text);
    next = doc ? build(doc, "{\"variants\":{\"a\":true,\"b\":false},\"targeting\":{}}", NULL, err) : NULL;
    text = next ? json_dumps(next, JSON_COMPACT) : NULL;
    CHECK(text && strcmp(text, "{\"variants\":{\"a\":true,\"b\":false},\"defaultVariant\":null,\"description\":\"d\"}") == 0);
    free(text);
    json_decref(next);
    /* Through the API a flag keeps its type. */
    next = doc ? build(doc, "{\"variants\":{\"a\":\"x\"}}", NULL, err) : NULL;
    CHECK(next == NULL && strncmp(err, "variants: must stay a boolean like the flag's current variants", 62) == 0);
    json_decref(next);
    /* null clears a member. */
    next = doc ? build(doc, "{\"description\":null,\"metadata\":{\"team\":\"web\"}}", NULL, err) : NULL;
    text = next ? json_dumps(next, JSON_COMPACT) : NULL;
    CHECK(text && strcmp(text, "{\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"on\",\"metadata\":{\"team\":\"web\"}}") == 0);
    free(text);
    json_decref(next);
    json_decref(doc);
}

/* A flag from a stored document. */
static struct flag *flag_of(const char *name, bool enabled, const char *document, const struct flagset *set)
{
    struct flag_row row = {.name = name, .id = 1, .is_enabled = enabled, .document = document, .version = 4};
    return flag_create(&row, set);
}

static const char *result_of(const struct flag *f, const char *context_text, enum flag_reason *reason,
                             enum flag_error *error)
{
    json_t *context = context_text ? json_loads(context_text, 0, NULL) : NULL;
    struct arena arena;
    struct flag_result r;

    arena_init(&arena, LOGIC_ARENA_LIMIT);
    flag_evaluate(f, context, 1700000000, &arena, &r);
    arena_free(&arena);
    json_decref(context);
    *reason = r.reason;
    *error = r.error;
    return r.variant ? r.variant->name : NULL;
}

static bool resolves(const struct flag *f, const char *context, enum flag_reason reason, const char *variant)
{
    enum flag_reason got;
    enum flag_error error;
    const char *v = result_of(f, context, &got, &error);
    bool ok = got == reason && (variant == NULL ? v == NULL : v != NULL && strcmp(v, variant) == 0);

    if (!ok)
        fprintf(stderr, "  %s with %s: got %s %s\n", f->name, context ? context : "{}", flag_reason_text(got),
                v ? v : "(none)");
    return ok;
}

static void test_evaluation(void)
{
    struct flag *f;
    enum flag_reason reason;
    enum flag_error error;
    struct flagset *set = flagset_create();
    json_t *fragment = json_loads("{\"ends_with\":[{\"var\":\"email\"},\"@acme.com\"]}", 0, NULL);

    f = flag_of("plain", true, NULL, NULL);   /* the original's boolean */
    CHECK(f && f->type == FLAG_TYPE_BOOLEAN && resolves(f, NULL, FLAG_REASON_STATIC, "on"));
    flag_unref(f);
    f = flag_of("off", false, NULL, NULL);
    CHECK(f && resolves(f, NULL, FLAG_REASON_DISABLED, NULL));
    flag_unref(f);
    f = flag_of("nodefault", true, "{\"variants\":{\"a\":1,\"b\":2},\"defaultVariant\":null}", NULL);
    CHECK(f && f->type == FLAG_TYPE_NUMBER && resolves(f, NULL, FLAG_REASON_DEFAULT, NULL));
    flag_unref(f);
    f = flag_of("color", true,
                "{\"variants\":{\"red\":\"#f00\",\"blue\":\"#00f\",\"true\":\"#fff\",\"3\":\"#333\"},\"defaultVariant\":\"red\","
                "\"targeting\":{\"if\":[{\"==\":[{\"var\":\"k\"},1]},\"blue\",{\"==\":[{\"var\":\"k\"},2]},\"nope\","
                "{\"==\":[{\"var\":\"k\"},3]},true,{\"==\":[{\"var\":\"k\"},4]},3,null]}}", NULL);
    CHECK(f && f->type == FLAG_TYPE_STRING && f->problem == NULL);
    CHECK(f && resolves(f, "{\"k\":1}", FLAG_REASON_TARGETING_MATCH, "blue"));
    CHECK(f && resolves(f, "{\"k\":0}", FLAG_REASON_DEFAULT, "red"));
    CHECK(f && resolves(f, "{\"k\":3}", FLAG_REASON_TARGETING_MATCH, "true"));   /* a boolean, as text */
    CHECK(f && resolves(f, "{\"k\":4}", FLAG_REASON_TARGETING_MATCH, "3"));      /* a number, as text */
    CHECK(f && result_of(f, "{\"k\":2}", &reason, &error) == NULL && reason == FLAG_REASON_ERROR &&
          error == FLAG_ERROR_GENERAL);
    flag_unref(f);
    f = flag_of("broken", true, "{\"variants\":{\"a\":1},\"defaultVariant\":\"a\",\"targeting\":{\"foo\":[1]}}", NULL);
    CHECK(f && result_of(f, NULL, &reason, &error) == NULL && reason == FLAG_REASON_ERROR &&
          error == FLAG_ERROR_PARSE);
    flag_unref(f);
    f = flag_of("garbage", true, "{not json", NULL);
    CHECK(f && f->problem != NULL && result_of(f, NULL, &reason, &error) == NULL && error == FLAG_ERROR_PARSE);
    flag_unref(f);

    /* $ref: unresolved until bound to a set that has it. */
    f = flag_of("staff", true, "{\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"off\","
                               "\"targeting\":{\"if\":[{\"$ref\":\"acme\"},\"on\",\"off\"]}}", NULL);
    CHECK(f && f->uses_refs && flag_needs_binding(f, set));
    CHECK(f && result_of(f, "{\"email\":\"a@acme.com\"}", &reason, &error) == NULL && error == FLAG_ERROR_PARSE);
    CHECK(flagset_add(set, "acme", fragment, 1, NULL) == 0);
    {
        struct flag *bound = f ? flag_bind(f, set) : NULL, *again;
        CHECK(bound && bound != f && !flag_needs_binding(bound, set));
        CHECK(bound && resolves(bound, "{\"email\":\"a@acme.com\"}", FLAG_REASON_TARGETING_MATCH, "on"));
        CHECK(bound && resolves(bound, "{\"email\":\"a@b.com\"}", FLAG_REASON_TARGETING_MATCH, "off"));
        again = bound ? flag_bind(bound, set) : NULL;
        CHECK(again == bound);   /* already bound: the same flag */
        flag_unref(again);
        flag_unref(bound);
    }
    flag_unref(f);
    flagset_unref(set);
    json_decref(fragment);
}

static void test_create(void)
{
    struct flag_row row = {.name = "beta", .id = 7, .is_enabled = true, .version = 2,
                           .created_at = "2026-01-02T03:04:05.000Z", .updated_at = "2026-01-02T03:04:06.000Z"};
    struct flag *f = flag_create(&row, NULL), *g;
    const char *summary = "{\"name\":\"beta\",\"is_enabled\":true}";
    const char *body = "{\"name\":\"beta\",\"is_enabled\":true,\"state\":\"ENABLED\",\"type\":\"boolean\","
                       "\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"on\",\"version\":2,"
                       "\"created_at\":\"2026-01-02T03:04:05.000Z\",\"updated_at\":\"2026-01-02T03:04:06.000Z\"}";

    CHECK(f != NULL && f->id == 7 && f->is_enabled && f->name_len == 4 && strcmp(f->name, "beta") == 0);
    CHECK(f != NULL && f->summary_len == strlen(summary) && memcmp(f->summary, summary, f->summary_len) == 0);
    CHECK(f != NULL && f->body_len == strlen(body) && memcmp(f->body, body, f->body_len) == 0);
    CHECK(f != NULL && f->name_hash == flag_name_hash("beta", 4));
    CHECK(flag_name_hash("beta", 4) != flag_name_hash("betb", 4));
    g = flag_ref(f);
    CHECK(g == f && atomic_load(&f->refs) == 2);
    flag_unref(g);
    flag_unref(f);
    /* Names the original monolith allowed are escaped, never spliced raw. */
    row.name = "quote\"back\\slash";
    row.is_enabled = false;
    f = flag_create(&row, NULL);
    CHECK(f != NULL && f->summary_len == strlen("{\"name\":\"quote\\\"back\\\\slash\",\"is_enabled\":false}") &&
          memcmp(f->summary, "{\"name\":\"quote\\\"back\\\\slash\",\"is_enabled\":false}", f->summary_len) == 0);
    flag_unref(f);
    /* A stored name that is not UTF-8 (a row another program wrote) is
     * still a flag, kept by its bytes and shown with U+FFFD. */
    row.name = "bad\xff";
    f = flag_create(&row, NULL);
    CHECK(f != NULL && f->name_len == 4 && memcmp(f->name, "bad\xff", 4) == 0);
    CHECK(f != NULL && memmem(f->body, f->body_len, "\"bad\xef\xbf\xbd\"", 8) != NULL);
    flag_unref(f);
}

int main(void)
{
    test_names();
    test_decode_create();
    test_decode_update();
    test_documents();
    test_evaluation();
    test_create();
    return CHECK_DONE("unit[flag]");
}
