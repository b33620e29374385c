/*
 * catalog — commit, then publish, under the name's lock. See catalog.h.
 */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/logic.h"
#include "events.h"
#include "log.h"

/* An update that found the flag changed under it is computed again this
 * many times before giving up (another instance writing the same flag in a
 * tight loop). */
#define UPDATE_TRIES 3

/* The snapshot after a committed change: the flag as committed, or none. */
static void publish_locked(struct app *app, const char *name, struct flag *committed)
{
    int rc = committed != NULL ? snapshot_put(app->snapshots, committed)
                               : snapshot_remove(app->snapshots, name, strlen(name));
    if (rc != 0)
        log_msg(LOG_ERROR, "out of memory updating the snapshot for '%s'; the next resync repairs it", name);
}

/* Reads the flag as committed now and publishes it: STORE_OK with *out (a
 * reference) when it exists, STORE_NOT_FOUND (and it is gone from the
 * snapshot too) when not. */
static enum store_status refresh_locked(struct app *app, struct store_conn *conn, const char *name,
                                        struct flag **out)
{
    enum store_status st = store_flag_get(conn, name, out);

    if (st == STORE_OK)
        publish_locked(app, name, *out);
    else if (st == STORE_NOT_FOUND)
        publish_locked(app, name, NULL);
    return st;
}

enum store_status catalog_create(struct app *app, struct store_conn *conn, const struct flag_row *row,
                                 struct flag **out)
{
    pthread_mutex_t *lock = app_name_lock(app, row->name);
    struct flag *committed = NULL;
    enum store_status st;

    pthread_mutex_lock(lock);
    st = store_flag_create(conn, row, &committed);
    if (st == STORE_OK) {
        publish_locked(app, row->name, committed);
        events_publish(app->events, "flag", "created", row->name);
    }
    pthread_mutex_unlock(lock);
    if (out != NULL && st == STORE_OK)
        *out = committed;
    else
        flag_unref(committed);
    return st;
}

/* The flag called name as this instance knows it, with the flag set. */
static struct flag *current_locked(struct app *app, const char *name, struct flagset **set)
{
    struct snapshot *snap = snapshot_acquire(app->snapshots);
    const struct flag *f = snap ? snapshot_find(snap, name, strlen(name)) : NULL;
    struct flag *found = f ? flag_ref((struct flag *)f) : NULL;

    *set = snap ? flagset_ref(snap->flagset) : flagset_create();
    snapshot_release(snap);
    return found;
}

static enum store_status update_locked(struct app *app, struct store_conn *conn, const char *name, int64_t if_match,
                                       catalog_change_fn change, void *ctx, struct flag **committed)
{
    enum store_status st = STORE_STALE;

    for (int attempt = 0; attempt < UPDATE_TRIES && st == STORE_STALE; attempt++) {
        struct flagset *set = NULL;
        struct flag *cur = current_locked(app, name, &set);
        struct flag_row row = {.name = name};

        /* Not here (created on another instance a moment ago, or a stale
         * view after a conflict): what the database holds decides. */
        if ((cur == NULL || attempt > 0) && set != NULL) {
            flag_unref(cur);
            cur = NULL;
            st = refresh_locked(app, conn, name, &cur);
        } else {
            st = set != NULL ? STORE_OK : STORE_ERROR;
        }
        if (st == STORE_OK && if_match != 0 && cur->version != if_match)
            st = STORE_STALE;
        if (st == STORE_OK && change(ctx, cur, set, &row) != 0)
            st = STORE_INVALID;
        if (st == STORE_OK) {
            row.name = name;
            row.expect_version = if_match != 0 ? if_match : row.document != NULL ? cur->version : 0;
            st = store_flag_update(conn, &row, committed);
            if (st == STORE_OK) {
                publish_locked(app, name, *committed);
                events_publish(app->events, "flag", "updated", name);
            } else if (st == STORE_NOT_FOUND) {
                publish_locked(app, name, NULL);
            }
        }
        flag_unref(cur);
        flagset_unref(set);
        if (if_match != 0)
            break;   /* the caller's version is what counts: no second try */
    }
    return st;
}

enum store_status catalog_update(struct app *app, struct store_conn *conn, const char *name, int64_t if_match,
                                 catalog_change_fn change, void *ctx, struct flag **out)
{
    pthread_mutex_t *lock = app_name_lock(app, name);
    struct flag *committed = NULL;
    enum store_status st;

    pthread_mutex_lock(lock);
    st = update_locked(app, conn, name, if_match, change, ctx, &committed);
    pthread_mutex_unlock(lock);
    if (out != NULL && st == STORE_OK)
        *out = committed;
    else
        flag_unref(committed);
    return st;
}

