/*
 * fake_store — an in-memory store backend for tests. See fake_store.h.
 */
#include "fake_store.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "flag.h"
#include "store/migrations.h"

#define FAKE_MAX_ROWS 4096
#define FAKE_FEED_MAX 1024

struct fake_row {
    char name[FLAG_STORED_NAME_MAX + 1];
    int64_t id;
    int64_t version;
    bool enabled;
};

static struct {
    pthread_mutex_t lock;
    struct fake_row rows[FAKE_MAX_ROWS];
    int count;
    int64_t next_id;
    bool unavailable;
    int load_delay_ms;
    int commit_jitter_us;
    /* The change feed: names announced and not yet drained. */
    char *feed[FAKE_FEED_MAX];
    int feed_count;
    int feed_fd;               /* eventfd, readable while the feed has names */
} db = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1, .feed_fd = -1};

static const struct migration fake_migrations[] = {{1, "fake", ""}};
static const int fake_migration_count = 1;

void fake_store_reset(void)
{
    pthread_mutex_lock(&db.lock);
    db.count = 0;
    db.unavailable = false;
    db.load_delay_ms = 0;
    db.commit_jitter_us = 0;
    for (int i = 0; i < db.feed_count; i++)
        free(db.feed[i]);
    db.feed_count = 0;
    pthread_mutex_unlock(&db.lock);
}

void fake_store_set_unavailable(bool unavailable)
{
    pthread_mutex_lock(&db.lock);
    db.unavailable = unavailable;
    pthread_mutex_unlock(&db.lock);
}

void fake_store_set_load_delay_ms(int ms)
{
    pthread_mutex_lock(&db.lock);
    db.load_delay_ms = ms;
    pthread_mutex_unlock(&db.lock);
}

static int find_locked(const char *name)
{
    for (int i = 0; i < db.count; i++)
        if (strcmp(db.rows[i].name, name) == 0)
            return i;
    return -1;
}

/* Sets a row (enabled >= 0) or deletes it (enabled < 0); returns its index
 * after the change, -1 when deleted or not found, -2 when full. */
static int set_locked(const char *name, int enabled, bool create)
{
    int at = find_locked(name);

    if (enabled < 0) {
        if (at >= 0)
            db.rows[at] = db.rows[--db.count];
        return -1;
    }
    if (at < 0) {
        if (!create)
            return -1;
        if (db.count == FAKE_MAX_ROWS)
            return -2;
        at = db.count++;
        snprintf(db.rows[at].name, sizeof db.rows[at].name, "%s", name);
        db.rows[at].id = db.next_id++;
        db.rows[at].version = 0;
    }
    db.rows[at].enabled = enabled != 0;
    db.rows[at].version++;
    return at;
}

static void announce_locked(const char *name)
{
    uint64_t one = 1;

    if (db.feed_count < FAKE_FEED_MAX && (db.feed[db.feed_count] = strdup(name)) != NULL)
        db.feed_count++;
    if (db.feed_fd >= 0 && write(db.feed_fd, &one, sizeof one) < 0)
        perror("fake_store feed");
}

void fake_store_set_commit_jitter_us(int us)
{
    pthread_mutex_lock(&db.lock);
    db.commit_jitter_us = us;
    pthread_mutex_unlock(&db.lock);
}

void fake_store_remote_write(const char *name, int enabled, bool quietly)
{
    pthread_mutex_lock(&db.lock);
    set_locked(name, enabled, true);
    if (!quietly)
        announce_locked(name);
    pthread_mutex_unlock(&db.lock);
}

int fake_store_state(const char *name, int64_t *id)
{
    int at, state;

    pthread_mutex_lock(&db.lock);
    at = find_locked(name);
    state = at < 0 ? -1 : db.rows[at].enabled;
    if (at >= 0 && id != NULL)
        *id = db.rows[at].id;
    pthread_mutex_unlock(&db.lock);
    return state;
}

int fake_store_count(void)
{
    int count;

    pthread_mutex_lock(&db.lock);
    count = db.count;
    pthread_mutex_unlock(&db.lock);
    return count;
}

void fake_store_each(void (*fn)(void *ctx, const char *name, int64_t id, bool enabled), void *ctx)
{
    pthread_mutex_lock(&db.lock);
    for (int i = 0; i < db.count; i++)
        fn(ctx, db.rows[i].name, db.rows[i].id, db.rows[i].enabled);
    pthread_mutex_unlock(&db.lock);
}

/* ---- the backend --------------------------------------------------------- */

