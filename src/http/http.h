/*
 * http — ToggleMaster's HTTP/1.1 transport: epoll event loops, llhttp
 * parsing, limits and timeouts, TLS. It knows no route and no flag: main
 * hands it one handler, which gets every well-formed request and answers
 * it, now or later, from any thread.
 *
 * Threading (see http/server.c): an accept thread deals connections in turn
 * to THREADS event loops; a connection stays on its loop. The handler runs
 * on the loop's thread and must not block; it may answer at once or hand
 * the request to another thread that answers later (http_respond* are
 * thread-safe). Requests on one connection are handled one at a time and
 * answered in order; pipelined requests wait, parsed but not dispatched.
 *
 * Protocol (RFC 9112, strict): llhttp rejects the smuggling vectors
 * (Transfer-Encoding with Content-Length, repeated Content-Length,
 * whitespace before a colon, obs-fold, bare LF ...) and the transport adds
 * what llhttp leaves to it: Host exactly once on HTTP/1.1, transfer codings
 * other than chunked (501), Expect (100-continue, else 417), limits on the
 * request line, headers and body as they arrive (414/431/413), and
 * deadlines for the head, the body and idle keep-alive (408 or close).
 * Every error the transport answers itself is a JSON {"error": ...} with
 * valid UTF-8, and the connection is closed after it.
 *
 * Memory: an idle connection holds no buffer; a request holds its head
 * (MAX_HEADER_BYTES at most) and body (MAX_BODY_BYTES); responses can point
 * into memory they do not own (the snapshot) with a release callback, and
 * the bytes waiting on clients that do not read are counted and capped
 * (MAX_UNSENT_MB): past the cap, connections whose output made no progress
 * for a second are closed, the longest-stalled first.
 *
 * Streams (http_stream_*): a response whose body is sent piece by piece
 * from any thread until it ends, for Server-Sent Events; each has its own
 * bound on what may wait unwritten (http/stream.c).
 */
#ifndef TM_HTTP_H
#define TM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "method.h"

#define HTTP_REQUEST_ID_MAX 128
/* An IPv6 address as text, with its NUL. */
#define HTTP_PEER_MAX 46
/* Headers per request (431 above). */
#define HTTP_MAX_HEADERS 100

struct http_request;
/* Called on the loop's thread once an answered request is over (its
 * response written, or the client gone): the status answered and the time
 * from its first byte. Also for requests the transport refused itself
 * (tag -1). Must not block. */
typedef void (*http_complete_fn)(void *ctx, const struct http_request *req, int status, long long duration_ns);

struct http_settings {
    const char *bind;          /* IPv4 or IPv6 literal */
    int port;
    int threads;               /* event loops */
    int max_connections;
    int max_client_connections;  /* per client address; 0: no limit */
    int keepalive_timeout_s;
    int header_timeout_s;
    int body_timeout_s;
    int send_timeout_s;
    int max_header_bytes;
    int max_body_bytes;
    long long max_unsent_bytes;
    const char *tls_cert_file; /* both NULL: plain HTTP */
    const char *tls_key_file;
    http_complete_fn on_complete;   /* optional; gets the handler's ctx */
};

struct http_header {
    const char *name, *value;
    size_t name_len, value_len;
};

/* A request as the handler sees it. Everything points into memory the
 * transport owns until the request is answered. */
struct http_request {
    enum http_method method;
    const char *method_name;   /* as sent, NUL-terminated */
    const char *path;          /* as sent: still percent-encoded, no query */
    size_t path_len;
    const char *query;         /* after '?', as sent; NULL when none */
    size_t query_len;
    const char *body;          /* NULL when there is none */
    size_t body_len;
    const struct http_header *headers;
    unsigned header_count;
    const char *request_id;    /* X-Request-Id as sent when sane, else generated */
    const char *peer;          /* the client's address as text ("" if unknown) */
    int tag;                   /* the handler's own mark (-1 until set), handed back
                                * to the completion callback */
};

typedef void (*http_handler_fn)(void *ctx, struct http_request *req);

struct http_server;

/* Binds, raises the soft descriptor limit to the hard one, and starts the
 * threads. NULL with a message in err when it cannot. */
struct http_server *http_server_start(const struct http_settings *settings, http_handler_fn handler,
                                      void *handler_ctx, char *err, size_t errlen);
/* Stops accepting (new connections are refused), closes idle keep-alive
 * connections and asks every client to close after its current request. */
