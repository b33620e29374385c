/*
 * http/conn — one client connection, on its loop's thread. See internal.h.
 *
 * A connection reads into its loop's buffer and feeds llhttp (request.c),
 * which calls back as the request arrives; a complete request goes to the
 * handler (conn_dispatch). Answers are queued in request order and written
 * with writev, the head and the body parts in one call, several pipelined
 * responses together. What was read past a request that is still with the
 * handler is kept (`pending`) and parsed once it is answered, so a
 * connection has at most one request with the handler.
 *
 * Reading stops while the handler has a request, while CONN_OUTPUT_HIGH
 * bytes wait to be written (a client that pipelines without reading), and
 * once the connection is closing. Closing after an answer is a lingering
 * close: shut down our side, read and drop what the client still sends for
 * up to LINGER_MS, then close, so that an error answer sent while the client
 * was still sending (413 on a large body) reaches it instead of being
 * destroyed by a reset.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../log.h"
#include "../text.h"

/* Parts gathered into one writev. */
#define WRITE_PARTS_MAX 64
/* How long a closing connection drains what the client still sends. */
#define LINGER_MS 2000

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void conn_flush(struct conn *c);
static void conn_after_io(struct conn *c);

/* ---- lists --------------------------------------------------------------- */

void conn_list_append(struct conn_list *list, struct conn *c)
{
    c->next = NULL;
    c->prev = list->tail;
    if (list->tail != NULL)
        list->tail->next = c;
    else
        list->head = c;
    list->tail = c;
    list->count++;
}

void conn_list_remove(struct conn_list *list, struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        list->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        list->tail = c->prev;
    c->prev = c->next = NULL;
    list->count--;
}

static void set_idle(struct conn *c, bool idle)
{
    struct http_loop *loop = c->loop;

    if (c->idle == idle)
        return;
    conn_list_remove(c->idle ? &loop->idle : &loop->busy, c);
    c->idle = idle;
    conn_list_append(idle ? &loop->idle : &loop->busy, c);
}

void conn_set_deadline(struct conn *c, int seconds)
{
    c->deadline_ms = seconds > 0 ? loop_now_ms(c->loop->ev) + (long long)seconds * 1000 : 0;
}

/* ---- exchanges ending ------------------------------------------------------ */

/* The access log line: the path percent-decoded once, as routing saw it. */
static void log_exchange(const struct exchange *ex, bool aborted)
{
    char path[1024 + 1];
    size_t len = ex->req.path_len < sizeof path - 1 ? ex->req.path_len : sizeof path - 1;

    if (!log_enabled(LOG_INFO))
        return;
    text_percent_decode(ex->req.path ? ex->req.path : "", ex->req.path ? len : 0, path);
    log_request(ex->method_name, path, ex->status, (double)(http_now_ns() - ex->started_ns) / 1e6,
                ex->body_bytes, ex->request_id[0] ? ex->request_id : "-", aborted);
}

/* An exchange is over: its response was written, or cannot be. */
static void finish_exchange(struct conn *c, struct exchange *ex, bool aborted)
{
    struct http_server *server = c->loop->server;

    log_exchange(ex, aborted);
    if (server->settings.on_complete != NULL && ex->status > 0)
        server->settings.on_complete(server->handler_ctx, &ex->req, ex->status, http_now_ns() - ex->started_ns);
    c->unsent -= ex->unsent;
    atomic_fetch_sub(&server->unsent, (long long)ex->unsent);
    atomic_fetch_sub(&server->in_flight, 1);
    exchange_recycle(c->loop, ex);
}

/* ---- opening and closing ------------------------------------------------- */

static void conn_on_event(struct loop *ev, struct loop_watch *watch, uint32_t events);

/* The address the connection comes from, as text (IPv4-mapped IPv6
 * addresses as IPv4), or "" when the socket cannot say. */
static void peer_address(int fd, char out[HTTP_PEER_MAX])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, HTTP_PEER_MAX);
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, HTTP_PEER_MAX);
        else
            inet_ntop(AF_INET6, a, out, HTTP_PEER_MAX);
    }
}

/* What a client past MAX_CLIENT_CONNECTIONS gets before its connection is
 * closed (plain HTTP only: over TLS nothing can be said before the
 * handshake). */