static int fake_open(struct store *store, char *err, size_t errlen)
{
    (void)store;
    (void)err;
    (void)errlen;
    pthread_mutex_lock(&db.lock);
    if (db.feed_fd < 0)
        db.feed_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_unlock(&db.lock);
    return 0;
}

static void fake_close(struct store *store)
{
    (void)store;
}

static struct store_conn *fake_conn_create(struct store *store, const char *purpose)
{
    struct store_conn *conn = calloc(1, sizeof *conn);

    (void)purpose;
    if (conn != NULL)
        conn->store = store;
    return conn;
}

static void fake_conn_destroy(struct store_conn *conn)
{
    free(conn);
}

/* Locks the database, or fails as unavailable (unlocked). */
static enum store_status enter(struct store_conn *conn)
{
    pthread_mutex_lock(&db.lock);
    if (!db.unavailable)
        return STORE_OK;
    pthread_mutex_unlock(&db.lock);
    store_set_error(conn, "fake: unavailable");
    return STORE_UNAVAILABLE;
}

static enum store_status flag_at_locked(struct store_conn *conn, int at, struct flag **out)
{
    struct flag_row row = {.name = db.rows[at].name, .id = db.rows[at].id, .is_enabled = db.rows[at].enabled,
                           .version = db.rows[at].version};

    *out = flag_create(&row, NULL);
    if (*out != NULL)
        return STORE_OK;
    store_set_error(conn, "fake: out of memory");
    return STORE_ERROR;
}

static enum store_status fake_migrate(struct store_conn *conn, int *applied)
{
    enum store_status st = enter(conn);

    if (st == STORE_OK)
        pthread_mutex_unlock(&db.lock);
    *applied = 0;
    return st;
}

static enum store_status fake_schema_version(struct store_conn *conn, int *version)
{
    enum store_status st = enter(conn);

    *version = 0;
    if (st == STORE_OK) {
        *version = 1;
        pthread_mutex_unlock(&db.lock);
    }
    return st;
}

/* After a write commits, other threads get a chance to run before the
 * caller goes on (see fake_store_set_commit_jitter_us). */
static enum store_status committed(enum store_status st)
{
    static _Thread_local unsigned seed;
    int jitter;

    pthread_mutex_lock(&db.lock);
    jitter = db.commit_jitter_us;
    pthread_mutex_unlock(&db.lock);
    if (seed == 0)
        seed = (unsigned)(uintptr_t)&seed;
    if (jitter > 0)
        usleep((useconds_t)(rand_r(&seed) % (unsigned)jitter));
    else
        sched_yield();
    return st;
}

static enum store_status fake_flag_create(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    enum store_status st = enter(conn);
    int at;

    if (st != STORE_OK)
        return st;
    if (find_locked(in->name) >= 0) {
        pthread_mutex_unlock(&db.lock);
        store_set_error(conn, "fake: duplicate");
        return STORE_CONFLICT;
    }
    at = set_locked(in->name, in->is_enabled, true);
    st = at >= 0 ? flag_at_locked(conn, at, out) : STORE_ERROR;
    pthread_mutex_unlock(&db.lock);
    return committed(st);
}

static enum store_status fake_flag_update(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    enum store_status st = enter(conn);
    int at;

    if (st != STORE_OK)
        return st;
    at = find_locked(in->name);
    if (at >= 0 && in->expect_version != 0 && db.rows[at].version != in->expect_version) {
        pthread_mutex_unlock(&db.lock);
        return STORE_STALE;
    }
    at = set_locked(in->name, in->is_enabled, false);
    st = at >= 0 ? flag_at_locked(conn, at, out) : STORE_NOT_FOUND;
    pthread_mutex_unlock(&db.lock);
    return committed(st);
}

static enum store_status fake_flag_delete(struct store_conn *conn, const char *name)
{
    enum store_status st = enter(conn);

    if (st != STORE_OK)
        return st;
    st = find_locked(name) >= 0 ? STORE_OK : STORE_NOT_FOUND;
    set_locked(name, -1, false);
    pthread_mutex_unlock(&db.lock);
    return committed(st);
}

static enum store_status fake_flag_load_all(struct store_conn *conn, store_flag_fn fn, void *ctx)
{
    enum store_status st = enter(conn);
    struct fake_row *copy;
    int count, delay;

