/*
 * store — opening a store on a backend, and dispatching to it. See
 * store.h. (Which backend a configuration names is store/open.c's, so that
 * tests can link this file with a backend of their own.)
 */
#include "store.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "backend.h"

struct store *store_open_backend(const struct config *cfg, const struct store_backend *backend, char *err,
                                 size_t errlen)
{
    struct store *store = calloc(1, sizeof *store);

    if (store == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    store->cfg = cfg;
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != sizeof id)
        id = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)store;
    snprintf(store->instance_id, sizeof store->instance_id, "%016llx", (unsigned long long)id);
    store->backend = backend;
    if (store->backend->open(store, err, errlen) != 0) {
        free(store);
        return NULL;
    }
    return store;
}

void store_close(struct store *store)
{
    if (store == NULL)
        return;
    store->backend->close(store);
    free(store);
}

const char *store_backend_name(const struct store *store) { return store->backend->name; }
bool store_has_change_feed(const struct store *store) { return store->backend->listen != NULL; }
int store_latest_version(const struct store *store)
{
    const struct store_backend *b = store->backend;
    return *b->migration_count > 0 ? b->migrations[*b->migration_count - 1].version : 0;
}

int store_max_connections(const struct store *store)
{
    return store->backend->single_writer ? 1 : store->cfg->db_pool_size;
}

struct store_conn *store_conn_create(struct store *store, const char *purpose)
{
    return store->backend->conn_create(store, purpose);
}

void store_conn_destroy(struct store_conn *conn)
{
    if (conn != NULL)
        conn->store->backend->conn_destroy(conn);
}

const char *store_conn_error(const struct store_conn *conn) { return conn->error; }

void store_set_error(struct store_conn *conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(conn->error, sizeof conn->error, fmt, ap);
    va_end(ap);
}

enum store_status store_migrate(struct store_conn *conn, int *applied)
{
    *applied = 0;
    return conn->store->backend->migrate(conn, applied);
}

enum store_status store_schema_version(struct store_conn *conn, int *version)
{
    return conn->store->backend->schema_version(conn, version);
}

enum store_status store_flag_create(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    return conn->store->backend->flag_create(conn, in, out);
}

enum store_status store_flag_update(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    return conn->store->backend->flag_update(conn, in, out);
}

enum store_status store_flag_delete(struct store_conn *conn, const char *name)
{
    return conn->store->backend->flag_delete(conn, name);
}

enum store_status store_flag_load_all(struct store_conn *conn, store_flag_fn fn, void *ctx)
{
    return conn->store->backend->flag_load_all(conn, fn, ctx);
}

enum store_status store_flag_get(struct store_conn *conn, const char *name, struct flag **out)
{
    return conn->store->backend->flag_get(conn, name, out);
}

enum store_status store_flagset_load(struct store_conn *conn, struct flagset **out)
{
    return conn->store->backend->flagset_load(conn, out);
}

enum store_status store_evaluator_put(struct store_conn *conn, const char *name, const char *rule,
                                      int64_t *version)
{
    return conn->store->backend->evaluator_put(conn, name, rule, version);
}

enum store_status store_evaluator_delete(struct store_conn *conn, const char *name)
{
    return conn->store->backend->evaluator_delete(conn, name);
}

enum store_status store_metadata_put(struct store_conn *conn, const char *metadata)
{
    return conn->store->backend->metadata_put(conn, metadata);
}

enum store_status store_begin(struct store_conn *conn)
{
    return conn->store->backend->begin(conn);
}

enum store_status store_commit(struct store_conn *conn)
{
    return conn->store->backend->commit(conn);
}

void store_rollback(struct store_conn *conn)
{
    conn->store->backend->rollback(conn);
}

enum store_status store_listen(struct store_conn *conn)
{
    const struct store_backend *b = conn->store->backend;
    return b->listen ? b->listen(conn) : STORE_OK;
}

int store_listen_fd(struct store_conn *conn)
{
    const struct store_backend *b = conn->store->backend;
    return b->listen_fd ? b->listen_fd(conn) : -1;
}

enum store_status store_drain_changes(struct store_conn *conn, store_change_fn fn, void *ctx)
{
    const struct store_backend *b = conn->store->backend;
    return b->drain_changes ? b->drain_changes(conn, fn, ctx) : STORE_OK;
}
