/*
 * eval/value — JsonLogic's values and JavaScript's rules. See value.h.
 *
 * The conversions follow ECMAScript (ToNumber, ToString, Number::toString,
 * IsLooselyEqual, IsLessThan) for the values JSON can hold; there is no
 * `undefined` (operators handle a missing argument themselves). Strings
 * compare by UTF-8 bytes, which is code point order; JavaScript compares
 * UTF-16 code units, which differs only between characters above U+FFFF
 * and those from U+E000 to U+FFFF (docs/evaluation.md).
 */
#include "value.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== the arena ============================================================ */

#define ARENA_FIRST_BLOCK (16 * 1024)

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

void arena_init(struct arena *a, size_t limit)
{
    memset(a, 0, sizeof *a);
    a->limit = limit;
}

static void free_blocks(struct arena_block *b)
{
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

struct arena_held {
    struct arena_held *next;
    json_t *json;
};

static void release_held(struct arena *a)
{
    for (struct arena_held *h = a->held; h != NULL; h = h->next)
        json_decref(h->json);
    a->held = NULL;
}

void arena_reset(struct arena *a)
{
    release_held(a);
    if (a->first != NULL) {
        free_blocks(a->first->next);
        a->first->next = NULL;
        a->first->used = 0;
    }
    a->current = a->first;
    a->used_total = 0;
    a->exhausted = false;
}

void arena_free(struct arena *a)
{
    release_held(a);
    free_blocks(a->first);
    a->first = a->current = NULL;
}

void *arena_alloc(struct arena *a, size_t size)
{
    struct arena_block *b = a->current;
    void *p;

    size = (size + 15) & ~(size_t)15;
    if (a->limit != 0 && a->used_total + size > a->limit) {
        a->exhausted = true;
        return NULL;
    }
    if (b == NULL || b->used + size > b->cap) {
        size_t cap = b == NULL ? ARENA_FIRST_BLOCK : 2 * b->cap;
        struct arena_block *fresh;
        while (cap < size)
            cap *= 2;
        fresh = malloc(sizeof *fresh + cap);
        if (fresh == NULL) {
            a->exhausted = true;
            return NULL;
        }
        fresh->next = NULL;
        fresh->used = 0;
        fresh->cap = cap;
        if (b == NULL)
            a->first = fresh;
        else
            b->next = fresh;
        a->current = b = fresh;
    }
    p = b->data + b->used;
    b->used += size;
    a->used_total += size;
    return p;
}

bool arena_hold(struct arena *a, json_t *json)
{
    struct arena_held *h = arena_alloc(a, sizeof *h);

    if (h == NULL) {
        json_decref(json);
        return false;
    }
    h->json = json;
    h->next = a->held;
    a->held = h;
    return true;
}

/* ==== making and reading values ============================================== */

struct jv jv_from_json(const json_t *json)
{
    struct jv v = {.type = JV_NULL};

    switch (json_typeof(json)) {
    case JSON_TRUE:
        return jv_bool(true);
    case JSON_FALSE:
        return jv_bool(false);
    case JSON_INTEGER:
        return jv_number((double)json_integer_value(json));
    case JSON_REAL:
        return jv_number(json_real_value(json));
    case JSON_STRING:
        return jv_string(json_string_value(json), json_string_length(json));
    case JSON_ARRAY:
        v.type = JV_ARRAY;
        v.u.json = json;
        return v;
    case JSON_OBJECT:
        v.type = JV_OBJECT;
        v.u.json = json;
        return v;
    default:
        return v;
    }
}

struct jv_list *jv_list_new(struct arena *a, size_t count)
{
    struct jv_list *list = arena_alloc(a, sizeof *list + count * sizeof(struct jv));

    if (list != NULL)
        list->count = count;
    return list;
}

struct jv jv_array(const struct jv_list *list)
{
    struct jv v = {.type = JV_ARRAY, .computed = true, .u.list = list};
    return v;
}

size_t jv_array_len(const struct jv *array)
{
    return array->computed ? array->u.list->count : json_array_size(array->u.json);
}

struct jv jv_array_at(const struct jv *array, size_t i)
{
    return array->computed ? array->u.list->items[i] : jv_from_json(json_array_get(array->u.json, i));
}

bool jv_object_get(const struct jv *object, const char *key, size_t len, struct jv *out)
{
    const json_t *member = json_object_getn(object->u.json, key, len);

    if (member == NULL)
        return false;
    *out = jv_from_json(member);
    return true;
}

/* ==== truthiness ================================================================ */

bool jv_truthy(const struct jv *v)
{
    switch (v->type) {
    case JV_BOOL:
        return v->u.b;
    case JV_NUMBER:
        return v->u.n != 0 && !isnan(v->u.n);
    case JV_STRING:
        return v->u.s.len > 0;
    case JV_ARRAY:
        return jv_array_len(v) > 0;
    case JV_OBJECT:
        return true;
    default:
        return false;
    }
}

/* ==== numbers from strings ======================================================= */

/* Length of the JavaScript white space or line terminator at p, or 0. */
static size_t js_space(const unsigned char *p, size_t left)
{
    if (left >= 1 && (*p == ' ' || (*p >= '\t' && *p <= '\r')))
        return 1;
    if (left >= 2 && p[0] == 0xc2 && p[1] == 0xa0)                   /* U+00A0 */
        return 2;
    if (left >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)   /* U+FEFF */
        return 3;
    if (left >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)   /* U+1680 */
        return 3;
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
        ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
        return 3;                                                    /* U+2000-200A, 2028, 2029, 202F */
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)   /* U+205F */
        return 3;
    if (left >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)   /* U+3000 */
        return 3;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the longest StrDecimalLiteral prefix of s (sign, digits,
 * fraction, exponent), 0 when there is none. Infinity excluded. */
static size_t decimal_prefix(const char *s, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < len && is_digit(s[i])) {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        size_t j = i + 1, fraction = 0;
        while (j < len && is_digit(s[j])) {
            j++;
            fraction++;
        }
        if (digits + fraction > 0) {
            i = j;
            digits += fraction;
        }
    }
    if (digits == 0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < len && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < len && is_digit(s[j])) {
            while (j < len && is_digit(s[j]))
                j++;
            i = j;
        }
    }
    return i;
}

