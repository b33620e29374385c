/*
 * buf — a growable byte buffer. See buf.h.
 */
#include "buf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

void buf_add(struct buf *b, const char *s, size_t len)
{
    if (b->failed || len == 0)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        char *grown;
        while (cap < b->len + len)
            cap *= 2;
        grown = realloc(b->p, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
}

void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
    } else if ((size_t)n < sizeof small) {
        buf_add(b, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big == NULL) {
            b->failed = true;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_add(b, big, (size_t)n);
        free(big);
    }
}

void buf_json_string(struct buf *b, const char *s, size_t len)
{
    char *repaired = NULL, *text;
    json_t *json;

    if (!text_utf8_valid(s, len)) {
        repaired = malloc(TEXT_REPAIRED_MAX(len));
        if (repaired == NULL) {
            b->failed = true;
            return;
        }
        len = text_utf8_repair(s, len, repaired);
        s = repaired;
    }
    json = json_stringn(s, len);
    text = json ? json_dumps(json, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    if (text == NULL)
        b->failed = true;
    else
        buf_str(b, text);
    free(text);
    json_decref(json);
    free(repaired);
}

char *buf_take(struct buf *b, size_t *len)
{
    char *p = NULL;

    if (b->failed)
        free(b->p);
    else
        p = b->p != NULL ? b->p : malloc(1);   /* nothing added: an empty body */
    *len = p ? b->len : 0;
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
    return p;
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