enum store_status catalog_delete(struct app *app, struct store_conn *conn, const char *name)
{
    pthread_mutex_t *lock = app_name_lock(app, name);
    enum store_status st;

    pthread_mutex_lock(lock);
    st = store_flag_delete(conn, name);
    if (st == STORE_OK) {
        publish_locked(app, name, NULL);
        events_publish(app->events, "flag", "deleted", name);
    }
    pthread_mutex_unlock(lock);
    return st;
}

/* The version of the flag called name in the snapshot; 0 when there is none. */
static int64_t known_version_locked(struct app *app, const char *name)
{
    struct snapshot *snap = snapshot_acquire(app->snapshots);
    const struct flag *f = snap ? snapshot_find(snap, name, strlen(name)) : NULL;
    int64_t version = f ? f->version : 0;

    snapshot_release(snap);
    return version;
}

enum store_status catalog_refresh(struct app *app, struct store_conn *conn, const char *name)
{
    pthread_mutex_t *lock = app_name_lock(app, name);
    struct flag *committed = NULL;
    const char *action = NULL;
    enum store_status st;
    int64_t known;

    pthread_mutex_lock(lock);
    known = known_version_locked(app, name);
    st = refresh_locked(app, conn, name, &committed);
    /* Another instance changed it; what this instance knew before says
     * how. A version already known (this instance read it on the way to a
     * write of its own) or a flag gone before it arrived is no news. */
    if (st == STORE_OK)
        action = known == 0 ? "created" : known != committed->version ? "updated" : NULL;
    else if (st == STORE_NOT_FOUND)
        action = known != 0 ? "deleted" : NULL;
    if (action != NULL)
        events_publish(app->events, "flag", action, name);
    pthread_mutex_unlock(lock);
    flag_unref(committed);
    return st == STORE_NOT_FOUND ? STORE_OK : st;   /* gone: that is the news */
}

/* ---- the flag set ------------------------------------------------------------ */

static void publish_flagset_locked(struct app *app, struct flagset *set)
{
    if (snapshot_set_flagset(app->snapshots, set) != 0)
        log_msg(LOG_ERROR, "out of memory updating the snapshot's evaluators; the next resync repairs it");
    else
        events_publish(app->events, "evaluators", NULL, NULL);
}

/* After a committed change to the flag set: the set as committed now (a
 * handful of rows) goes into the snapshot. When the read fails, the
 * change is still committed; the next resync brings it. */
static void reload_flagset_locked(struct app *app, struct store_conn *conn)
{
    struct flagset *set = NULL;

    if (store_flagset_load(conn, &set) == STORE_OK)
        publish_flagset_locked(app, set);
    else
        log_event(LOG_WARN, "cannot re-read the evaluators after a change; the next resync brings it",
                  json_pack("{s:s}", "detail", store_conn_error(conn)));
    flagset_unref(set);
}

enum store_status catalog_put_evaluator(struct app *app, struct store_conn *conn, const char *name,
                                        json_t *rule, int64_t *version)
{
    char *text = json_dumps(rule, JSON_COMPACT | JSON_ENCODE_ANY);
    enum store_status st;

    if (text == NULL) {
        log_msg(LOG_ERROR, "out of memory saving evaluator '%s'", name);
        return STORE_ERROR;
    }
    pthread_mutex_lock(&app->flagset_lock);
    st = store_evaluator_put(conn, name, text, version);
    if (st == STORE_OK)
        reload_flagset_locked(app, conn);
    pthread_mutex_unlock(&app->flagset_lock);
    free(text);
    return st;
}

/* Whether json holds {"$ref": name} anywhere. */
static bool json_refers_to(const json_t *json, const char *name)
{
    const char *key;
    json_t *value;

    if (json_is_array(json)) {
        for (size_t i = 0; i < json_array_size(json); i++)
            if (json_refers_to(json_array_get(json, i), name))
                return true;
        return false;
    }
    if (!json_is_object(json))
        return false;
    json_object_foreach((json_t *)json, key, value) {
        if (strcmp(key, "$ref") == 0 && json_is_string(value) && strcmp(json_string_value(value), name) == 0)
            return true;
        if (json_refers_to(value, name))
            return true;
    }
    return false;
}