static double parse_decimal(const char *s, size_t len)
{
    char buf[64], *copy = len < sizeof buf ? buf : malloc(len + 1);
    double d;

    if (copy == NULL)
        return NAN;
    memcpy(copy, s, len);
    copy[len] = '\0';
    d = strtod(copy, NULL);
    if (copy != buf)
        free(copy);
    return d;
}

/* An optionally signed "Infinity" at the start: its length, or 0. */
static size_t infinity_prefix(const char *s, size_t len, double *out)
{
    size_t i = 0;
    double sign = 1;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        sign = s[i++] == '-' ? -1 : 1;
    if (len - i >= 8 && memcmp(s + i, "Infinity", 8) == 0) {
        *out = sign * INFINITY;
        return i + 8;
    }
    return 0;
}

/* A 0x / 0o / 0b integer literal (no sign, as JavaScript has it). */
static bool radix_literal(const char *s, size_t len, double *out)
{
    int base;
    double value = 0;

    if (len < 3 || s[0] != '0')
        return false;
    switch (s[1]) {
    case 'x': case 'X': base = 16; break;
    case 'o': case 'O': base = 8; break;
    case 'b': case 'B': base = 2; break;
    default: return false;
    }
    for (size_t i = 2; i < len; i++) {
        int d;
        char c = s[i];
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return false;
        if (d >= base)
            return false;
        value = value * base + d;
    }
    *out = value;
    return true;
}

static double string_to_number(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, end = len, n;
    double value;

    while (start < end && (n = js_space(p + start, end - start)) > 0)
        start += n;
    for (;;) {   /* trailing white space: find a space that ends the string */
        size_t k, found = 0;
        for (k = start; k < end; k++) {
            n = js_space(p + k, end - k);
            if (n > 0 && k + n == end) {
                found = n;
                break;
            }
        }
        if (found == 0)
            break;
        end -= found;
    }
    s += start;
    len = end - start;
    if (len == 0)
        return 0;
    if (radix_literal(s, len, &value))
        return value;
    if (infinity_prefix(s, len, &value) == len)
        return value;
    if (decimal_prefix(s, len) == len)
        return parse_decimal(s, len);
    return NAN;
}

double jv_to_number(struct arena *a, const struct jv *v)
{
    struct jv text;

    switch (v->type) {
    case JV_NULL:
        return 0;
    case JV_UNDEFINED:
        return NAN;
    case JV_BOOL:
        return v->u.b ? 1 : 0;
    case JV_NUMBER:
        return v->u.n;
    case JV_STRING:
        return string_to_number(v->u.s.p, v->u.s.len);
    case JV_ARRAY:
        text = jv_to_string(a, v);
        return text.type == JV_STRING ? string_to_number(text.u.s.p, text.u.s.len) : NAN;
    default:
        return NAN;
    }
}

