/* Unit tests for log.c: whole lines, in order, from many threads into a
 * pipe (as Docker and journald read stdout), and one line per event in the
 * text format whatever the fields hold.
 *
 * The ordering test is the one that found torn lines: 8 threads x 4,000
 * lines of ~3 KB each through the asynchronous writer into a pipe whose
 * reader is slower than the writers, so the buffer fills up and the
 * back-pressure path runs constantly. Every line must parse as one JSON
 * object and each thread's sequence numbers must arrive in order. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

#define THREADS 8
#define LINES_PER_THREAD 4000
#define PAD_BYTES 3000

struct capture {
    int fd;
    char *data;
    size_t len, cap;
    int slow;          /* microseconds to sleep after each read */
};

static void *capture_main(void *arg)
{
    struct capture *c = arg;
    char buf[16384];
    ssize_t n;

    while ((n = read(c->fd, buf, sizeof buf)) > 0) {
        if (c->len + (size_t)n > c->cap) {
            c->cap = (c->cap ? c->cap * 2 : 1 << 20) + (size_t)n;
            c->data = realloc(c->data, c->cap);
            if (c->data == NULL)
                abort();
        }
        memcpy(c->data + c->len, buf, (size_t)n);
        c->len += (size_t)n;
        if (c->slow)
            usleep((useconds_t)c->slow);
    }
    return NULL;
}

/* Redirects stdout into a pipe read by a capture thread. */
static int capture_start(struct capture *c, pthread_t *thread, int slow)
{
    int fds[2], saved = dup(STDOUT_FILENO);

    memset(c, 0, sizeof *c);
    c->slow = slow;
    if (saved < 0 || pipe(fds) != 0)
        abort();
    c->fd = fds[0];
    dup2(fds[1], STDOUT_FILENO);
    close(fds[1]);
    pthread_create(thread, NULL, capture_main, c);
    return saved;
}

static void capture_stop(struct capture *c, pthread_t thread, int saved)
{
    dup2(saved, STDOUT_FILENO);   /* closes the pipe's last write end */
    close(saved);
    pthread_join(thread, NULL);
    close(c->fd);
}

static char pad[PAD_BYTES + 1];

static void *writer_main(void *arg)
{
    int id = (int)(long)arg;

    for (int i = 0; i < LINES_PER_THREAD; i++) {
        /* Every 97th line is a warning: those are flushed at once, which
         * exercises the writer's other path. */
        log_event(i % 97 == 0 ? LOG_WARN : LOG_INFO, "line",
                  json_pack("{s:i, s:i, s:s}", "thread", id, "seq", i, "pad", pad));
    }
    return NULL;
}

static void test_lines_whole_and_ordered(void)
{
    struct capture c;
    pthread_t reader, writers[THREADS];
    int saved, next[THREADS] = {0}, invalid = 0, disordered = 0, lines = 0;
    char *line, *end;

    memset(pad, 'p', PAD_BYTES);
    log_init(LOG_INFO, LOG_FORMAT_JSON);
    saved = capture_start(&c, &reader, 200);
    CHECK(log_start_async() == 0);
    for (long t = 0; t < THREADS; t++)
        pthread_create(&writers[t], NULL, writer_main, (void *)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(writers[t], NULL);
    log_stop_async();
    capture_stop(&c, reader, saved);

    for (line = c.data; line != NULL && line < c.data + c.len; line = end + 1) {
        json_t *obj, *thread, *seq;
        end = memchr(line, '\n', (size_t)(c.data + c.len - line));
        if (end == NULL)
            end = c.data + c.len;
        lines++;
        obj = json_loadb(line, (size_t)(end - line), 0, NULL);
        thread = json_object_get(obj, "thread");
        seq = json_object_get(obj, "seq");
        if (!json_is_integer(thread) || !json_is_integer(seq) || json_integer_value(thread) < 0 ||
            json_integer_value(thread) >= THREADS) {
            invalid++;
        } else {
            int t = (int)json_integer_value(thread);
            if (json_integer_value(seq) != next[t])
                disordered++;
            next[t] = (int)json_integer_value(seq) + 1;
        }
        json_decref(obj);
    }
    if (invalid || disordered || lines != THREADS * LINES_PER_THREAD)
        fprintf(stderr, "log: %d lines, %d not valid JSON, %d out of order\n", lines, invalid, disordered);
    CHECK(lines == THREADS * LINES_PER_THREAD);
    CHECK(invalid == 0);
    CHECK(disordered == 0);
    free(c.data);
}

/* LOG_FORMAT=text: one line per event, control characters escaped, so a
 * client-supplied "%0A" in a path cannot forge a second line. */
static void test_text_format_escapes(void)
{
    struct capture c;
    pthread_t reader;
    int saved;

    log_init(LOG_DEBUG, LOG_FORMAT_TEXT);
    saved = capture_start(&c, &reader, 0);
    log_request("GET", "/flags/x\n2026-01-01T00:00:00.000Z info forged line", 404, 0.1, 10, "rid\r", false);
    log_event(LOG_INFO, "multi\nline message", json_pack("{s:s, s:s}", "detail", "a\x01" "b\"c", "plain", "ok"));
    capture_stop(&c, reader, saved);

    int newlines = 0, controls = 0;
    for (size_t i = 0; i < c.len; i++) {
        newlines += c.data[i] == '\n';
        controls += c.data[i] != '\n' && (unsigned char)c.data[i] < 0x20;
    }
    CHECK(newlines == 2);
    CHECK(controls == 0);
    CHECK(c.len > 0 && memmem(c.data, c.len, "\\n2026", 6) != NULL);
    CHECK(memmem(c.data, c.len, "plain=ok", 8) != NULL);
    CHECK(memmem(c.data, c.len, "\\u0001", 6) != NULL);
    free(c.data);
}

int main(void)
{
    test_lines_whole_and_ordered();
    test_text_format_escapes();
    return CHECK_DONE("unit[log]");
}
