/*
 * http — libmicrohttpd glue.
 *
 * Owns: the daemon and its threads, the per-request state (body
 * accumulation up to CONFIG_MAX_BODY_BYTES, request id, timing), building
 * responses (every error is {"error": ...} JSON), suspending requests that
 * wait for a store worker, the access log line, and graceful shutdown
 * (stop accepting, let in-flight requests finish, then stop).
 *
 * Threading: one accept thread owns the listening socket and deals each new
 * connection to one of THREADS event loops (a libmicrohttpd daemon with one
 * internal epoll thread each, round-robin). Handlers run on the event loops
 * and must never block, so anything that needs the database goes to the
 * store workers (workers.h).
 *
 * Keep-alive trap (see DESIGN.md): a response queued on the first call of
 * the access handler for a request makes this libmicrohttpd version answer
 * "Connection: close". The first call only records the request; responses
 * are queued on a later call.
 */
#ifndef TM_HTTP_H
#define TM_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "router.h"

#define HTTP_REQUEST_ID_MAX 128
#define HTTP_MAX_CONNECTIONS 10000
#define HTTP_IDLE_TIMEOUT_S 60
#define HTTP_LISTEN_BACKLOG 1024
/* Per-connection memory of libmicrohttpd: the request line and headers must
 * fit (431 otherwise), and the body streams through it in pieces. The
 * library clears the used part between keep-alive requests, so its default
 * of 32 KiB cost ~77% of user-space instructions per GET here (callgrind);
 * 8 KiB is the usual header limit of web servers. */
#define HTTP_CONNECTION_MEMORY (8 * 1024)

/* A response prepared off the event loop (by a store worker). */
struct http_reply {
    int status;
    char *body;                /* malloc'd JSON, or NULL for no body */
    size_t len;
};

struct http_request {
    struct MHD_Connection *conn;
    struct app *app;
    struct route_match route;
    const char *path;          /* decoded; libmicrohttpd keeps it until completion */
    char method[16];           /* for the access log, truncated */
    char *body;
    size_t body_len, body_cap;
    bool body_too_large;
    bool dispatched;           /* the handler ran once (it may have suspended) */
    struct http_reply reply;   /* filled by a worker before resuming */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    long long started_ns;
    int status;
    size_t bytes;
};

struct http_server;

struct http_server *http_start(struct app *app, char *err, size_t errlen);
/* Stops accepting new connections (they are refused). */
void http_quiesce(struct http_server *server);
/* Waits until no request is in flight or timeout_ms passes; true if idle. */
bool http_wait_idle(struct http_server *server, int timeout_ms);
void http_stop(struct http_server *server);

/* Response helpers for handlers; each returns an MHD_Result. */
enum MHD_Result http_respond_buffer(struct http_request *req, int status, const char *body, size_t len,
                                    void (*release)(void *), void *release_cls);
enum MHD_Result http_respond_owned(struct http_request *req, int status, char *body, size_t len);
enum MHD_Result http_respond_error(struct http_request *req, int status, const char *message);
enum MHD_Result http_respond_empty(struct http_request *req, int status);

/* Value of a query argument, or NULL. */
const char *http_query(struct http_request *req, const char *key);

/* Asynchronous handling: suspend before handing the request to a worker;
 * the worker fills req->reply (see http_reply_*) and calls http_resume(). */
void http_suspend(struct http_request *req);
void http_resume(struct http_request *req);
void http_reply_error(struct http_reply *reply, int status, const char *message);
void http_reply_message(struct http_reply *reply, int status, const char *message);

#endif
