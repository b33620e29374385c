/*
 * sync — snapshot loading, change feed and periodic resync. See sync.h.
 */
#include "sync.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* A load that keeps losing races with writes takes the rebuild lock for
 * its last try, so it always completes. */
#define RELOAD_TRIES 3
#define RETRY_MS 1000

struct sync {
    struct app *app;
    struct store_conn *conn;
    pthread_t thread;
    int wake_fd;               /* eventfd: written by sync_stop */
    atomic_bool stopping;
    bool loaded;               /* the first snapshot is published */
    bool failing;              /* last attempt failed (log transitions only) */
};

/* Names changed by other instances, collected from one drain. */
struct batch {
    char *names[SYNC_MAX_BATCH];
    size_t count;
    bool overflow;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- full reload ------------------------------------------------------ */

static int add_row(void *ctx, const char *name, int64_t id, bool is_enabled)
{
    return snapshot_builder_add(ctx, name, id, is_enabled);
}

/* Loads everything and publishes it, unless a local change raced with the
 * read (then 1; the caller retries). With `locked`, the caller holds the
 * rebuild lock, so nothing can race. -1 on a store failure. */
static int load(struct app *app, struct store_conn *conn, bool locked)
{
    struct snapshot_cell *cell = app->snapshots;
    uint64_t before = snapshot_cell_generation(cell);
    struct snapshot_builder *builder = snapshot_builder_create();
    struct snapshot *snap;

    if (builder == NULL)
        return -1;
    if (store_flag_load_all(conn, add_row, builder) != STORE_OK) {
        snapshot_builder_abort(builder);
        return -1;
    }
    snap = snapshot_builder_finish(builder);
    if (snap == NULL) {
        log_msg(LOG_ERROR, "out of memory building the snapshot");
        return -1;
    }
    if (!locked)
        snapshot_cell_lock(cell);
    if (!locked && snapshot_cell_generation(cell) != before) {
        snapshot_cell_unlock(cell);
        snapshot_release(snap);
        return 1;
    }
    snapshot_publish(cell, snap);
    if (!locked)
        snapshot_cell_unlock(cell);
    return 0;
}

static int reload(struct sync *s)
{
    int rc;

    for (int i = 0; i < RELOAD_TRIES - 1; i++) {
        rc = load(s->app, s->conn, false);
        if (rc <= 0)
            return rc;
    }
    snapshot_cell_lock(s->app->snapshots);
    rc = load(s->app, s->conn, true);
    snapshot_cell_unlock(s->app->snapshots);
    return rc;
}

/* Before the first load the schema must be current: serving an old schema
 * would fail every write. Returns 0 when loaded. */
static int reload_checked(struct sync *s)
{
    int latest = store_latest_version(s->app->store), version = 0;
    const char *problem = NULL, *detail = "";

    if (!s->loaded) {
        if (store_schema_version(s->conn, &version) != STORE_OK) {
            problem = "cannot reach the database; retrying every second";
            detail = store_conn_error(s->conn);
        } else if (version < latest) {
            problem = "database schema is not current; run 'togglemaster migrate'";
        }
    }
    if (problem == NULL && reload(s) != 0) {
        problem = "cannot load flags from the database; retrying every second";
        detail = store_conn_error(s->conn);
    }
    if (problem != NULL) {
        if (!s->failing)
            log_event(LOG_WARN, problem,
                      json_pack("{s:s, s:i, s:i}", "detail", detail,
                                "schema_version", version, "schema_needed", latest));
        s->failing = true;
        return -1;
    }
    if (!s->loaded || s->failing) {
        struct snapshot *snap = snapshot_acquire(s->app->snapshots);
        log_event(LOG_INFO, s->loaded ? "flags reloaded after a failure" : "flags loaded",
                  json_pack("{s:I}", "flags", (json_int_t)(snap ? snap->count : 0)));
        snapshot_release(snap);
    }
    s->loaded = true;
    s->failing = false;
    return 0;
}

/* ---- change feed ------------------------------------------------------ */

static void collect(void *ctx, const char *name)
{
    struct batch *b = ctx;

    for (size_t i = 0; i < b->count; i++)
        if (strcmp(b->names[i], name) == 0)
            return;
    if (b->count == SYNC_MAX_BATCH || (b->names[b->count] = strdup(name)) == NULL) {
        b->overflow = true;
        return;
    }
    b->count++;
}

/* Re-reads one changed flag and applies what is committed now. */
static int apply_one(struct sync *s, const char *name)
{
    pthread_mutex_t *lock = app_name_lock(s->app, name);
    struct snapshot_change change = {.kind = SNAPSHOT_UPSERT, .name = name};
    struct store_flag row = {0};
    enum store_status st;
    int rc;

    pthread_mutex_lock(lock);
    st = store_flag_get(s->conn, name, &row);
    if (st == STORE_OK || st == STORE_NOT_FOUND) {
        change.kind = st == STORE_OK ? SNAPSHOT_UPSERT : SNAPSHOT_DELETE;
        change.id = row.id;
        change.is_enabled = row.is_enabled;
        rc = snapshot_apply(s->app->snapshots, &change);
    } else {
        rc = -1;
    }
    pthread_mutex_unlock(lock);
    return rc;
}

/* Applies every pending change; queries made here may queue more, so it
 * drains until nothing is left. -1 when the feed or the store failed. */
static int drain_and_apply(struct sync *s)
{
    for (;;) {
        struct batch b = {.count = 0};
        int rc = 0;

        if (store_drain_changes(s->conn, collect, &b) != STORE_OK)
            rc = -1;
        if (rc == 0 && b.overflow)
            rc = reload(s) == 0 ? 0 : -1;
        for (size_t i = 0; i < b.count; i++) {
            if (rc == 0 && !b.overflow)
                rc = apply_one(s, b.names[i]);
            free(b.names[i]);
        }
        if (rc != 0)
            return -1;
        if (b.count == 0 && !b.overflow)
            return 0;
        log_event(LOG_DEBUG, "applied changes from other instances",
                  json_pack("{s:I, s:b}", "flags", (json_int_t)b.count, "full_reload", b.overflow));
    }
}

/* ---- the thread ------------------------------------------------------- */

static void *sync_main(void *arg)
{
    struct sync *s = arg;
    struct store *store = s->app->store;
    bool feed = store_has_change_feed(store), listening = false, need_reload = true;
    long long interval_ms = (long long)s->app->cfg->resync_interval_s * 1000, next_resync = 0;

    while (!atomic_load(&s->stopping)) {
        struct pollfd fds[2] = {{.fd = s->wake_fd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
        long long timeout;

        if (feed && !listening && store_listen(s->conn) == STORE_OK) {
            listening = true;
            need_reload = true;   /* what changed while not listening is not replayed */
            log_event(LOG_INFO, "listening for changes from other instances", NULL);
        }
        if (need_reload || now_ms() >= next_resync) {
            if (reload_checked(s) == 0) {
                need_reload = false;
                next_resync = now_ms() + interval_ms;
            }
        }
        if (listening && (store_listen_fd(s->conn) < 0 || drain_and_apply(s) != 0)) {
            listening = false;
            log_event(LOG_WARN, "change feed lost; reconnecting every second",
                      json_pack("{s:s}", "detail", store_conn_error(s->conn)));
        }

        timeout = next_resync - now_ms();
        if (need_reload || (feed && !listening))
            timeout = RETRY_MS;
        if (timeout < 0)
            timeout = 0;
        if (listening)
            fds[1].fd = store_listen_fd(s->conn);
        if (poll(fds, 2, (int)timeout) < 0 && errno != EINTR)
            break;
    }
    return NULL;
}

struct sync *sync_start(struct app *app, char *err, size_t errlen)
{
    struct sync *s = calloc(1, sizeof *s);

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->app = app;
    s->wake_fd = eventfd(0, EFD_CLOEXEC);
    s->conn = store_conn_create(app->store, "sync");
    if (s->wake_fd < 0 || s->conn == NULL || pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        snprintf(err, errlen, "cannot start the sync thread");
        if (s->wake_fd >= 0)
            close(s->wake_fd);
        store_conn_destroy(s->conn);
        free(s);
        return NULL;
    }
    return s;
}

void sync_stop(struct sync *s)
{
    uint64_t one = 1;

    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    if (write(s->wake_fd, &one, sizeof one) < 0)
        log_msg(LOG_WARN, "cannot wake the sync thread: %s", strerror(errno));
    pthread_join(s->thread, NULL);
    close(s->wake_fd);
    store_conn_destroy(s->conn);
    free(s);
}
