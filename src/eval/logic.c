/*
 * eval/logic — compile JsonLogic once, evaluate it many times. See logic.h.
 *
 * A compiled rule is a tree of nodes. Constants (and arrays and objects
 * that hold no rule) become one OP_CONST node that borrows the rule's own
 * jansson value; a `var` with a constant path keeps the path split into
 * segments; every other operator keeps its arguments as child nodes. The
 * evaluator walks the tree once per evaluation, depth first, computing
 * each argument as json-logic-js does (eagerly, except for the operators
 * that decide themselves: if, and, or, and the array operators, whose
 * second argument runs once per element with that element as its data).
 */
#include "logic.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flagd.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

enum op {
    OP_CONST, OP_ARRAY, OP_ERROR, OP_VAR, OP_MISSING, OP_MISSING_SOME,
    OP_IF, OP_AND, OP_OR, OP_NOT, OP_TRUTHY,
    OP_EQ, OP_STRICT_EQ, OP_NE, OP_STRICT_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_MAX, OP_MIN, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD,
    OP_MAP, OP_FILTER, OP_REDUCE, OP_ALL, OP_NONE, OP_SOME,
    OP_MERGE, OP_IN, OP_CAT, OP_SUBSTR, OP_LOG,
    OP_STARTS_WITH, OP_ENDS_WITH, OP_SEM_VER, OP_FRACTIONAL,
};

/* How an operator's arguments are checked in strict mode (flagd's
 * targeting schema): argument counts, and whether the arguments must be
 * given as an array. */
struct op_info {
    const char *name;
    enum op op;
    int min_args, max_args;    /* -1: no bound */
    bool needs_array;          /* {"op": x} with x not an array is invalid */
    bool in_schema;            /* flagd's schema knows it (strict mode) */
};

static const struct op_info operators[] = {
    {"var", OP_VAR, 1, 2, false, true},
    {"missing", OP_MISSING, 0, -1, true, true},
    {"missing_some", OP_MISSING_SOME, 2, 2, true, true},
    {"if", OP_IF, 1, -1, true, true},
    {"?:", OP_IF, 1, -1, true, false},
    {"and", OP_AND, 1, -1, true, true},
    {"or", OP_OR, 1, -1, true, true},
    {"!", OP_NOT, 1, 1, false, true},
    {"!!", OP_TRUTHY, 1, 1, false, true},
    {"==", OP_EQ, 2, 2, true, true},
    {"===", OP_STRICT_EQ, 2, 2, true, true},
    {"!=", OP_NE, 2, 2, true, true},
    {"!==", OP_STRICT_NE, 2, 2, true, true},
    {"<", OP_LT, 2, 3, true, true},
    {"<=", OP_LE, 2, 3, true, true},
    {">", OP_GT, 2, 2, true, true},
    {">=", OP_GE, 2, 2, true, true},
    {"max", OP_MAX, 1, -1, true, true},
    {"min", OP_MIN, 1, -1, true, true},
    {"+", OP_ADD, 1, -1, true, true},
    {"-", OP_SUB, 1, -1, true, true},
    {"*", OP_MUL, 2, -1, true, true},
    {"/", OP_DIV, 2, 2, true, true},
    {"%", OP_MOD, 2, 2, true, true},
    {"map", OP_MAP, 2, 2, true, true},
    {"filter", OP_FILTER, 2, 2, true, true},
    {"reduce", OP_REDUCE, 3, 3, true, true},
    {"all", OP_ALL, 2, 2, true, true},
    {"none", OP_NONE, 2, 2, true, true},
    {"some", OP_SOME, 2, 2, true, true},
    {"merge", OP_MERGE, 1, -1, true, true},
    {"in", OP_IN, 2, 2, true, true},
    {"cat", OP_CAT, 1, -1, true, true},
    {"substr", OP_SUBSTR, 2, 3, true, true},
    {"log", OP_LOG, 1, 1, false, false},
    {"starts_with", OP_STARTS_WITH, 2, 2, true, true},
    {"ends_with", OP_ENDS_WITH, 2, 2, true, true},
    {"sem_ver", OP_SEM_VER, 3, 3, true, true},
    {"fractional", OP_FRACTIONAL, 1, -1, true, true},
};
#define OPERATOR_COUNT (sizeof operators / sizeof operators[0])

struct segment {
    const char *p;
    size_t len;
    long index;                /* a canonical array index, or -1 */
};

struct node {
    enum op op;
    unsigned argc;
    struct node **args;
    struct jv value;           /* OP_CONST */
    char *message;             /* OP_ERROR: why evaluating it fails */
    /* OP_VAR whose path is a constant: */
    bool path_constant;
    bool whole_data;           /* the path is "" or null: the data itself */
    unsigned segment_count;
    struct segment *segments;
};

struct logic_rule {
    struct node *root;
    json_t **held;             /* jansson values the nodes borrow from */
    size_t held_count, held_cap;
    char **refs;               /* names of the fragments it refers to */
    size_t ref_count, ref_cap;
    bool uses_refs;
};

/* ==== compiling ============================================================ */

#define PATH_MAX_TEXT 512

struct compiler {
    const struct logic_options *options;
    struct logic_rule *rule;
    char *err;                 /* the first problem */
    size_t errlen;
    bool failed;               /* strict mode hit a problem, or out of memory */
    bool out_of_memory;
    char path[PATH_MAX_TEXT];
    size_t path_len;
    const char *expanding[LOGIC_MAX_DEPTH];   /* $refs being expanded, for cycles */
    int expanding_count;
};

