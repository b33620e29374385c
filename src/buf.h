/*
 * buf — a growable byte buffer for building response bodies from parts
 * that are already JSON (pre-rendered flags and values) without a JSON
 * library round trip.
 *
 * Owns: its bytes, until buf_take() hands them to the caller. Allocation
 * failure is sticky: later appends do nothing and buf_take() returns NULL,
 * so a caller checks once, at the end.
 */
#ifndef TM_BUF_H
#define TM_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

void buf_add(struct buf *b, const char *s, size_t len);
/* A NUL-terminated string as it is. */
void buf_str(struct buf *b, const char *s);
/* printf into the buffer. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0..len) as a JSON string (quoted and escaped; bytes that are not UTF-8
 * shown as U+FFFD). */
void buf_json_string(struct buf *b, const char *s, size_t len);
/* The bytes (malloc'd, *len their count) and an empty buffer; NULL when an
 * allocation failed (the buffer is freed either way). */
char *buf_take(struct buf *b, size_t *len);
void buf_free(struct buf *b);

#endif