static const char client_busy_response[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 63\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "\r\n"
    "{\"error\":\"too many connections from this address; retry later\"}";

struct conn *conn_open(struct http_loop *loop, int fd)
{
    struct http_server *server = loop->server;
    struct conn *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->watch.fd = fd;
    c->watch.fn = conn_on_event;
    c->client_slot = -1;
    peer_address(fd, c->peer);
    if (server->settings.max_client_connections > 0 && c->peer[0] != '\0') {
        /* FNV-1a of the address text. */
        unsigned h = 2166136261u;
        for (const char *p = c->peer; *p != '\0'; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        c->client_slot = (int)(h % HTTP_CLIENT_SLOTS);
        if (atomic_fetch_add(&server->client_connections[c->client_slot], 1) >=
            server->settings.max_client_connections) {
            atomic_fetch_sub(&server->client_connections[c->client_slot], 1);
            if (server->tls == NULL)
                (void)send(fd, client_busy_response, sizeof client_busy_response - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            free(c);
            return NULL;   /* the caller closes fd */
        }
    }
    c->loop = loop;
    llhttp_init(&c->parser, HTTP_REQUEST, &request_parser_settings);
    c->parser.data = c;
    if (server->tls != NULL) {
        c->ssl = tls_session_new(server->tls, fd);
        if (c->ssl == NULL)
            goto fail;
        c->handshaking = true;
    }
    if (loop_watch(loop->ev, &c->watch, EPOLLIN) != 0) {
        tls_session_free(c->ssl);
        goto fail;
    }
    conn_list_append(&loop->busy, c);
    /* A new connection has as long as a request head to begin. */
    conn_set_deadline(c, server->settings.header_timeout_s);
    atomic_fetch_add(&server->connections, 1);
    return c;

fail:
    if (c->client_slot >= 0)
        atomic_fetch_sub(&server->client_connections[c->client_slot], 1);
    free(c);
    return NULL;
}

void conn_close(struct conn *c)
{
    struct http_loop *loop = c->loop;
    struct exchange *ex;

    if (c->closed)
        return;
    c->closed = true;
    loop_unwatch(loop->ev, &c->watch);
    tls_session_free(c->ssl);
    c->ssl = NULL;
    close(c->watch.fd);
    while ((ex = c->out_head) != NULL) {
        c->out_head = ex->next;
        finish_exchange(c, ex, true);
    }
    if (c->reading != NULL) {        /* a request cut off while it arrived */
        atomic_fetch_sub(&loop->server->in_flight, 1);
        exchange_recycle(loop, c->reading);
    }
    if (c->handling != NULL)         /* answered later into the void */
        c->handling->conn = NULL;
    c->streaming = NULL;
    free(c->pending);
    free(c->tls_out);
    conn_list_remove(c->idle ? &loop->idle : &loop->busy, c);
    atomic_fetch_sub(&loop->server->connections, 1);
    if (c->client_slot >= 0)
        atomic_fetch_sub(&loop->server->client_connections[c->client_slot], 1);
    c->next = loop->graveyard;       /* freed after this loop round */
    loop->graveyard = c;
}

/* Closing once everything is written: shut down our side and drain what
 * the client still sends for a while (see the top of this file). */
static void begin_linger(struct conn *c)
{
    if (c->eof || shutdown(c->watch.fd, SHUT_WR) != 0) {
        conn_close(c);
        return;
    }
    c->closing = true;
    c->deadline_ms = loop_now_ms(c->loop->ev) + LINGER_MS;
    set_idle(c, false);
    free(c->pending);
    c->pending = NULL;
    c->pending_len = 0;
    c->tls_wants = 0;
    loop_rewatch(c->loop->ev, &c->watch, EPOLLIN);
}

static void linger_read(struct conn *c)
{
    ssize_t n = read(c->watch.fd, c->loop->read_buffer, LOOP_READ_BUFFER);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        conn_close(c);
}

/* ---- output ---------------------------------------------------------------- */

static void queue_output(struct conn *c, struct exchange *ex)
{
    ex->next = NULL;
    if (c->out_tail != NULL)
        c->out_tail->next = ex;
    else
        c->out_head = ex;
    c->out_tail = ex;
    c->unsent += ex->unsent;
    atomic_fetch_add(&c->loop->server->unsent, (long long)ex->unsent);
}

/* n bytes of the queue went out. */
static void advance(struct conn *c, size_t n)
{
    struct http_server *server = c->loop->server;
    size_t streamed = 0;

    while (n > 0) {
        struct exchange *ex = c->out_head;
        size_t take;

        if (ex->part_at < ex->part_count) {
            struct iovec *part = &ex->parts[ex->part_at];
            take = n < part->iov_len ? n : part->iov_len;
            part->iov_base = (char *)part->iov_base + take;
            part->iov_len -= take;
            while (ex->part_at < ex->part_count && ex->parts[ex->part_at].iov_len == 0)
                ex->part_at++;
        } else {
            /* A stream's body, after its head (gather's order). */
            struct http_stream *s = ex->stream;
            struct stream_chunk *chunk = s->out_head;
            take = n < chunk->len - chunk->sent ? n : chunk->len - chunk->sent;
            chunk->sent += take;
            streamed += take;
            ex->body_bytes += take;
            if (chunk->sent == chunk->len) {
                s->out_head = chunk->next;
                if (s->out_head == NULL)
                    s->out_tail = NULL;
                free(chunk);
            }
        }
        ex->unsent -= take;
        c->unsent -= take;
        atomic_fetch_sub(&server->unsent, (long long)take);
        n -= take;
        if (ex->part_at == ex->part_count && ex->stream == NULL) {
            c->out_head = ex->next;
            if (c->out_head == NULL)
                c->out_tail = NULL;
            finish_exchange(c, ex, false);
        }
    }
    if (streamed > 0)
        stream_written(c->streaming->stream, streamed);
}

/* Gathers the queue's next parts; returns how many. */
static int gather(const struct conn *c, struct iovec *iov)
{
    int n = 0;

    for (const struct exchange *ex = c->out_head; ex != NULL && n < WRITE_PARTS_MAX; ex = ex->next) {
        for (size_t i = ex->part_at; i < ex->part_count && n < WRITE_PARTS_MAX; i++)
            iov[n++] = ex->parts[i];
        if (ex->stream != NULL)
            for (const struct stream_chunk *chunk = ex->stream->out_head; chunk != NULL && n < WRITE_PARTS_MAX;
                 chunk = chunk->next)
                iov[n++] = (struct iovec){(char *)chunk->data + chunk->sent, chunk->len - chunk->sent};
    }
    return n;
}

/* Whether bytes wait to be written (a stream waiting for its next event
 * has none). */
static bool output_waiting(const struct conn *c)
{
    const struct exchange *ex = c->out_head;

    if (c->tls_out_at < c->tls_out_len)
        return true;
    if (ex == NULL)
        return false;
    return ex != c->streaming || ex->part_at < ex->part_count || ex->stream->out_head != NULL;
}

static void note_stall(struct conn *c, bool progressed)
{
    if (progressed)
        c->stalled_since_ms = 0;
    else if (c->stalled_since_ms == 0)
        c->stalled_since_ms = loop_now_ms(c->loop->ev);
}

/* TLS cannot write a vector: the queue goes out through a staging buffer
 * of one TLS record at a time. */
static void tls_flush(struct conn *c)
{
    for (;;) {
        uint32_t wants = 0;
        long n;

        if (c->tls_out_at == c->tls_out_len) {
            struct iovec iov[WRITE_PARTS_MAX];
            int parts = gather(c, iov);
            size_t len = 0;

            if (parts == 0)
                break;
            if (c->tls_out == NULL && (c->tls_out = malloc(TLS_RECORD_BYTES)) == NULL) {
                conn_close(c);
                return;
            }
            for (int i = 0; i < parts && len < TLS_RECORD_BYTES; i++) {
                size_t take = TLS_RECORD_BYTES - len < iov[i].iov_len ? TLS_RECORD_BYTES - len : iov[i].iov_len;
                memcpy(c->tls_out + len, iov[i].iov_base, take);
                len += take;
            }
            c->tls_out_len = len;
            c->tls_out_at = 0;
            advance(c, len);
        }
        n = tls_write(c->ssl, c->tls_out + c->tls_out_at, c->tls_out_len - c->tls_out_at, &wants);
        if (n > 0) {
            c->tls_out_at += (size_t)n;
            c->tls_wants = 0;
            note_stall(c, true);
        } else if (n == -1) {
            c->tls_wants = wants;
            note_stall(c, false);
            return;
        } else {
            conn_close(c);
            return;
        }
    }
    /* Everything is out: an idle connection keeps no staging buffer. */
    free(c->tls_out);
    c->tls_out = NULL;
    c->tls_out_len = c->tls_out_at = 0;
}

/* A stream that ended and is all written is over: the connection closes. */
static void stream_check_end(struct conn *c)
{
    struct exchange *ex = c->streaming;

    if (c->closed || ex == NULL || !ex->stream->end_seen || output_waiting(c))
        return;
    c->streaming = NULL;
    c->out_head = c->out_tail = NULL;   /* it was the last and only one left */
    finish_exchange(c, ex, false);
}

static void write_output(struct conn *c);

static void conn_flush(struct conn *c)
{
    write_output(c);
    stream_check_end(c);
}

static void write_output(struct conn *c)
{
    if (c->ssl != NULL) {
        tls_flush(c);
        return;
    }
    while (output_waiting(c)) {
        struct iovec iov[WRITE_PARTS_MAX];
        ssize_t n = writev(c->watch.fd, iov, gather(c, iov));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                note_stall(c, false);
                return;
            }
            conn_close(c);
            return;
        }
        note_stall(c, true);
        advance(c, (size_t)n);
    }
}

/* "100 Continue" for a client waiting to send its body, when nothing is
 * queued before it (otherwise the client sends the body after its own
 * short wait, which RFC 9110 allows for). */
void conn_send_continue(struct conn *c)
{
    uint32_t wants;

    if (output_waiting(c))
        return;
    if (c->ssl != NULL)
        (void)tls_write(c->ssl, continue_line, sizeof continue_line - 1, &wants);
    else
        (void)send(c->watch.fd, continue_line, sizeof continue_line - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* ---- input ----------------------------------------------------------------- */

static bool wants_input(const struct conn *c)
{
    return !c->closing && !c->eof && c->handling == NULL && c->pending_len == 0 &&
           c->unsent < CONN_OUTPUT_HIGH;
}

static void keep_pending(struct conn *c, const char *data, size_t len)
{
    if (len == 0)
        return;
    c->pending = malloc(len);
    if (c->pending == NULL) {
        conn_close(c);
        return;
    }
    memcpy(c->pending, data, len);
    c->pending_len = len;
}

/* Parses data; a complete request is dispatched from inside (request.c).
 * What follows a request that must wait is kept in `pending`. */
static void conn_feed(struct conn *c, const char *data, size_t len)
{
    llhttp_errno_t err;

    c->in_parse = true;
    c->feed_base = data;
    err = llhttp_execute(&c->parser, data, len);
    c->in_parse = false;
    c->fed_total += len;
    if (err == HPE_PAUSED) {
        const char *at = llhttp_get_error_pos(&c->parser);
        c->fed_total -= (size_t)(data + len - at);   /* not parsed yet */
        llhttp_resume(&c->parser);
        if (!c->closing)
            keep_pending(c, at, (size_t)(data + len - at));
    } else if (err == HPE_PAUSED_UPGRADE) {
        c->closing = true;   /* no protocol upgrades: answer, then close */
    } else if (err != HPE_OK) {
        const char *message;
        int status = request_error_status(c, err, data, len, &message);
        conn_refuse(c, status, message);
    }
}

static void conn_on_eof(struct conn *c)
{
    c->eof = true;
    if (c->reading != NULL) {
        /* The request ends before it is complete (a body with no length
         * that ends at EOF is not allowed in requests). */
        conn_refuse(c, 400, "the connection was closed before the request was complete");
    } else if (c->handling == NULL && !output_waiting(c)) {
        conn_close(c);
    }
}

static void conn_read(struct conn *c)
{
    char *buffer = c->loop->read_buffer;

    do {
        long n;
        uint32_t wants = 0;

        if (c->ssl != NULL) {
            n = tls_read(c->ssl, buffer, LOOP_READ_BUFFER, &wants);
            if (n == -1) {
                c->tls_wants = wants;
                return;
            }
        } else {
            n = read(c->watch.fd, buffer, LOOP_READ_BUFFER);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        }
        if (n < 0) {
            conn_close(c);
            return;
        }
        if (n == 0) {
            conn_on_eof(c);
            return;
        }
        conn_feed(c, buffer, (size_t)n);
        if (!c->closed)
            conn_flush(c);
        /* TLS may hold decrypted bytes the socket will not signal again. */
    } while (!c->closed && c->ssl != NULL && wants_input(c) && tls_pending(c->ssl));
}

/* ---- the request's life ------------------------------------------------------ */

void conn_request_begins(struct conn *c, struct exchange *ex)
{
    c->reading = ex;
    ex->conn = c;
    memcpy(ex->peer, c->peer, sizeof ex->peer);
    ex->req.peer = ex->peer;
    set_idle(c, false);
    conn_set_deadline(c, c->loop->server->settings.header_timeout_s);
}

int conn_dispatch(struct conn *c)
{
    struct http_server *server = c->loop->server;
    struct exchange *ex = c->reading;

    c->reading = NULL;
    c->handling = ex;
    ex->stage = STAGE_HANDLER;
    c->deadline_ms = 0;
    server->handler(server->handler_ctx, &ex->req);
    /* Answered at once: go on with a pipelined request, unless output is
     * piling up or the connection is closing. */
    if (c->handling == NULL && !c->closing && c->unsent < CONN_OUTPUT_HIGH)
        return 0;
    return HPE_PAUSED;
}

/* The smallest kernel send buffer a stream's socket is given. */
#define STREAM_SNDBUF_MIN (16 * 1024)

/* A stream's socket gets a kernel send buffer the size of the stream's own
 * bound. Left alone, the kernel's autotuning grows it for a client that
 * does not read up to tcp_wmem's maximum (4 MiB by default), all held
 * before the stream's bound is reached and the client is cut off. Linux
 * doubles the value for its bookkeeping. */
static void bound_stream_socket(struct conn *c, size_t max_queued)
{
    int bytes = max_queued < STREAM_SNDBUF_MIN ? STREAM_SNDBUF_MIN
              : max_queued > INT_MAX / 2      ? INT_MAX / 2
                                              : (int)max_queued;

    setsockopt(c->watch.fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

void conn_answered(struct exchange *ex)
{
    struct conn *c = ex->conn;
    struct http_server *server = c->loop->server;
    bool close = ex->close_after || !ex->keep_alive || c->eof || atomic_load(&server->draining);

    ex->stage = STAGE_OUTPUT;
    if (c->handling == ex)
        c->handling = NULL;
    if (close)
        c->closing = true;
    if (ex->stream != NULL) {
        c->streaming = ex;
        bound_stream_socket(c, ex->stream->max_queued);
    }
    response_render_head(ex, close);
    queue_output(c, ex);
    if (c->in_parse)
        return;   /* conn_feed's caller writes, then carries on */
    conn_flush(c);
    conn_after_io(c);
}

void conn_refuse(struct conn *c, int status, const char *message)
{
    struct exchange *ex = c->reading;

    c->reading = NULL;
    if (ex == NULL) {
        ex = exchange_take(c->loop);
        if (ex == NULL) {
            conn_close(c);
            return;
        }
        ex->conn = c;
        memcpy(ex->peer, c->peer, sizeof ex->peer);
        ex->req.peer = ex->peer;
        ex->started_ns = http_now_ns();
        atomic_fetch_add(&c->loop->server->in_flight, 1);
    }
    c->closing = true;
    free(c->pending);
    c->pending = NULL;
    c->pending_len = 0;
    request_ensure_id(ex);
    response_set_error(ex, status, message);
    ex->stage = STAGE_OUTPUT;
    response_render_head(ex, true);
    queue_output(c, ex);
    if (!c->in_parse) {
        conn_flush(c);
        conn_after_io(c);
    }
}

/* After reading or writing: continue with what was held back, become idle,
 * start closing, and watch for the right events. */
static void conn_after_io(struct conn *c)
{
    uint32_t events = 0;

    if (c->closed)
        return;
    /* A request held back can go on once the one before it is answered
     * and its output is no longer piling up. */
    while (!c->closed && !c->closing && c->pending_len > 0 && c->handling == NULL &&
           c->unsent < CONN_OUTPUT_HIGH / 2) {
        char *held = c->pending;
        size_t len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        conn_feed(c, held, len);
        free(held);
        if (!c->closed)
            conn_flush(c);
    }
    if (c->closed)
        return;
    if (c->streaming != NULL) {
        /* Input only tells that the client left. */
        set_idle(c, false);
        loop_rewatch(c->loop->ev, &c->watch, EPOLLIN | (output_waiting(c) ? EPOLLOUT : 0) | c->tls_wants);
        return;
    }
    if (c->closing && !output_waiting(c) && c->handling == NULL) {
        begin_linger(c);
        return;
    }
    if (c->eof && c->handling == NULL && !output_waiting(c)) {
        conn_close(c);
        return;
    }
    if (c->reading == NULL && c->handling == NULL && !output_waiting(c) && c->pending_len == 0) {
        if (!c->idle) {
            set_idle(c, true);
            conn_set_deadline(c, c->loop->server->settings.keepalive_timeout_s);
        }
    } else {
        set_idle(c, false);
    }
    if (c->handshaking) {
        events = c->tls_wants;
    } else {
        if (wants_input(c))
            events |= EPOLLIN;
        if (output_waiting(c))
            events |= EPOLLOUT;
        events |= c->tls_wants;
    }
    loop_rewatch(c->loop->ev, &c->watch, events);
}

static void conn_handshake(struct conn *c)
{
    uint32_t wants = 0;
    int rc = tls_handshake(c->ssl, &wants);

    if (rc < 0) {
        conn_close(c);
        return;
    }
    c->tls_wants = wants;
    if (rc == 0)
        return;
    c->handshaking = false;
    c->tls_wants = 0;
    conn_read(c);   /* the request may have come with the last flight */
}

/* ---- streams ------------------------------------------------------------ */

/* Events on a connection that streams: write what is queued; read and drop
 * what arrives, closing when the client has gone. */
static void stream_event(struct conn *c, uint32_t events)
{
    if (output_waiting(c) && (events & (EPOLLOUT | EPOLLIN)))
        conn_flush(c);
    if (!c->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        uint32_t wants = 0;
        long n = c->ssl != NULL ? tls_read(c->ssl, c->loop->read_buffer, LOOP_READ_BUFFER, &wants)
                                : read(c->watch.fd, c->loop->read_buffer, LOOP_READ_BUFFER);
        if (n == 0 || (n < 0 && (c->ssl != NULL ? n != -1 : errno != EAGAIN && errno != EINTR)))
            conn_close(c);
    }
}

void conn_stream_output(struct conn *c, struct exchange *ex, size_t bytes, bool abort)
{
    struct http_server *server = c->loop->server;

    if (abort) {
        /* Reset, not closed: a plain close leaves what the kernel holds
         * for a client that does not read there until it reads or the
         * kernel gives up. The client learns at once and reconnects with
         * Last-Event-ID for what it missed. */
        struct linger reset = {.l_onoff = 1, .l_linger = 0};
        log_event(LOG_WARN, "closing a stream whose client does not keep up",
                  json_pack("{s:s, s:I}", "request_id", ex->request_id, "unsent_bytes", (json_int_t)c->unsent));
        setsockopt(c->watch.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        conn_close(c);
        return;
    }
    ex->unsent += bytes;
    c->unsent += bytes;
    atomic_fetch_add(&server->unsent, (long long)bytes);
    conn_flush(c);
    conn_after_io(c);
}

void conn_stream_end(struct conn *c)
{
    if (c->closed || c->streaming == NULL)
        return;
    stream_end(c->streaming->stream);
    conn_flush(c);
    conn_after_io(c);
}

static void conn_on_event(struct loop *ev, struct loop_watch *watch, uint32_t events)
{
    struct conn *c = (struct conn *)watch;

    (void)ev;
    if (c->closed)
        return;
    if (c->streaming != NULL) {
        stream_event(c, events);
        conn_after_io(c);
        return;
    }
    if (c->closing && !output_waiting(c) && c->handling == NULL) {
        linger_read(c);   /* lingering: drop what arrives */
        return;
    }
    if (c->handshaking) {
        conn_handshake(c);
    } else {
        if (output_waiting(c) && (events & (EPOLLOUT | EPOLLIN)))
            conn_flush(c);
        if (!c->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && wants_input(c))
            conn_read(c);
        else if (!c->closed && (events & (EPOLLHUP | EPOLLERR)))
            conn_close(c);   /* gone both ways: nothing can be delivered */
    }
    conn_after_io(c);
}

/* ---- deadlines ---------------------------------------------------------------- */

void conn_check_deadline(struct conn *c, long long now_ms)
{
    const struct http_settings *s = &c->loop->server->settings;

    if (c->stalled_since_ms != 0 && now_ms - c->stalled_since_ms >= (long long)s->send_timeout_s * 1000) {
        conn_close(c);
        return;
    }
    if (c->deadline_ms == 0 || now_ms < c->deadline_ms)
        return;
    if (c->reading != NULL && !c->closing) {
        conn_refuse(c, 408, c->reading->stage == STAGE_HEAD
                                ? "request timeout: the request head did not arrive in time"
                                : "request timeout: the request body did not arrive in time");
    } else {
        conn_close(c);   /* idle, lingering, or never sent a request */
    }
}
