/*
 * eval/flagd — flagd's operators. See flagd.h.
 *
 * Each follows flagd's Go evaluator (core/pkg/evaluator: fractional.go,
 * semver.go, string_comparison.go) line by line where the two JavaScript
 * and Go implementations differ; docs/evaluation.md lists the differences.
 */
#include "flagd.h"

#include <math.h>
#include <murmurhash.h>
#include <string.h>

#define MAX_TOTAL_WEIGHT 2147483647.0   /* math.MaxInt32 */

uint32_t flagd_hash(const char *s, size_t len)
{
    uint32_t out[1];

    lmmh_x86_32(s, (unsigned int)len, 0, out);
    return out[0];
}

uint32_t flagd_bucket(uint32_t hash, uint32_t total_weight)
{
    return (uint32_t)(((uint64_t)hash * total_weight) >> 32);
}

/* ---- starts_with, ends_with ------------------------------------------------ */

static bool two_strings(const struct jv *args, size_t argc)
{
    return argc == 2 && args[0].type == JV_STRING && args[1].type == JV_STRING;
}

struct jv flagd_starts_with(const struct jv *args, size_t argc)
{
    if (!two_strings(args, argc))
        return jv_null();
    return jv_bool(args[1].u.s.len <= args[0].u.s.len &&
                   memcmp(args[0].u.s.p, args[1].u.s.p, args[1].u.s.len) == 0);
}

struct jv flagd_ends_with(const struct jv *args, size_t argc)
{
    if (!two_strings(args, argc))
        return jv_null();
    return jv_bool(args[1].u.s.len <= args[0].u.s.len &&
                   memcmp(args[0].u.s.p + args[0].u.s.len - args[1].u.s.len, args[1].u.s.p, args[1].u.s.len) == 0);
}

/* ---- sem_ver ------------------------------------------------------------------ */

