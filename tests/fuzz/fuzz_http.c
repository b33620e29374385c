/* libFuzzer target: the request path end to end. The input is what a
 * client sends on one connection: it goes through a real socket into the
 * transport (llhttp and our rules), the router and the API's handlers, over
 * a snapshot of a few flags and a store worker on the in-memory store.
 * Whatever the bytes, nothing may crash or leak (ASan+UBSan), and the
 * connection must end once the client has sent everything and shut its
 * side: a connection that hangs for 2 s aborts. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "fake_store.h"
#include "http/internal.h"
#include "log.h"

static struct config cfg;
static struct app app;
static struct http_server *server;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup(void)
{
    static const char *const names[] = {"a", "beta", "x:y", "legacy name"};
    struct http_settings settings = {
        .bind = "127.0.0.1", .threads = 1, .max_connections = 100, .keepalive_timeout_s = 75,
        .header_timeout_s = 10, .body_timeout_s = 10, .send_timeout_s = 10, .max_header_bytes = 2048,
        .max_body_bytes = 1024, .max_unsent_bytes = 1 << 20,
    };
    struct snapshot_builder *b = snapshot_builder_create();
    char err[256];

    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_ERROR, LOG_FORMAT_JSON);
    cfg.db_pool_size = 1;
    cfg.json_max_depth = 128;
    cfg.json_max_elements = 100000;
    app.cfg = &cfg;
    app_init_locks(&app);
    app.store = store_open_backend(&cfg, &fake_store_backend, err, sizeof err);
    app.snapshots = snapshot_cell_create();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        /* The first flag has a targeting rule, for the evaluation routes. */
        struct flag_row row = {.name = names[i], .id = (int64_t)i + 1, .is_enabled = i % 2 == 0,
                               .document = i > 0 ? NULL
                                                 : "{\"variants\":{\"a\":\"x\",\"b\":\"y\"},\"defaultVariant\":\"a\","
                                                   "\"targeting\":{\"if\":[{\"ends_with\":[{\"var\":\"email\"},\"@acme.com\"]},"
                                                   "\"b\",{\"fractional\":[[\"a\",10],[\"b\",90]]}]}}"};
        struct flag *f = flag_create(&row, NULL);
        snapshot_builder_add(b, f);
        flag_unref(f);
        fake_store_remote_write(names[i], i % 2 == 0, true);
    }
    snapshot_load_begin(app.snapshots);
    snapshot_load_publish(app.snapshots, snapshot_builder_finish(b));
    app.workers = workers_start(app.store, 1, err, sizeof err);
    server = http_server_create_detached(&settings, api_handle, api_create(&app));
    if (app.store == NULL || app.workers == NULL || server == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char sink[65536];
    size_t sent = 0;
    bool shut = false;
    long long deadline;
    int fds[2];

    if (server == NULL)
        setup();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        return 0;
    if (conn_open(&server->loops[0], fds[0]) == NULL) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    deadline = now_ms() + 2000;
    while (atomic_load(&server->connections) > 0) {
        if (sent < size) {
            ssize_t n = write(fds[1], data + sent, size - sent);
            if (n > 0)
                sent += (size_t)n;
        } else if (!shut) {
            shutdown(fds[1], SHUT_WR);
            shut = true;
        }
        http_server_run_once(server, 1);
        while (read(fds[1], sink, sizeof sink) > 0)
            ;
        if (now_ms() > deadline)
            abort();   /* the connection neither finished nor closed */
    }
    close(fds[1]);
    return 0;
}