size_t catalog_evaluator_users(const struct snapshot *snap, const char *name,
                               void (*fn)(void *ctx, const char *user), void *ctx)
{
    struct snapshot_cursor cursor;
    const struct flag *f;
    size_t count = 0;

    for (size_t i = 0; i < snap->flagset->count; i++) {
        const struct flagset_evaluator *e = &snap->flagset->evaluators[i];
        if (strcmp(e->name, name) != 0 && json_refers_to(e->rule, name)) {
            fn(ctx, e->name);
            count++;
        }
    }
    snapshot_cursor_after(snap, "", 0, &cursor);
    while ((f = snapshot_cursor_next(&cursor)) != NULL)
        if (f->uses_refs && json_refers_to(json_object_get(f->doc, "targeting"), name)) {
            fn(ctx, f->name);
            count++;
        }
    return count;
}

struct users_text {
    char *out;
    size_t len;
};

/* Appends ", name" (or the first name) while it fits. */
static void add_user(void *ctx, const char *user)
{
    struct users_text *t = ctx;
    size_t used = strlen(t->out);

    if (used > 0 && used + 2 + strlen(user) < t->len)
        strcat(t->out, ", ");
    if (strlen(t->out) + strlen(user) < t->len)
        strcat(t->out, user);
}

enum store_status catalog_delete_evaluator(struct app *app, struct store_conn *conn, const char *name,
                                           char *users, size_t users_len)
{
    struct snapshot *snap;
    enum store_status st;

    struct users_text text = {users, users_len};

    users[0] = '\0';
    pthread_mutex_lock(&app->flagset_lock);
    snap = snapshot_acquire(app->snapshots);
    if (snap == NULL) {
        st = STORE_UNAVAILABLE;   /* nothing loaded yet: who uses it is unknown */
    } else if (catalog_evaluator_users(snap, name, add_user, &text) > 0) {
        st = STORE_CONFLICT;
    } else {
        st = store_evaluator_delete(conn, name);
        if (st == STORE_OK)
            reload_flagset_locked(app, conn);
    }
    snapshot_release(snap);
    pthread_mutex_unlock(&app->flagset_lock);
    return st;
}

enum store_status catalog_refresh_flagset(struct app *app, struct store_conn *conn)
{
    struct flagset *set = NULL;
    enum store_status st;

    pthread_mutex_lock(&app->flagset_lock);
    st = store_flagset_load(conn, &set);
    if (st == STORE_OK)
        publish_flagset_locked(app, set);
    pthread_mutex_unlock(&app->flagset_lock);
    flagset_unref(set);
    return st;
}

/* ---- API keys ------------------------------------------------------------------ */

/* The keys as committed now go into the snapshot; after a committed change
 * whose re-read fails, the next resync brings it (a revocation then waits
 * for it: logged as an error). */
static enum store_status reload_keys_locked(struct app *app, struct store_conn *conn)
{
    struct keyring *ring = NULL;
    enum store_status st = store_keys_load(conn, &ring);

    if (st == STORE_OK)
        app_note_keys(app, ring);
    if (st == STORE_OK && snapshot_set_keyring(app->snapshots, ring) != 0)
        st = STORE_ERROR;
    if (st != STORE_OK)
        log_event(LOG_ERROR, "cannot re-read the API keys; the next resync brings them",
                  json_pack("{s:s}", "detail", store_conn_error(conn)));
    else
        events_publish(app->events, "keys", NULL, NULL);
    keyring_unref(ring);
    return st;
}

enum store_status catalog_create_key(struct app *app, struct store_conn *conn, const struct auth_key *key)
{
    enum store_status st;

    pthread_mutex_lock(&app->keys_lock);
    st = store_key_create(conn, key);
    if (st == STORE_OK)
        reload_keys_locked(app, conn);
    pthread_mutex_unlock(&app->keys_lock);
    return st;
}

enum store_status catalog_revoke_key(struct app *app, struct store_conn *conn, const char *id,
                                     struct auth_key *out)
{
    enum store_status st;

    pthread_mutex_lock(&app->keys_lock);
    st = store_key_revoke(conn, id, out);
    if (st == STORE_OK)
        reload_keys_locked(app, conn);
    pthread_mutex_unlock(&app->keys_lock);
    return st;
}

enum store_status catalog_refresh_keys(struct app *app, struct store_conn *conn)
{
    enum store_status st;

    pthread_mutex_lock(&app->keys_lock);
    st = reload_keys_locked(app, conn);
    pthread_mutex_unlock(&app->keys_lock);
    return st;
}
