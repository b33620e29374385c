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

#include "catalog.h"
#include "events.h"
#include "log.h"

/* A load is repeated at once when a write raced with it before anything
 * was loaded (see snapshot_load_publish); after this many it waits for the
 * next retry. */
#define LOAD_TRIES 3
#define RETRY_MS 1000

struct sync {
    struct app *app;
    struct store_conn *conn;
    pthread_t thread;
    int wake_fd;               /* eventfd: written by sync_stop and sync_request_reload */
    atomic_bool stopping;
    atomic_bool reload_requested;
    bool loaded;               /* the first snapshot is published */
    bool failing;              /* last attempt failed (log transitions only) */
    /* For /metrics (sync_stats). */
    atomic_bool listening;
    atomic_llong last_message_ms;  /* CLOCK_MONOTONIC of the last change received */
    atomic_ulong feed_reconnects;  /* times listening began again after it was lost */
    atomic_ulong load_failures;
    char detail[512];          /* why the last reload failed */
};

/* Names changed by other instances, collected from one drain. */
struct batch {
    char *names[SYNC_MAX_BATCH];
    size_t count;
    bool overflow;
    bool flagset;              /* the evaluators or flag-set metadata changed */
    bool keys;                 /* a key was created or revoked */
    bool received;             /* any change at all (even our own, skipped) */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- full reload ------------------------------------------------------ */

static int add_flag(void *builder, struct flag *flag)
{
    return snapshot_builder_add(builder, flag);
}

/* Reads every flag and publishes them. The read holds no lock of ours:
 * local writes go on meanwhile, and the snapshot merges those it saw
 * (snapshot_load_publish). 0 when published, -1 on a store failure. */
static int reload(struct sync *s)
{
    struct snapshot_cell *cell = s->app->snapshots;

    for (int attempt = 0; attempt < LOAD_TRIES; attempt++) {
        struct snapshot_builder *builder = snapshot_builder_create();
        struct flagset *set = NULL;
        struct keyring *keys = NULL;
        int rc;

        if (builder == NULL)
            return -1;
        snapshot_load_begin(cell);
        /* The keys with the first snapshot: never one without them, which
         * would serve as if authentication were off. */
        if (store_keys_load(s->conn, &keys) == STORE_OK) {
            app_note_keys(s->app, keys);
            snapshot_builder_set_keyring(builder, keys);
        }
        /* The flag set first: the flags' $refs are resolved against it. */
        if (keys != NULL && store_flagset_load(s->conn, &set) == STORE_OK)
            snapshot_builder_set_flagset(builder, set);
        keyring_unref(keys);
        if (set == NULL || store_flag_load_all(s->conn, add_flag, builder) != STORE_OK) {
            flagset_unref(set);
            snprintf(s->detail, sizeof s->detail, "%s", store_conn_error(s->conn));
            snapshot_builder_abort(builder);
            snapshot_load_abort(cell);
            return -1;
        }
        flagset_unref(set);
        rc = snapshot_load_publish(cell, snapshot_builder_finish(builder));
        if (rc < 0)
            snprintf(s->detail, sizeof s->detail, "out of memory building the snapshot");
        if (rc <= 0)
            return rc;
    }
    snprintf(s->detail, sizeof s->detail, "writes kept racing with the first load");
    return -1;
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
        detail = s->detail;
    }
    if (problem != NULL) {
        atomic_fetch_add(&s->load_failures, 1);
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
                  json_pack("{s:I, s:I}", "flags", (json_int_t)(snap ? snap->count : 0), "api_keys",
                            (json_int_t)(snap ? snap->keyring->active : 0)));
        if (!s->loaded && snap != NULL && !s->app->has_admin_token && snap->keyring->count == 0)
            log_msg(LOG_WARN, "authentication is off: anyone who can reach the port can change flags. "
                              "Set ADMIN_TOKEN or run 'togglemaster keys create --role admin --name NAME'");
        snapshot_release(snap);
    }
    s->loaded = true;
    s->failing = false;
    return 0;
}

/* ---- change feed ------------------------------------------------------ */

