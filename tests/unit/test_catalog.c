/* Unit tests for catalog.c over the in-memory store: every change lands in
 * the store and the snapshot together; failures change neither; and
 * concurrent writers to the same names leave the snapshot exactly as the
 * store committed (the name lock orders publishing by commit). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "check.h"
#include "fake_store.h"

static struct config cfg;
static struct app app;

static void setup(void)
{
    char err[256];

    fake_store_reset();
    memset(&app, 0, sizeof app);
    app.cfg = &cfg;
    app_init_locks(&app);
    app.store = store_open_backend(&cfg, &fake_store_backend, err, sizeof err);
    app.snapshots = snapshot_cell_create();
    snapshot_load_begin(app.snapshots);
    snapshot_load_publish(app.snapshots, snapshot_builder_finish(snapshot_builder_create()));
}

static void teardown(void)
{
    snapshot_cell_destroy(app.snapshots);
    store_close(app.store);
    app_destroy_locks(&app);
}

/* 1 enabled, 0 disabled, -1 absent; *id when present. */
static int in_snapshot(const char *name, int64_t *id)
{
    struct snapshot *snap = snapshot_acquire(app.snapshots);
    const struct flag *f = snapshot_find(snap, name, strlen(name));
    int state = f ? f->is_enabled : -1;

    if (f != NULL && id != NULL)
        *id = f->id;
    snapshot_release(snap);
    return state;
}

/* catalog_change_fn: sets is_enabled from the row in ctx. */
static int set_enabled(void *ctx, const struct flag *current, const struct flagset *set, struct flag_row *row)
{
    (void)current;
    (void)set;
    row->is_enabled = ((const struct flag_row *)ctx)->is_enabled;
    return 0;
}

static enum store_status update(struct store_conn *conn, const struct flag_row *row)
{
    return catalog_update(&app, conn, row->name, 0, set_enabled, (void *)row, NULL);
}

static void test_changes(void)
{
    struct store_conn *conn = store_conn_create(app.store, "test");
    struct flag_row on = {.name = "a", .is_enabled = true}, off = {.name = "a", .is_enabled = false};
    struct flag *committed = NULL;
    int64_t id = 0, stored_id = 0;

    CHECK(catalog_create(&app, conn, &on, &committed) == STORE_OK);
    CHECK(committed != NULL && in_snapshot("a", &id) == 1 && fake_store_state("a", &stored_id) == 1);
    CHECK(committed != NULL && committed->id == stored_id && id == stored_id);
    flag_unref(committed);
    CHECK(catalog_create(&app, conn, &off, NULL) == STORE_CONFLICT && in_snapshot("a", NULL) == 1);
    CHECK(update(conn, &off) == STORE_OK && in_snapshot("a", NULL) == 0);
    struct flag_row ghost = {.name = "ghost", .is_enabled = true};
    CHECK(update(conn, &ghost) == STORE_NOT_FOUND && in_snapshot("ghost", NULL) == -1);
    /* If-Match: an update made against a version that is no longer current
     * changes nothing. */
    {
        struct flag *f = NULL;
        CHECK(catalog_update(&app, conn, "a", 2, set_enabled, &on, &f) == STORE_OK && f != NULL &&
              f->version == 3 && in_snapshot("a", NULL) == 1);
        flag_unref(f);
        CHECK(catalog_update(&app, conn, "a", 2, set_enabled, &off, NULL) == STORE_STALE &&
              in_snapshot("a", NULL) == 1);
    }
    CHECK(catalog_delete(&app, conn, "a") == STORE_OK && in_snapshot("a", NULL) == -1);
    CHECK(catalog_delete(&app, conn, "a") == STORE_NOT_FOUND);

    /* The store is down: nothing changes anywhere. */
    fake_store_set_unavailable(true);
    CHECK(catalog_create(&app, conn, &on, NULL) == STORE_UNAVAILABLE && in_snapshot("a", NULL) == -1);
    fake_store_set_unavailable(false);
    CHECK(fake_store_state("a", NULL) == -1);

    /* Another instance changed a flag: a refresh applies what is committed. */
    fake_store_remote_write("remote", 1, true);
    CHECK(in_snapshot("remote", NULL) == -1);
    CHECK(catalog_refresh(&app, conn, "remote") == STORE_OK && in_snapshot("remote", NULL) == 1);
    fake_store_remote_write("remote", -1, true);
    CHECK(catalog_refresh(&app, conn, "remote") == STORE_OK && in_snapshot("remote", NULL) == -1);
    store_conn_destroy(conn);
}

#define WRITERS 4
#define OPS 1500
#define NAMES 6

static atomic_bool writers_done;

/* Writers delete and create: every create gets a larger row id, so for
 * each name the ids the snapshot shows must only ever grow. */
static void *writer_main(void *arg)
{
    struct store_conn *conn = store_conn_create(app.store, "writer");
    unsigned seed = (unsigned)(uintptr_t)arg;
    char name[16];

    for (int i = 0; i < OPS; i++) {
        struct flag_row row = {.name = name, .is_enabled = rand_r(&seed) % 2};
        snprintf(name, sizeof name, "n%u", rand_r(&seed) % NAMES);
        switch (rand_r(&seed) % 3) {
        case 0: catalog_create(&app, conn, &row, NULL); break;
        case 1: update(conn, &row); break;
        default: catalog_delete(&app, conn, name); break;
        }
    }
    store_conn_destroy(conn);
    return NULL;
}

static void *watcher_main(void *arg)
{
    int64_t highest[NAMES] = {0};
    long *backwards = arg;
    char name[16];

    while (!atomic_load(&writers_done)) {
        for (int i = 0; i < NAMES; i++) {
            int64_t id = 0;
            snprintf(name, sizeof name, "n%d", i);
            if (in_snapshot(name, &id) >= 0) {
                if (id < highest[i])
                    (*backwards)++;
                else
                    highest[i] = id;
            }
        }
    }
    return NULL;
}

static void test_concurrent_writers_publish_in_commit_order(void)
{
    pthread_t writers[WRITERS], watcher;
    int mismatches = 0;
    long backwards = 0;
    char name[16];

    fake_store_set_commit_jitter_us(200);
    atomic_store(&writers_done, false);
    pthread_create(&watcher, NULL, watcher_main, &backwards);
    for (uintptr_t i = 0; i < WRITERS; i++)
        pthread_create(&writers[i], NULL, writer_main, (void *)(i + 1));
    for (int i = 0; i < WRITERS; i++)
        pthread_join(writers[i], NULL);
    atomic_store(&writers_done, true);
    pthread_join(watcher, NULL);
    for (int i = 0; i < NAMES; i++) {
        int64_t snap_id = -1, store_id = -2;
        snprintf(name, sizeof name, "n%d", i);
        int snap = in_snapshot(name, &snap_id), stored = fake_store_state(name, &store_id);
        if (snap != stored || (snap >= 0 && snap_id != store_id))
            mismatches++;
    }
    if (mismatches || backwards)
        fprintf(stderr, "catalog: %d of %d names differ from the store at the end; %ld times a name went "
                        "back to an older row\n", mismatches, NAMES, backwards);
    CHECK(mismatches == 0);
    CHECK(backwards == 0);
}

int main(void)
{
    setup();
    test_changes();
    teardown();
    setup();
    test_concurrent_writers_publish_in_commit_order();
    teardown();
    return CHECK_DONE("unit[catalog]");
}