static void problem(struct compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records a problem at the current path. The first one is what the caller
 * sees; in strict mode it also fails the compile. */
static void problem(struct compiler *c, const char *fmt, ...)
{
    char message[LOGIC_MESSAGE_MAX];
    va_list ap;

    if (c->err[0] != '\0')
        goto done;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (c->path_len == 0) {
        snprintf(c->err, c->errlen, "%s", message);
    } else if (c->path_len + strlen(message) + 2 < c->errlen) {
        snprintf(c->err, c->errlen, "%s: %s", c->path, message);
    } else {   /* a path too long to show whole: its start, then the message */
        int keep = (int)c->errlen - (int)strlen(message) - 6;
        snprintf(c->err, c->errlen, "%.*s...: %s", keep > 0 ? keep : 0, c->path, message);
    }
done:
    if (c->options->strict)
        c->failed = true;
}

static struct node *new_node(struct compiler *c, enum op op, unsigned argc);
static void out_of_memory(struct compiler *c);

/* A problem at the current path. Strict: the compile fails (NULL). Lenient:
 * an error node takes the problem's place, and evaluating it fails with
 * the message, as flagd's evaluator fails when (and only when) it reaches
 * an operator it does not know. */
static struct node *refuse(struct compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static struct node *refuse(struct compiler *c, const char *fmt, ...)
{
    char message[LOGIC_MESSAGE_MAX], full[LOGIC_MESSAGE_MAX + PATH_MAX_TEXT + 4];
    struct node *n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    problem(c, "%s", message);
    if (c->failed)
        return NULL;
    snprintf(full, sizeof full, "%s%s%s", c->path, c->path_len > 0 ? ": " : "", message);
    n = new_node(c, OP_ERROR, 0);
    if (n != NULL && (n->message = strdup(full)) == NULL) {
        free(n);
        n = NULL;
        out_of_memory(c);
    }
    return n;
}

static void out_of_memory(struct compiler *c)
{
    if (!c->out_of_memory)
        snprintf(c->err, c->errlen, "out of memory compiling a rule");
    c->out_of_memory = true;
    c->failed = true;
}

/* Appends ".name[i]" (or "[i]") to the path; returns the old length. */
static size_t path_push(struct compiler *c, const char *name, long index)
{
    size_t old = c->path_len;
    int n;

    if (name != NULL)
        n = snprintf(c->path + old, sizeof c->path - old, "%s%s", old > 0 ? "." : "", name);
    else
        n = 0;
    if (n >= 0 && (size_t)n < sizeof c->path - old)
        c->path_len += (size_t)n;
    if (index >= 0) {
        n = snprintf(c->path + c->path_len, sizeof c->path - c->path_len, "[%ld]", index);
        if (n >= 0 && (size_t)n < sizeof c->path - c->path_len)
            c->path_len += (size_t)n;
    }
    c->path[c->path_len] = '\0';
    return old;
}

static void path_pop(struct compiler *c, size_t old)
{
    c->path_len = old;
    c->path[old] = '\0';
}

static bool hold(struct compiler *c, const json_t *json)
{
    struct logic_rule *r = c->rule;

    if (r->held_count == r->held_cap) {
        size_t cap = r->held_cap ? 2 * r->held_cap : 4;
        json_t **grown = realloc(r->held, cap * sizeof *grown);
        if (grown == NULL) {
            out_of_memory(c);
            return false;
        }
        r->held = grown;
        r->held_cap = cap;
    }
    r->held[r->held_count++] = json_incref((json_t *)json);
    return true;
}

static void note_ref(struct compiler *c, const char *name)
{
    struct logic_rule *r = c->rule;

    r->uses_refs = true;
    for (size_t i = 0; i < r->ref_count; i++)
        if (strcmp(r->refs[i], name) == 0)
            return;
    if (r->ref_count == r->ref_cap) {
        size_t cap = r->ref_cap ? 2 * r->ref_cap : 4;
        char **grown = realloc(r->refs, cap * sizeof *grown);
        if (grown == NULL) {
            out_of_memory(c);
            return;
        }
        r->refs = grown;
        r->ref_cap = cap;
    }
    if ((r->refs[r->ref_count] = strdup(name)) == NULL)
        out_of_memory(c);
    else
        r->ref_count++;
}

static struct node *new_node(struct compiler *c, enum op op, unsigned argc)
{
    struct node *n = calloc(1, sizeof *n);

    if (n == NULL || (argc > 0 && (n->args = calloc(argc, sizeof *n->args)) == NULL)) {
        free(n);
        out_of_memory(c);
        return NULL;
    }
    n->op = op;
    n->argc = argc;
    return n;
}

static void free_node(struct node *n)
{
    if (n == NULL)
        return;
    for (unsigned i = 0; i < n->argc; i++)
        free_node(n->args[i]);
    free(n->args);
    free(n->segments);
    free(n->message);
    free(n);
}

static struct node *const_node(struct compiler *c, struct jv value)
{
    struct node *n = new_node(c, OP_CONST, 0);

    if (n != NULL)
        n->value = value;
    return n;
}

static const struct op_info *find_operator(const char *name)
{
    for (size_t i = 0; i < OPERATOR_COUNT; i++)
        if (strcmp(operators[i].name, name) == 0)
            return &operators[i];
    return NULL;
}

/* A one-key object: the key and its value. */
static bool single_member(const json_t *json, const char **key, json_t **value)
{
    if (!json_is_object(json) || json_object_size(json) != 1)
        return false;
    *key = json_object_iter_key(json_object_iter((json_t *)json));
    *value = json_object_iter_value(json_object_iter((json_t *)json));
    return true;
}

/* Whether json holds a rule anywhere (a one-key object, directly or inside
 * arrays): if not, it is a constant, evaluated to itself. */
static bool holds_rule(const json_t *json)
{
    if (json_is_object(json))
        return json_object_size(json) == 1;
    if (json_is_array(json)) {
        for (size_t i = 0; i < json_array_size(json); i++)
            if (holds_rule(json_array_get(json, i)))
                return true;
    }
    return false;
}

static struct node *compile_value(struct compiler *c, const json_t *json, int depth);

/* A canonical array index ("0", "17"; not "01" or "-1"), or -1. */
static long array_index(const char *p, size_t len)
{
    long value = 0;

    if (len == 0 || len > 9 || (len > 1 && p[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        value = value * 10 + (p[i] - '0');
    }
    return value;
}

/* Splits a var path at its dots into n->segments (pointing into text,
 * which the rule holds). */
static bool split_path(struct compiler *c, struct node *n, const char *text, size_t len)
{
    unsigned count = 1;

    for (size_t i = 0; i < len; i++)
        count += text[i] == '.';
    n->segments = calloc(count, sizeof *n->segments);
    if (n->segments == NULL) {
        out_of_memory(c);
        return false;
    }
    n->segment_count = count;
    for (unsigned k = 0, start = 0; k < count; k++) {
        size_t end = start;
        while (end < len && text[end] != '.')
            end++;
        n->segments[k].p = text + start;
        n->segments[k].len = end - start;
        n->segments[k].index = array_index(text + start, end - start);
        start = (unsigned)end + 1;
    }
    return true;
}

static bool is_primitive(const json_t *json)
{
    return !json_is_object(json) && !json_is_array(json);
}

/* var's strict form: a path string (only $flagd.flagKey and
 * $flagd.timestamp under $flagd), or [path, primitive default]. */
static void check_var(struct compiler *c, const json_t *values)
{
    const json_t *path = json_is_array(values) ? json_array_get(values, 0) : values;
    const char *text;

    if (!json_is_string(path)) {
        problem(c, "var takes a path string, or [path, default]");
        return;
    }
    text = json_string_value(path);
    if (strncmp(text, "$flagd.", 7) == 0 && strcmp(text, "$flagd.flagKey") != 0 &&
        strcmp(text, "$flagd.timestamp") != 0)
        problem(c, "\"%s\" is not a flagd property: $flagd.flagKey and $flagd.timestamp are", text);
    else if (json_is_array(values) && json_array_size(values) == 2 && !is_primitive(json_array_get(values, 1)))
        problem(c, "var's default must be null, a boolean, a number or a string");
}

static bool all_strings(const json_t *array)
{
    if (!json_is_array(array))
        return false;
    for (size_t i = 0; i < json_array_size(array); i++)
        if (!json_is_string(json_array_get(array, i)))
            return false;
    return true;
}

/* Whether text matches flagd's schema for a version constant: MAJOR.MINOR.PATCH
 * with optional pre-release and build (semver 2.0, no "v"). */
static bool strict_semver(const char *text, size_t len)
{
    return flagd_semver_compare(text, len, text, len, 0) == 0 && len > 0 && text[0] != 'v' && text[0] != 'V' &&
           strchr(text, '.') != strrchr(text, '.');
}

static void check_sem_ver(struct compiler *c, const json_t *values)
{
    static const char *const ops[] = {"=", "!=", ">", "<", ">=", "<=", "~", "^"};
    const json_t *op = json_array_get(values, 1);
    bool known = false;

    for (int side = 0; side <= 2; side += 2) {
        const json_t *v = json_array_get(values, (size_t)side);
        const char *key;
        json_t *inner;
        if (json_is_string(v) && !strict_semver(json_string_value(v), json_string_length(v))) {
            problem(c, "\"%s\" is not a semantic version (MAJOR.MINOR.PATCH)", json_string_value(v));
            return;
        }
        if (!json_is_string(v) && !(single_member(v, &key, &inner) && (strcmp(key, "var") == 0 ||
                                                                        strcmp(key, "$ref") == 0))) {
            problem(c, "sem_ver compares a version string or a var");
            return;
        }
    }
    for (size_t i = 0; json_is_string(op) && i < sizeof ops / sizeof ops[0]; i++)
        known = known || strcmp(json_string_value(op), ops[i]) == 0;
    if (!known)
        problem(c, "sem_ver's operator must be one of = != > < >= <= ~ ^");
}

/* fractional's strict form: an optional bucketing rule, then entries
 * [variant] or [variant, weight] with integer weights >= 0 that sum to at
 * most 2^31-1. */
static void check_fractional(struct compiler *c, const json_t *values)
{
    double total = 0;

    for (size_t i = 0; i < json_array_size(values); i++) {
        const json_t *entry = json_array_get(values, i), *weight;
        if (i == 0 && json_is_object(entry))
            continue;   /* the bucketing value (a rule) */
        if (!json_is_array(entry) || json_array_size(entry) < 1 || json_array_size(entry) > 2) {
            problem(c, "fractional's entries are [variant] or [variant, weight]");
            return;
        }
        weight = json_array_get(entry, 1);
        if (weight == NULL || json_is_object(weight))
            continue;
        if (!json_is_integer(weight) || json_integer_value(weight) < 0) {
            problem(c, "fractional's weights are integers from 0");
            return;
        }
        total += (double)json_integer_value(weight);
    }
    if (total > 2147483647.0)
        problem(c, "fractional's weights add up to more than 2147483647");
}

/* Strict mode: argument counts and the shapes flagd's schema asks for. */
static void check_operator(struct compiler *c, const struct op_info *info, const json_t *values)
{
    size_t argc = json_is_array(values) ? json_array_size(values) : 1;

    if (!info->in_schema) {
        problem(c, "operator \"%s\" is not part of flagd's targeting rules", info->name);
        return;
    }
    if (info->needs_array && !json_is_array(values)) {
        problem(c, "%s takes an array of arguments", info->name);
        return;
    }
    if ((int)argc < info->min_args || (info->max_args >= 0 && (int)argc > info->max_args)) {
        if (info->min_args == info->max_args)
            problem(c, "%s takes %d argument%s, not %zu", info->name, info->min_args,
                    info->min_args == 1 ? "" : "s", argc);
        else if (info->max_args < 0)
            problem(c, "%s takes at least %d argument%s, not %zu", info->name, info->min_args,
                    info->min_args == 1 ? "" : "s", argc);
        else
            problem(c, "%s takes %d to %d arguments, not %zu", info->name, info->min_args, info->max_args, argc);
        return;
    }
    switch (info->op) {
    case OP_VAR:
        check_var(c, values);
        break;
    case OP_MISSING:
        if (!all_strings(values))
            problem(c, "missing takes an array of path strings");
        break;
    case OP_MISSING_SOME:
        if (!json_is_number(json_array_get(values, 0)) || !all_strings(json_array_get(values, 1)))
            problem(c, "missing_some takes [count, [path strings]]");
        break;
    case OP_SEM_VER:
        check_sem_ver(c, values);
        break;
    case OP_FRACTIONAL:
        check_fractional(c, values);
        break;
    default:
        break;
    }
}

/* {"var": "a.b"} and {"var": ["a.b", default]} with a constant path keep
 * the path split; any other var computes its path when evaluated. */
static void compile_var_path(struct compiler *c, struct node *n, const json_t *path)
{
    if (path == NULL || json_is_null(path) || (json_is_string(path) && json_string_length(path) == 0)) {
        n->path_constant = n->whole_data = true;
    } else if (json_is_string(path)) {
        n->path_constant = split_path(c, n, json_string_value(path), json_string_length(path));
    }
}

static struct node *compile_operator(struct compiler *c, const char *key, const json_t *values, int depth)
{
    const struct op_info *info;
    struct node *n;
    size_t argc, saved;

    if (strcmp(key, "$ref") == 0 && json_is_string(values)) {
        const char *name = json_string_value(values);
        const json_t *fragment;
        struct node *expanded;
        note_ref(c, name);
        fragment = c->options->resolve_ref ? c->options->resolve_ref(c->options->ref_ctx, name) : NULL;
        if (fragment == NULL)
            return refuse(c, "$ref \"%s\" names no shared rule ($evaluators)", name);
        for (int i = 0; i < c->expanding_count; i++)
            if (strcmp(c->expanding[i], name) == 0) {
                if (i == c->expanding_count - 1)
                    return refuse(c, "$ref \"%s\" refers to itself", name);
                return refuse(c, "$ref \"%s\" makes a cycle through \"%s\"", name,
                              c->expanding[c->expanding_count - 1]);
            }
        if (c->expanding_count == LOGIC_MAX_DEPTH)
            return refuse(c, "$refs nest more than %d deep", LOGIC_MAX_DEPTH);
        /* The rule keeps a copy of its own: fragments are shared by every
         * rule that uses them, and freed rules on other threads must not
         * count their references down while this one counts up. */
        fragment = json_deep_copy(fragment);
        if (fragment == NULL || !hold(c, fragment)) {
            json_decref((json_t *)fragment);
            out_of_memory(c);
            return NULL;
        }
        json_decref((json_t *)fragment);   /* hold() took its own */
        c->expanding[c->expanding_count++] = name;
        saved = path_push(c, NULL, -1);
        expanded = compile_value(c, fragment, depth + 1);
        path_pop(c, saved);
        c->expanding_count--;
        return expanded;
    }
    info = find_operator(key);
    if (info == NULL)
        return refuse(c, "unknown operator \"%s\"", key);
    if (c->options->strict)
        check_operator(c, info, values);
    if (c->failed)
        return NULL;
    argc = json_is_array(values) ? json_array_size(values) : 1;
    n = new_node(c, info->op, (unsigned)argc);
    if (n == NULL)
        return NULL;
    for (size_t i = 0; i < argc; i++) {
        const json_t *arg = json_is_array(values) ? json_array_get(values, i) : values;
        saved = path_push(c, info->name, json_is_array(values) ? (long)i : -1);
        n->args[i] = compile_value(c, arg, depth + 1);
        path_pop(c, saved);
        if (n->args[i] == NULL) {
            free_node(n);
            return NULL;
        }
    }
    if (info->op == OP_VAR && (argc == 0 || n->args[0]->op == OP_CONST))
        compile_var_path(c, n, json_is_array(values) ? json_array_get(values, 0) : values);
    if (c->failed) {
        free_node(n);
        return NULL;
    }
    return n;
}

static struct node *compile_value(struct compiler *c, const json_t *json, int depth)
{
    const char *key;
    json_t *values;
    struct node *n;

    if (depth > LOGIC_MAX_DEPTH) {
        /* Deeper rules are refused in both modes: evaluation recurses. */
        problem(c, "the rule nests more than %d levels deep", LOGIC_MAX_DEPTH);
        c->failed = true;
        return NULL;
    }
    if (single_member(json, &key, &values))
        return compile_operator(c, key, values, depth);
    if (json_is_object(json) && c->options->strict && json_object_size(json) > 0) {
        problem(c, "an object in a rule must have exactly one key, its operator");
        return NULL;
    }
    if (!holds_rule(json))
        return const_node(c, jv_from_json(json));
    /* An array holding rules: its items are evaluated. */
    n = new_node(c, OP_ARRAY, (unsigned)json_array_size(json));
    for (size_t i = 0; n != NULL && i < n->argc; i++) {
        size_t saved = path_push(c, NULL, (long)i);
        n->args[i] = compile_value(c, json_array_get(json, i), depth + 1);
        path_pop(c, saved);
        if (n->args[i] == NULL) {
            free_node(n);
            return NULL;
        }
    }
    return n;
}

struct logic_rule *logic_compile(const json_t *rule, const struct logic_options *options, char *err,
                                 size_t errlen)
{
    struct compiler c = {.options = options, .err = err, .errlen = errlen};

    err[0] = '\0';
    c.rule = calloc(1, sizeof *c.rule);
    if (c.rule == NULL) {
        snprintf(err, errlen, "out of memory compiling a rule");
        return NULL;
    }
    if (options->path != NULL)
        path_push(&c, options->path, -1);
    if (options->strict && !json_is_object(rule))
        problem(&c, "must be an object: a JsonLogic rule, or {} for none");
    if (hold(&c, rule) && !c.failed)
        c.rule->root = compile_value(&c, rule, 0);
    if (c.failed || c.rule->root == NULL) {
        logic_rule_free(c.rule);
        return NULL;
    }
    return c.rule;
}

void logic_rule_free(struct logic_rule *rule)
{
    if (rule == NULL)
        return;
    free_node(rule->root);
    for (size_t i = 0; i < rule->held_count; i++)
        json_decref(rule->held[i]);
    for (size_t i = 0; i < rule->ref_count; i++)
        free(rule->refs[i]);
    free(rule->held);
    free(rule->refs);
    free(rule);
}

bool logic_rule_uses_refs(const struct logic_rule *rule)
{
    return rule->uses_refs;
}

bool logic_rule_refers_to(const struct logic_rule *rule, const char *name)
{
    for (size_t i = 0; i < rule->ref_count; i++)
        if (strcmp(rule->refs[i], name) == 0)
            return true;
    return false;
}

/* ==== evaluating ============================================================= */

struct evaluation {
    const struct logic_input *input;
    struct arena *arena;
    struct jv context;         /* the root data: a JSON object */
    long steps;
    enum eval_status status;
    const char *why;
};

/* The data `var` reads: the context at the root, an element inside map and
 * the others, {current, accumulator} inside reduce. */
struct scope {
    struct jv data;
    bool root;
    bool reduce;
    struct jv current, accumulator;
};

static struct jv fail(struct evaluation *ev, enum eval_status status, const char *why)
{
    if (ev->status == EVAL_OK) {
        ev->status = status;
        ev->why = why;
    }
    return jv_null();
}

static bool failed(const struct evaluation *ev)
{
    return ev->status != EVAL_OK || ev->arena->exhausted;
}

static struct jv eval_node(struct evaluation *ev, const struct node *n, const struct scope *scope);
static struct jv eval_eager(struct evaluation *ev, const struct node *n, const struct scope *scope);

static struct jv arg(struct evaluation *ev, const struct node *n, unsigned i, const struct scope *scope)
{
    return i < n->argc ? eval_node(ev, n->args[i], scope) : jv_undefined();
}

/* Number of UTF-16 code units in a UTF-8 string (JavaScript's length). */
static size_t utf16_length(const char *s, size_t len)
{
    size_t units = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) != 0x80)
            units += c >= 0xf0 ? 2 : 1;
    }
    return units;
}

/* Byte offset of UTF-16 unit `unit` (clamped to the end); a unit inside a
 * character above U+FFFF rounds to the character's end. */
static size_t utf16_offset(const char *s, size_t len, size_t unit)
{
    size_t i = 0, at = 0;

    while (i < len && at < unit) {
        unsigned char c = (unsigned char)s[i];
        size_t bytes = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        at += c >= 0xf0 ? 2 : 1;
        i += bytes;
    }
    return i < len ? i : len;
}

static struct jv make_object(struct evaluation *ev, json_t *object)
{
    struct jv v;

    if (object == NULL || !arena_hold(ev->arena, object))
        return fail(ev, EVAL_LIMIT, "out of memory");
    v.type = JV_OBJECT;
    v.computed = false;
    v.u.json = object;
    return v;
}

/* $flagd, as flagd injects it: {"flagKey": ..., "timestamp": ...}. */
static struct jv flagd_object(struct evaluation *ev)
{
    return make_object(ev, json_pack("{s:s%, s:I}", "flagKey", ev->input->flag_key, ev->input->flag_key_len,
                                     "timestamp", (json_int_t)ev->input->timestamp));
}

/* The data var "" sees: the scope's data as a value. */
static struct jv scope_data(struct evaluation *ev, const struct scope *scope)
{
    json_t *object;

    if (scope->reduce) {
        object = json_object();
        if (object != NULL) {
            json_object_set_new(object, "current", jv_to_json(&scope->current));
            json_object_set_new(object, "accumulator", jv_to_json(&scope->accumulator));
        }
        return make_object(ev, object);
    }
    if (scope->root && scope->data.type == JV_OBJECT) {   /* the context with $flagd in it */
        object = json_copy((json_t *)scope->data.u.json);
        if (object != NULL)
            json_object_set_new(object, "$flagd", json_pack("{s:s%, s:I}", "flagKey", ev->input->flag_key,
                                                            ev->input->flag_key_len, "timestamp",
                                                            (json_int_t)ev->input->timestamp));
        return make_object(ev, object);
    }
    return scope->data;
}

/* data[key] for one path segment, as JavaScript reads a property: object
 * members, array items and lengths, string characters and lengths. False
 * when undefined. */
static bool property(struct evaluation *ev, const struct jv *data, const char *key, size_t len, long index,
                     struct jv *out)
{
    bool is_length = len == 6 && memcmp(key, "length", 6) == 0;

    switch (data->type) {
    case JV_OBJECT:
        return jv_object_get(data, key, len, out);
    case JV_ARRAY:
        if (index >= 0 && (size_t)index < jv_array_len(data)) {
            *out = jv_array_at(data, (size_t)index);
            return true;
        }
        if (is_length) {
            *out = jv_number((double)jv_array_len(data));
            return true;
        }
        return false;
    case JV_STRING:
        if (is_length) {
            *out = jv_number((double)utf16_length(data->u.s.p, data->u.s.len));
            return true;
        }
        if (index >= 0 && (size_t)index < utf16_length(data->u.s.p, data->u.s.len)) {
            size_t from = utf16_offset(data->u.s.p, data->u.s.len, (size_t)index);
            size_t to = utf16_offset(data->u.s.p, data->u.s.len, (size_t)index + 1);
            *out = jv_string(data->u.s.p + from, to - from);
            return true;
        }
        return false;
    default:
        (void)ev;
        return false;
    }
}

/* The first segment, which may name something the scope provides. */
static bool first_property(struct evaluation *ev, const struct scope *scope, const struct segment *seg,
                           struct jv *out)
{
    if (scope->reduce) {
        if (seg->len == 7 && memcmp(seg->p, "current", 7) == 0) {
            *out = scope->current;
            return true;
        }
        if (seg->len == 11 && memcmp(seg->p, "accumulator", 11) == 0) {
            *out = scope->accumulator;
            return true;
        }
        return false;
    }
    if (scope->root && seg->len == 6 && memcmp(seg->p, "$flagd", 6) == 0) {
        *out = flagd_object(ev);
        return !failed(ev);
    }
    return property(ev, &scope->data, seg->p, seg->len, seg->index, out);
}

/* Walks a path from the scope's data; false when any step is undefined
 * (json-logic-js: `data === undefined` or a null before the last step). */
static bool walk(struct evaluation *ev, const struct scope *scope, const struct segment *segs, unsigned count,
                 struct jv *out)
{
    struct jv data;

    /* $flagd.flagKey and $flagd.timestamp without building $flagd. */
    if (scope->root && count >= 2 && segs[0].len == 6 && memcmp(segs[0].p, "$flagd", 6) == 0) {
        if (segs[1].len == 7 && memcmp(segs[1].p, "flagKey", 7) == 0)
            data = jv_string(ev->input->flag_key, ev->input->flag_key_len);
        else if (segs[1].len == 9 && memcmp(segs[1].p, "timestamp", 9) == 0)
            data = jv_number((double)ev->input->timestamp);
        else
            return false;
        segs += 2;
        count -= 2;
    } else {
        if (!first_property(ev, scope, &segs[0], &data))
            return false;
        segs++;
        count--;
    }
    for (unsigned i = 0; i < count; i++) {
        if (data.type == JV_NULL || data.type == JV_UNDEFINED)
            return false;
        if (!property(ev, &data, segs[i].p, segs[i].len, segs[i].index, &data))
            return false;
    }
    *out = data;
    return true;
}

/* A path computed at evaluation: String(path) split at its dots. */
static bool walk_dynamic(struct evaluation *ev, const struct scope *scope, const struct jv *path, struct jv *out)
{
    struct jv text = jv_to_string(ev->arena, path);
    struct segment *segs;
    unsigned count = 1;
    size_t start = 0;

    if (text.type != JV_STRING)
        return false;
    for (size_t i = 0; i < text.u.s.len; i++)
        count += text.u.s.p[i] == '.';
    segs = arena_alloc(ev->arena, count * sizeof *segs);
    if (segs == NULL)
        return false;
    for (unsigned k = 0; k < count; k++) {
        size_t end = start;
        while (end < text.u.s.len && text.u.s.p[end] != '.')
            end++;
        segs[k].p = text.u.s.p + start;
        segs[k].len = end - start;
        segs[k].index = array_index(segs[k].p, segs[k].len);
        start = end + 1;
    }
    return walk(ev, scope, segs, count, out);
}

static struct jv eval_var(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    struct jv fallback = jv_null(), path, found;
    bool ok;

    if (n->argc >= 2) {
        fallback = eval_node(ev, n->args[1], scope);
        if (fallback.type == JV_UNDEFINED)
            fallback = jv_null();
    }
    if (n->path_constant) {
        if (n->whole_data)
            return scope_data(ev, scope);
        ok = walk(ev, scope, n->segments, n->segment_count, &found);
    } else {
        path = eval_node(ev, n->args[0], scope);
        if (path.type == JV_UNDEFINED || path.type == JV_NULL ||
            (path.type == JV_STRING && path.u.s.len == 0))
            return scope_data(ev, scope);
        ok = walk_dynamic(ev, scope, &path, &found);
    }
    return ok && found.type != JV_UNDEFINED ? found : fallback;
}

/* missing's keys: one array argument, or the arguments themselves. */
static struct jv eval_missing_keys(struct evaluation *ev, const struct jv *keys, size_t count,
                                   const struct scope *scope)
{
    struct jv_list *missing = jv_list_new(ev->arena, count);

    if (missing == NULL)
        return fail(ev, EVAL_LIMIT, "out of memory");
    missing->count = 0;
    for (size_t i = 0; i < count; i++) {
        struct jv key = keys[i], value = jv_null();
        if (key.type == JV_UNDEFINED || key.type == JV_NULL || (key.type == JV_STRING && key.u.s.len == 0))
            value = scope_data(ev, scope);
        else if (!walk_dynamic(ev, scope, &key, &value))
            value = jv_null();
        if (value.type == JV_NULL || value.type == JV_UNDEFINED || (value.type == JV_STRING && value.u.s.len == 0))
            missing->items[missing->count++] = key;
    }
    return jv_array(missing);
}

/* Arguments of up to this many are evaluated into the caller's stack
 * frame; only longer lists take arena memory. */
#define ARGS_ON_STACK 8

/* Evaluates every argument of n into items (the eager operators). */
static void eval_args(struct evaluation *ev, const struct node *n, const struct scope *scope, struct jv *items)
{
    for (unsigned i = 0; i < n->argc; i++)
        items[i] = eval_node(ev, n->args[i], scope);
}

/* Room for n's arguments: on_stack when they fit, else from the arena. */
static struct jv *args_room(struct evaluation *ev, const struct node *n, struct jv *on_stack)
{
    struct jv *items = n->argc <= ARGS_ON_STACK ? on_stack : arena_alloc(ev->arena, n->argc * sizeof *items);

    if (items == NULL)
        fail(ev, EVAL_LIMIT, "out of memory");
    return items;
}

static struct jv eval_missing(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    struct jv on_stack[ARGS_ON_STACK], *args = args_room(ev, n, on_stack);
    struct jv_list *keys;

    if (args == NULL)
        return jv_null();
    eval_args(ev, n, scope, args);
    if (n->argc > 0 && args[0].type == JV_ARRAY) {
        size_t count = jv_array_len(&args[0]);
        keys = jv_list_new(ev->arena, count);
        if (keys == NULL)
            return fail(ev, EVAL_LIMIT, "out of memory");
        for (size_t i = 0; i < count; i++)
            keys->items[i] = jv_array_at(&args[0], i);
        return eval_missing_keys(ev, keys->items, count, scope);
    }
    return eval_missing_keys(ev, args, n->argc, scope);
}

static struct jv eval_missing_some(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    struct jv need = arg(ev, n, 0, scope), options = arg(ev, n, 1, scope), missing;
    double present;

    if (options.type == JV_ARRAY) {
        size_t count = jv_array_len(&options);
        struct jv_list *keys = jv_list_new(ev->arena, count);
        if (keys == NULL)
            return fail(ev, EVAL_LIMIT, "out of memory");
        for (size_t i = 0; i < count; i++)
            keys->items[i] = jv_array_at(&options, i);
        missing = eval_missing_keys(ev, keys->items, count, scope);
        present = (double)count - (double)jv_array_len(&missing);
    } else {
        missing = eval_missing_keys(ev, &options, 1, scope);
        present = NAN;   /* options.length is undefined */
    }
    if (failed(ev))
        return jv_null();
    if (present >= jv_to_number(ev->arena, &need)) {
        struct jv_list *none = jv_list_new(ev->arena, 0);
        return none ? jv_array(none) : fail(ev, EVAL_LIMIT, "out of memory");
    }
    return missing;
}

static struct jv eval_if(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    unsigned i;

    for (i = 0; i + 1 < n->argc; i += 2) {
        struct jv cond = eval_node(ev, n->args[i], scope);
        if (jv_truthy(&cond))
            return eval_node(ev, n->args[i + 1], scope);
    }
    if (i + 1 == n->argc)
        return eval_node(ev, n->args[i], scope);
    return jv_null();
}

static struct jv eval_and_or(struct evaluation *ev, const struct node *n, const struct scope *scope, bool is_or)
{
    struct jv current = jv_undefined();

    for (unsigned i = 0; i < n->argc && !failed(ev); i++) {
        current = eval_node(ev, n->args[i], scope);
        if (jv_truthy(&current) == is_or)
            return current;
    }
    return current;
}

/* map, filter, all, none, some: the second argument per element. */
static struct jv eval_array_op(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    struct jv items = arg(ev, n, 0, scope);
    struct scope inner = {.data = jv_null()};
    struct jv_list *out = NULL;
    size_t count;

    if (items.type != JV_ARRAY) {
        if (n->op == OP_MAP || n->op == OP_FILTER) {
            out = jv_list_new(ev->arena, 0);
            return out ? jv_array(out) : fail(ev, EVAL_LIMIT, "out of memory");
        }
        return jv_bool(n->op == OP_NONE);
    }
    count = jv_array_len(&items);
    if (count == 0 && n->op != OP_MAP && n->op != OP_FILTER)
        return jv_bool(n->op == OP_NONE);
    if (n->op == OP_MAP || n->op == OP_FILTER) {
        out = jv_list_new(ev->arena, count);
        if (out == NULL)
            return fail(ev, EVAL_LIMIT, "out of memory");
        out->count = 0;
    }
    for (size_t i = 0; i < count && !failed(ev); i++) {
        struct jv result;
        inner.data = jv_array_at(&items, i);
        result = n->argc >= 2 ? eval_node(ev, n->args[1], &inner) : jv_undefined();
        switch (n->op) {
        case OP_MAP:
            out->items[out->count++] = result;
            break;
        case OP_FILTER:
            if (jv_truthy(&result))
                out->items[out->count++] = inner.data;
            break;
        case OP_ALL:
            if (!jv_truthy(&result))
                return jv_bool(false);
            break;
        case OP_NONE:
            if (jv_truthy(&result))
                return jv_bool(false);
            break;
        default:   /* OP_SOME */
            if (jv_truthy(&result))
                return jv_bool(true);
            break;
        }
    }
    if (out != NULL)
        return jv_array(out);
    return jv_bool(n->op != OP_SOME);
}

static struct jv eval_reduce(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    struct jv items = arg(ev, n, 0, scope);
    struct jv accumulator = n->argc >= 3 ? eval_node(ev, n->args[2], scope) : jv_null();
    struct scope inner = {.reduce = true};

    if (accumulator.type == JV_UNDEFINED)
        accumulator = jv_null();
    if (items.type != JV_ARRAY)
        return accumulator;
    for (size_t i = 0, count = jv_array_len(&items); i < count && !failed(ev); i++) {
        inner.current = jv_array_at(&items, i);
        inner.accumulator = accumulator;
        accumulator = n->argc >= 2 ? eval_node(ev, n->args[1], &inner) : jv_undefined();
    }
    return accumulator;
}

static struct jv eval_merge(struct evaluation *ev, const struct jv *args, size_t argc)
{
    size_t total = 0;
    struct jv_list *out;

    for (size_t i = 0; i < argc; i++)
        total += args[i].type == JV_ARRAY ? jv_array_len(&args[i]) : 1;
    out = jv_list_new(ev->arena, total);
    if (out == NULL)
        return fail(ev, EVAL_LIMIT, "out of memory");
    out->count = 0;
    for (size_t i = 0; i < argc; i++) {
        const struct jv *a = &args[i];
        if (a->type != JV_ARRAY) {
            out->items[out->count++] = *a;
            continue;
        }
        for (size_t k = 0, n = jv_array_len(a); k < n; k++)
            out->items[out->count++] = jv_array_at(a, k);
    }
    return jv_array(out);
}

/* JavaScript's truthiness, not JsonLogic's: `in` tests `!b`. */
static bool js_truthy(const struct jv *v)
{
    return v->type == JV_ARRAY || jv_truthy(v);
}

static bool contains_bytes(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
    if (needle_len == 0)
        return true;
    return needle_len <= hay_len && memmem(hay, hay_len, needle, needle_len) != NULL;
}

static struct jv eval_in(struct evaluation *ev, const struct jv *needle, const struct jv *hay)
{
    if (!js_truthy(hay))
        return jv_bool(false);
    if (hay->type == JV_STRING) {
        struct jv text = jv_to_string(ev->arena, needle);
        return jv_bool(text.type == JV_STRING && contains_bytes(hay->u.s.p, hay->u.s.len, text.u.s.p, text.u.s.len));
    }
    if (hay->type == JV_ARRAY) {
        for (size_t i = 0, count = jv_array_len(hay); i < count; i++) {
            struct jv item = jv_array_at(hay, i);
            if (jv_strict_equal(&item, needle))
                return jv_bool(true);
        }
    }
    return jv_bool(false);
}

/* Array.prototype.join(""): null and undefined are empty. */
static struct jv eval_cat(struct evaluation *ev, const struct jv *args, size_t argc)
{
    struct jv *parts = arena_alloc(ev->arena, (argc + 1) * sizeof *parts);
    size_t total = 0;
    char *out, *p;

    if (parts == NULL)
        return fail(ev, EVAL_LIMIT, "out of memory");
    for (size_t i = 0; i < argc; i++) {
        const struct jv *a = &args[i];
        parts[i] = a->type == JV_NULL || a->type == JV_UNDEFINED ? jv_string("", 0) : jv_to_string(ev->arena, a);
        if (parts[i].type != JV_STRING)
            return fail(ev, EVAL_LIMIT, "out of memory");
        total += parts[i].u.s.len;
    }
    out = arena_alloc(ev->arena, total + 1);
    if (out == NULL)
        return fail(ev, EVAL_LIMIT, "out of memory");
    p = out;
    for (size_t i = 0; i < argc; i++) {
        memcpy(p, parts[i].u.s.p, parts[i].u.s.len);
        p += parts[i].u.s.len;
    }
    return jv_string(out, total);
}

/* ToIntegerOrInfinity */
static double to_integer(struct evaluation *ev, const struct jv *v)
{
    double d = jv_to_number(ev->arena, v);
    return isnan(d) ? 0 : trunc(d);
}

/* String.prototype.substr(start, length), and json-logic-js's negative
 * length (characters to drop from the end). Indices count UTF-16 units. */
static struct jv eval_substr(struct evaluation *ev, const struct jv *source, const struct jv *start_arg,
                             const struct jv *length_arg)
{
    struct jv text = jv_to_string(ev->arena, source);
    double size, start, length;
    size_t from, to;

    if (text.type != JV_STRING)
        return fail(ev, EVAL_LIMIT, "out of memory");
    size = (double)utf16_length(text.u.s.p, text.u.s.len);
    start = to_integer(ev, start_arg);
    if (start < 0)
        start = fmax(size + start, 0);
    start = fmin(start, size);
    if (length_arg->type != JV_UNDEFINED) {
        struct jv zero = jv_number(0);
        if (jv_less(ev->arena, length_arg, &zero)) {   /* end < 0 */
            length = size - start + to_integer(ev, length_arg);
        } else {
            length = to_integer(ev, length_arg);
        }
    } else {
        length = size - start;
    }
    length = fmin(fmax(length, 0), size - start);
    from = utf16_offset(text.u.s.p, text.u.s.len, (size_t)start);
    to = utf16_offset(text.u.s.p, text.u.s.len, (size_t)(start + length));
    return jv_string(text.u.s.p + from, to - from);
}

static struct jv eval_min_max(struct evaluation *ev, const struct jv *args, size_t argc, bool is_max)
{
    double result = is_max ? -INFINITY : INFINITY;

    for (size_t i = 0; i < argc; i++) {
        double d = jv_to_number(ev->arena, &args[i]);
        if (isnan(d))
            return jv_number(NAN);
        if (is_max ? (d > result || (d == 0 && result == 0 && !signbit(d))) :
                     (d < result || (d == 0 && result == 0 && signbit(d))))
            result = d;
    }
    return jv_number(result);
}

static struct jv eval_arithmetic(struct evaluation *ev, const struct node *n, const struct jv *args, size_t argc)
{
    struct jv undefined = jv_undefined();
    const struct jv *a = argc > 0 ? &args[0] : &undefined, *b = argc > 1 ? &args[1] : &undefined;
    double acc;

    switch (n->op) {
    /* reduce((a, b) => parseFloat(a) op parseFloat(b)): the running value
     * goes through parseFloat(String(a)) at every step, which is the same
     * number except that -0 becomes 0. */
    case OP_ADD:
        acc = 0;
        for (size_t i = 0; i < argc; i++)
            acc = (acc == 0 ? 0 : acc) + jv_parse_float(ev->arena, &args[i]);
        return jv_number(acc);
    case OP_MUL:
        if (argc == 0)
            return fail(ev, EVAL_ERROR, "* needs at least one argument");
        if (argc == 1)
            return args[0];   /* reduce without an initial value */
        acc = jv_parse_float(ev->arena, &args[0]);
        for (size_t i = 1; i < argc; i++)
            acc = (acc == 0 ? 0 : acc) * jv_parse_float(ev->arena, &args[i]);
        return jv_number(acc);
    case OP_SUB:
        if (b->type == JV_UNDEFINED)
            return jv_number(-jv_to_number(ev->arena, a));
        return jv_number(jv_to_number(ev->arena, a) - jv_to_number(ev->arena, b));
    case OP_DIV:
        return jv_number(jv_to_number(ev->arena, a) / jv_to_number(ev->arena, b));
    case OP_MOD:
        return jv_number(fmod(jv_to_number(ev->arena, a), jv_to_number(ev->arena, b)));
    default:
        return jv_null();
    }
}

static struct jv compare_op(struct evaluation *ev, const struct node *n, const struct jv *args, size_t argc)
{
    struct jv undefined = jv_undefined();
    const struct jv *a = argc > 0 ? &args[0] : &undefined;
    const struct jv *b = argc > 1 ? &args[1] : &undefined;
    const struct jv *c = argc > 2 ? &args[2] : &undefined;
    struct arena *ar = ev->arena;

    switch (n->op) {
    case OP_EQ:
        return jv_bool(jv_loose_equal(ar, a, b));
    case OP_NE:
        return jv_bool(!jv_loose_equal(ar, a, b));
    case OP_STRICT_EQ:
        return jv_bool(jv_strict_equal(a, b));
    case OP_STRICT_NE:
        return jv_bool(!jv_strict_equal(a, b));
    case OP_LT:
        if (c->type == JV_UNDEFINED)
            return jv_bool(jv_less(ar, a, b));
        return jv_bool(jv_less(ar, a, b) && jv_less(ar, b, c));
    case OP_LE:
        if (c->type == JV_UNDEFINED)
            return jv_bool(jv_less_equal(ar, a, b));
        return jv_bool(jv_less_equal(ar, a, b) && jv_less_equal(ar, b, c));
    case OP_GT:
        return jv_bool(jv_less(ar, b, a));
    default:   /* OP_GE */
        return jv_bool(jv_less_equal(ar, b, a));
    }
}

/* The context's targetingKey, for fractional. */
static struct jv targeting_key(struct evaluation *ev)
{
    struct jv key;

    return jv_object_get(&ev->context, "targetingKey", 12, &key) ? key : jv_undefined();
}

static struct jv eval_node(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    if (++ev->steps > LOGIC_MAX_STEPS)
        return fail(ev, EVAL_LIMIT, "the rule ran more than " STRINGIFY(LOGIC_MAX_STEPS) " steps");
    if (failed(ev))
        return jv_null();
    switch (n->op) {
    case OP_CONST:
        return n->value;
    case OP_ERROR:
        return fail(ev, EVAL_ERROR, n->message);
    case OP_VAR:
        return eval_var(ev, n, scope);
    case OP_MISSING:
        return eval_missing(ev, n, scope);
    case OP_MISSING_SOME:
        return eval_missing_some(ev, n, scope);
    case OP_IF:
        return eval_if(ev, n, scope);
    case OP_AND:
    case OP_OR:
        return eval_and_or(ev, n, scope, n->op == OP_OR);
    case OP_MAP:
    case OP_FILTER:
    case OP_ALL:
    case OP_NONE:
    case OP_SOME:
        return eval_array_op(ev, n, scope);
    case OP_REDUCE:
        return eval_reduce(ev, n, scope);
    default:
        break;
    }
    return eval_eager(ev, n, scope);
}

/* The operators that take their arguments evaluated, in order. */
static struct jv eval_eager(struct evaluation *ev, const struct node *n, const struct scope *scope)
{
    struct jv on_stack[ARGS_ON_STACK], *args = args_room(ev, n, on_stack), undefined = jv_undefined();
    size_t argc = n->argc;
    struct jv_list *list;

    if (args == NULL)
        return jv_null();
    eval_args(ev, n, scope, args);
    if (failed(ev))
        return jv_null();
    switch (n->op) {
    case OP_ARRAY:
        if ((list = jv_list_new(ev->arena, argc)) == NULL)
            return fail(ev, EVAL_LIMIT, "out of memory");
        memcpy(list->items, args, argc * sizeof *args);
        return jv_array(list);
    case OP_NOT:
    case OP_TRUTHY:
        return jv_bool(jv_truthy(argc > 0 ? &args[0] : &undefined) == (n->op == OP_TRUTHY));
    case OP_EQ:
    case OP_STRICT_EQ:
    case OP_NE:
    case OP_STRICT_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        return compare_op(ev, n, args, argc);
    case OP_MAX:
    case OP_MIN:
        return eval_min_max(ev, args, argc, n->op == OP_MAX);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD:
        return eval_arithmetic(ev, n, args, argc);
    case OP_MERGE:
        return eval_merge(ev, args, argc);
    case OP_IN:
        return eval_in(ev, argc > 0 ? &args[0] : &undefined, argc > 1 ? &args[1] : &undefined);
    case OP_CAT:
        return eval_cat(ev, args, argc);
    case OP_SUBSTR:
        return eval_substr(ev, argc > 0 ? &args[0] : &undefined, argc > 1 ? &args[1] : &undefined,
                           argc > 2 ? &args[2] : &undefined);
    case OP_LOG:
        return argc > 0 ? args[0] : undefined;
    case OP_STARTS_WITH:
        return flagd_starts_with(args, argc);
    case OP_ENDS_WITH:
        return flagd_ends_with(args, argc);
    case OP_SEM_VER:
        return flagd_sem_ver(ev->arena, args, argc);
    case OP_FRACTIONAL: {
        struct jv key = targeting_key(ev);
        return flagd_fractional(ev->arena, args, argc, &key, ev->input->flag_key, ev->input->flag_key_len);
    }
    default:
        return fail(ev, EVAL_ERROR, "unknown operator");
    }
}

enum eval_status logic_evaluate(const struct logic_rule *rule, const struct logic_input *input,
                                struct arena *arena, struct jv *result, char *why, size_t whylen)
{
    struct evaluation ev = {.input = input, .arena = arena};
    struct scope root = {.root = true};
    json_t *context = (json_t *)input->context;

    if (context == NULL && (!arena_hold(arena, context = json_object()) || context == NULL)) {
        if (why != NULL)
            snprintf(why, whylen, "out of memory");
        return EVAL_LIMIT;
    }
    root.data = ev.context = jv_from_json(context);
    *result = eval_node(&ev, rule->root, &root);
    if (ev.status == EVAL_OK && arena->exhausted)
        fail(&ev, EVAL_LIMIT, "the rule needed more than 4 MiB for its values");
    if (ev.status != EVAL_OK && why != NULL)
        snprintf(why, whylen, "%s", ev.why);
    return ev.status;
}
