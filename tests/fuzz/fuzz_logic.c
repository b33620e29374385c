/* libFuzzer target: JsonLogic rules and evaluation contexts. The input is
 * a rule and a context separated by the first NUL byte (or a rule alone).
 * Every parsed rule is compiled strictly and leniently; the strict compile
 * must either fail with a message or produce a rule the lenient one also
 * accepts; the lenient rule is evaluated against the context (whatever
 * JSON it is), with $refs resolved from the context's "$evaluators" member
 * when it has one, and its result turned back into JSON. Any crash, leak,
 * sanitizer report or broken invariant aborts. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/logic.h"

static const json_t *fragment(void *ctx, const char *name)
{
    return json_object_get(json_object_get(ctx, "$evaluators"), name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *split = memchr(data, 0, size);
    size_t rule_len = split ? (size_t)(split - data) : size;
    json_t *rule = json_loadb((const char *)data, rule_len, JSON_DECODE_ANY, NULL);
    json_t *context = split ? json_loadb((const char *)split + 1, size - rule_len - 1, JSON_DECODE_ANY, NULL) : NULL;
    struct logic_options strict = {.strict = true, .resolve_ref = fragment, .ref_ctx = context, .path = "targeting"};
    struct logic_options lenient = {.strict = false, .resolve_ref = fragment, .ref_ctx = context};
    struct logic_input input = {.context = context, .flag_key = "fuzz", .flag_key_len = 4, .timestamp = 1};
    char err[LOGIC_MESSAGE_MAX], why[LOGIC_MESSAGE_MAX];
    struct logic_rule *a, *b;
    struct arena arena;
    struct jv result;

    if (rule == NULL) {
        json_decref(context);
        return 0;
    }
    a = logic_compile(rule, &strict, err, sizeof err);
    if (a == NULL && err[0] == '\0')
        abort();                             /* a refusal must say why */
    b = logic_compile(rule, &lenient, err, sizeof err);
    if (a != NULL && (b == NULL || err[0] != '\0'))
        abort();                             /* strict accepted what lenient warns about */
    arena_init(&arena, LOGIC_ARENA_LIMIT);
    if (b != NULL && logic_evaluate(b, &input, &arena, &result, why, sizeof why) == EVAL_OK) {
        json_t *out = jv_to_json(&result);
        char *text = out ? json_dumps(out, JSON_ENCODE_ANY) : NULL;
        free(text);
        json_decref(out);
    }
    arena_free(&arena);
    logic_rule_free(a);
    logic_rule_free(b);
    json_decref(rule);
    json_decref(context);
    return 0;
}
