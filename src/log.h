/*
 * log — structured logs on stdout.
 *
 * Owns: the log level and format, and writing one line per event. In JSON
 * format (the default) each line is one object with "time" (RFC 3339, UTC,
 * milliseconds), "level" and "message", plus the event's own fields. In text
 * format the same event is "TIME LEVEL message key=value ..." on one line:
 * values that are not plain printable ASCII are written as JSON strings, so
 * control characters a client sent cannot start a forged line.
 *
 * Output: exactly one thread writes stdout at a time, so lines are whole and
 * in the order they were logged, even into a pipe (where writes above
 * PIPE_BUF are not atomic), which is how Docker and journald read it. Before
 * log_start_async() each line is one write(2). After it (the server does
 * this), lines are appended to a buffer that a flusher thread writes out
 * every LOG_FLUSH_MS, when it is half full, or at once for warn and error
 * lines: one write per request halved the read throughput at LOG_LEVEL=info.
 * A crash can lose the last LOG_FLUSH_MS of lines. When stdout is slower
 * than the service, a logging thread waits for room in the buffer
 * (back-pressure): no line is dropped and memory stays bounded.
 * log_stop_async() flushes and returns to direct writes.
 */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

#define LOG_BUFFER_BYTES (256 * 1024)
#define LOG_FLUSH_MS 100

void log_init(enum log_level level, enum log_format format);
int log_start_async(void);
void log_stop_async(void);
/* Writes out whatever is buffered now (before an abort, for instance). */
void log_flush(void);
bool log_enabled(enum log_level level);

/* Emits message with the fields of the object `fields` (may be NULL). The
 * reference to fields is stolen. */
void log_event(enum log_level level, const char *message, json_t *fields);

/* printf-style message without extra fields. */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The access log line of one request (level info), built without a JSON
 * object per line: the hot path of every request. */
void log_request(const char *method, const char *path, int status, double duration_ms,
                 size_t bytes, const char *request_id, bool aborted);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" for now into buf (at least 32 bytes). */
void log_format_time(char *buf, size_t buflen);
/* Lines lost because stdout failed (never because it was slow). */
unsigned long long log_lines_lost(void);

#endif
