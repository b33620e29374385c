/*
 * text — text that came from outside (client bytes, rows another program
 * wrote): UTF-8 checks and repairs before it is shown in JSON (which only
 * holds valid UTF-8), percent-decoding, and the one-member JSON objects
 * that carry messages. Pure functions.
 */
#ifndef TM_TEXT_H
#define TM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). NUL bytes count as valid. */
bool text_utf8_valid(const char *s, size_t len);

/* Copies s[0..len) to out, replacing every byte that does not belong to a
 * well-formed sequence with U+FFFD, and NUL-terminates it. out must hold
 * TEXT_REPAIRED_MAX(len) bytes. Returns the length written. */
#define TEXT_REPAIRED_MAX(len) (3 * (len) + 1)
size_t text_utf8_repair(const char *s, size_t len, char *out);

/* Percent-decodes in[0..len) into out (room for len + 1 bytes), once, and
 * NUL-terminates it; returns the decoded length. "%00" stays as it is, so a
 * decoded name never holds a NUL that would cut it short; malformed escapes
 * ("%", "%zz") are kept as they are. */
size_t text_percent_decode(const char *in, size_t len, char *out);

/* The shape of a JSON text, measured before it is parsed: the deepest
 * nesting of arrays and objects, and the number of values in them (each
 * member and element counts once). One pass over the bytes, no
 * allocation; strings (with their escapes) are skipped. The text need not
 * be valid JSON: the parser decides that afterwards. */
void text_json_shape(const char *s, size_t len, int *depth, size_t *elements);

/* {"key": value} as a malloc'd JSON text (*len its length), with bytes of
 * value that are not UTF-8 replaced; NULL when out of memory. */
char *text_json_object(const char *key, const char *value, size_t *len);

/* Unix seconds as RFC 3339 UTC ("2026-12-03T23:26:14Z") into buf (at
 * least 21 bytes). */
void text_format_time(int64_t unix_s, char *buf, size_t buflen);
/* RFC 3339 UTC as the store writes it ("2026-12-03T23:26:14.123Z", the
 * fraction optional) to Unix seconds; -1 when it is not that. */
int64_t text_parse_time(const char *text);

#endif
