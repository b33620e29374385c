/*
 * http/server — the listening socket, the accept thread, the event-loop
 * threads and what passes between them. See http.h and internal.h.
 *
 * Threading model:
 *  - One accept thread blocks in accept4() on the listening socket and deals
 *    each new connection, in turn, to one of THREADS loops through the
 *    loop's inbox. Dealing in turn keeps the loops evenly loaded whatever
 *    the kernel would do with a shared socket (clients that open all their
 *    connections at once land on one loop otherwise); it costs one
 *    eventfd write per connection, not per request.
 *  - Each loop thread owns its connections for their whole life, with no
 *    lock: the inbox (new sockets, answers from other threads, the drain
 *    request) is the only thing other threads touch, under a leaf lock.
 *  - Stopping to accept is closing our own socket: new connections are
 *    refused at once.
 *
 * Limits. MAX_CONNECTIONS counts open connections; a loop that receives a
 * connection past it closes its longest-idle keep-alive connection to make
 * room, or, with none idle, answers the new one 503 and closes it. When
 * the process is out of descriptors, the accept thread closes a reserve
 * descriptor, accepts and closes the waiting connection, and takes the
 * reserve again, so clients get a closed connection, not a hang. At start
 * the soft descriptor limit is raised to the hard limit.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"

#define LISTEN_BACKLOG 4096
/* Descriptors kept free for everything that is not a client connection
 * (database connections, files, the event loops' own). */
#define RESERVED_DESCRIPTORS 128

_Thread_local struct http_loop *http_current_loop;