void http_server_quiesce(struct http_server *server);
/* Waits until no request is in progress or timeout_ms passes; true if idle. */
bool http_server_wait_idle(struct http_server *server, int timeout_ms);
/* Closes every connection and stops the threads. Requests still with the
 * handler are answered into the void when it gets to them. */
void http_server_stop(struct http_server *server);
/* Open client connections now. */
long http_server_connections(const struct http_server *server);
/* Re-reads the TLS certificate and key; connections keep the ones they
 * began with. 0, or -1 with a message (the old ones stay in use). */
int http_server_reload_tls(struct http_server *server, char *err, size_t errlen);
/* Loads a TLS certificate chain and key as http_server_start() would and
 * drops them again: 0, or -1 with a message naming TLS_CERT_FILE or
 * TLS_KEY_FILE (for `togglemaster check-config`). */
int http_tls_check(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* ---- reading a request -------------------------------------------------- */

/* The value of a header (case-insensitive name), or NULL. */
const char *http_header(const struct http_request *req, const char *name, size_t *len);
/* Whether `media_type` (e.g. "application/json") is the Content-Type,
 * parameters aside. */
bool http_content_type_is(const struct http_request *req, const char *media_type);
/* Whether the client takes a body in `coding` (e.g. "gzip"; "x-gzip" counts
 * as gzip): named in Accept-Encoding, or "*" is, with a weight above zero
 * (RFC 9110 12.5.3). No Accept-Encoding: false, identity only. */
bool http_accepts_encoding(const struct http_request *req, const char *coding);
/* The first query parameter called key, percent-decoded into buf
 * (NUL-terminated). 1 when found, 0 when absent, -1 when longer than
 * buflen - 1. */
int http_query_param(const struct http_request *req, const char *key, char *buf, size_t buflen, size_t *len);
/* Walks the query's parameters in order: each call percent-decodes the next
 * name and value into the buffers (NUL-terminated) and returns 1; 0 at the
 * end; -1 for a parameter longer than its buffer (the walk can go on).
 * *pos starts at 0. */
int http_query_next(const struct http_request *req, size_t *pos, char *name, size_t name_cap, size_t *name_len,
                    char *value, size_t value_cap, size_t *value_len);

/* ---- answering it: exactly one of these, once, from any thread ---------- */

/* The response's Content-Type when it is not application/json (static
 * text of at most HTTP_CONTENT_TYPE_MAX bytes, e.g. Prometheus's; longer
 * ones are ignored). */
#define HTTP_CONTENT_TYPE_MAX 64
void http_set_content_type(struct http_request *req, const char *content_type);

/* Adds a response header before answering; -1 when there is no room left
 * (HTTP_EXTRA_HEADER_BYTES) or the text holds CR or LF. */
#define HTTP_EXTRA_HEADER_BYTES 512
int http_add_header(struct http_request *req, const char *name, const char *value);

/* A JSON body made of parts the transport does not own: they must stay
 * valid until release(release_arg) is called, once it is sent or dropped.
 * The parts array itself is copied. */
void http_respond_parts(struct http_request *req, int status, const struct iovec *parts, size_t count,
                        void (*release)(void *), void *release_arg);
void http_respond_buffer(struct http_request *req, int status, const void *body, size_t len,
                         void (*release)(void *), void *release_arg);
/* A JSON body the transport frees when done. */
void http_respond_owned(struct http_request *req, int status, char *body, size_t len);
/* {"error": message}; message may hold any bytes. */
void http_respond_error(struct http_request *req, int status, const char *message);
/* No body (204, 304). */
void http_respond_empty(struct http_request *req, int status);

/* ---- streaming: a body that goes on (Server-Sent Events) ---------------- */

/* Instead of http_respond*: answers req with status and a body sent in
 * pieces until the stream ends, then the connection closes (no
 * Content-Length). Returns the stream with one reference, the caller's;
 * NULL after answering 500 when out of memory. Set the Content-Type first.
 * At most max_queued bytes may wait unwritten: a send past that cuts the
 * client off (see http/stream.c). When the server drains, streams end. */
struct http_stream;
struct http_stream *http_stream_open(struct http_request *req, int status, size_t max_queued);
/* Queues a copy of data[0..len); any thread. 0, or -1 when the stream is
 * over (the client left, was cut off, or the server is stopping): close it. */
int http_stream_send(struct http_stream *stream, const void *data, size_t len);
/* Ends the stream (what is queued is still written) and drops the caller's
 * reference; any thread. */
void http_stream_close(struct http_stream *stream);

#endif
