/*
 * http — libmicrohttpd glue. See http.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "log.h"

struct http_server {
    struct app *app;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd;
    atomic_long in_flight;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- request ids ------------------------------------------------------ */

/* xorshift64* per thread, seeded from the kernel: ids need to be unique,
 * not secret. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;

    if (state == 0) {
        if (getrandom(&state, sizeof state, 0) != sizeof state || state == 0)
            state = (uint64_t)now_ns() | 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
}

static bool request_id_acceptable(const char *id)
{
    size_t len = 0;

    for (; id[len] != '\0'; len++) {
        if (len >= HTTP_REQUEST_ID_MAX || id[len] < 0x21 || id[len] > 0x7e)
            return false;
    }
    return len > 0;
}

static void assign_request_id(struct http_request *req)
{
    const char *incoming = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Request-Id");

    if (incoming != NULL && request_id_acceptable(incoming)) {
        strcpy(req->request_id, incoming);
        return;
    }
    snprintf(req->request_id, sizeof req->request_id, "%016llx%016llx",
             (unsigned long long)next_random(), (unsigned long long)next_random());
}

/* ---- responses -------------------------------------------------------- */

static enum MHD_Result queue(struct http_request *req, int status, struct MHD_Response *response, size_t len)
{
    enum MHD_Result rc;

    if (response == NULL)
        return MHD_NO;
    if (len > 0 || status != 204)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(response, "X-Request-Id", req->request_id);
    if (status == 405) {
        char allow[64];
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW,
                                router_allow_header(req->route.allowed, allow, sizeof allow));
    }
    /* While draining for shutdown, tell keep-alive clients to reconnect
     * (to another instance) rather than reuse this connection. */
    if (atomic_load(&req->app->shutting_down))
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    req->status = status;
    req->bytes = len;
    rc = MHD_queue_response(req->conn, (unsigned)status, response);
    MHD_destroy_response(response);
    return rc;
}

enum MHD_Result http_respond_buffer(struct http_request *req, int status, const char *body, size_t len,
                                    void (*release)(void *), void *release_cls)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)body, release, release_cls);
    if (response == NULL)
        release(release_cls);
    return queue(req, status, response, len);
}

enum MHD_Result http_respond_owned(struct http_request *req, int status, char *body, size_t len)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (response == NULL)
        free(body);
    return queue(req, status, response, len);
}

enum MHD_Result http_respond_empty(struct http_request *req, int status)
{
    return queue(req, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), 0);
}

/* {"error": message} or {"message": message} as a malloc'd string. */
static char *render_one(const char *key, const char *value, size_t *len)
{
    json_t *obj = json_pack("{s:s}", key, value);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

    json_decref(obj);
    *len = text ? strlen(text) : 0;
    return text;
}

enum MHD_Result http_respond_error(struct http_request *req, int status, const char *message)
{
    size_t len;
    char *body = render_one("error", message, &len);

    if (body == NULL)
        return MHD_NO;
    return http_respond_owned(req, status, body, len);
}

void http_reply_error(struct http_reply *reply, int status, const char *message)
{
    reply->status = status;
    reply->body = render_one("error", message, &reply->len);
}

void http_reply_message(struct http_reply *reply, int status, const char *message)
{
    reply->status = status;
    reply->body = render_one("message", message, &reply->len);
}

