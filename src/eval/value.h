/*
 * eval/value — the values JsonLogic computes with, and JavaScript's rules
 * for them.
 *
 * Owns: `struct jv`, a small tagged value that either borrows from
 * jansson (the evaluation context and the rule's constants: strings,
 * arrays and objects are never copied) or points into an arena (what
 * operators compute: cat's strings, map's arrays); the arena itself; and
 * the conversions JsonLogic's reference implementation inherits from
 * JavaScript: truthiness, ToNumber, parseFloat, ToString (Number's
 * shortest round-trip form), abstract (==) and strict (===) equality, and
 * relational comparison. Pure: no I/O, no global state.
 *
 * An arena is reset after each evaluation; in steady state it allocates
 * nothing (its first block is kept), so an evaluation costs no malloc
 * beyond parsing the context.
 */
#ifndef TM_EVAL_VALUE_H
#define TM_EVAL_VALUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* JV_UNDEFINED is JavaScript's undefined: what an operator sees for an
 * argument the rule left out, and what {"and": []} returns. It never leaves
 * the evaluator (jv_to_json makes it null). */
enum jv_type { JV_NULL = 0, JV_UNDEFINED, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jv_list;

struct jv {
    enum jv_type type;
    bool computed;             /* arrays: items in `list` (arena), else `json` */
    union {
        bool b;
        double n;
        struct {
            const char *p;     /* not NUL-terminated */
            size_t len;
        } s;
        const json_t *json;    /* JV_OBJECT, or JV_ARRAY when !computed */
        const struct jv_list *list;
    } u;
};

struct jv_list {
    size_t count;
    struct jv items[];
};

/* ---- the arena ---------------------------------------------------------- */

struct arena_block;

struct arena_held;

struct arena {
    struct arena_block *first, *current;
    struct arena_held *held;   /* jansson values to release on reset */
    size_t limit;              /* bytes an evaluation may use; 0: no limit */
    size_t used_total;
    bool exhausted;            /* an allocation failed or hit the limit */
};

void arena_init(struct arena *a, size_t limit);
void arena_reset(struct arena *a);       /* keeps the first block */
void arena_free(struct arena *a);
/* NULL (and a->exhausted) when out of memory or past the limit. */
void *arena_alloc(struct arena *a, size_t size);
/* Takes over a reference to json, released at the next reset: for the
 * rare values an operator must build as jansson values. False (and json
 * released now) when out of memory. */
bool arena_hold(struct arena *a, json_t *json);

/* ---- making values -------------------------------------------------------- */

static inline struct jv jv_null(void) { struct jv v = {.type = JV_NULL}; return v; }
static inline struct jv jv_undefined(void) { struct jv v = {.type = JV_UNDEFINED}; return v; }
static inline struct jv jv_bool(bool b) { struct jv v = {.type = JV_BOOL, .u.b = b}; return v; }
static inline struct jv jv_number(double n) { struct jv v = {.type = JV_NUMBER, .u.n = n}; return v; }
static inline struct jv jv_string(const char *p, size_t len)
{
    struct jv v = {.type = JV_STRING, .u.s = {p, len}};
    return v;
}
/* A view of a jansson value (borrowed: it must outlive the jv). */
struct jv jv_from_json(const json_t *json);
/* A computed array of count items, to be filled; NULL when out of memory. */
struct jv_list *jv_list_new(struct arena *a, size_t count);
struct jv jv_array(const struct jv_list *list);

/* ---- reading them ----------------------------------------------------------- */

size_t jv_array_len(const struct jv *array);
struct jv jv_array_at(const struct jv *array, size_t i);
/* The member called key of an object, or false when there is none. */
bool jv_object_get(const struct jv *object, const char *key, size_t len, struct jv *out);

/* ---- JavaScript's conversions ------------------------------------------------- */

/* JsonLogic's truthiness: JavaScript's, except that [] is false. */
bool jv_truthy(const struct jv *v);
/* ToNumber: "" -> 0, " 12 " -> 12, "0x1A" -> 26, "12px" -> NaN, null -> 0,
 * true -> 1, [] -> 0, [7] -> 7, [1,2] -> NaN, {} -> NaN. */
double jv_to_number(struct arena *a, const struct jv *v);
/* parseFloat(String(v)): the longest numeric prefix, "12px" -> 12, "" -> NaN. */
double jv_parse_float(struct arena *a, const struct jv *v);
/* ToString: numbers in their shortest round-trip form (1e21, 0.1, -0 -> "0"),
 * arrays joined with "," (null inside -> ""), objects "[object Object]". */
struct jv jv_to_string(struct arena *a, const struct jv *v);
/* Writes a number as JavaScript's String(n) does; buf needs 32 bytes. */
size_t jv_format_number(double n, char *buf);

/* == and === */
bool jv_loose_equal(struct arena *a, const struct jv *x, const struct jv *y);
bool jv_strict_equal(const struct jv *x, const struct jv *y);
/* x < y (strictly) as JavaScript's relational comparison: both to
 * primitives, then strings compare by code points and anything else by
 * number; any NaN makes it false. */
bool jv_less(struct arena *a, const struct jv *x, const struct jv *y);
bool jv_less_equal(struct arena *a, const struct jv *x, const struct jv *y);

/* A new jansson value equal to v (NaN and infinities become null, as
 * JSON.stringify makes them); NULL when out of memory. */
json_t *jv_to_json(const struct jv *v);

#endif
