/* Unit tests for sync.c over the in-memory store: the first load (also
 * after an outage), changes from the feed, the periodic resync, and a
 * reload racing local writes never rolling one of them back. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "check.h"
#include "fake_store.h"
#include "log.h"
#include "sync.h"

static struct config cfg;
static struct app app;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sync *start(int resync_interval_s)
{
    char err[256];
    struct sync *s;

    memset(&app, 0, sizeof app);
    cfg.resync_interval_s = resync_interval_s;
    app.cfg = &cfg;
    app_init_locks(&app);
    app.store = store_open_backend(&cfg, &fake_store_backend, err, sizeof err);
    app.snapshots = snapshot_cell_create();
    s = sync_start(&app, err, sizeof err);
    if (s == NULL)
        abort();
    return s;
}

static void stop(struct sync *s)
{
    sync_stop(s);
    snapshot_cell_destroy(app.snapshots);
    store_close(app.store);
    app_destroy_locks(&app);
}

/* The snapshot's state of name: 1, 0, -1 absent, -2 nothing loaded. */
static int in_snapshot(const char *name, int64_t *id)
{
    struct snapshot *snap = snapshot_acquire(app.snapshots);
    const struct flag *f = snap ? snapshot_find(snap, name, strlen(name)) : NULL;
    int state = snap == NULL ? -2 : f ? f->is_enabled : -1;

    if (f != NULL && id != NULL)
        *id = f->id;
    snapshot_release(snap);
    return state;
}

/* Waits up to timeout_ms for name to reach state; returns the ms it took,
 * or -1. */
static long long wait_for(const char *name, int state, int timeout_ms)
{
    long long start = now_ms();

    while (now_ms() - start <= timeout_ms) {
        if (in_snapshot(name, NULL) == state)
            return now_ms() - start;
        usleep(2000);
    }
    return -1;
}

static void test_first_load_and_feed(void)
{
    struct sync *s;

    fake_store_reset();
    fake_store_remote_write("x", 1, true);
    fake_store_remote_write("y", 0, true);
    s = start(3600);
    CHECK(wait_for("x", 1, 2000) >= 0 && in_snapshot("y", NULL) == 0);
    /* Another instance's writes arrive through the feed, not the resync
     * (an hour away). */
    fake_store_remote_write("z", 1, false);
    CHECK(wait_for("z", 1, 1000) >= 0);
    fake_store_remote_write("x", 0, false);
    CHECK(wait_for("x", 0, 1000) >= 0);
    fake_store_remote_write("y", -1, false);
    CHECK(wait_for("y", -1, 1000) >= 0);
    /* A quiet change waits for the resync. */
    fake_store_remote_write("quiet", 1, true);
    CHECK(wait_for("quiet", 1, 300) < 0);
    stop(s);
}

static void test_resync_and_outage(void)
{
    struct sync *s;

    fake_store_reset();
    fake_store_set_unavailable(true);
    s = start(1);
    usleep(300 * 1000);
    CHECK(in_snapshot("any", NULL) == -2);   /* nothing loaded while down */
    fake_store_remote_write("after-outage", 1, true);
    fake_store_set_unavailable(false);
    CHECK(wait_for("after-outage", 1, 2500) >= 0);
    fake_store_remote_write("quiet", 1, true);
    CHECK(wait_for("quiet", 1, 2500) >= 0);    /* found by the resync */
    stop(s);
}

/* A writer creates flags again and again while the sync thread reloads
 * every second from a store that answers 300 ms late. After each write is
 * acknowledged, the snapshot must show it, and keep showing it until the
 * next write of that name: a reload that read the store before the write
 * must not roll it back, and no write may wait for the reload's read. */
#define RACE_NAMES 4

static atomic_bool race_done;
static long race_violations, race_writes;
static long long race_slowest_ms;

static void *race_writer(void *arg)
{
    struct store_conn *conn = store_conn_create(app.store, "writer");
    int64_t last_id[RACE_NAMES] = {0};
    char name[16];

    (void)arg;
    for (int i = 0; !atomic_load(&race_done); i++) {
        struct flag_row row = {.name = name, .is_enabled = true};
        struct flag *committed = NULL;
        int n = i % RACE_NAMES;
        snprintf(name, sizeof name, "race%d", n);
        long long t0 = now_ms();
        catalog_delete(&app, conn, name);
        if (catalog_create(&app, conn, &row, &committed) == STORE_OK) {
            if (now_ms() - t0 > race_slowest_ms)
                race_slowest_ms = now_ms() - t0;
            last_id[n] = committed->id;
            flag_unref(committed);
            race_writes++;
        }
        /* Every name this thread wrote still shows its last write. */
        for (int k = 0; k < RACE_NAMES; k++) {
            int64_t id = 0;
            char other[16];
            snprintf(other, sizeof other, "race%d", k);
            if (last_id[k] != 0 && (in_snapshot(other, &id) != 1 || id != last_id[k]))
                race_violations++;
        }
        usleep(1000);
    }
    store_conn_destroy(conn);
    return NULL;
}

static void test_reload_never_rolls_back_local_writes(void)
{
    struct sync *s;
    pthread_t writer;

    fake_store_reset();
    fake_store_remote_write("seed", 1, true);
    s = start(1);
    CHECK(wait_for("seed", 1, 2000) >= 0);
    fake_store_set_load_delay_ms(300);
    atomic_store(&race_done, false);
    pthread_create(&writer, NULL, race_writer, NULL);
    usleep(3500 * 1000);                      /* three or four reloads */
    atomic_store(&race_done, true);
    pthread_join(writer, NULL);
    if (race_violations)
        fprintf(stderr, "sync: %ld of %ld writes were rolled back by a reload\n", race_violations, race_writes);
    CHECK(race_writes > 100);
    CHECK(race_violations == 0);
    /* The reload reads for 300 ms holding no lock a write needs. */
    if (race_slowest_ms >= 150)
        fprintf(stderr, "sync: a write waited %lld ms during a reload\n", race_slowest_ms);
    CHECK(race_slowest_ms < 150);
    fake_store_set_load_delay_ms(0);
    stop(s);
}

int main(void)
{
    log_init(LOG_WARN, LOG_FORMAT_JSON);
    test_first_load_and_feed();
    test_resync_and_outage();
    test_reload_never_rolls_back_local_writes();
    return CHECK_DONE("unit[sync]");
}
