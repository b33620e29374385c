/*
 * log — structured logs on stdout. See log.h.
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longest path written into an access log line; longer ones are cut. */
#define LOG_PATH_MAX 1024

static enum log_level min_level = LOG_INFO;
static enum log_format out_format = LOG_FORMAT_JSON;

static const char *level_names[] = {"debug", "info", "warn", "error"};

/* The asynchronous writer. Lines are appended to `pending`; the flusher
 * swaps it with `spare` and writes that. Exactly one thread writes stdout at
 * a time: whoever holds `writing`. That is the flusher, or a thread whose
 * line must bypass the buffer (the buffer is not running, or the line is
 * longer than the buffer), and such a thread takes `writing` only when
 * nothing is buffered, so lines reach stdout whole and in the order they
 * were logged. A thread that finds the buffer full waits for the flusher
 * (`space`): back-pressure, never a second writer and never a dropped line. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;       /* the flusher: a line is urgent, or stop */
    pthread_cond_t space;      /* loggers: room in the buffer, or `writing` free */
    pthread_t flusher;
    char *pending, *spare;
    size_t len;
    bool running, stopping, urgent, writing;
} async_out = {.lock = PTHREAD_MUTEX_INITIALIZER, .space = PTHREAD_COND_INITIALIZER};

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

/* Lines that could not be written (stdout closed or failing): /metrics
 * shows the count. */
static atomic_ullong lines_lost;

unsigned long long log_lines_lost(void)
{
    return atomic_load_explicit(&lines_lost, memory_order_relaxed);
}

/* Writes all of buf to stdout, retrying short writes. Logging must never
 * fail the caller, so errors are dropped, and counted. */
static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            unsigned long long lost = 0;
            for (size_t i = 0; i < len; i++)
                lost += buf[i] == '\n';
            atomic_fetch_add_explicit(&lines_lost, lost ? lost : 1, memory_order_relaxed);
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* ---- output ----------------------------------------------------------- */

/* Writes buf to stdout holding the `writing` token; called and returns with
 * the lock held. */
static void write_as_writer_locked(const char *buf, size_t len)
{
    async_out.writing = true;
    pthread_mutex_unlock(&async_out.lock);
    write_all(buf, len);
    pthread_mutex_lock(&async_out.lock);
    async_out.writing = false;
    pthread_cond_broadcast(&async_out.space);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&async_out.lock);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += LOG_FLUSH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!async_out.stopping && !async_out.urgent && async_out.len < LOG_BUFFER_BYTES / 2 &&
               pthread_cond_timedwait(&async_out.wake, &async_out.lock, &until) == 0)
            ;
        if (async_out.len > 0 && !async_out.writing) {
            char *full = async_out.pending;
            size_t len = async_out.len;
            async_out.pending = async_out.spare;
            async_out.spare = full;
            async_out.len = 0;
            async_out.urgent = false;
            write_as_writer_locked(full, len);   /* also announces the free space */
            continue;   /* more may have been logged meanwhile */
        }
        if (async_out.stopping && async_out.len == 0 && !async_out.writing)
            break;
        if (async_out.writing)   /* a logger is writing a long line itself */
            pthread_cond_wait(&async_out.space, &async_out.lock);
    }
    pthread_mutex_unlock(&async_out.lock);
    return NULL;
}

int log_start_async(void)
{
    char *a = malloc(LOG_BUFFER_BYTES), *b = malloc(LOG_BUFFER_BYTES);

    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return -1;
    }
    pthread_cond_init(&async_out.wake, NULL);
    pthread_mutex_lock(&async_out.lock);
    async_out.pending = a;
    async_out.spare = b;
    async_out.len = 0;
    async_out.stopping = async_out.urgent = false;
    pthread_mutex_unlock(&async_out.lock);
    if (pthread_create(&async_out.flusher, NULL, flusher_main, NULL) != 0) {
        free(a);
        free(b);
        async_out.pending = async_out.spare = NULL;
        pthread_cond_destroy(&async_out.wake);
        return -1;
    }
    pthread_mutex_lock(&async_out.lock);
    async_out.running = true;
    pthread_mutex_unlock(&async_out.lock);
    return 0;
}

void log_stop_async(void)
{
    pthread_mutex_lock(&async_out.lock);
    if (!async_out.running) {
        pthread_mutex_unlock(&async_out.lock);
        return;
    }
    /* Later lines go out directly, once the flusher has written what is
     * buffered (see emit_line). */
    async_out.running = false;
    async_out.stopping = true;
    pthread_cond_signal(&async_out.wake);
    pthread_mutex_unlock(&async_out.lock);
    pthread_join(async_out.flusher, NULL);
    pthread_cond_destroy(&async_out.wake);
    free(async_out.pending);
    free(async_out.spare);
    async_out.pending = async_out.spare = NULL;
}

void log_flush(void)
{
    pthread_mutex_lock(&async_out.lock);
    while (async_out.writing)
        pthread_cond_wait(&async_out.space, &async_out.lock);
    if (async_out.len > 0) {
        size_t len = async_out.len;
        async_out.len = 0;
        write_as_writer_locked(async_out.pending, len);
    }
    pthread_mutex_unlock(&async_out.lock);
}

