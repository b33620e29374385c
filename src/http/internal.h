/*
 * http/internal — the transport's own structures, shared by its files and
 * by nothing outside src/http/ (the request fuzz target aside):
 *
 *   server.c    the server: listening socket, accept thread, event-loop
 *               threads, their inboxes, the tick (deadlines, the unsent cap)
 *   conn.c      a connection: reading, parsing, dispatching, writing, closing
 *   request.c   llhttp's callbacks: the request head and body, the rules
 *               llhttp leaves to us, and reading a request (http.h)
 *   response.c  answering: response heads, error bodies, http_respond*
 *   stream.c    streamed responses (Server-Sent Events): sends from any
 *               thread, queued per stream and written by the loop
 *   tls.c       OpenSSL contexts and non-blocking TLS I/O
 *   loop.c      the epoll loop itself
 *
 * Ownership: a loop owns its connections; a connection owns the exchanges
 * (request + response) it reads and writes; an exchange given to the handler
 * is still owned by its loop, which frees it after its response is written,
 * or when the response arrives for a connection that is gone.
 */
#ifndef TM_HTTP_INTERNAL_H
#define TM_HTTP_INTERNAL_H

#include <llhttp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "http.h"
#include "loop.h"

/* Bytes of request head kept inside an exchange before it allocates. */
#define EXCHANGE_INLINE_HEAD 1024
#define EXCHANGE_INLINE_HEADERS 16
/* Response parts (head + body parts) kept inside an exchange. */
#define EXCHANGE_INLINE_PARTS 4
/* The response head: status line, our headers, the handler's extras. */
#define RESPONSE_HEAD_MAX (HTTP_EXTRA_HEADER_BYTES + HTTP_REQUEST_ID_MAX + HTTP_CONTENT_TYPE_MAX + 384)
/* Per connection: stop reading more requests while this much output waits
 * (pipelining clients that do not read), start again below half. */
#define CONN_OUTPUT_HIGH (256 * 1024)
/* Each loop reads into one buffer of this size. */
#define LOOP_READ_BUFFER (64 * 1024)
/* Exchanges a loop keeps for reuse. */
#define LOOP_SPARE_EXCHANGES 256
/* Loops sweep deadlines this often. */
#define LOOP_TICK_MS 250
/* Past the unsent cap, connections stalled this long may be closed. */
#define STALLED_MS 1000
/* Plaintext staged for one SSL_write. */
#define TLS_RECORD_BYTES (16 * 1024)

struct http_loop;
struct conn;
struct tls;
struct http_stream;
typedef struct ssl_st SSL;

enum exchange_stage {
    STAGE_HEAD,         /* reading the request line and headers */
    STAGE_BODY,         /* reading the body */
    STAGE_HANDLER,      /* with the handler */
    STAGE_OUTPUT,       /* answered: the response is queued or being written */
};

struct exchange {
    struct http_request req;        /* first: http_request -> exchange */
    struct http_loop *loop;
    struct conn *conn;              /* NULL once the connection is gone */
    struct exchange *next;          /* output queue, inbox, or spare list */
    enum exchange_stage stage;
    long long started_ns;

    /* The head as received: the target, then header names and values. */
    char *head;
    size_t head_len, head_cap;
    size_t url_len;
    struct http_header *headers;    /* offsets into head until the head ends */
    unsigned header_count, header_cap;
    bool in_value;                  /* the last header piece was a value */
    unsigned long long value_end;   /* where the last value piece ended in the stream */
    unsigned host_count;
    char method_name[24];
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char peer[HTTP_PEER_MAX];       /* the connection's, copied: it may close first */
    bool keep_alive;
    bool http10;                    /* keep-alive must then be said */

    char *body;
    size_t body_cap;

    /* The response. */
    int status;
    const char *content_type;       /* NULL: application/json */
    char extra[HTTP_EXTRA_HEADER_BYTES];
    size_t extra_len;
    char response_head[RESPONSE_HEAD_MAX];
    struct iovec parts_inline[EXCHANGE_INLINE_PARTS];
    struct iovec *parts;            /* [0] the head, then the body */
    size_t part_count, part_at;     /* parts[part_at..] are still to send */
    size_t body_bytes;              /* for the log */
    size_t unsent;                  /* bytes of parts still to send */
    void (*release)(void *);
    void *release_arg;
    char *owned_body;
    bool close_after;               /* the connection closes after this */
    struct http_stream *stream;     /* a streamed body (stream.c), or NULL */

