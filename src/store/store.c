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
#include <string.h>
#include <jansson.h>
#include <pwd.h>
#include <sys/random.h>
#include <unistd.h>
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

void store_hash_hex(const unsigned char hash[AUTH_HASH_LEN], char out[2 * AUTH_HASH_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < AUTH_HASH_LEN; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[2 * AUTH_HASH_LEN] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int store_key_from_columns(struct auth_key *key, const char *id, const char *name, const char *role,
                           const char *hash_hex, const char *created_at, const char *revoked_at)
{
    memset(key, 0, sizeof *key);
    if (id == NULL || name == NULL || role == NULL || hash_hex == NULL || !auth_id_valid(id, strlen(id)) ||
        strlen(name) > AUTH_NAME_MAX || auth_role_parse(role, &key->role) != 0 ||
        strlen(hash_hex) != 2 * AUTH_HASH_LEN)
        return -1;
    for (int i = 0; i < AUTH_HASH_LEN; i++) {
        int hi = hex_digit(hash_hex[2 * i]), lo = hex_digit(hash_hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        key->hash[i] = (unsigned char)(hi << 4 | lo);
    }
    strcpy(key->id, id);
    strcpy(key->name, name);
    snprintf(key->created_at, sizeof key->created_at, "%s", created_at != NULL ? created_at : "");
    snprintf(key->revoked_at, sizeof key->revoked_at, "%s", revoked_at != NULL ? revoked_at : "");
    return 0;
}

/* ---- audited writes ------------------------------------------------------ */

void store_conn_set_actor(struct store_conn *conn, const struct store_actor *actor)
{
    static const struct store_actor system_actor = {"system", "togglemaster", NULL};

    conn->actor = actor != NULL ? *actor : system_actor;
}

void store_conn_set_cli_actor(struct store_conn *conn, const char *command)
{
    const struct passwd *pw = getpwuid(geteuid());
    struct store_actor actor = {"cli", conn->cli_actor_name, NULL};

    snprintf(conn->cli_actor_name, sizeof conn->cli_actor_name, "togglemaster %s (%s)", command,
             pw != NULL ? pw->pw_name : "unknown user");
    store_conn_set_actor(conn, &actor);
}

/* One write and its audit row: `change` makes the change through the
 * backend and fills the entry's action, object and before/after texts. */
struct audited {
    enum store_status (*change)(struct store_conn *conn, struct audited *w);
    struct audit_entry entry;
    char *before, *after;      /* owned texts for the entry */
    bool committing;           /* the commit was sent */
    /* arguments */
    const struct flag_row *row;
    const char *name;
    const char *text;
    const struct auth_key *key;
    /* results */
    struct flag *flag;         /* a flag as committed */
    int64_t version;
    struct auth_key key_now;
};

static void audited_reset(struct audited *w)
{
    free(w->before);
    free(w->after);
    w->before = w->after = NULL;
    flag_unref(w->flag);
    w->flag = NULL;
}

static enum store_status attempt(struct store_conn *conn, struct audited *w, bool own_transaction)
{
    const struct store_backend *b = conn->store->backend;
    enum store_status st;

    if (own_transaction && (st = b->begin(conn)) != STORE_OK)
        return st;
    if (own_transaction)
        conn->in_transaction = true;
    st = w->change(conn, w);
    if (st == STORE_OK && b->audit_append != NULL) {
        w->entry.actor_id = conn->actor.id;
        w->entry.actor_name = conn->actor.name;
        w->entry.request_id = conn->actor.request_id;
        w->entry.before = w->before;
        w->entry.after = w->after;
        st = b->audit_append(conn, &w->entry);
    }
    if (own_transaction) {
        conn->in_transaction = false;
        if (st == STORE_OK) {
            w->committing = true;
            st = b->commit(conn);
        } else {
            b->rollback(conn);
        }
    }
    return st;
}

static enum store_status run_audited(struct store_conn *conn, struct audited *w)
{
    bool own = !conn->in_transaction;
    enum store_status st;

    if (conn->actor.id == NULL)
        store_conn_set_actor(conn, NULL);
    st = attempt(conn, w, own);
    /* A transaction lost with its connection before its commit was sent
     * did nothing: it is made once more, on a new connection. A lost
     * commit is ambiguous and is not repeated. */
    if (own && st == STORE_UNAVAILABLE && !w->committing) {
        audited_reset(w);
        st = attempt(conn, w, own);
    }
    if (st != STORE_OK) {
        flag_unref(w->flag);
        w->flag = NULL;
    }
    free(w->before);
    free(w->after);
    return st;
}

/* A flag as GET /flags/<name> shows it. */
static char *flag_text(const struct flag *flag)
{
    return flag != NULL ? strndup(flag->body, flag->body_len) : NULL;
}

/* The current row, locked, as the entry's before; STORE_NOT_FOUND passes. */
static enum store_status flag_before(struct store_conn *conn, struct audited *w)
{
    const struct store_backend *b = conn->store->backend;
    struct flag *before = NULL;
    enum store_status st;

    if (b->flag_get_locked == NULL)
        return STORE_OK;   /* a test backend without it: no before */
    st = b->flag_get_locked(conn, w->row ? w->row->name : w->name, &before);

    if (st == STORE_OK) {
        w->before = flag_text(before);
        flag_unref(before);
        if (w->before == NULL) {
            store_set_error(conn, "out of memory");
            return STORE_ERROR;
        }
    }
    return st;
}

static enum store_status change_flag_create(struct store_conn *conn, struct audited *w)
{
    enum store_status st = conn->store->backend->flag_create(conn, w->row, &w->flag);

    w->entry = (struct audit_entry){.action = "create", .object_type = "flag", .object_name = w->row->name};
    if (st == STORE_OK && (w->after = flag_text(w->flag)) == NULL)
        st = STORE_ERROR;
    return st;
}

static enum store_status change_flag_update(struct store_conn *conn, struct audited *w)
{
    enum store_status st = flag_before(conn, w);

    w->entry = (struct audit_entry){.action = "update", .object_type = "flag", .object_name = w->row->name};
    if (st == STORE_OK)
        st = conn->store->backend->flag_update(conn, w->row, &w->flag);
    if (st == STORE_OK && (w->after = flag_text(w->flag)) == NULL)
        st = STORE_ERROR;
    return st;
}

static enum store_status change_flag_delete(struct store_conn *conn, struct audited *w)
{
    enum store_status st = flag_before(conn, w);

    w->entry = (struct audit_entry){.action = "delete", .object_type = "flag", .object_name = w->name};
    return st == STORE_OK ? conn->store->backend->flag_delete(conn, w->name) : st;
}

enum store_status store_flag_create(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    struct audited w = {.change = change_flag_create, .row = in};
    enum store_status st = run_audited(conn, &w);

    if (st == STORE_OK)
        *out = w.flag;
    return st;
}

enum store_status store_flag_update(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    struct audited w = {.change = change_flag_update, .row = in};
    enum store_status st = run_audited(conn, &w);

    if (st == STORE_OK)
        *out = w.flag;
    return st;
}

enum store_status store_flag_delete(struct store_conn *conn, const char *name)
{
    struct audited w = {.change = change_flag_delete, .name = name};

    return run_audited(conn, &w);
}

static enum store_status change_evaluator_put(struct store_conn *conn, struct audited *w)
{
    const struct store_backend *b = conn->store->backend;
    enum store_status st = b->evaluator_get_locked ? b->evaluator_get_locked(conn, w->name, &w->before)
                                                   : STORE_NOT_FOUND;

    w->entry = (struct audit_entry){.action = st == STORE_OK ? "update" : "create", .object_type = "evaluator",
                                    .object_name = w->name};
    if (st != STORE_OK && st != STORE_NOT_FOUND)
        return st;
    st = b->evaluator_put(conn, w->name, w->text, &w->version);
    if (st == STORE_OK && (w->after = strdup(w->text)) == NULL)
        st = STORE_ERROR;
    return st;
}

static enum store_status change_evaluator_delete(struct store_conn *conn, struct audited *w)
{
    const struct store_backend *b = conn->store->backend;
    enum store_status st = b->evaluator_get_locked ? b->evaluator_get_locked(conn, w->name, &w->before) : STORE_OK;

    w->entry = (struct audit_entry){.action = "delete", .object_type = "evaluator", .object_name = w->name};
    return st == STORE_OK ? b->evaluator_delete(conn, w->name) : st;
}

static enum store_status change_metadata_put(struct store_conn *conn, struct audited *w)
{
    const struct store_backend *b = conn->store->backend;
    struct flagset *set = NULL;
    enum store_status st = b->flagset_load(conn, &set);

    w->entry = (struct audit_entry){.action = "update", .object_type = "metadata", .object_name = "flag set"};
    if (st != STORE_OK)
        return st;
    w->before = strndup(set->metadata_json, set->metadata_len);
    flagset_unref(set);
    st = b->metadata_put(conn, w->text);
    if (st == STORE_OK && (w->before == NULL || (w->after = strdup(w->text)) == NULL))
        st = STORE_ERROR;
    return st;
}

enum store_status store_evaluator_put(struct store_conn *conn, const char *name, const char *rule,
                                      int64_t *version)
{
    struct audited w = {.change = change_evaluator_put, .name = name, .text = rule};
    enum store_status st = run_audited(conn, &w);

    if (st == STORE_OK)
        *version = w.version;
    return st;
}

enum store_status store_evaluator_delete(struct store_conn *conn, const char *name)
{
    struct audited w = {.change = change_evaluator_delete, .name = name};

    return run_audited(conn, &w);
}

enum store_status store_metadata_put(struct store_conn *conn, const char *metadata)
{
    struct audited w = {.change = change_metadata_put, .text = metadata};

    return run_audited(conn, &w);
}

/* A key as the audit trail shows it: never its hash. */
static char *key_text(const struct auth_key *key)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "id", key->id, "name", key->name, "role",
                          auth_role_name(key->role), "created_at",
                          key->created_at[0] != '\0' ? key->created_at : NULL, "revoked_at",
                          key->revoked_at[0] != '\0' ? key->revoked_at : NULL);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return text;
}

/* A test backend may keep no keys. */
static enum store_status no_keys(struct store_conn *conn)
{
    store_set_error(conn, "%s keeps no API keys", conn->store->backend->name);
    return STORE_ERROR;
}

static enum store_status change_key_create(struct store_conn *conn, struct audited *w)
{
    const struct store_backend *b = conn->store->backend;
    enum store_status st = b->key_create != NULL ? b->key_create(conn, w->key) : no_keys(conn);

    w->entry = (struct audit_entry){.action = "create", .object_type = "key", .object_name = w->key->id};
    if (st == STORE_OK && (w->after = key_text(w->key)) == NULL)
        st = STORE_ERROR;
    return st;
}

static enum store_status change_key_revoke(struct store_conn *conn, struct audited *w)
{
    const struct store_backend *b = conn->store->backend;
    enum store_status st = b->key_revoke != NULL ? b->key_revoke(conn, w->name, &w->key_now) : no_keys(conn);

    w->entry = (struct audit_entry){.action = "revoke", .object_type = "key", .object_name = w->name};
    if (st == STORE_OK && (w->after = key_text(&w->key_now)) == NULL)
        st = STORE_ERROR;
    return st;
}

enum store_status store_key_create(struct store_conn *conn, const struct auth_key *key)
{
    struct audited w = {.change = change_key_create, .key = key};

    return run_audited(conn, &w);
}

enum store_status store_key_revoke(struct store_conn *conn, const char *id, struct auth_key *out)
{
    struct audited w = {.change = change_key_revoke, .name = id};
    enum store_status st = run_audited(conn, &w);

    if (st == STORE_OK && out != NULL)
        *out = w.key_now;
    return st;
}

enum store_status store_keys_load(struct store_conn *conn, struct keyring **out)
{
    const struct store_backend *b = conn->store->backend;

    if (b->keys_load != NULL)
        return b->keys_load(conn, out);
    *out = keyring_create(NULL, 0);   /* a test backend without keys */
    return *out != NULL ? STORE_OK : STORE_ERROR;
}

enum store_status store_audit_list(struct store_conn *conn, const struct audit_query *query, store_audit_fn fn,
                                   void *ctx)
{
    const struct store_backend *b = conn->store->backend;

    if (b->audit_list == NULL) {
        store_set_error(conn, "%s keeps no audit trail", b->name);
        return STORE_ERROR;
    }
    return b->audit_list(conn, query, fn, ctx);
}

/* ---- usage ------------------------------------------------------------------ */

static bool has_usage(struct store_conn *conn)
{
    const struct store_backend *b = conn->store->backend;

    if (b->usage_add != NULL)
        return true;
    store_set_error(conn, "%s keeps no usage counts", b->name);
    return false;
}

enum store_status store_usage_add(struct store_conn *conn, const struct usage_row *rows, size_t count)
{
    json_t *list;
    char *text;
    enum store_status st;

    if (!has_usage(conn))
        return STORE_ERROR;
    if (count == 0)
        return STORE_OK;
    /* One parameter for any number of rows: both backends read it with
     * their JSON functions, so a flush is one statement per table. */
    list = json_array();
    for (size_t i = 0; list != NULL && i < count; i++) {
        const struct usage_row *r = &rows[i];
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "flag", r->flag,
                                                  "variant", r->variant, "reason", r->reason, "hour",
                                                  (json_int_t)r->hour_start, "n", (json_int_t)r->evaluations,
                                                  "first", (json_int_t)r->first_s, "last",
                                                  (json_int_t)r->last_s)) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    text = list != NULL ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (text == NULL) {
        store_set_error(conn, "out of memory writing usage counts");
        return STORE_ERROR;
    }
    st = conn->store->backend->usage_add(conn, text);
    free(text);
    return st;
}

enum store_status store_usage_flags(struct store_conn *conn, const char *flag, store_usage_fn fn, void *ctx)
{
    return has_usage(conn) ? conn->store->backend->usage_flags(conn, flag, fn, ctx) : STORE_ERROR;
}

enum store_status store_usage_totals(struct store_conn *conn, int64_t since_s, const char *flag, store_usage_fn fn,
                                     void *ctx)
{
    return has_usage(conn) ? conn->store->backend->usage_totals(conn, since_s, flag, fn, ctx) : STORE_ERROR;
}

enum store_status store_usage_prune(struct store_conn *conn, int64_t before_s)
{
    return has_usage(conn) ? conn->store->backend->usage_prune(conn, before_s) : STORE_ERROR;
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

enum store_status store_begin(struct store_conn *conn)
{
    enum store_status st = conn->store->backend->begin(conn);

    conn->in_transaction = st == STORE_OK;
    return st;
}

enum store_status store_commit(struct store_conn *conn)
{
    conn->in_transaction = false;
    return conn->store->backend->commit(conn);
}

void store_rollback(struct store_conn *conn)
{
    conn->in_transaction = false;
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