const char *http_query(struct http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

void http_suspend(struct http_request *req)
{
    MHD_suspend_connection(req->conn);
}

void http_resume(struct http_request *req)
{
    MHD_resume_connection(req->conn);
}

static enum MHD_Result respond_reply(struct http_request *req)
{
    struct http_reply reply = req->reply;

    req->reply.body = NULL;
    if (reply.body == NULL)
        return reply.status == 204 ? http_respond_empty(req, 204)
                                   : http_respond_error(req, 500, "internal error");
    return http_respond_owned(req, reply.status, reply.body, reply.len);
}

/* ---- the access handler ----------------------------------------------- */

static struct http_request *request_create(struct http_server *server, struct MHD_Connection *conn,
                                           const char *url, const char *method)
{
    struct http_request *req = calloc(1, sizeof *req);

    if (req == NULL)
        return NULL;
    req->conn = conn;
    req->app = server->app;
    req->path = url;
    snprintf(req->method, sizeof req->method, "%s", method);
    req->started_ns = now_ns();
    assign_request_id(req);
    router_match(method, url, &req->route);
    atomic_fetch_add(&server->in_flight, 1);
    return req;
}

static void append_body(struct http_request *req, const char *data, size_t size)
{
    if (req->body_too_large || req->body_len + size > CONFIG_MAX_BODY_BYTES) {
        req->body_too_large = true;
        return;
    }
    if (req->body_len + size > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 1024;
        while (cap < req->body_len + size)
            cap *= 2;
        char *grown = realloc(req->body, cap);
        if (grown == NULL) {            /* out of memory: refused like an oversized body */
            req->body_too_large = true;
            return;
        }
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, size);
    req->body_len += size;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct http_server *server = cls;
    struct http_request *req = *req_cls;
    char message[128];

    (void)version;
    if (req == NULL) {
        const char *length;
        req = request_create(server, conn, url, method);
        if (req == NULL)
            return MHD_NO;
        *req_cls = req;
        /* A declared body over the limit is refused before it is read; the
         * connection then closes, which is right for an unread body. */
        length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length != NULL && strtoull(length, NULL, 10) > CONFIG_MAX_BODY_BYTES) {
            snprintf(message, sizeof message, "request body larger than %d bytes", CONFIG_MAX_BODY_BYTES);
            return http_respond_error(req, 413, message);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        append_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->dispatched)
        return respond_reply(req);   /* resumed after a store worker */
    req->dispatched = true;

    if (req->body_too_large) {
        snprintf(message, sizeof message, "request body larger than %d bytes", CONFIG_MAX_BODY_BYTES);
        return http_respond_error(req, 413, message);
    }
    if (req->route.id == ROUTE_NOT_FOUND)
        return http_respond_error(req, 404, "not found");
    if (!req->route.method_allowed) {
        snprintf(message, sizeof message, "method %.16s not allowed", method);
        return http_respond_error(req, 405, message);
    }
    return api_handle(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *server = cls;
    struct http_request *req = *req_cls;

    (void)conn;
    if (req == NULL)
        return;
    *req_cls = NULL;
    log_request(req->method, req->path, req->status, (double)(now_ns() - req->started_ns) / 1e6,
                req->bytes, req->request_id, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    free(req->body);
    free(req->reply.body);
    free(req);
    atomic_fetch_sub(&server->in_flight, 1);
}

/* ---- daemon ----------------------------------------------------------- */

/* libmicrohttpd's unescape hook: the router owns how paths decode. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *text)
{
    (void)cls;
    (void)conn;
    return router_unescape(text);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char message[512];
    size_t len;

    (void)cls;
    vsnprintf(message, sizeof message, fmt, ap);
    len = strlen(message);
    while (len > 0 && message[len - 1] == '\n')
        message[--len] = '\0';
    log_event(LOG_WARN, "libmicrohttpd", json_pack("{s:s}", "detail", message));
}

struct http_server *http_start(struct app *app, char *err, size_t errlen)
{
    const struct config *cfg = app->cfg;
    struct http_server *server = calloc(1, sizeof *server);
    struct sockaddr_storage addr;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;

    if (server == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    server->app = app;
    server->quiesced_fd = MHD_INVALID_SOCKET;
    memset(&addr, 0, sizeof addr);
    if (strchr(cfg->bind, ':') != NULL) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        inet_pton(AF_INET6, cfg->bind, &a6->sin6_addr);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        inet_pton(AF_INET, cfg->bind, &a4->sin_addr);
    }
    errno = 0;
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, server,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,   /* first, so it sees every message */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cfg->threads > 1 ? cfg->threads : 0),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_END);
    if (server->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", cfg->bind, cfg->port,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
        free(server);
        return NULL;
    }
    return server;
}

void http_quiesce(struct http_server *server)
{
    server->quiesced_fd = MHD_quiesce_daemon(server->daemon);
    /* libmicrohttpd stops accepting but keeps the socket open until it is
     * stopped; shutting it down makes new connections fail at once
     * (refused) instead of waiting in the backlog. */
    if (server->quiesced_fd != MHD_INVALID_SOCKET)
        shutdown(server->quiesced_fd, SHUT_RDWR);
}

bool http_wait_idle(struct http_server *server, int timeout_ms)
{
    long long deadline = now_ns() + (long long)timeout_ms * 1000000LL;

    while (atomic_load(&server->in_flight) > 0) {
        if (now_ns() >= deadline)
            return false;
        usleep(10000);
    }
    return true;
}

void http_stop(struct http_server *server)
{
    if (server == NULL)
        return;
    MHD_stop_daemon(server->daemon);
    if (server->quiesced_fd != MHD_INVALID_SOCKET)
        close(server->quiesced_fd);
    free(server);
}
