/*
 * eval/logic — JsonLogic rules, compiled once and evaluated many times.
 *
 * Owns: turning a rule (a jansson value) into an immutable tree of nodes,
 * with every operator looked up, every constant path split and every
 * `{"$ref": name}` replaced by the shared fragment it names; and
 * evaluating that tree against an evaluation context.
 *
 * The operators and their answers are those of JsonLogic's reference
 * implementation (json-logic-js), including JavaScript's type coercions,
 * plus flagd's four (fractional, sem_ver, starts_with, ends_with; eval/flagd.h)
 * as flagd's Go evaluator defines them. docs/evaluation.md lists both and
 * every deliberate difference.
 *
 * Compiling. In strict mode (the HTTP API) the first problem fails the
 * compile with a message that names where it is ("targeting.if[0]:
 * unknown operator \"foo\""). In lenient mode (flagd files, rows already
 * stored) a problem (an unknown operator, an unresolved or cyclic $ref)
 * becomes an error node, the compile succeeds, and the message is kept as
 * a warning: evaluating an error node fails the evaluation (flagd answers
 * PARSE_ERROR there) when, and only when, it is reached, as in flagd's Go
 * evaluator.
 *
 * Evaluating allocates nothing for the rule: values computed on the way
 * (cat's strings, map's arrays) come from the caller's arena, which the
 * caller resets after reading the result. No I/O, no global state; a
 * compiled rule may be evaluated from any number of threads at once.
 *
 * Limits: a rule nests at most LOGIC_MAX_DEPTH operators and arrays deep
 * (deeper rules fail to compile, in either mode); an evaluation uses at most
 * LOGIC_ARENA_LIMIT bytes of arena and LOGIC_MAX_STEPS node visits, and
 * fails (EVAL_LIMIT) past either, so no context can make one rule run away.
 */
#ifndef TM_EVAL_LOGIC_H
#define TM_EVAL_LOGIC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "value.h"

#define LOGIC_MAX_DEPTH 100
#define LOGIC_ARENA_LIMIT (4u * 1024 * 1024)
#define LOGIC_MAX_STEPS 1000000
/* Error messages and warnings are at most this long. */
#define LOGIC_MESSAGE_MAX 256

struct logic_rule;

/* A shared rule fragment by name (flagd's $evaluators), or NULL when there
 * is none. The fragment must stay valid while the compiled rule lives
 * (the rule takes its own reference to it). */
typedef const json_t *(*logic_ref_fn)(void *ctx, const char *name);

struct logic_options {
    bool strict;
    logic_ref_fn resolve_ref;  /* NULL: every $ref is unresolved */
    void *ref_ctx;
    const char *path;          /* where the rule sits, for messages ("targeting") */
};

/* Compiles rule (the compiled rule holds its own reference to it). Returns
 * NULL with a message in err when strict and the rule has a problem, or
 * when out of memory (err says so). In lenient mode err holds the first
 * warning, or "" when there was none. */
struct logic_rule *logic_compile(const json_t *rule, const struct logic_options *options, char *err,
                                 size_t errlen);
void logic_rule_free(struct logic_rule *rule);

/* Whether the rule named a $ref (resolved or not): such rules must be
 * compiled again when the shared fragments change. */
bool logic_rule_uses_refs(const struct logic_rule *rule);
/* Whether the rule's $refs include name (directly or through another
 * fragment). */
bool logic_rule_refers_to(const struct logic_rule *rule, const char *name);

/* What an evaluation sees. The context is JsonLogic's data: for flags a
 * JSON object (callers check; NULL is an empty object), though any JSON
 * value evaluates. flag_key and timestamp are flagd's $flagd.flagKey and
 * $flagd.timestamp. */
struct logic_input {
    const json_t *context;
    const char *flag_key;
    size_t flag_key_len;
    int64_t timestamp;         /* Unix seconds */
};

enum eval_status {
    EVAL_OK = 0,
    EVAL_ERROR,                /* the rule reached an error node, or an operator threw */
    EVAL_LIMIT,                /* past LOGIC_ARENA_LIMIT or LOGIC_MAX_STEPS */
};

/* Evaluates rule with an arena made by arena_init(a, LOGIC_ARENA_LIMIT)
 * (reset it after reading the result). On EVAL_OK *result is the rule's value: it may point
 * into the context, the rule or the arena, so read it before freeing the
 * context or resetting the arena. On failure, why (when not NULL) gets a
 * message. */
enum eval_status logic_evaluate(const struct logic_rule *rule, const struct logic_input *input,
                                struct arena *arena, struct jv *result, char *why, size_t whylen);

#endif
