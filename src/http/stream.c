/*
 * http/stream — responses whose body goes on: Server-Sent Events. See
 * http.h ("streaming") and internal.h.
 *
 * A stream is an exchange answered with a head and no length: its body is
 * whatever is sent until the stream ends, and then the connection closes
 * (a close-delimited body, RFC 9112 6.3). Any thread may send; the bytes
 * are copied into chunks queued on the stream under its own lock, and the
 * stream is posted to its loop's inbox (once until the loop takes it),
 * which moves the chunks onto the connection's output and writes them
 * like any response: counted in MAX_UNSENT_MB, stalled writes closed after
 * SEND_TIMEOUT.
 *
 * Bounds: a stream holds at most max_queued bytes not yet written; a send
 * past that ends it at once (the connection is closed: a client that does
 * not read gets nothing more, and reconnects with Last-Event-ID). While
 * streaming the connection is watched for input only to notice the client
 * leaving (EOF or an error closes it at once).
 *
 * References: the caller's (dropped by http_stream_close), the exchange's
 * (dropped when the exchange is over) and one while posted in the inbox.
 * The stream's lock is a leaf: nothing else is taken under it.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void free_chunks(struct stream_chunk *chunk)
{
    while (chunk != NULL) {
        struct stream_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
}

/* Drops one reference (the stream's lock not held). */
static void stream_unref(struct http_stream *s)
{
    bool last;

    pthread_mutex_lock(&s->lock);
    last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last)
        return;
    free_chunks(s->in_head);
    free_chunks(s->out_head);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Hands s to its loop unless it is there already; with s's lock held,
 * returns whether the caller must post it (after unlocking). */
static bool mark_posted_locked(struct http_stream *s)
{
    if (s->posted || s->over)
        return false;
    s->posted = true;
    s->refs++;
    return true;
}

/* Into the loop's inbox (loop_wake() writes the loop's eventfd only when
 * no wake-up is pending: an event sent to a thousand streams costs each
 * loop one). */
static void post(struct http_stream *s)
{
    struct http_loop *loop = s->loop;

    pthread_mutex_lock(&loop->inbox_lock);
    s->next_posted = loop->streams_head;
    loop->streams_head = s;
    pthread_mutex_unlock(&loop->inbox_lock);
    loop_wake(loop->ev);
}

/* ---- http.h ------------------------------------------------------------- */

struct http_stream *http_stream_open(struct http_request *req, int status, size_t max_queued)
{
    struct exchange *ex = (struct exchange *)req;
    struct http_stream *s = calloc(1, sizeof *s);

    if (s == NULL) {
        http_respond_error(req, 500, "internal error: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->refs = 2;                 /* the caller's and the exchange's */
    s->loop = ex->loop;
    s->ex = ex;
    s->max_queued = max_queued;
    ex->stream = s;
    ex->close_after = true;      /* the body ends when the connection does */
    http_respond_parts(req, status, NULL, 0, NULL, NULL);
    return s;
}

int http_stream_send(struct http_stream *s, const void *data, size_t len)
{
    struct stream_chunk *chunk;
    bool must_post;

    if (len == 0)
        return 0;
    chunk = malloc(sizeof *chunk + len);
    pthread_mutex_lock(&s->lock);
    if (s->over || s->ended || chunk == NULL || s->queued + len > s->max_queued) {
        /* Gone, ending, or a client that does not keep up: it is cut off. */
        if (!s->over && !s->ended) {
            s->ended = true;
            s->abort = true;
        }
        must_post = mark_posted_locked(s);
        pthread_mutex_unlock(&s->lock);
        free(chunk);
        if (must_post)
            post(s);
        return -1;
    }
    chunk->next = NULL;
    chunk->len = len;
    chunk->sent = 0;
    memcpy(chunk->data, data, len);
    if (s->in_tail != NULL)
        s->in_tail->next = chunk;
    else
        s->in_head = chunk;
    s->in_tail = chunk;
    s->queued += len;
    must_post = mark_posted_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (must_post)
        post(s);
    return 0;
}

void http_stream_close(struct http_stream *s)
{
    bool must_post;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    must_post = mark_posted_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (must_post)
        post(s);
    stream_unref(s);
}

/* ---- the loop's side ------------------------------------------------------- */

void stream_pump(struct http_stream *s)
{
    struct stream_chunk *chunks;
    struct exchange *ex = s->ex;
    bool ended, abort_now;
    size_t bytes = 0;

    pthread_mutex_lock(&s->lock);
    chunks = s->in_head;
    s->in_head = s->in_tail = NULL;
    ended = s->ended;
    abort_now = s->abort;
    s->posted = false;
    pthread_mutex_unlock(&s->lock);

    /* The exchange's answer reached the loop before this (the inbox takes
     * answers first, and the answer was posted before any send), so a
     * stream with an exchange is on its connection's output. */
    if (ex == NULL) {
        free_chunks(chunks);
        stream_unref(s);
        return;
    }
    if (chunks != NULL) {
        struct stream_chunk *tail = chunks;
        bytes += tail->len;
        while (tail->next != NULL) {
            tail = tail->next;
            bytes += tail->len;
        }
        if (s->out_tail != NULL)
            s->out_tail->next = chunks;
        else
            s->out_head = chunks;
        s->out_tail = tail;
    }
    s->end_seen = ended;
    conn_stream_output(ex->conn, ex, bytes, abort_now);
    stream_unref(s);
}

void stream_written(struct http_stream *s, size_t bytes)
{
    pthread_mutex_lock(&s->lock);
    s->queued -= bytes;
    pthread_mutex_unlock(&s->lock);
}

void stream_end(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    pthread_mutex_unlock(&s->lock);
    s->end_seen = true;
}

void stream_detach(struct http_stream *s)
{
    struct stream_chunk *queued;

    s->ex = NULL;
    free_chunks(s->out_head);
    s->out_head = s->out_tail = NULL;
    pthread_mutex_lock(&s->lock);
    s->over = true;
    queued = s->in_head;
    s->in_head = s->in_tail = NULL;
    s->queued = 0;
    pthread_mutex_unlock(&s->lock);
    free_chunks(queued);
    stream_unref(s);
}