/* Hands one whole line (ending in '\n') to the output. */
static void emit_line(enum log_level level, const char *line, size_t len)
{
    pthread_mutex_lock(&async_out.lock);
    for (;;) {
        if (async_out.running && async_out.len + len <= LOG_BUFFER_BYTES) {
            memcpy(async_out.pending + async_out.len, line, len);
            async_out.len += len;
            if (level >= LOG_WARN || async_out.len >= LOG_BUFFER_BYTES / 2) {
                async_out.urgent = true;
                pthread_cond_signal(&async_out.wake);
            }
            break;
        }
        /* Written directly (no buffer, or a line longer than it), once all
         * that was logged before it is out. */
        if ((!async_out.running || len > LOG_BUFFER_BYTES) && async_out.len == 0 && !async_out.writing) {
            write_as_writer_locked(line, len);
            break;
        }
        /* Full: wait for the flusher. */
        async_out.urgent = true;
        if (async_out.running)
            pthread_cond_signal(&async_out.wake);
        pthread_cond_wait(&async_out.space, &async_out.lock);
    }
    pthread_mutex_unlock(&async_out.lock);
}

/* ---- strings from clients -------------------------------------------- */

/* A JSON string for text that may hold anything a client sent: jansson
 * checks and escapes it; bytes that are not UTF-8 are logged as %HH. */
static json_t *client_string(const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    json_t *s = json_stringn(text, len);
    char copy[3 * LOG_PATH_MAX + 1];
    size_t out = 0;

    if (s != NULL)
        return s;
    for (size_t i = 0; i < len && out + 3 < sizeof copy; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            copy[out++] = (char)c;
        } else {
            copy[out++] = '%';
            copy[out++] = hex[c >> 4];
            copy[out++] = hex[c & 15];
        }
    }
    return json_stringn(copy, out);
}

/* Appends text as a JSON string literal; returns the new length. */
static size_t append_string(char *buf, size_t cap, size_t len, const char *text)
{
    size_t text_len = strnlen(text, LOG_PATH_MAX);
    json_t *s = client_string(text, text_len);
    size_t n = s ? json_dumpb(s, buf + len, cap - len, JSON_ENCODE_ANY) : 0;

    json_decref(s);
    if (n == 0 || n > cap - len) {       /* cannot happen within the caps */
        if (cap - len >= 2) {
            buf[len] = buf[len + 1] = '"';
            return len + 2;
        }
        return len;
    }
    return len + n;
}

/* ---- events ----------------------------------------------------------- */

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
    emit_line(level, text, len + 1);
    free(text);
}

/* Whether text can go into a text-format line as it is: printable ASCII
 * only, and for values also no space, quote, backslash or '=' (which would
 * make "key=value" ambiguous). Anything else is written as a JSON string. */
static bool text_is_plain(const char *text, bool is_value)
{
    if (is_value && *text == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p >= 0x7f)
            return false;
        if (is_value && (*p == ' ' || *p == '"' || *p == '\\' || *p == '='))
            return false;
    }
    return true;
}

static size_t append_text(char *buf, size_t cap, size_t len, const char *text, bool is_value)
{
    if (!text_is_plain(text, is_value))
        return append_string(buf, cap, len, text);
    len += (size_t)snprintf(buf + len, cap - len, "%s", text);
    return len < cap ? len : cap - 1;
}

/* "TIME LEVEL message key=value ...": one line whatever the event holds;
 * control characters (a client's "%0A" in a path, say) are escaped. */
static void emit_text(enum log_level level, const char *time, const char *message, json_t *fields)
{
    char buf[16384];
    /* Past this, further fields are left out: room stays for one more
     * escaped value (at most 6 bytes per byte of LOG_PATH_MAX), its key and
     * the newline. */
    const size_t cap = sizeof buf - 6 * LOG_PATH_MAX - 256;
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s %-5s ", time, level_names[level]);
    const char *key;
    json_t *value;

    len = append_text(buf, sizeof buf, len, message, false);
    json_object_foreach(fields, key, value) {
        char *rendered;
        if (len >= cap)
            break;
        len += (size_t)snprintf(buf + len, sizeof buf - len, " %s=", key);
        if (json_is_string(value)) {
            len = append_text(buf, sizeof buf, len, json_string_value(value), true);
        } else if ((rendered = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL) {
            len = append_text(buf, sizeof buf, len, rendered, true);
            free(rendered);
        }
    }
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    emit_line(level, buf, len);
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

/* ---- the access log line ---------------------------------------------- */

void log_request(const char *method, const char *path, int status, double duration_ms,
                 size_t bytes, const char *request_id, bool aborted)
{
    /* Room for the caps: path 1024 bytes, each escaped to at most 6. */
    char line[8 * 1024];
    char time[32];
    size_t len;

    if (!log_enabled(LOG_INFO))
        return;
    if (out_format == LOG_FORMAT_TEXT) {
        json_t *fields = json_pack("{s:s, s:s, s:i, s:f, s:I, s:s}", "method", method, "path", path,
                                   "status", status, "duration_ms", duration_ms,
                                   "bytes", (json_int_t)bytes, "request_id", request_id);
        if (fields != NULL && aborted)
            json_object_set_new(fields, "aborted", json_true());
        log_event(LOG_INFO, "request", fields);
        return;
    }
    log_format_time(time, sizeof time);
    /* Only our own constant keys and numbers are written by hand here; every
     * string that came from the client goes through jansson. */
    len = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"info\",\"message\":\"request\",\"method\":",
                           time);
    len = append_string(line, sizeof line - 64, len, method);
    len += (size_t)snprintf(line + len, sizeof line - len, ",\"path\":");
    len = append_string(line, sizeof line - 64, len, path);
    len += (size_t)snprintf(line + len, sizeof line - len, ",\"status\":%d,\"duration_ms\":%.3f,\"bytes\":%zu,\"request_id\":",
                            status, duration_ms, bytes);
    len = append_string(line, sizeof line - 64, len, request_id);
    len += (size_t)snprintf(line + len, sizeof line - len, "%s}\n", aborted ? ",\"aborted\":true" : "");
    if (len >= sizeof line)
        return;
    emit_line(LOG_INFO, line, len);
}
