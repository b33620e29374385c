/*
 * text — UTF-8 checks and repairs. See text.h.
 */
#include "text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Length of the well-formed sequence at s (at most `avail` bytes), or 0. */
static size_t sequence_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xbf;   /* allowed range of the second byte */

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) lo = 0xa0;          /* no overlong forms */
        if (c == 0xed) hi = 0x9f;          /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) lo = 0x90;          /* no overlong forms */
        if (c == 0xf4) hi = 0x8f;          /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return need;
}

bool text_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        size_t n = sequence_length(p, (size_t)(end - p));
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

size_t text_utf8_repair(const char *s, size_t len, char *out)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t written = 0;

    while (p < end) {
        size_t n = sequence_length(p, (size_t)(end - p));
        if (n == 0) {
            memcpy(out + written, "\xef\xbf\xbd", 3);   /* U+FFFD */
            written += 3;
            p++;
        } else {
            memcpy(out + written, p, n);
            written += n;
            p += n;
        }
    }
    out[written] = '\0';
    return written;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t text_percent_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < len && (hi = hex_value(in[i + 1])) >= 0 &&
            (lo = hex_value(in[i + 2])) >= 0 && (hi | lo) != 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else {
            out[o++] = in[i++];
        }
    }
    out[o] = '\0';
    return o;
}

char *text_json_object(const char *key, const char *value, size_t *len)
{
    size_t value_len = strlen(value);
    char *repaired = NULL, *text;
    json_t *obj;

    if (!text_utf8_valid(value, value_len)) {
        repaired = malloc(TEXT_REPAIRED_MAX(value_len));
        if (repaired == NULL)
            return NULL;
        value_len = text_utf8_repair(value, value_len, repaired);
        value = repaired;
    }
    obj = json_object();
    if (obj != NULL && json_object_set_new(obj, key, json_stringn(value, value_len)) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    free(repaired);
    text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

void text_json_shape(const char *s, size_t len, int *depth, size_t *elements)
{
    int level = 0, deepest = 0;
    size_t count = 0;
    bool in_string = false, escaped = false, empty = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '[':
        case '{':
            if (++level > deepest)
                deepest = level;
            empty = true;
            continue;
        case ']':
        case '}':
            if (level > 0) {
                if (!empty)
                    count++;   /* the last value of the container */
                level--;
            }
            break;
        case ',':
            count++;
            break;
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            continue;
        default:
            break;
        }
        empty = false;
    }
    *depth = deepest;
    *elements = count;
}

void text_format_time(int64_t unix_s, char *buf, size_t buflen)
{
    time_t t = (time_t)unix_s;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, buflen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t text_parse_time(const char *text)
{
    struct tm tm = {0};
    int consumed = 0;

    if (text == NULL || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                               &tm.tm_min, &tm.tm_sec, &consumed) != 6 || consumed != 19)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}
