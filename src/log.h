/*
 * log — structured logs on stdout.
 *
 * Owns: the log level and format, and writing one line per event. In JSON
 * format (the default) each line is one object with "time" (RFC 3339, UTC,
 * milliseconds), "level" and "message", plus the event's own fields. In text
 * format the same event is "TIME LEVEL message key=value ...". Each line goes
 * out in one write(2), so lines from different threads never interleave.
 * Set up once in main() before any thread starts; read-only afterwards.
 */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

void log_init(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);

/* Emits message with the fields of the object `fields` (may be NULL). The
 * reference to fields is stolen. */
void log_event(enum log_level level, const char *message, json_t *fields);

/* printf-style message without extra fields. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" for now into buf (at least 32 bytes). */
void log_format_time(char *buf, size_t buflen);

#endif
