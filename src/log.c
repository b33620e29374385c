/*
 * log — structured logs on stdout. See log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static enum log_format out_format = LOG_FORMAT_JSON;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_init(enum log_level level, enum log_format format)
{
    min_level = level;
    out_format = format;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

void log_format_time(char *buf, size_t buflen)
{
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
}

/* Writes all of buf to stdout, retrying short writes. Logging must never
 * fail the caller, so errors are dropped. */
static void write_line(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void emit_json(enum log_level level, const char *time, const char *message, json_t *fields)
{
    json_t *line = json_object();
    char *text;

    if (line == NULL)
        return;
    json_object_set_new(line, "time", json_string(time));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "message", json_string(message));
    if (fields != NULL)
        json_object_update(line, fields);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (text == NULL)
        return;
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room: replace the NUL, write len+1 */
    write_line(text, len + 1);
    free(text);
}

static void emit_text(enum log_level level, const char *time, const char *message, json_t *fields)
{
    char buf[4096];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s %-5s %s", time, level_names[level], message);
    const char *key;
    json_t *value;

    json_object_foreach(fields, key, value) {
        char *rendered;
        if (len >= sizeof buf - 1)
            break;
        if (json_is_string(value))
            len += (size_t)snprintf(buf + len, sizeof buf - len, " %s=%s", key, json_string_value(value));
        else if ((rendered = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL) {
            len += (size_t)snprintf(buf + len, sizeof buf - len, " %s=%s", key, rendered);
            free(rendered);
        }
    }
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    write_line(buf, len);
}

void log_event(enum log_level level, const char *message, json_t *fields)
{
    char time[32];

    if (level < min_level) {
        json_decref(fields);
        return;
    }
    log_format_time(time, sizeof time);
    if (out_format == LOG_FORMAT_JSON)
        emit_json(level, time, message, fields);
    else
        emit_text(level, time, message, fields);
    json_decref(fields);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    log_event(level, message, NULL);
}
