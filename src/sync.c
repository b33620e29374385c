/*
 * sync — snapshot loading and periodic resync. See sync.h.
 */
#include "sync.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

/* A load that keeps losing races with writes takes the rebuild lock for
 * its last try, so it always completes. */
#define RELOAD_TRIES 3

struct sync {
    struct app *app;
    struct store_conn *conn;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

static int add_row(void *ctx, const char *name, int64_t id, bool is_enabled)
{
    return snapshot_builder_add(ctx, name, id, is_enabled);
}

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

int sync_reload(struct app *app, struct store_conn *conn)
{
    for (int i = 0; i < RELOAD_TRIES - 1; i++) {
        int rc = load(app, conn, false);
        if (rc <= 0)
            return rc;
    }
    snapshot_cell_lock(app->snapshots);
    int rc = load(app, conn, true);
    snapshot_cell_unlock(app->snapshots);
    return rc;
}

/* Sleeps up to seconds; returns true when asked to stop. */
static bool wait_or_stop(struct sync *s, int seconds)
{
    struct timespec until;
    bool stopping;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
        ;
    stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stopping;
}

/* Until the first snapshot is published: check the schema, then load.
 * Logs each distinct problem once, not every second. */
static bool initial_load(struct sync *s)
{
    int latest = store_latest_version(s->app->store), warned = 0;

    for (;;) {
        int version = 0;
        enum store_status st = store_schema_version(s->conn, &version);
        const char *problem = NULL;

        if (st != STORE_OK)
            problem = "cannot reach the database; retrying every second";
        else if (version < latest)
            problem = "database schema is not current; run 'togglemaster migrate'";
        else if (sync_reload(s->app, s->conn) != 0)
            problem = "cannot load flags; retrying every second";
        else
            return true;
        if (warned++ % 60 == 0)
            log_event(LOG_WARN, problem,
                      json_pack("{s:s, s:i, s:i}", "detail", st == STORE_OK ? "" : store_conn_error(s->conn),
                                "schema_version", version, "schema_needed", latest));
        if (wait_or_stop(s, 1))
            return false;
    }
}

static void *sync_main(void *arg)
{
    struct sync *s = arg;

    if (!initial_load(s))
        return NULL;
    log_event(LOG_INFO, "flags loaded", NULL);
    while (!wait_or_stop(s, s->app->cfg->resync_interval_s)) {
        if (sync_reload(s->app, s->conn) < 0)
            log_event(LOG_WARN, "resync failed; serving the last snapshot",
                      json_pack("{s:s}", "detail", store_conn_error(s->conn)));
    }
    return NULL;
}

struct sync *sync_start(struct app *app, char *err, size_t errlen)
{
    struct sync *s = calloc(1, sizeof *s);
    pthread_condattr_t attr;

    if (s == NULL || (s->conn = store_conn_create(app->store)) == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->app = app;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        snprintf(err, errlen, "cannot start the sync thread");
        store_conn_destroy(s->conn);
        free(s);
        return NULL;
    }
    return s;
}

void sync_stop(struct sync *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    store_conn_destroy(s->conn);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
