/* Unit tests for src/eval/: JsonLogic's shared test suite (every case of
 * tests/unit/jsonlogic/compatible.json), the strict compiler's messages,
 * flagd's operators (with flagd's own fractional vectors), $ref
 * resolution, the limits, and the bucketing distribution. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/flagd.h"
#include "eval/logic.h"

#define SUITE_FILE "tests/unit/jsonlogic/compatible.json"

static struct arena arena;

/* JSON equality where 1 and 1.0 are the same number (JavaScript has one
 * number type; jansson keeps integers and reals apart). */
static bool same_json(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_json(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *value;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, key, value) {
            json_t *other = json_object_get(b, key);
            if (other == NULL || !same_json(value, other))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static json_t *parse(const char *text)
{
    json_t *json = json_loads(text, JSON_DECODE_ANY, NULL);
    if (json == NULL)
        fprintf(stderr, "test bug: invalid JSON %s\n", text);
    return json;
}

/* Compiles (lenient, no refs) and evaluates; returns the result as JSON,
 * or NULL when compiling or evaluating failed (status in *status). */
static json_t *run_json(const json_t *rule, const json_t *data, const char *flag_key, enum eval_status *status)
{
    struct logic_options options = {.strict = false};
    struct logic_input input = {.context = data, .flag_key = flag_key, .flag_key_len = strlen(flag_key),
                                .timestamp = 1700000000};
    char err[LOGIC_MESSAGE_MAX];
    struct logic_rule *compiled = logic_compile(rule, &options, err, sizeof err);
    json_t *out = NULL;
    struct jv result;

    *status = EVAL_ERROR;
    if (compiled == NULL)
        return NULL;
    *status = logic_evaluate(compiled, &input, &arena, &result, err, sizeof err);
    if (*status == EVAL_OK)
        out = jv_to_json(&result);
    arena_reset(&arena);
    logic_rule_free(compiled);
    return out;
}

/* rule and data as text; the result compared with want (JSON text). */
static bool gives(const char *rule_text, const char *data_text, const char *want_text)
{
    json_t *rule = parse(rule_text), *data = data_text ? parse(data_text) : NULL, *want = parse(want_text), *got;
    enum eval_status status;
    bool ok;

    got = run_json(rule, data, "my-flag", &status);
    ok = got != NULL && same_json(got, want);
    if (!ok) {
        char *shown = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
        fprintf(stderr, "  %s with %s: got %s, want %s\n", rule_text, data_text ? data_text : "null",
                shown ? shown : "(failure)", want_text);
        free(shown);
    }
    json_decref(rule);
    json_decref(data);
    json_decref(want);
    json_decref(got);
    return ok;
}

static enum eval_status status_of(const char *rule_text, const char *data_text)
{
    json_t *rule = parse(rule_text), *data = data_text ? parse(data_text) : NULL, *got;
    enum eval_status status;

    got = run_json(rule, data, "my-flag", &status);
    json_decref(rule);
    json_decref(data);
    json_decref(got);
    return status;
}

static void shared_suite(void)
{
    json_error_t jerr;
    json_t *suite = json_load_file(SUITE_FILE, 0, &jerr);
    int cases = 0, passed = 0;

    CHECK(suite != NULL && json_is_array(suite));
    if (suite == NULL)
        return;
    for (size_t i = 0; i < json_array_size(suite); i++) {
        json_t *c = json_array_get(suite, i), *got;
        enum eval_status status;
        if (!json_is_object(c))
            continue;   /* a "# section" comment */
        cases++;
        got = run_json(json_object_get(c, "rule"), json_object_get(c, "data"), "f", &status);
        if (got != NULL && same_json(got, json_object_get(c, "result"))) {
            passed++;
        } else {
            char *shown = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
            fprintf(stderr, "FAIL JsonLogic case %s: got %s\n", json_string_value(json_object_get(c, "description")),
                    shown ? shown : "(failure)");
            free(shown);
        }
        json_decref(got);
    }
    printf("JsonLogic shared suite: %d of %d cases pass\n", passed, cases);
    CHECK(cases == 278);
    CHECK(passed == cases);
    json_decref(suite);
}

/* Strict compile: NULL and the message, or the rule. */
static bool strict_error_is(const char *rule_text, const char *want)
{
    json_t *rule = parse(rule_text);
    struct logic_options options = {.strict = true, .path = "targeting"};
    char err[LOGIC_MESSAGE_MAX];
    struct logic_rule *compiled = logic_compile(rule, &options, err, sizeof err);
    bool ok = want == NULL ? compiled != NULL && err[0] == '\0' : compiled == NULL && strcmp(err, want) == 0;

    if (!ok)
        fprintf(stderr, "  strict %s: got \"%s\", want \"%s\"\n", rule_text, compiled ? "(compiled)" : err,
                want ? want : "(compiled)");
    logic_rule_free(compiled);
    json_decref(rule);
    return ok;
}

static void strict_compiler(void)
{
    CHECK(strict_error_is("{}", NULL));
    CHECK(strict_error_is("{\"if\": [{\"==\": [{\"var\": \"a\"}, 1]}, \"on\", null]}", NULL));
    CHECK(strict_error_is("{\"foo\": [1]}", "targeting: unknown operator \"foo\""));
    CHECK(strict_error_is("{\"if\": [{\"foo\": []}, \"a\", \"b\"]}", "targeting.if[0]: unknown operator \"foo\""));
    CHECK(strict_error_is("{\"==\": [1]}", "targeting: == takes 2 arguments, not 1"));
    CHECK(strict_error_is("{\"<\": [1, 2, 3, 4]}", "targeting: < takes 2 to 3 arguments, not 4"));
    CHECK(strict_error_is("{\"or\": true}", "targeting: or takes an array of arguments"));
    CHECK(strict_error_is("\"on\"", "targeting: must be an object: a JsonLogic rule, or {} for none"));
    CHECK(strict_error_is("{\"in\": [\"a\", {\"x\": 1, \"y\": 2}]}",
                          "targeting.in[1]: an object in a rule must have exactly one key, its operator"));
    CHECK(strict_error_is("{\"var\": \"$flagd.nope\"}",
                          "targeting: \"$flagd.nope\" is not a flagd property: $flagd.flagKey and $flagd.timestamp are"));
    CHECK(strict_error_is("{\"var\": \"$flagd.flagKey\"}", NULL));
    CHECK(strict_error_is("{\"sem_ver\": [{\"var\": \"v\"}, \"=~\", \"1.2.3\"]}",
                          "targeting: sem_ver's operator must be one of = != > < >= <= ~ ^"));
    CHECK(strict_error_is("{\"sem_ver\": [{\"var\": \"v\"}, \">=\", \"1.2\"]}",
                          "targeting: \"1.2\" is not a semantic version (MAJOR.MINOR.PATCH)"));
    CHECK(strict_error_is("{\"sem_ver\": [{\"var\": \"v\"}, \">=\", \"1.2.3-rc.1+build.5\"]}", NULL));
    CHECK(strict_error_is("{\"fractional\": [[\"a\", 50], [\"b\", 50.5]]}",
                          "targeting: fractional's weights are integers from 0"));
    CHECK(strict_error_is("{\"fractional\": [[\"a\", -1]]}", "targeting: fractional's weights are integers from 0"));
    CHECK(strict_error_is("{\"fractional\": [[\"a\", 2147483647], [\"b\", 1]]}",
                          "targeting: fractional's weights add up to more than 2147483647"));
    CHECK(strict_error_is("{\"fractional\": [{\"var\": \"email\"}, [\"a\", 50], [\"b\"]]}", NULL));
    CHECK(strict_error_is("{\"fractional\": [[\"a\", 1, 2]]}",
                          "targeting: fractional's entries are [variant] or [variant, weight]"));
    CHECK(strict_error_is("{\"missing_some\": [1, \"a\"]}", "targeting: missing_some takes [count, [path strings]]"));
    CHECK(strict_error_is("{\"log\": 1}", "targeting: operator \"log\" is not part of flagd's targeting rules"));
    CHECK(strict_error_is("{\"$ref\": \"nowhere\"}", "targeting: $ref \"nowhere\" names no shared rule ($evaluators)"));
}

static void lenient_compiler(void)
{
    /* What flagd loads but cannot evaluate fails the evaluations that reach
     * it, as flagd's Go evaluator does; a branch not taken is fine. */
    CHECK(gives("{\"if\": [true, \"a\", {\"foo\": 1}]}", NULL, "\"a\""));
    CHECK(status_of("{\"if\": [false, \"a\", {\"foo\": 1}]}", NULL) == EVAL_ERROR);
    CHECK(status_of("{\"$ref\": \"missing\"}", NULL) == EVAL_ERROR);
    CHECK(gives("{\"or\": [true, {\"$ref\": \"missing\"}]}", NULL, "true"));
    CHECK(gives("{\"==\": [1]}", NULL, "false"));   /* 1 == undefined */
    CHECK(gives("{\"==\": [null]}", NULL, "true"));   /* null == undefined */
    CHECK(gives("{\"log\": \"x\"}", NULL, "\"x\""));
}

static void javascript_semantics(void)
{
    CHECK(gives("{\"==\": [1, \"1\"]}", NULL, "true"));
    CHECK(gives("{\"===\": [1, \"1\"]}", NULL, "false"));
    CHECK(gives("{\"===\": [1, 1.0]}", NULL, "true"));
    CHECK(gives("{\"==\": [0, \"\"]}", NULL, "true"));
    CHECK(gives("{\"==\": [[1], 1]}", NULL, "true"));
    CHECK(gives("{\"==\": [null, 0]}", NULL, "false"));
    CHECK(gives("{\"==\": [true, \"1\"]}", NULL, "true"));
    CHECK(gives("{\"<\": [\"10\", \"9\"]}", NULL, "true"));   /* strings compare as text */
    CHECK(gives("{\"<\": [\"10\", 9]}", NULL, "false"));
    CHECK(gives("{\"<\": [\"abc\", 9]}", NULL, "false"));     /* NaN */
    CHECK(gives("{\">=\": [\"abc\", 9]}", NULL, "false"));
    CHECK(gives("{\"+\": [\"1\", \"2px\"]}", NULL, "3"));        /* parseFloat */
    CHECK(gives("{\"-\": [\"3\", \"2px\"]}", NULL, "null"));     /* ToNumber: NaN */
    CHECK(gives("{\"*\": [\"2\"]}", NULL, "\"2\""));             /* reduce without initial */
    /* The running product goes through parseFloat(String(a)): -0 becomes 0
     * (0 * -1 * 5 is +0 there, so 1 / it is +Infinity). */
    CHECK(gives("{\"<\": [{\"/\": [1, {\"*\": [0, -1, 5]}]}, 0]}", NULL, "false"));
    CHECK(gives("{\"<\": [{\"/\": [1, {\"*\": [0, -1]}]}, 0]}", NULL, "true"));   /* the last step keeps -0 */
    CHECK(gives("{\"/\": [1, 0]}", NULL, "null"));               /* Infinity in JSON */
    CHECK(gives("{\"%\": [-7, 3]}", NULL, "-1"));
    CHECK(gives("{\"cat\": [1.5, null, true, [1, [2, null]], \"x\"]}", NULL, "\"1.5true1,2,x\""));
    CHECK(gives("{\"cat\": [0.1, 1e21, 1e-7, 1.2345678901234568e20]}", NULL, "\"0.11e+211e-7123456789012345680000\""));
    CHECK(gives("{\"substr\": [\"jsonlogic\", -5, -2]}", NULL, "\"log\""));
    CHECK(gives("{\"substr\": [null, 1]}", NULL, "\"ull\""));
    CHECK(gives("{\"substr\": [\"h\\u00e9llo\", 1, 2]}", NULL, "\"\\u00e9l\""));
    CHECK(gives("{\"in\": [\"b\", \"abc\"]}", NULL, "true"));
    CHECK(gives("{\"in\": [1, [\"1\", 2]]}", NULL, "false"));    /* strict inside arrays */
    CHECK(gives("{\"in\": [\"\", \"\"]}", NULL, "false"));       /* !b */
    CHECK(gives("{\"in\": [\"a\", null]}", NULL, "false"));
    CHECK(gives("{\"max\": []}", NULL, "null"));                  /* -Infinity */
    CHECK(gives("{\"min\": [3, \"1\", 2]}", NULL, "1"));
    CHECK(gives("{\"!!\": [[]]}", NULL, "false"));
    CHECK(gives("{\"!!\": [\"0\"]}", NULL, "true"));
    CHECK(gives("{\"and\": []}", NULL, "null"));
    CHECK(gives("{\"merge\": [1, [2, [3]], null]}", NULL, "[1, 2, [3], null]"));
}

static void var_paths(void)
{
    const char *ctx = "{\"a\": {\"b\": [10, {\"c\": \"deep\"}]}, \"n\": null, \"s\": \"h\\u00e9\", \"x.y\": 1,"
                      " \"targetingKey\": \"user-1\"}";

    CHECK(gives("{\"var\": \"a.b.1.c\"}", ctx, "\"deep\""));
    CHECK(gives("{\"var\": \"a.b.0\"}", ctx, "10"));
    CHECK(gives("{\"var\": \"a.b.length\"}", ctx, "2"));
    CHECK(gives("{\"var\": \"s.1\"}", ctx, "\"\\u00e9\""));
    CHECK(gives("{\"var\": [\"a.z\", \"fallback\"]}", ctx, "\"fallback\""));
    CHECK(gives("{\"var\": [\"n\", \"fallback\"]}", ctx, "null"));        /* present, null */
    CHECK(gives("{\"var\": [\"n.m\", \"fallback\"]}", ctx, "\"fallback\""));
    CHECK(gives("{\"var\": \"x.y\"}", ctx, "null"));                      /* dots always split */
    CHECK(gives("{\"var\": {\"cat\": [\"a.\", \"b.\", 0]}}", ctx, "10"));  /* a computed path */
    CHECK(gives("{\"var\": \"$flagd.flagKey\"}", ctx, "\"my-flag\""));
    CHECK(gives("{\"var\": \"$flagd.timestamp\"}", ctx, "1700000000"));
    CHECK(gives("{\"var\": \"$flagd\"}", ctx, "{\"flagKey\": \"my-flag\", \"timestamp\": 1700000000}"));
    CHECK(gives("{\"var\": \"$flagd.flagKey\"}", "{\"$flagd\": {\"flagKey\": \"spoofed\"}}", "\"my-flag\""));
    CHECK(gives("{\"map\": [{\"var\": \"a.b\"}, {\"var\": \"\"}]}", ctx, "[10, {\"c\": \"deep\"}]"));
    CHECK(gives("{\"reduce\": [[1, 2, 3], {\"+\": [{\"var\": \"current\"}, {\"var\": \"accumulator\"}]}, 10]}",
                NULL, "16"));
    CHECK(gives("{\"missing\": [\"a.b\", \"n\", \"nope\", \"s\"]}", ctx, "[\"n\", \"nope\"]"));
    CHECK(gives("{\"missing_some\": [2, [\"a\", \"n\", \"s\"]]}", ctx, "[]"));
    CHECK(gives("{\"missing_some\": [3, [\"a\", \"n\", \"s\"]]}", ctx, "[\"n\"]"));
}

static void string_operators(void)
{
    CHECK(gives("{\"starts_with\": [{\"var\": \"e\"}, \"ann\"]}", "{\"e\": \"anna@acme.com\"}", "true"));
    CHECK(gives("{\"ends_with\": [{\"var\": \"e\"}, \"@acme.com\"]}", "{\"e\": \"anna@acme.com\"}", "true"));
    CHECK(gives("{\"ends_with\": [{\"var\": \"e\"}, \"@acme.org\"]}", "{\"e\": \"anna@acme.com\"}", "false"));
    CHECK(gives("{\"starts_with\": [{\"var\": \"e\"}, \"a\"]}", "{\"e\": 5}", "null"));     /* not a string */
    CHECK(gives("{\"ends_with\": [\"abc\"]}", NULL, "null"));
    CHECK(gives("{\"starts_with\": [\"abc\", \"\"]}", NULL, "true"));
}

static bool semver_is(const char *a, const char *op, const char *b, const char *want)
{
    char rule[256];
    snprintf(rule, sizeof rule, "{\"sem_ver\": [\"%s\", \"%s\", \"%s\"]}", a, op, b);
    return gives(rule, NULL, want);
}

static void sem_ver(void)
{
    CHECK(semver_is("1.2.3", "=", "1.2.3", "true"));
    CHECK(semver_is("v1.2.3", "=", "1.2.3", "true"));
    CHECK(semver_is("V1.2.3", "=", "v1.2.3", "true"));
    CHECK(semver_is("1.2", "=", "1.2.0", "true"));                 /* partial */
    CHECK(semver_is("1", "<", "1.0.1", "true"));
    CHECK(semver_is("1.2.3+build.7", "=", "1.2.3", "true"));       /* build ignored */
    CHECK(semver_is("1.2.3-alpha", "<", "1.2.3", "true"));         /* pre-release lower */
    CHECK(semver_is("1.2.3-alpha.2", "<", "1.2.3-alpha.10", "true"));
    CHECK(semver_is("1.2.3-alpha.10", "<", "1.2.3-alpha.beta", "true"));
    CHECK(semver_is("1.2.3-alpha", "<", "1.2.3-alpha.1", "true"));
    CHECK(semver_is("10.0.0", ">", "9.99.99", "true"));
    CHECK(semver_is("1.5.0", "^", "1.0.9", "true"));
    CHECK(semver_is("2.0.0", "^", "1.9.9", "false"));
    CHECK(semver_is("1.2.9", "~", "1.2.0", "true"));
    CHECK(semver_is("1.3.0", "~", "1.2.0", "false"));
    CHECK(semver_is("1.2.3", "!=", "1.2.4", "true"));
    CHECK(semver_is("1.2.3", "<=", "1.2.3", "true"));
    CHECK(semver_is("1.2.3", ">=", "1.2.4", "false"));
    CHECK(semver_is("1.02.3", "=", "1.2.3", "null"));              /* leading zero */
    CHECK(semver_is("1.2.3.4", "=", "1.2.3", "null"));
    CHECK(semver_is("not-a-version", "=", "1.2.3", "null"));
    CHECK(semver_is("1.2-rc.1", "=", "1.2.0", "null"));            /* shorthand takes no pre-release */
    CHECK(semver_is("1.2.3", "=~", "1.2.3", "null"));              /* unknown operator */
    CHECK(gives("{\"sem_ver\": [1.5, \">\", \"1.4.9\"]}", NULL, "true"));   /* a number, as text */
    CHECK(gives("{\"sem_ver\": [1000000, \"=\", \"1000000.0.0\"]}", NULL, "null"));   /* Go: "1e+06" */
    CHECK(gives("{\"sem_ver\": [\"1.2.3\", \"=\"]}", NULL, "null"));
}

/* flagd's own fractional test vectors (core/pkg/evaluator/fractional_test.go). */
static const char *header_color =
    "{\"if\": [{\"in\": [\"@faas.com\", {\"var\": [\"email\"]}]},"
    " {\"fractional\": [{\"cat\": [{\"var\": \"$flagd.flagKey\"}, {\"var\": \"email\"}]},"
    " [\"red\", 25], [\"blue\", 25], [\"green\", 25], [\"yellow\", 25]]}, null]}";
static const char *custom_seed =
    "{\"if\": [{\"in\": [\"@faas.com\", {\"var\": [\"email\"]}]},"
    " {\"fractional\": [{\"cat\": [\"my-seed\", {\"var\": \"email\"}]},"
    " [\"red\", 25], [\"blue\", 25], [\"green\", 25], [\"yellow\", 25]]}, null]}";

static bool flag_gives(const char *flag_key, const char *rule_text, const char *data_text, const char *want)
{
    json_t *rule = parse(rule_text), *data = parse(data_text), *expected = parse(want), *got;
    enum eval_status status;
    bool ok;

    got = run_json(rule, data, flag_key, &status);
    ok = got != NULL && same_json(got, expected);
    if (!ok)
        fprintf(stderr, "  flag %s with %s: want %s\n", flag_key, data_text, want);
    json_decref(rule);
    json_decref(data);
    json_decref(expected);
    json_decref(got);
    return ok;
}

static void fractional(void)
{
    /* MurmurHash3 x86 32-bit, seed 0: the published reference values. */
    CHECK(flagd_hash("", 0) == 0);
    CHECK(flagd_hash("hello", 5) == 0x248bfa47u);
    CHECK(flagd_hash("The quick brown fox jumps over the lazy dog", 43) == 0x2e4ff723u);
    CHECK(flagd_bucket(0xffffffffu, 100) == 99 && flagd_bucket(0, 100) == 0 && flagd_bucket(0x80000000u, 100) == 50);

    CHECK(flag_gives("headerColor", header_color, "{\"email\": \"rachel@faas.com\"}", "\"blue\""));
    CHECK(flag_gives("headerColor", header_color, "{\"email\": \"monica@faas.com\"}", "\"yellow\""));
    CHECK(flag_gives("headerColor", header_color, "{\"email\": \"joey@faas.com\"}", "\"red\""));
    CHECK(flag_gives("headerColor", header_color, "{\"email\": \"ross@faas.com\"}", "\"blue\""));
    CHECK(flag_gives("customSeededHeaderColor", custom_seed, "{\"email\": \"rachel@faas.com\"}", "\"green\""));
    CHECK(flag_gives("customSeededHeaderColor", custom_seed, "{\"email\": \"monica@faas.com\"}", "\"red\""));
    CHECK(flag_gives("customSeededHeaderColor", custom_seed, "{\"email\": \"joey@faas.com\"}", "\"blue\""));
    CHECK(flag_gives("customSeededHeaderColor", custom_seed, "{\"email\": \"ross@faas.com\"}", "\"green\""));
    CHECK(flag_gives("headerColor", header_color, "{\"email\": \"foo@foo.com\"}", "null"));

    /* Without a bucketing value: flagKey + targetingKey. */
    {
        uint32_t h = flagd_hash("my-flaguser-1", 13);
        const char *want = flagd_bucket(h, 100) < 50 ? "\"a\"" : "\"b\"";
        CHECK(gives("{\"fractional\": [[\"a\", 50], [\"b\", 50]]}", "{\"targetingKey\": \"user-1\"}", want));
    }
    CHECK(gives("{\"fractional\": [[\"a\", 50], [\"b\", 50]]}", "{}", "null"));                       /* no key */
    CHECK(gives("{\"fractional\": [[\"a\", 50], [\"b\", 50]]}", "{\"targetingKey\": \"\"}", "null"));
    CHECK(gives("{\"fractional\": [[\"a\", 50], [\"b\", 50]]}", "{\"targetingKey\": 7}", "null"));
    CHECK(gives("{\"fractional\": [{\"var\": \"nope\"}, [\"a\"]]}", "{\"targetingKey\": \"k\"}", "\"a\""));
    CHECK(gives("{\"fractional\": [\"k\", [\"a\", 0], [\"b\", 0]]}", NULL, "null"));                  /* total 0 */
    CHECK(gives("{\"fractional\": [\"k\", [\"a\", -5], [\"b\", 1]]}", NULL, "\"b\""));                /* clamped */
    CHECK(gives("{\"fractional\": [\"k\", [\"a\", 1.5], [\"b\", 1]]}", NULL, "null"));
    CHECK(gives("{\"fractional\": [\"k\", [\"a\", \"1\"], [\"b\", 1]]}", NULL, "null"));
    CHECK(gives("{\"fractional\": [\"k\", [\"a\", 2147483647], [\"b\", 1]]}", NULL, "null"));
    CHECK(gives("{\"fractional\": [\"k\", [true, 1]]}", NULL, "true"));
    CHECK(gives("{\"fractional\": [\"k\", [{\"cat\": [\"a\", \"b\"]}, 1]]}", NULL, "\"ab\""));
    CHECK(gives("{\"fractional\": [\"k\", \"oops\"]}", NULL, "null"));
}

/* The vectors published in docs/evaluation.md: every row's hash, bucket
 * and variant, recomputed. */
#define VECTORS_FILE "docs/evaluation.md"

static void published_vectors(void)
{
    FILE *f = fopen(VECTORS_FILE, "r");
    char line[512];
    int rows = 0, good = 0;

    CHECK(f != NULL);
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char value[128], hex[16], weights[128], variant[32], names[3][32];
        unsigned long decimal, bucket;
        unsigned hash;
        int w[3], n, total = 0, at = 0;
        const char *chosen = NULL;
        if (strncmp(line, "| `", 3) != 0 ||
            sscanf(line, "| `%127[^`]` | `%15[^`]` | %lu | %127[^|]| %lu | %31s |", value, hex, &decimal, weights,
                   &bucket, variant) != 6)
            continue;
        rows++;
        n = sscanf(weights, "%31s %d, %31s %d, %31s %d", names[0], &w[0], names[1], &w[1], names[2], &w[2]) / 2;
        hash = flagd_hash(value, strlen(value));
        for (int i = 0; i < n; i++)
            total += w[i];
        for (int i = 0; i < n && chosen == NULL; i++)
            if ((int)bucket < (at += w[i]))
                chosen = names[i];
        if (strtoul(hex, NULL, 16) == hash && decimal == hash && flagd_bucket(hash, (uint32_t)total) == bucket &&
            chosen != NULL && strcmp(chosen, variant) == 0)
            good++;
        else
            fprintf(stderr, "FAIL published vector %s: hash %08x bucket %u\n", value, hash,
                    flagd_bucket(hash, (uint32_t)total));
    }
    if (f != NULL)
        fclose(f);
    printf("fractional vectors in %s: %d of %d rows agree\n", VECTORS_FILE, good, rows);
    CHECK(rows >= 20);
    CHECK(good == rows);
}

/* 100,000 keys on a 25/75 split land at 25% +- 0.5%, and raising the split
 * to 30 only moves users in. */
static void distribution(void)
{
    json_t *at25 = parse("{\"fractional\": [[\"on\", 25], [\"off\", 75]]}");
    json_t *at30 = parse("{\"fractional\": [[\"on\", 30], [\"off\", 70]]}");
    struct logic_options options = {.strict = true};
    char err[LOGIC_MESSAGE_MAX], key[32];
    struct logic_rule *r25 = logic_compile(at25, &options, err, sizeof err);
    struct logic_rule *r30 = logic_compile(at30, &options, err, sizeof err);
    int on25 = 0, on30 = 0, moved_out = 0;

    CHECK(r25 != NULL && r30 != NULL);
    for (int i = 0; r25 && r30 && i < 100000; i++) {
        json_t *ctx;
        struct logic_input input = {.flag_key = "rollout", .flag_key_len = 7};
        struct jv a, b;
        bool in25, in30;
        snprintf(key, sizeof key, "user-%d", i);
        ctx = json_pack("{s:s}", "targetingKey", key);
        input.context = ctx;
        logic_evaluate(r25, &input, &arena, &a, NULL, 0);
        logic_evaluate(r30, &input, &arena, &b, NULL, 0);
        in25 = a.type == JV_STRING && a.u.s.len == 2;
        in30 = b.type == JV_STRING && b.u.s.len == 2;
        on25 += in25;
        on30 += in30;
        moved_out += in25 && !in30;
        arena_reset(&arena);
        json_decref(ctx);
    }
    printf("fractional 25%%: %d of 100000 keys; at 30%%: %d; moved out when raised: %d\n", on25, on30, moved_out);
    CHECK(on25 >= 24500 && on25 <= 25500);
    CHECK(on30 >= 29500 && on30 <= 30500);
    CHECK(moved_out == 0);
    logic_rule_free(r25);
    logic_rule_free(r30);
    json_decref(at25);
    json_decref(at30);
}

/* ---- $ref ------------------------------------------------------------------ */

static json_t *fragments;

static const json_t *lookup(void *ctx, const char *name)
{
    (void)ctx;
    return json_object_get(fragments, name);
}

static void refs(void)
{
    struct logic_options options = {.strict = true, .resolve_ref = lookup, .path = "targeting"};
    struct logic_input input = {.flag_key = "f", .flag_key_len = 1};
    char err[LOGIC_MESSAGE_MAX];
    json_t *rule = parse("{\"if\": [{\"$ref\": \"is_staff\"}, \"on\", \"off\"]}");
    json_t *ctx = parse("{\"email\": \"ann@acme.com\"}");
    struct logic_rule *compiled;
    struct jv result;

    fragments = parse("{\"is_staff\": {\"$ref\": \"acme\"}, \"acme\": {\"ends_with\": [{\"var\": \"email\"}, \"@acme.com\"]},"
                      " \"loop_a\": {\"!\": {\"$ref\": \"loop_b\"}}, \"loop_b\": {\"$ref\": \"loop_a\"}}");
    compiled = logic_compile(rule, &options, err, sizeof err);
    CHECK(compiled != NULL);
    if (compiled != NULL) {
        input.context = ctx;
        CHECK(logic_evaluate(compiled, &input, &arena, &result, NULL, 0) == EVAL_OK && result.type == JV_STRING &&
              result.u.s.len == 2 && memcmp(result.u.s.p, "on", 2) == 0);
        CHECK(logic_rule_uses_refs(compiled));
        CHECK(logic_rule_refers_to(compiled, "is_staff") && logic_rule_refers_to(compiled, "acme"));
        CHECK(!logic_rule_refers_to(compiled, "loop_a"));
        arena_reset(&arena);
    }
    /* The fragment outlives the set it came from: the rule holds it. */
    json_decref(fragments);
    fragments = NULL;
    if (compiled != NULL) {
        CHECK(logic_evaluate(compiled, &input, &arena, &result, NULL, 0) == EVAL_OK);
        arena_reset(&arena);
    }
    logic_rule_free(compiled);
    json_decref(rule);

    fragments = parse("{\"loop_a\": {\"!\": {\"$ref\": \"loop_b\"}}, \"loop_b\": {\"$ref\": \"loop_a\"}}");
    rule = parse("{\"$ref\": \"loop_a\"}");
    CHECK(logic_compile(rule, &options, err, sizeof err) == NULL &&
          strcmp(err, "targeting.!: $ref \"loop_a\" makes a cycle through \"loop_b\"") == 0);
    json_decref(rule);
    json_decref(fragments);
    json_decref(ctx);
}

/* ---- limits ------------------------------------------------------------------ */

static void limits(void)
{
    struct logic_options lenient = {.strict = false};
    char err[LOGIC_MESSAGE_MAX];
    json_t *deep = json_true(), *rule, *ctx, *items;
    struct logic_rule *compiled;
    struct logic_input input = {.flag_key = "f", .flag_key_len = 1};
    struct jv result;

    for (int i = 0; i < LOGIC_MAX_DEPTH + 1; i++)
        deep = json_pack("{s:[o]}", "!", deep);
    CHECK(logic_compile(deep, &lenient, err, sizeof err) == NULL && strstr(err, "nests more than 100") != NULL);
    json_decref(deep);

    /* A rule that loops over a large context is stopped, not left to run:
     * 2,000 elements times a map over 4,000 is 8 million steps. */
    items = json_array();
    for (int i = 0; i < 4000; i++)
        json_array_append_new(items, json_integer(i));
    ctx = json_pack("{s:O}", "xs", items);
    rule = json_pack("{s:[{s:s}, {s:[o, i]}]}", "all", "var", "xs", "map", items, 1);
    compiled = logic_compile(rule, &lenient, err, sizeof err);
    input.context = ctx;
    CHECK(compiled != NULL && logic_evaluate(compiled, &input, &arena, &result, err, sizeof err) == EVAL_LIMIT);
    arena_reset(&arena);
    logic_rule_free(compiled);
    json_decref(rule);
    json_decref(ctx);
}

int main(void)
{
    arena_init(&arena, LOGIC_ARENA_LIMIT);
    shared_suite();
    strict_compiler();
    lenient_compiler();
    javascript_semantics();
    var_paths();
    string_operators();
    sem_ver();
    fractional();
    published_vectors();
    distribution();
    refs();
    limits();
    arena_free(&arena);
    return CHECK_DONE("unit[logic]");
}
