/*
 * http — libmicrohttpd glue. See http.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
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
    int listen_fd;
    pthread_t acceptor;
    bool acceptor_running;
    atomic_bool accepting;
    int daemon_count;
    struct MHD_Daemon **daemons;   /* one event-loop thread each */
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

/* The listening socket is ours, not libmicrohttpd's: its
 * MHD_quiesce_daemon() races with its own epoll workers and can abort the
 * process ("Failed to remove listen FD from epoll set", a known defect of
 * this version, seen here once in ~40 shutdowns). Owning the socket also
 * makes "stop accepting" a plain close(): new connections are refused. */
static int open_listener(const struct config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd, one = 1, zero = 0;
    bool v6 = strchr(cfg->bind, ':') != NULL;

    memset(&addr, 0, sizeof addr);
    if (v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        inet_pton(AF_INET6, cfg->bind, &a6->sin6_addr);
        addrlen = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        inet_pton(AF_INET, cfg->bind, &a4->sin_addr);
        addrlen = sizeof *a4;
    }
    fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6)  /* "::" serves IPv4 too, as most servers do */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)&addr, addrlen) != 0 || listen(fd, HTTP_LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", cfg->bind, cfg->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Accepts connections and deals them round-robin to the event loops. A
 * connection stays on its loop for its whole life (keep-alive included). */
static void *acceptor_main(void *arg)
{
    struct http_server *server = arg;
    unsigned next = 0;
    int resource_warnings = 0;

    for (;;) {
        struct sockaddr_storage addr;
        socklen_t addrlen = sizeof addr;
        int fd = accept4(server->listen_fd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (!atomic_load(&server->accepting))
                break;
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            /* Out of descriptors or memory: back off instead of spinning,
             * and say so (once a second at most). */
            if (resource_warnings++ % 100 == 0)
                log_msg(LOG_WARN, "accept failed: %s; backing off", strerror(errno));
            usleep(10000);
            continue;
        }
        /* On failure libmicrohttpd closes the socket itself. */
        MHD_add_connection(server->daemons[next++ % (unsigned)server->daemon_count], fd,
                           (struct sockaddr *)&addr, addrlen);
    }
    return NULL;
}

/* libmicrohttpd aborts on internal inconsistencies; say so in the log, and
 * get the buffered lines out first, so the cause is not lost with them. */
static void on_mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    log_event(LOG_ERROR, "libmicrohttpd panic",
              json_pack("{s:s, s:i, s:s}", "file", file ? file : "", "line", (int)line,
                        "reason", reason ? reason : ""));
    log_flush();
    abort();
}

struct http_server *http_start(struct app *app, char *err, size_t errlen)
{
    const struct config *cfg = app->cfg;
    struct http_server *server = calloc(1, sizeof *server);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;
    unsigned int per_loop_limit = (unsigned int)(HTTP_MAX_CONNECTIONS / cfg->threads);

    if (server == NULL || (server->daemons = calloc((size_t)cfg->threads, sizeof *server->daemons)) == NULL) {
        free(server);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    server->app = app;
    MHD_set_panic_func(on_mhd_panic, NULL);
    server->listen_fd = open_listener(cfg, err, errlen);
    if (server->listen_fd < 0)
        goto fail;
    for (; server->daemon_count < cfg->threads; server->daemon_count++) {
        struct MHD_Daemon *d = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, server,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,   /* first, so it sees every message */
            MHD_OPTION_CONNECTION_LIMIT, per_loop_limit > 0 ? per_loop_limit : 1,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT_S,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
            MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
            MHD_OPTION_END);
        if (d == NULL) {
            snprintf(err, errlen, "cannot start HTTP event loop %d", server->daemon_count);
            goto fail;
        }
        server->daemons[server->daemon_count] = d;
    }
    atomic_store(&server->accepting, true);
    if (pthread_create(&server->acceptor, NULL, acceptor_main, server) != 0) {
        snprintf(err, errlen, "cannot start the accept thread");
        goto fail;
    }
    server->acceptor_running = true;
    return server;

fail:
    http_stop(server);
    return NULL;
}

void http_quiesce(struct http_server *server)
{
    if (!server->acceptor_running)
        return;
    atomic_store(&server->accepting, false);
    /* Wakes the blocked accept4() (it fails with EINVAL); once the socket
     * is closed, connection attempts are refused at once. */
    shutdown(server->listen_fd, SHUT_RDWR);
    pthread_join(server->acceptor, NULL);
    server->acceptor_running = false;
    close(server->listen_fd);
    server->listen_fd = -1;
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
    http_quiesce(server);
    for (int i = 0; i < server->daemon_count; i++)
        MHD_stop_daemon(server->daemons[i]);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    free(server->daemons);
    free(server);
}
