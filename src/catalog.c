/*
 * catalog — commit, then publish, under the name's lock. See catalog.h.
 */
#include "catalog.h"

#include <string.h>

#include "log.h"

enum change { CHANGE_CREATE, CHANGE_UPDATE, CHANGE_DELETE, CHANGE_REFRESH };

/* The snapshot after a committed change: the flag as committed, or none. */
static void publish_locked(struct app *app, const char *name, struct flag *committed)
{
    int rc = committed != NULL ? snapshot_put(app->snapshots, committed)
                               : snapshot_remove(app->snapshots, name, strlen(name));
    if (rc != 0)
        log_msg(LOG_ERROR, "out of memory updating the snapshot for '%s'; the next resync repairs it", name);
}

static enum store_status change_locked(struct app *app, struct store_conn *conn, enum change change,
                                       const char *name, const struct flag_row *row, struct flag **committed)
{
    enum store_status st;

    switch (change) {
    case CHANGE_CREATE:
        st = store_flag_create(conn, row, committed);
        break;
    case CHANGE_UPDATE:
        st = store_flag_update(conn, row, committed);
        break;
    case CHANGE_DELETE:
        st = store_flag_delete(conn, name);
        break;
    default:
        st = store_flag_get(conn, name, committed);
        if (st == STORE_NOT_FOUND) {
            publish_locked(app, name, NULL);   /* gone: that is the news */
            return STORE_OK;
        }
        break;
    }
    if (st == STORE_OK)
        publish_locked(app, name, *committed);
    return st;
}

static enum store_status change(struct app *app, struct store_conn *conn, enum change kind, const char *name,
                                const struct flag_row *row, struct flag **out)
{
    pthread_mutex_t *lock = app_name_lock(app, name);
    struct flag *committed = NULL;
    enum store_status st;

    pthread_mutex_lock(lock);
    st = change_locked(app, conn, kind, name, row, &committed);
    pthread_mutex_unlock(lock);
    if (out != NULL && st == STORE_OK)
        *out = committed;
    else
        flag_unref(committed);
    return st;
}

enum store_status catalog_create(struct app *app, struct store_conn *conn, const struct flag_row *row,
                                 struct flag **out)
{
    return change(app, conn, CHANGE_CREATE, row->name, row, out);
}

enum store_status catalog_update(struct app *app, struct store_conn *conn, const struct flag_row *row,
                                 struct flag **out)
{
    return change(app, conn, CHANGE_UPDATE, row->name, row, out);
}

enum store_status catalog_delete(struct app *app, struct store_conn *conn, const char *name)
{
    return change(app, conn, CHANGE_DELETE, name, NULL, NULL);
}

enum store_status catalog_refresh(struct app *app, struct store_conn *conn, const char *name)
{
    return change(app, conn, CHANGE_REFRESH, name, NULL, NULL);
}