static void collect(void *ctx, enum store_change kind, const char *name)
{
    struct batch *b = ctx;

    b->received = true;
    if (kind == STORE_CHANGE_FLAGSET) {
        b->flagset = true;
        return;
    }
    if (kind == STORE_CHANGE_KEYS) {
        b->keys = true;
        return;
    }
    for (size_t i = 0; i < b->count; i++)
        if (strcmp(b->names[i], name) == 0)
            return;
    if (b->count == SYNC_MAX_BATCH || (b->names[b->count] = strdup(name)) == NULL) {
        b->overflow = true;
        return;
    }
    b->count++;
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
        if (b.received)
            atomic_store(&s->last_message_ms, now_ms());
        if (rc == 0 && b.overflow) {
            rc = reload(s) == 0 ? 0 : -1;
            if (rc == 0)
                events_publish(s->app->events, "reload", NULL, NULL);
        }
        else if (rc == 0 && b.flagset)
            rc = catalog_refresh_flagset(s->app, s->conn) == STORE_OK ? 0 : -1;
        if (rc == 0 && b.keys && !b.overflow)
            rc = catalog_refresh_keys(s->app, s->conn) == STORE_OK ? 0 : -1;
        for (size_t i = 0; i < b.count; i++) {
            if (rc == 0 && !b.overflow)
                rc = catalog_refresh(s->app, s->conn, b.names[i]) == STORE_OK ? 0 : -1;
            free(b.names[i]);
        }
        if (rc != 0)
            return -1;
        if (b.count == 0 && !b.overflow && !b.flagset && !b.keys)
            return 0;
        log_event(LOG_DEBUG, "applied changes from other instances",
                  json_pack("{s:I, s:b, s:b, s:b}", "flags", (json_int_t)b.count, "flag_set", b.flagset,
                            "keys", b.keys, "full_reload", b.overflow));
    }
}

/* ---- the thread ------------------------------------------------------- */

static void *sync_main(void *arg)
{
    struct sync *s = arg;
    struct store *store = s->app->store;
    bool feed = store_has_change_feed(store), listening = false, listened_before = false, need_reload = true;
    long long interval_ms = (long long)s->app->cfg->resync_interval_s * 1000, next_resync = 0;

    while (!atomic_load(&s->stopping)) {
        struct pollfd fds[2] = {{.fd = s->wake_fd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
        long long timeout;

        if (feed && !listening && store_listen(s->conn) == STORE_OK) {
            if (listened_before)
                atomic_fetch_add(&s->feed_reconnects, 1);
            listening = listened_before = true;
            atomic_store(&s->listening, true);
            atomic_store(&s->last_message_ms, now_ms());   /* counted from when listening began */
            need_reload = true;   /* what changed while not listening is not replayed */
            log_event(LOG_INFO, "listening for changes from other instances", NULL);
        }
        if (atomic_exchange(&s->reload_requested, false))
            need_reload = true;
        if (need_reload || now_ms() >= next_resync) {
            if (reload_checked(s) == 0) {
                /* After a gap in the feed (or the first load), what
                 * changed is unknown: subscribers read everything again.
                 * A periodic resync with the feed up tells nothing new. */
                if (need_reload)
                    events_publish(s->app->events, "reload", NULL, NULL);
                need_reload = false;
                next_resync = now_ms() + interval_ms;
            }
        }
        if (listening && (store_listen_fd(s->conn) < 0 || drain_and_apply(s) != 0)) {
            listening = false;
            atomic_store(&s->listening, false);
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
        if (fds[0].revents & POLLIN) {   /* a wake-up: consume it */
            uint64_t count;
            if (read(s->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                log_msg(LOG_WARN, "sync wake-up: %s", strerror(errno));
        }
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

void sync_stats(struct sync *s, struct sync_stats *out)
{
    out->has_feed = store_has_change_feed(s->app->store);
    out->listening = atomic_load(&s->listening);
    out->last_message_ms = atomic_load(&s->last_message_ms);
    out->feed_reconnects = atomic_load(&s->feed_reconnects);
    out->load_failures = atomic_load(&s->load_failures);
}

void sync_request_reload(struct sync *s)
{
    uint64_t one = 1;

    atomic_store(&s->reload_requested, true);
    if (write(s->wake_fd, &one, sizeof one) < 0)
        log_msg(LOG_WARN, "cannot wake the sync thread: %s", strerror(errno));
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