    if (st != STORE_OK)
        return st;
    count = db.count;
    delay = db.load_delay_ms;
    copy = malloc((size_t)(count ? count : 1) * sizeof *copy);
    if (copy != NULL)
        memcpy(copy, db.rows, (size_t)count * sizeof *copy);
    pthread_mutex_unlock(&db.lock);
    if (copy == NULL)
        return STORE_ERROR;
    if (delay > 0)
        usleep((useconds_t)delay * 1000);   /* what was read is now stale */
    for (int i = 0; i < count && st == STORE_OK; i++) {
        struct flag_row row = {.name = copy[i].name, .id = copy[i].id, .is_enabled = copy[i].enabled,
                               .version = copy[i].version};
        struct flag *flag = flag_create(&row, NULL);
        if (flag == NULL || fn(ctx, flag) != 0)
            st = STORE_ERROR;
        flag_unref(flag);
    }
    free(copy);
    return st;
}

static enum store_status fake_flag_get(struct store_conn *conn, const char *name, struct flag **out)
{
    enum store_status st = enter(conn);
    int at;

    if (st != STORE_OK)
        return st;
    at = find_locked(name);
    st = at >= 0 ? flag_at_locked(conn, at, out) : STORE_NOT_FOUND;
    pthread_mutex_unlock(&db.lock);
    return st;
}

static enum store_status fake_listen(struct store_conn *conn)
{
    enum store_status st = enter(conn);

    if (st == STORE_OK)
        pthread_mutex_unlock(&db.lock);
    return st;
}

static int fake_listen_fd(struct store_conn *conn)
{
    (void)conn;
    return db.feed_fd;
}

static enum store_status fake_drain_changes(struct store_conn *conn, store_change_fn fn, void *ctx)
{
    enum store_status st = enter(conn);
    char *names[FAKE_FEED_MAX];
    uint64_t ignored;
    int count;

    if (st != STORE_OK)
        return st;
    count = db.feed_count;
    memcpy(names, db.feed, (size_t)count * sizeof names[0]);
    db.feed_count = 0;
    if (read(db.feed_fd, &ignored, sizeof ignored) < 0 && errno != EAGAIN)
        perror("fake_store feed");
    pthread_mutex_unlock(&db.lock);
    for (int i = 0; i < count; i++) {
        fn(ctx, STORE_CHANGE_FLAG, names[i]);
        free(names[i]);
    }
    return STORE_OK;
}

/* The flag set: always empty here (the catalog's flag-set path is tested
 * over HTTP against the real backends). */
static enum store_status fake_flagset_load(struct store_conn *conn, struct flagset **out)
{
    enum store_status st = enter(conn);

    if (st != STORE_OK)
        return st;
    pthread_mutex_unlock(&db.lock);
    *out = flagset_create();
    return *out ? STORE_OK : STORE_ERROR;
}

static enum store_status fake_unsupported(struct store_conn *conn)
{
    store_set_error(conn, "fake: evaluators are not kept");
    return STORE_ERROR;
}

static enum store_status fake_evaluator_put(struct store_conn *conn, const char *name, const char *rule,
                                            int64_t *version)
{
    (void)name;
    (void)rule;
    (void)version;
    return fake_unsupported(conn);
}

static enum store_status fake_evaluator_delete(struct store_conn *conn, const char *name)
{
    (void)name;
    return fake_unsupported(conn);
}

static enum store_status fake_metadata_put(struct store_conn *conn, const char *metadata)
{
    (void)metadata;
    return fake_unsupported(conn);
}

/* Every write commits at once: transactions are a formality here. */
static enum store_status fake_begin(struct store_conn *conn)
{
    (void)conn;
    return STORE_OK;
}

static void fake_rollback(struct store_conn *conn)
{
    (void)conn;
}

const struct store_backend fake_store_backend = {
    .name = "fake",
    .migrations = fake_migrations,
    .migration_count = &fake_migration_count,
    .open = fake_open,
    .close = fake_close,
    .conn_create = fake_conn_create,
    .conn_destroy = fake_conn_destroy,
    .migrate = fake_migrate,
    .schema_version = fake_schema_version,
    .flag_create = fake_flag_create,
    .flag_update = fake_flag_update,
    .flag_delete = fake_flag_delete,
    .flag_load_all = fake_flag_load_all,
    .flag_get = fake_flag_get,
    .flagset_load = fake_flagset_load,
    .evaluator_put = fake_evaluator_put,
    .evaluator_delete = fake_evaluator_delete,
    .metadata_put = fake_metadata_put,
    .begin = fake_begin,
    .commit = fake_begin,
    .rollback = fake_rollback,
    .listen = fake_listen,
    .listen_fd = fake_listen_fd,
    .drain_changes = fake_drain_changes,
};