    char head_inline[EXCHANGE_INLINE_HEAD];
    struct http_header headers_inline[EXCHANGE_INLINE_HEADERS];
};

struct conn {
    struct loop_watch watch;
    struct http_loop *loop;
    struct conn *prev, *next;       /* in the loop's idle or busy list */
    bool idle;                      /* which of the two */
    llhttp_t parser;
    SSL *ssl;
    bool handshaking;
    uint32_t tls_wants;             /* events a TLS call is waiting for */
    char *tls_out;                  /* plaintext staged for SSL_write */
    size_t tls_out_len, tls_out_at;

    struct exchange *reading;       /* the request being parsed */
    struct exchange *handling;      /* the request with the handler */
    struct exchange *out_head, *out_tail;   /* responses to write, in order */
    size_t unsent;                  /* their bytes */
    int error_status;               /* set by a parser callback that refuses */
    const char *error_message;
    char error_text[96];            /* room for a message made for this request */

    char *pending;                  /* input read but not parsed yet */
    size_t pending_len;
    long long deadline_ms;          /* 0: none */
    long long stalled_since_ms;     /* output waiting without progress; 0: none */
    bool closing;                   /* close once the output is written */
    bool closed;                    /* freed at the end of the loop round */
    bool in_parse;                  /* inside llhttp_execute() */
    const char *feed_base;          /* the buffer llhttp_execute() is parsing */
    unsigned long long fed_total;   /* bytes parsed before it */
    bool eof;                       /* the client sent FIN */
    char peer[HTTP_PEER_MAX];       /* the client's address, as text */
    int client_slot;                /* its count in client_connections, or -1 */
    struct exchange *streaming;     /* the streamed response being written, or NULL */
};

/* The connections of a loop that are in one state. */
struct conn_list {
    struct conn *head, *tail;
    size_t count;
};

struct http_loop {
    struct http_server *server;
    struct loop *ev;
    pthread_t thread;
    bool thread_started;

    /* Filled by other threads (leaf lock). */
    pthread_mutex_t inbox_lock;
    int *new_fds;
    size_t new_count, new_cap;
    struct exchange *done_head, *done_tail;   /* answered by other threads */
    struct http_stream *streams_head;         /* streams with something new */
    bool drain_requested;

    /* Loop thread only. */
    struct conn_list idle;          /* keep-alive, waiting: oldest first */
    struct conn_list busy;          /* everything else */
    struct conn *graveyard;         /* closed this round */
    struct exchange *spare;
    size_t spare_count;
    bool draining;
    char date_header[64];           /* "Date: ...\r\n" */
    long long date_second;
    char read_buffer[LOOP_READ_BUFFER];
};

#define HTTP_CLIENT_SLOTS 4096

struct http_server {
    struct http_settings settings;
    http_handler_fn handler;
    void *handler_ctx;
    int listen_fd;
    int reserve_fd;                 /* closed to accept-and-close when out of descriptors */
    pthread_t acceptor;
    bool acceptor_running;
    atomic_bool accepting;
    atomic_bool draining;
    int loop_count;
    struct http_loop *loops;
    struct tls *tls;
    atomic_long in_flight;          /* requests begun and not yet answered and sent */
    atomic_long connections;
    atomic_llong unsent;            /* bytes of responses not yet written */
    /* Open connections per client address, by hash of the address text
     * (MAX_CLIENT_CONNECTIONS). Addresses that share a slot share a count:
     * with HTTP_CLIENT_SLOTS slots that takes many busy addresses. */
    atomic_int client_connections[HTTP_CLIENT_SLOTS];
};

/* The loop whose thread this is (NULL on other threads). */
extern _Thread_local struct http_loop *http_current_loop;

/* ---- server.c ---- */
struct exchange *exchange_take(struct http_loop *loop);
void exchange_recycle(struct http_loop *loop, struct exchange *ex);
/* Hands an exchange answered on another thread to its loop. */
void loop_post_answer(struct http_loop *loop, struct exchange *ex);
long long http_now_ns(void);
/* For tests (the request fuzz target): a server with one loop and no
 * threads and no listening socket; connections are handed to it with
 * conn_open() and it runs one round at a time. */
struct http_server *http_server_create_detached(const struct http_settings *settings, http_handler_fn handler,
                                                void *handler_ctx);
void http_server_run_once(struct http_server *server, int timeout_ms);
void http_server_destroy_detached(struct http_server *server);