double jv_parse_float(struct arena *a, const struct jv *v)
{
    struct jv text = v->type == JV_STRING ? *v : jv_to_string(a, v);
    const unsigned char *p;
    const char *s;
    size_t len, n, start = 0;
    double value;

    if (text.type != JV_STRING)
        return NAN;
    p = (const unsigned char *)text.u.s.p;
    len = text.u.s.len;
    while (start < len && (n = js_space(p + start, len - start)) > 0)
        start += n;
    s = text.u.s.p + start;
    len -= start;
    if (infinity_prefix(s, len, &value) > 0)
        return value;
    n = decimal_prefix(s, len);
    return n > 0 ? parse_decimal(s, n) : NAN;
}

/* ==== numbers to strings ============================================================ */

size_t jv_format_number(double n, char *buf)
{
    char digits[32], sci[40];
    int k = 0, exponent = 0, len = 0;

    if (isnan(n))
        return (size_t)sprintf(buf, "NaN");
    if (isinf(n))
        return (size_t)sprintf(buf, n < 0 ? "-Infinity" : "Infinity");
    if (n == 0)
        return (size_t)sprintf(buf, "0");
    if (n < 0) {
        buf[len++] = '-';
        n = -n;
    }
    /* The shortest digit string that reads back as n. */
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision - 1, n);
        if (strtod(sci, NULL) == n)
            break;
    }
    /* sci is d[.ddd]e[+-]x: collect the digits and the exponent. */
    for (const char *p = sci; *p && *p != 'e'; p++)
        if (is_digit(*p))
            digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    exponent = atoi(strchr(sci, 'e') + 1);
    /* ECMAScript Number::toString: n is the decimal point's position. */
    int point = exponent + 1;
    if (k <= point && point <= 21) {
        memcpy(buf + len, digits, (size_t)k);
        len += k;
        for (int i = k; i < point; i++)
            buf[len++] = '0';
    } else if (0 < point && point <= 21) {
        memcpy(buf + len, digits, (size_t)point);
        len += point;
        buf[len++] = '.';
        memcpy(buf + len, digits + point, (size_t)(k - point));
        len += k - point;
    } else if (-6 < point && point <= 0) {
        buf[len++] = '0';
        buf[len++] = '.';
        for (int i = 0; i < -point; i++)
            buf[len++] = '0';
        memcpy(buf + len, digits, (size_t)k);
        len += k;
    } else {
        buf[len++] = digits[0];
        if (k > 1) {
            buf[len++] = '.';
            memcpy(buf + len, digits + 1, (size_t)(k - 1));
            len += k - 1;
        }
        len += sprintf(buf + len, "e%c%d", point - 1 < 0 ? '-' : '+', abs(point - 1));
    }
    buf[len] = '\0';
    return (size_t)len;
}

/* Appends the string form of v (as an element of an array being joined,
 * null shows as nothing) to a growing arena buffer. */
struct text {
    struct arena *a;
    char *p;
    size_t len, cap;
    bool failed;
};

static void text_append(struct text *t, const char *s, size_t len)
{
    if (t->failed || len == 0)
        return;
    if (t->len + len > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char *grown;
        while (cap < t->len + len)
            cap *= 2;
        grown = arena_alloc(t->a, cap);
        if (grown == NULL) {
            t->failed = true;
            return;
        }
        if (t->len > 0)
            memcpy(grown, t->p, t->len);
        t->p = grown;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, len);
    t->len += len;
}

static void append_string_form(struct text *t, const struct jv *v, bool in_array)
{
    char number[32];

    switch (v->type) {
    case JV_NULL:
        if (!in_array)
            text_append(t, "null", 4);
        return;
    case JV_UNDEFINED:
        if (!in_array)
            text_append(t, "undefined", 9);
        return;
    case JV_BOOL:
        if (v->u.b)
            text_append(t, "true", 4);
        else
            text_append(t, "false", 5);
        return;
    case JV_NUMBER:
        text_append(t, number, jv_format_number(v->u.n, number));
        return;
    case JV_STRING:
        text_append(t, v->u.s.p, v->u.s.len);
        return;
    case JV_ARRAY:
        for (size_t i = 0, n = jv_array_len(v); i < n; i++) {
            struct jv item = jv_array_at(v, i);
            if (i > 0)
                text_append(t, ",", 1);
            append_string_form(t, &item, true);
        }
        return;
    default:
        text_append(t, "[object Object]", 15);
        return;
    }
}

struct jv jv_to_string(struct arena *a, const struct jv *v)
{
    struct text t = {.a = a};

    if (v->type == JV_STRING)
        return *v;
    append_string_form(&t, v, false);
    if (t.failed)
        return jv_null();
    return jv_string(t.p ? t.p : "", t.len);
}

/* ==== equality and order ============================================================== */

static bool same_string(const struct jv *x, const struct jv *y)
{
    return x->u.s.len == y->u.s.len && memcmp(x->u.s.p, y->u.s.p, x->u.s.len) == 0;
}