static const char busy_response[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 53\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "\r\n"
    "{\"error\":\"too many open connections; retry shortly\"}";

long long http_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- exchanges ----------------------------------------------------------- */

struct exchange *exchange_take(struct http_loop *loop)
{
    struct exchange *ex = loop->spare;

    if (ex != NULL) {
        loop->spare = ex->next;
        loop->spare_count--;
    } else {
        ex = malloc(sizeof *ex);
        if (ex == NULL)
            return NULL;
    }
    ex->loop = loop;
    request_reset(ex);
    return ex;
}

void exchange_recycle(struct http_loop *loop, struct exchange *ex)
{
    response_release_body(ex);
    if (ex->head != ex->head_inline)
        free(ex->head);
    if (ex->headers != ex->headers_inline)
        free(ex->headers);
    free(ex->body);
    if (ex->parts != ex->parts_inline)
        free(ex->parts);
    ex->head = NULL;
    ex->headers = NULL;
    ex->body = NULL;
    ex->parts = NULL;
    if (loop->spare_count < LOOP_SPARE_EXCHANGES) {
        ex->next = loop->spare;
        loop->spare = ex;
        loop->spare_count++;
    } else {
        free(ex);
    }
}

/* ---- the inbox ------------------------------------------------------------ */

void loop_post_answer(struct http_loop *loop, struct exchange *ex)
{
    ex->next = NULL;
    pthread_mutex_lock(&loop->inbox_lock);
    if (loop->done_tail != NULL)
        loop->done_tail->next = ex;
    else
        loop->done_head = ex;
    loop->done_tail = ex;
    pthread_mutex_unlock(&loop->inbox_lock);
    loop_wake(loop->ev);
}

static void post_fd(struct http_loop *loop, int fd)
{
    bool posted = false;

    pthread_mutex_lock(&loop->inbox_lock);
    if (loop->new_count == loop->new_cap) {
        size_t cap = loop->new_cap ? 2 * loop->new_cap : 64;
        int *grown = realloc(loop->new_fds, cap * sizeof *grown);
        if (grown != NULL) {
            loop->new_fds = grown;
            loop->new_cap = cap;
        }
    }
    if (loop->new_count < loop->new_cap) {
        loop->new_fds[loop->new_count++] = fd;
        posted = true;
    }
    pthread_mutex_unlock(&loop->inbox_lock);
    if (posted)
        loop_wake(loop->ev);
    else
        close(fd);   /* out of memory */
}

long http_server_connections(const struct http_server *server)
{
    return atomic_load(&server->connections);
}

/* An answer whose connection is gone: nothing to send. */
static void drop_orphan(struct http_loop *loop, struct exchange *ex)
{
    atomic_fetch_sub(&loop->server->in_flight, 1);
    exchange_recycle(loop, ex);
}

static void close_all(struct conn_list *list)
{
    while (list->head != NULL)
        conn_close(list->head);
}

/* Draining for shutdown: idle keep-alive connections close now; the others
 * after their current response (response.c adds "Connection: close"). */
static void begin_drain(struct http_loop *loop)
{
    loop->draining = true;
    close_all(&loop->idle);
    for (struct conn *c = loop->busy.head, *next; c != NULL; c = next) {
        next = c->next;
        conn_stream_end(c);   /* streams end: their clients reconnect elsewhere */
    }
}

/* A new connection on this loop, past the limit or not. */
static void take_connection(struct http_loop *loop, int fd)
{
    struct http_server *server = loop->server;

    if (atomic_load(&server->connections) >= server->settings.max_connections) {
        if (loop->idle.head != NULL) {
            conn_close(loop->idle.head);   /* the longest idle makes room */
        } else {
            if (server->tls == NULL)
                (void)send(fd, busy_response, sizeof busy_response - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            close(fd);
            return;
        }
    }
    if (conn_open(loop, fd) == NULL)
        close(fd);
}

static void on_wake(struct loop *ev, void *data)
{
    struct http_loop *loop = data;
    struct exchange *done;
    struct http_stream *streams;
    int *fds;
    size_t fd_count;
    bool drain;

    (void)ev;
    pthread_mutex_lock(&loop->inbox_lock);
    fds = loop->new_fds;
    fd_count = loop->new_count;
    loop->new_fds = NULL;
    loop->new_count = loop->new_cap = 0;
    done = loop->done_head;
    loop->done_head = loop->done_tail = NULL;
    streams = loop->streams_head;
    loop->streams_head = NULL;
    drain = loop->drain_requested;
    pthread_mutex_unlock(&loop->inbox_lock);

    for (size_t i = 0; i < fd_count; i++)
        take_connection(loop, fds[i]);
    free(fds);
    while (done != NULL) {
        struct exchange *next = done->next;
        if (done->conn != NULL)
            conn_answered(done);
        else
            drop_orphan(loop, done);
        done = next;
    }
    /* After the answers: a stream's answer was posted before its sends. */
    while (streams != NULL) {
        struct http_stream *next = streams->next_posted;
        stream_pump(streams);
        streams = next;
    }
    if (drain && !loop->draining)
        begin_drain(loop);
}

/* ---- the tick --------------------------------------------------------------- */

static void refresh_date(struct http_loop *loop)
{
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec == loop->date_second)
        return;
    loop->date_second = now.tv_sec;
    gmtime_r(&now.tv_sec, &tm);
    strftime(loop->date_header, sizeof loop->date_header, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

static int compare_stall(const void *a, const void *b)
{
    const struct conn *ca = *(struct conn *const *)a, *cb = *(struct conn *const *)b;
    return (ca->stalled_since_ms > cb->stalled_since_ms) - (ca->stalled_since_ms < cb->stalled_since_ms);
}

/* Past the unsent cap: close this loop's connections whose output has made
 * no progress for STALLED_MS, the longest-stalled first, until under it. */
static void enforce_unsent_cap(struct http_loop *loop, long long now_ms)
{
    struct http_server *server = loop->server;
    struct conn **stalled;
    size_t count = 0;

    if (atomic_load(&server->unsent) <= server->settings.max_unsent_bytes)
        return;
    stalled = malloc(loop->busy.count * sizeof *stalled);
    if (stalled == NULL)
        return;
    for (struct conn *c = loop->busy.head; c != NULL; c = c->next)
        if (c->stalled_since_ms != 0 && now_ms - c->stalled_since_ms >= STALLED_MS)
            stalled[count++] = c;
    qsort(stalled, count, sizeof *stalled, compare_stall);
    for (size_t i = 0; i < count && atomic_load(&server->unsent) > server->settings.max_unsent_bytes; i++) {
        log_event(LOG_WARN, "closing a connection that does not read its response",
                  json_pack("{s:I, s:I}", "unsent_bytes", (json_int_t)stalled[i]->unsent,
                            "stalled_ms", (json_int_t)(now_ms - stalled[i]->stalled_since_ms)));
        conn_close(stalled[i]);
    }
    free(stalled);
}

static void on_tick(struct loop *ev, void *data)
{
    struct http_loop *loop = data;
    long long now = loop_now_ms(ev);

    refresh_date(loop);
    /* The idle list is in order of going idle, so of deadline. */
    while (loop->idle.head != NULL && loop->idle.head->deadline_ms != 0 && loop->idle.head->deadline_ms <= now)
        conn_check_deadline(loop->idle.head, now);
    for (struct conn *c = loop->busy.head, *next; c != NULL; c = next) {
        next = c->next;
        conn_check_deadline(c, now);
    }
    enforce_unsent_cap(loop, now);
}

static void after_round(struct loop *ev, void *data)
{
    struct http_loop *loop = data;

    (void)ev;
    while (loop->graveyard != NULL) {
        struct conn *c = loop->graveyard;
        loop->graveyard = c->next;
        free(c);
    }
}

static void *loop_main(void *arg)
{
    struct http_loop *loop = arg;

    http_current_loop = loop;
    loop_run(loop->ev);
    close_all(&loop->busy);
    close_all(&loop->idle);
    after_round(loop->ev, loop);
    return NULL;
}

/* ---- accepting ------------------------------------------------------------ */

static int open_listener(const struct http_settings *s, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd, one = 1, zero = 0;
    bool v6 = strchr(s->bind, ':') != NULL;

    memset(&addr, 0, sizeof addr);
    if (v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)s->port);
        inet_pton(AF_INET6, s->bind, &a6->sin6_addr);
        addrlen = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)s->port);
        inet_pton(AF_INET, s->bind, &a4->sin_addr);
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
    if (bind(fd, (struct sockaddr *)&addr, addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", s->bind, s->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Out of descriptors: let one waiting client in and out, so it is told
 * (by a closed connection) instead of waiting in the backlog. */
static void shed_one(struct http_server *server)
{
    int fd;

    if (server->reserve_fd < 0)
        return;
    close(server->reserve_fd);
    fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    server->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void *acceptor_main(void *arg)
{
    struct http_server *server = arg;
    unsigned next = 0;
    long long last_warning = 0;

    for (;;) {
        int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

        if (fd < 0) {
            if (!atomic_load(&server->accepting))
                break;
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                shed_one(server);
            if (http_now_ns() - last_warning > 1000000000LL) {   /* once a second at most */
                last_warning = http_now_ns();
                log_msg(LOG_WARN, "accept failed: %s", strerror(errno));
            }
            if (errno != EMFILE && errno != ENFILE)
                usleep(10000);   /* out of memory: back off instead of spinning */
            continue;
        }
        /* Responses go out in one write each: no need to wait for more. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        post_fd(&server->loops[next++ % (unsigned)server->loop_count], fd);
    }
    return NULL;
}

/* Raises the soft descriptor limit to the hard one, and caps the connection
 * limit to what the descriptors allow. */
static void raise_descriptor_limit(struct http_settings *s)
{
    struct rlimit limit;
    rlim_t before;

    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    before = limit.rlim_cur;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
            limit.rlim_cur = before;
    }
    log_event(LOG_INFO, "descriptor limit",
              json_pack("{s:I, s:I, s:I}", "soft_at_start", (json_int_t)before,
                        "soft_now", (json_int_t)limit.rlim_cur, "hard", (json_int_t)limit.rlim_max));
    if ((rlim_t)s->max_connections + RESERVED_DESCRIPTORS > limit.rlim_cur) {
        int capped = limit.rlim_cur > 2 * RESERVED_DESCRIPTORS ? (int)(limit.rlim_cur - RESERVED_DESCRIPTORS)
                                                               : RESERVED_DESCRIPTORS;
        log_event(LOG_WARN, "MAX_CONNECTIONS is above what the descriptor limit allows; lowered",
                  json_pack("{s:i, s:i}", "configured", s->max_connections, "effective", capped));
        s->max_connections = capped;
    }
}

/* ---- the server ----------------------------------------------------------- */

static int loop_init(struct http_server *server, struct http_loop *loop)
{
    struct loop_hooks hooks = {.tick_ms = LOOP_TICK_MS, .tick = on_tick, .wake = on_wake,
                               .after_round = after_round, .data = loop};

    loop->server = server;
    pthread_mutex_init(&loop->inbox_lock, NULL);
    refresh_date(loop);
    loop->ev = loop_create(&hooks);
    return loop->ev != NULL ? 0 : -1;
}

static void loop_fini(struct http_loop *loop)
{
    struct exchange *ex;

    /* What arrived after the thread stopped: answers for connections that
     * are gone, sockets never served. */
    for (size_t i = 0; i < loop->new_count; i++)
        close(loop->new_fds[i]);
    free(loop->new_fds);
    while ((ex = loop->done_head) != NULL) {
        loop->done_head = ex->next;
        drop_orphan(loop, ex);   /* every connection closed with the thread */
    }
    while (loop->streams_head != NULL) {
        struct http_stream *s = loop->streams_head;
        loop->streams_head = s->next_posted;
        stream_pump(s);          /* its exchange is over: drops the reference */
    }
    while ((ex = loop->spare) != NULL) {
        loop->spare = ex->next;
        free(ex);
    }
    loop_destroy(loop->ev);
    pthread_mutex_destroy(&loop->inbox_lock);
}

struct http_server *http_server_start(const struct http_settings *settings, http_handler_fn handler,
                                      void *handler_ctx, char *err, size_t errlen)
{
    struct http_server *server = calloc(1, sizeof *server);

    if (server == NULL || (server->loops = calloc((size_t)settings->threads, sizeof *server->loops)) == NULL) {
        free(server);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    server->settings = *settings;
    server->handler = handler;
    server->handler_ctx = handler_ctx;
    server->listen_fd = server->reserve_fd = -1;
    raise_descriptor_limit(&server->settings);
    if (settings->tls_cert_file != NULL) {
        server->tls = tls_create(settings->tls_cert_file, settings->tls_key_file, err, errlen);
        if (server->tls == NULL)
            goto fail;
    }
    server->listen_fd = open_listener(settings, err, errlen);
    if (server->listen_fd < 0)
        goto fail;
    server->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (; server->loop_count < settings->threads; server->loop_count++) {
        struct http_loop *loop = &server->loops[server->loop_count];
        if (loop_init(server, loop) != 0) {
            snprintf(err, errlen, "cannot create HTTP event loop %d", server->loop_count);
            loop_fini(loop);
            goto fail;
        }
    }
    for (int i = 0; i < server->loop_count; i++) {
        if (pthread_create(&server->loops[i].thread, NULL, loop_main, &server->loops[i]) != 0) {
            snprintf(err, errlen, "cannot start HTTP event loop %d", i);
            goto fail;
        }
        server->loops[i].thread_started = true;
    }
    atomic_store(&server->accepting, true);
    if (pthread_create(&server->acceptor, NULL, acceptor_main, server) != 0) {
        snprintf(err, errlen, "cannot start the accept thread");
        goto fail;
    }
    server->acceptor_running = true;
    return server;

fail:
    http_server_stop(server);
    return NULL;
}

void http_server_quiesce(struct http_server *server)
{
    if (server->acceptor_running) {
        atomic_store(&server->accepting, false);
        /* Wakes the blocked accept4() (it fails with EINVAL); once the
         * socket is closed, connection attempts are refused at once. */
        shutdown(server->listen_fd, SHUT_RDWR);
        pthread_join(server->acceptor, NULL);
        server->acceptor_running = false;
    }
    if (server->listen_fd >= 0) {
        close(server->listen_fd);
        server->listen_fd = -1;
    }
    atomic_store(&server->draining, true);
    for (int i = 0; i < server->loop_count; i++) {
        struct http_loop *loop = &server->loops[i];
        pthread_mutex_lock(&loop->inbox_lock);
        loop->drain_requested = true;
        pthread_mutex_unlock(&loop->inbox_lock);
        loop_wake(loop->ev);
    }
}

bool http_server_wait_idle(struct http_server *server, int timeout_ms)
{
    long long deadline = http_now_ns() + (long long)timeout_ms * 1000000LL;

    while (atomic_load(&server->in_flight) > 0) {
        if (http_now_ns() >= deadline)
            return false;
        usleep(10000);
    }
    return true;
}

void http_server_stop(struct http_server *server)
{
    if (server == NULL)
        return;
    http_server_quiesce(server);
    for (int i = 0; i < server->loop_count; i++) {
        if (server->loops[i].thread_started) {
            loop_stop(server->loops[i].ev);
            pthread_join(server->loops[i].thread, NULL);
        }
    }
    for (int i = 0; i < server->loop_count; i++)
        loop_fini(&server->loops[i]);
    if (server->reserve_fd >= 0)
        close(server->reserve_fd);
    tls_destroy(server->tls);
    free(server->loops);
    free(server);
}

int http_server_reload_tls(struct http_server *server, char *err, size_t errlen)
{
    if (server->tls == NULL) {
        snprintf(err, errlen, "TLS is not configured");
        return -1;
    }
    return tls_reload(server->tls, err, errlen);
}

/* ---- tests ------------------------------------------------------------------ */

struct http_server *http_server_create_detached(const struct http_settings *settings, http_handler_fn handler,
                                                void *handler_ctx)
{
    struct http_server *server = calloc(1, sizeof *server);

    if (server == NULL || (server->loops = calloc(1, sizeof *server->loops)) == NULL) {
        free(server);
        return NULL;
    }
    server->settings = *settings;
    server->handler = handler;
    server->handler_ctx = handler_ctx;
    server->listen_fd = server->reserve_fd = -1;
    if (loop_init(server, &server->loops[0]) != 0) {
        loop_fini(&server->loops[0]);
        free(server->loops);
        free(server);
        return NULL;
    }
    server->loop_count = 1;
    return server;
}

void http_server_run_once(struct http_server *server, int timeout_ms)
{
    http_current_loop = &server->loops[0];
    loop_run_once(server->loops[0].ev, timeout_ms);
}

void http_server_destroy_detached(struct http_server *server)
{
    struct http_loop *loop = &server->loops[0];

    http_current_loop = loop;
    close_all(&loop->busy);
    close_all(&loop->idle);
    after_round(loop->ev, loop);
    loop_fini(loop);
    free(server->loops);
    free(server);
}