/* ---- conn.c ---- */
void conn_list_remove(struct conn_list *list, struct conn *c);
void conn_list_append(struct conn_list *list, struct conn *c);
struct conn *conn_open(struct http_loop *loop, int fd);
void conn_close(struct conn *c);
/* From the parser: a request begins (ex) and is complete (returns what
 * the llhttp callback returns: 0 to go on, HPE_PAUSED to stop). */
void conn_request_begins(struct conn *c, struct exchange *ex);
int conn_dispatch(struct conn *c);
/* The client waits for "100 Continue" before sending its body. */
void conn_send_continue(struct conn *c);
/* The handler answered ex (on the loop's thread). */
void conn_answered(struct exchange *ex);
/* Deadlines and stalls, from the tick. */
void conn_check_deadline(struct conn *c, long long now_ms);
void conn_set_deadline(struct conn *c, int seconds);
/* New stream output of `bytes` on ex (the connection's streamed response),
 * or, with abort, the stream was cut off: close. */
void conn_stream_output(struct conn *c, struct exchange *ex, size_t bytes, bool abort);
/* Ends the connection's stream, if any (the server drains). */
void conn_stream_end(struct conn *c);
/* An answer that did not come from the handler: a refused request. */
void conn_refuse(struct conn *c, int status, const char *message);

/* A copied piece of a streamed body. */
struct stream_chunk {
    struct stream_chunk *next;
    size_t len, sent;
    char data[];
};

/* A streamed response (stream.c). */
struct http_stream {
    pthread_mutex_t lock;           /* a leaf: guards what follows, up to the loop's part */
    int refs;
    struct stream_chunk *in_head, *in_tail;   /* sent, not yet taken by the loop */
    size_t queued;                  /* bytes sent and not yet written */
    size_t max_queued;
    bool ended;                     /* no more sends: closed, cut off, or the server drains */
    bool abort;                     /* cut off: close the connection without writing more */
    bool over;                      /* the exchange is over: sends fail */
    bool posted;                    /* in the loop's inbox */
    struct http_stream *next_posted;   /* the inbox's list (under the inbox lock) */
    /* Fixed, or the loop's alone. */
    struct http_loop *loop;
    struct exchange *ex;            /* NULL once the exchange is over */
    struct stream_chunk *out_head, *out_tail;   /* on the connection's output */
    bool end_seen;                  /* the loop knows it ends */
};

/* ---- stream.c (the loop's thread) ---- */
/* Moves what was sent onto the connection, or ends it. Drops the inbox's
 * reference. */
void stream_pump(struct http_stream *s);
/* bytes of the stream went out. */
void stream_written(struct http_stream *s, size_t bytes);
/* No more: what is queued is written, then the connection closes. */
void stream_end(struct http_stream *s);
/* The exchange is over: sends fail from now on. Drops its reference. */
void stream_detach(struct http_stream *s);

/* ---- request.c ---- */
extern const llhttp_settings_t request_parser_settings;
void request_reset(struct exchange *ex);
/* Gives ex a generated request id unless it has one. */
void request_ensure_id(struct exchange *ex);
/* The status and message for a parse of data[0..len) that failed with err. */
int request_error_status(const struct conn *c, llhttp_errno_t err, const char *data, size_t len,
                         const char **message);

/* ---- response.c ---- */
/* Fills ex's parts[0] with the response head (on the loop's thread). */
void response_render_head(struct exchange *ex, bool close);
/* {"error": message} as a malloc'd body, NULL when out of memory. */
char *response_error_body(const char *message, size_t *len);
/* Sets an error response on ex without going through the handler. */
void response_set_error(struct exchange *ex, int status, const char *message);
void response_release_body(struct exchange *ex);

/* ---- tls.c ---- */
struct tls *tls_create(const char *cert_file, const char *key_file, char *err, size_t errlen);
int tls_reload(struct tls *tls, char *err, size_t errlen);
void tls_destroy(struct tls *tls);
SSL *tls_session_new(struct tls *tls, int fd);
void tls_session_free(SSL *ssl);
/* 1 done, 0 in progress (*wants: the events it waits for), -1 failed. */
int tls_handshake(SSL *ssl, uint32_t *wants);
/* Whether decrypted bytes wait inside OpenSSL. */
bool tls_pending(SSL *ssl);
/* Bytes moved (> 0), 0 at the end of the stream, -1 when it would block
 * (*wants set), -2 on an error. */
long tls_read(SSL *ssl, void *buf, size_t len, uint32_t *wants);
long tls_write(SSL *ssl, const void *buf, size_t len, uint32_t *wants);

#endif