/* The same array or object (JavaScript compares them by identity). */
static bool same_composite(const struct jv *x, const struct jv *y)
{
    if (x->type == JV_ARRAY && x->computed != y->computed)
        return false;
    return x->type == JV_ARRAY && x->computed ? x->u.list == y->u.list : x->u.json == y->u.json;
}

bool jv_strict_equal(const struct jv *x, const struct jv *y)
{
    if (x->type != y->type)
        return false;
    switch (x->type) {
    case JV_NULL:
    case JV_UNDEFINED:
        return true;
    case JV_BOOL:
        return x->u.b == y->u.b;
    case JV_NUMBER:
        return x->u.n == y->u.n;
    case JV_STRING:
        return same_string(x, y);
    default:
        return same_composite(x, y);
    }
}

static bool is_composite(const struct jv *v)
{
    return v->type == JV_ARRAY || v->type == JV_OBJECT;
}

bool jv_loose_equal(struct arena *a, const struct jv *x, const struct jv *y)
{
    struct jv converted;

    if (x->type == y->type)
        return jv_strict_equal(x, y);
    if (x->type <= JV_UNDEFINED || y->type <= JV_UNDEFINED)   /* null == undefined only */
        return x->type <= JV_UNDEFINED && y->type <= JV_UNDEFINED;
    if (x->type == JV_NUMBER && y->type == JV_STRING)
        return x->u.n == jv_to_number(a, y);
    if (x->type == JV_STRING && y->type == JV_NUMBER)
        return jv_to_number(a, x) == y->u.n;
    if (x->type == JV_BOOL) {
        converted = jv_number(x->u.b ? 1 : 0);
        return jv_loose_equal(a, &converted, y);
    }
    if (y->type == JV_BOOL) {
        converted = jv_number(y->u.b ? 1 : 0);
        return jv_loose_equal(a, x, &converted);
    }
    if (is_composite(x) && !is_composite(y)) {
        converted = jv_to_string(a, x);
        return converted.type == JV_STRING && jv_loose_equal(a, &converted, y);
    }
    if (is_composite(y) && !is_composite(x)) {
        converted = jv_to_string(a, y);
        return converted.type == JV_STRING && jv_loose_equal(a, x, &converted);
    }
    return false;
}

static int compare_strings(const struct jv *x, const struct jv *y)
{
    size_t n = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
    int c = memcmp(x->u.s.p, y->u.s.p, n);
    return c != 0 ? c : (x->u.s.len > y->u.s.len) - (x->u.s.len < y->u.s.len);
}

/* -1, 0 or 1 as x compares to y, or 2 when they are unordered (NaN). */
static int compare(struct arena *a, const struct jv *x, const struct jv *y)
{
    struct jv px = is_composite(x) ? jv_to_string(a, x) : *x;
    struct jv py = is_composite(y) ? jv_to_string(a, y) : *y;
    double nx, ny;

    if (px.type == JV_STRING && py.type == JV_STRING) {
        int c = compare_strings(&px, &py);
        return (c > 0) - (c < 0);
    }
    nx = jv_to_number(a, &px);
    ny = jv_to_number(a, &py);
    if (isnan(nx) || isnan(ny))
        return 2;
    return (nx > ny) - (nx < ny);
}

bool jv_less(struct arena *a, const struct jv *x, const struct jv *y)
{
    return compare(a, x, y) == -1;
}

bool jv_less_equal(struct arena *a, const struct jv *x, const struct jv *y)
{
    int c = compare(a, x, y);
    return c == -1 || c == 0;
}

/* ==== back to JSON ======================================================================= */

json_t *jv_to_json(const struct jv *v)
{
    json_t *out;

    switch (v->type) {
    case JV_BOOL:
        return json_boolean(v->u.b);
    case JV_NUMBER:
        if (isnan(v->u.n) || isinf(v->u.n))
            return json_null();
        if (fabs(v->u.n) < 9007199254740992.0 && v->u.n == (double)(json_int_t)v->u.n)
            return json_integer((json_int_t)v->u.n);
        return json_real(v->u.n);
    case JV_STRING:
        return json_stringn(v->u.s.p, v->u.s.len);
    case JV_ARRAY:
        if (!v->computed)
            return json_deep_copy(v->u.json);
        out = json_array();
        for (size_t i = 0; out != NULL && i < v->u.list->count; i++)
            if (json_array_append_new(out, jv_to_json(&v->u.list->items[i])) != 0) {
                json_decref(out);
                out = NULL;
            }
        return out;
    case JV_OBJECT:
        return json_deep_copy(v->u.json);
    default:
        return json_null();
    }
}