/* A version split into its parts (pointers into the text). */
struct semver {
    const char *part[3];       /* major, minor, patch digits; NULL: shorthand "0" */
    size_t part_len[3];
    const char *pre;           /* pre-release identifiers without the '-', or NULL */
    size_t pre_len;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* A number without leading zeros at s[*i]; advances *i. */
static bool parse_number(const char *s, size_t len, size_t *i, const char **out, size_t *out_len)
{
    size_t start = *i;

    while (*i < len && is_digit(s[*i]))
        (*i)++;
    if (*i == start || (s[start] == '0' && *i - start > 1))
        return false;
    *out = s + start;
    *out_len = *i - start;
    return true;
}

/* Dot-separated identifiers from s[*i] to the end or to `stop`. */
static bool parse_identifiers(const char *s, size_t len, size_t *i, char stop, bool numeric_rule)
{
    for (;;) {
        size_t start = *i;
        bool numeric = true;
        while (*i < len && s[*i] != '.' && s[*i] != stop) {
            if (!is_ident_char(s[*i]))
                return false;
            numeric = numeric && is_digit(s[*i]);
            (*i)++;
        }
        if (*i == start)
            return false;
        if (numeric_rule && numeric && s[start] == '0' && *i - start > 1)
            return false;
        if (*i < len && s[*i] == '.') {
            (*i)++;
            continue;
        }
        return true;
    }
}

/* golang.org/x/mod/semver's grammar, with flagd's optional "v"/"V". */
static bool semver_parse(const char *s, size_t len, struct semver *v)
{
    size_t i = 0;

    memset(v, 0, sizeof *v);
    if (len > 0 && (s[0] == 'v' || s[0] == 'V'))
        i = 1;
    for (int k = 0; k < 3; k++) {
        if (k > 0) {
            if (i == len)
                return true;   /* shorthand: v1 is v1.0.0, v1.2 is v1.2.0 */
            if (s[i] != '.')
                return false;
            i++;
        }
        if (!parse_number(s, len, &i, &v->part[k], &v->part_len[k]))
            return false;
    }
    if (i < len && s[i] == '-') {
        v->pre = s + ++i;
        if (!parse_identifiers(s, len, &i, '+', true))
            return false;
        v->pre_len = (size_t)(s + i - v->pre);
    }
    if (i < len && s[i] == '+') {
        i++;
        if (!parse_identifiers(s, len, &i, '\0', false))
            return false;
    }
    return i == len;
}

/* Numbers of any length: longer is larger, then digit by digit. */
static int compare_numbers(const char *a, size_t alen, const char *b, size_t blen)
{
    int c;

    if (a == NULL)
        a = "0", alen = 1;
    if (b == NULL)
        b = "0", blen = 1;
    if (alen != blen)
        return alen < blen ? -1 : 1;
    c = memcmp(a, b, alen);
    return (c > 0) - (c < 0);
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* Pre-release precedence (semver 2.0 section 11): none sorts after any. */
static int compare_prerelease(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;

    if (a == NULL || b == NULL)
        return a == b ? 0 : a == NULL ? 1 : -1;
    while (i < alen && j < blen) {
        size_t ei = i, ej = j;
        bool na, nb;
        int c;
        while (ei < alen && a[ei] != '.')
            ei++;
        while (ej < blen && b[ej] != '.')
            ej++;
        na = all_digits(a + i, ei - i);
        nb = all_digits(b + j, ej - j);
        if (na != nb)
            return na ? -1 : 1;   /* numeric identifiers sort first */
        if (na) {
            c = compare_numbers(a + i, ei - i, b + j, ej - j);
        } else {
            size_t n = ei - i < ej - j ? ei - i : ej - j;
            c = memcmp(a + i, b + j, n);
            c = c != 0 ? (c > 0) - (c < 0) : (ei - i > ej - j) - (ei - i < ej - j);
        }
        if (c != 0)
            return c;
        i = ei < alen ? ei + 1 : ei;
        j = ej < blen ? ej + 1 : ej;
    }
    return (i < alen) - (j < blen);   /* more identifiers: higher */
}

int flagd_semver_compare(const char *a, size_t alen, const char *b, size_t blen, int parts)
{
    struct semver va, vb;
    int c;

    if (!semver_parse(a, alen, &va) || !semver_parse(b, blen, &vb))
        return -2;
    for (int k = 0; k < (parts > 0 ? parts : 3); k++)
        if ((c = compare_numbers(va.part[k], va.part_len[k], vb.part[k], vb.part_len[k])) != 0)
            return c;
    return parts > 0 ? 0 : compare_prerelease(va.pre, va.pre_len, vb.pre, vb.pre_len);
}

/* flagd's ensureString: strings as they are, numbers as Go's %v prints
 * them. That is JavaScript's text for 0.0001 <= |n| < 1e6; outside it Go
 * writes an exponent ("1e+06"), which is never a version. */
static bool version_text(struct arena *a, const struct jv *v, struct jv *out)
{
    double magnitude;

    if (v->type == JV_STRING) {
        *out = *v;
        return true;
    }
    if (v->type != JV_NUMBER)
        return false;
    magnitude = fabs(v->u.n);
    if (!(magnitude < 1e6) || (magnitude != 0 && magnitude < 1e-4))
        return false;
    *out = jv_to_string(a, v);
    return out->type == JV_STRING;
}

struct jv flagd_sem_ver(struct arena *a, const struct jv *args, size_t argc)
{
    struct jv left, right;
    const char *op;
    size_t oplen;
    int c;

    if (argc != 3 || args[1].type != JV_STRING || !version_text(a, &args[0], &left) ||
        !version_text(a, &args[2], &right))
        return jv_null();
    op = args[1].u.s.p;
    oplen = args[1].u.s.len;
#define OP_IS(text) (oplen == sizeof text - 1 && memcmp(op, text, oplen) == 0)
    c = flagd_semver_compare(left.u.s.p, left.u.s.len, right.u.s.p, right.u.s.len,
                             OP_IS("^") ? 1 : OP_IS("~") ? 2 : 0);
    if (c == -2)
        return jv_null();
    if (OP_IS("=") || OP_IS("^") || OP_IS("~"))
        return jv_bool(c == 0);
    if (OP_IS("!="))
        return jv_bool(c != 0);
    if (OP_IS("<"))
        return jv_bool(c < 0);
    if (OP_IS("<="))
        return jv_bool(c <= 0);
    if (OP_IS(">="))
        return jv_bool(c >= 0);
    if (OP_IS(">"))
        return jv_bool(c > 0);
#undef OP_IS
    return jv_null();   /* an unknown operator */
}

/* ---- fractional ------------------------------------------------------------------ */

struct jv flagd_fractional(struct arena *a, const struct jv *args, size_t argc, const struct jv *targeting_key,
                           const char *flag_key, size_t flag_key_len)
{
    const char *bucket_by;
    size_t bucket_by_len, first = 0;
    double total = 0;
    uint32_t bucket;
    char on_stack[256], *joined;

    if (argc < 1)
        return jv_null();
    if (args[0].type == JV_STRING) {
        bucket_by = args[0].u.s.p;
        bucket_by_len = args[0].u.s.len;
        first = 1;
    } else {
        if (args[0].type == JV_NULL || args[0].type == JV_UNDEFINED)
            first = 1;   /* a bucketing value that came out null */
        if (targeting_key->type != JV_STRING || targeting_key->u.s.len == 0)
            return jv_null();   /* none, not a string, or empty */
        bucket_by_len = flag_key_len + targeting_key->u.s.len;
        joined = bucket_by_len < sizeof on_stack ? on_stack : arena_alloc(a, bucket_by_len + 1);
        if (joined == NULL)
            return jv_null();
        memcpy(joined, flag_key, flag_key_len);
        memcpy(joined + flag_key_len, targeting_key->u.s.p, targeting_key->u.s.len);
        bucket_by = joined;
    }
    /* Every entry is checked before any is used, as flagd does. */
    for (size_t i = first; i < argc; i++) {
        const struct jv *entry = &args[i];
        struct jv variant, weight;
        if (entry->type != JV_ARRAY || jv_array_len(entry) == 0)
            return jv_null();
        variant = jv_array_at(entry, 0);
        if (variant.type == JV_ARRAY || variant.type == JV_OBJECT)
            return jv_null();
        if (jv_array_len(entry) < 2)
            weight = jv_null();
        else
            weight = jv_array_at(entry, 1);
        if (weight.type == JV_NULL || weight.type == JV_UNDEFINED) {
            total += 1;
            continue;
        }
        if (weight.type != JV_NUMBER || weight.u.n != trunc(weight.u.n) || weight.u.n > MAX_TOTAL_WEIGHT)
            return jv_null();   /* not a number, not whole, or too large */
        if (weight.u.n > 0)
            total += weight.u.n;
    }
    if (total > MAX_TOTAL_WEIGHT || total == 0)
        return jv_null();
    bucket = flagd_bucket(flagd_hash(bucket_by, bucket_by_len), (uint32_t)total);
    for (size_t i = first, end = 0; i < argc; i++) {
        struct jv weight = jv_array_len(&args[i]) < 2 ? jv_null() : jv_array_at(&args[i], 1);
        struct jv variant = jv_array_at(&args[i], 0);
        if (weight.type != JV_NUMBER)
            end += 1;
        else if (weight.u.n > 0)
            end += (size_t)weight.u.n;
        if (bucket < end)
            return variant.type == JV_UNDEFINED ? jv_null() : variant;
    }
    return jv_null();   /* unreachable: the last range ends at total */
}
