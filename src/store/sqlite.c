/*
 * store/sqlite — the embedded default backend.
 *
 * One SQLite file in WAL mode. Durability settings, chosen so that a write
 * acknowledged with 2xx survives kill -9 of the process and also a power
 * loss or kernel crash:
 *   journal_mode=WAL   commits append to the write-ahead log; readers (the
 *                      snapshot loader) never block the writer.
 *   synchronous=FULL   the WAL is fsync'ed at every commit. NORMAL would
 *                      survive a process crash (the WAL is in the page cache)
 *                      but could lose the last commits on power loss; the
 *                      cost of FULL is one fsync per write, which is what a
 *                      feature-flag write rate can afford.
 *   busy_timeout       a connection waits for a lock instead of failing at
 *                      once (DB_STATEMENT_TIMEOUT); a second process
 *                      (`togglemaster migrate` beside a running server) is
 *                      then safe.
 * SQLite has one writer at a time, so the store worker pool uses a single
 * connection for writes (store_max_connections() == 1).
 */
#include <libgen.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sys/stat.h>

#include "../flag.h"
#include "backend.h"
#include "migrations.h"

enum sqlite_statement {
    STMT_CREATE, STMT_UPDATE, STMT_VERSION, STMT_DELETE, STMT_LOAD_ALL, STMT_GET, STMT_SCHEMA_VERSION,
    STMT_FLAGSET, STMT_EVALUATOR_PUT, STMT_EVALUATOR_DELETE, STMT_METADATA_PUT, STMT_EVALUATOR_GET,
    STMT_KEY_CREATE, STMT_KEY_REVOKE, STMT_KEY_GET, STMT_KEYS_LOAD, STMT_AUDIT_APPEND, STMT_AUDIT_OBJECT,
    STMT_AUDIT_ALL, STMT_USAGE_HOURLY, STMT_USAGE_PER_FLAG, STMT_USAGE_FLAGS, STMT_USAGE_TOTALS, STMT_USAGE_PRUNE,
    STMT_COUNT
};

/* Timestamps: stored as "YYYY-MM-DD HH:MM:SS[.SSS]" in UTC (what
 * CURRENT_TIMESTAMP writes), shown as RFC 3339. */
#define NOW "strftime('%Y-%m-%d %H:%M:%f', 'now')"
#define RFC3339(column) "strftime('%Y-%m-%dT%H:%M:%fZ', " column ")"
/* The columns of a flag row, in the order flag_from_row() reads them. */
#define FLAG_COLUMNS "id, name, is_enabled, document, version, " RFC3339("created_at") ", " \
                     RFC3339("COALESCE(updated_at, created_at)")

/* The columns of a key, in the order store_key_from_columns() takes them. */
#define KEY_COLUMNS "id, name, role, hash, " RFC3339("created_at") ", " RFC3339("revoked_at")
/* The columns of an audit row, in the order audit_from_row() reads them. */
#define AUDIT_COLUMNS "id, " RFC3339("at") ", actor_id, actor_name, action, object_type, object_name, before," \
                      " after, request_id"
/* The usage rows of a flush (store.c makes the JSON), as columns. */
#define USAGE_ROWS "(SELECT json_extract(value, '$.flag') AS flag, json_extract(value, '$.variant') AS variant," \
                   " json_extract(value, '$.reason') AS reason, json_extract(value, '$.hour') AS hour," \
                   " json_extract(value, '$.n') AS n, json_extract(value, '$.first') AS first," \
                   " json_extract(value, '$.last') AS last FROM json_each(?1))"

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_CREATE] = "INSERT INTO flags(name, is_enabled, document, created_at, updated_at)"
                    " VALUES(?1, ?2, ?3, " NOW ", " NOW ") RETURNING " FLAG_COLUMNS,
    [STMT_UPDATE] = "UPDATE flags SET is_enabled = ?2, document = COALESCE(?3, document),"
                    " version = version + 1, updated_at = " NOW
                    " WHERE name = ?1 AND (?4 = 0 OR version = ?4) RETURNING " FLAG_COLUMNS,
    [STMT_VERSION] = "SELECT version FROM flags WHERE name = ?1",
    [STMT_DELETE] = "DELETE FROM flags WHERE name = ?1 RETURNING id",
    [STMT_LOAD_ALL] = "SELECT " FLAG_COLUMNS " FROM flags",
    [STMT_GET] = "SELECT " FLAG_COLUMNS " FROM flags WHERE name = ?1",
    [STMT_SCHEMA_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
    [STMT_FLAGSET] = "SELECT 'e', name, rule, version, " RFC3339("updated_at") " FROM evaluators"
                     " UNION ALL SELECT 'm', key, value, 0, NULL FROM catalog_settings WHERE key = 'metadata'",
    [STMT_EVALUATOR_PUT] = "INSERT INTO evaluators(name, rule, updated_at) VALUES(?1, ?2, " NOW ")"
                           " ON CONFLICT(name) DO UPDATE SET rule = excluded.rule,"
                           " version = evaluators.version + 1, updated_at = excluded.updated_at RETURNING version",
    [STMT_EVALUATOR_DELETE] = "DELETE FROM evaluators WHERE name = ?1 RETURNING name",
    [STMT_METADATA_PUT] = "INSERT INTO catalog_settings(key, value, updated_at) VALUES('metadata', ?1, " NOW ")"
                          " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                          " updated_at = excluded.updated_at RETURNING key",
    [STMT_EVALUATOR_GET] = "SELECT rule FROM evaluators WHERE name = ?1",
    [STMT_KEY_CREATE] = "INSERT INTO api_keys(id, name, role, hash, created_at) VALUES(?1, ?2, ?3, ?4, " NOW ")"
                        " RETURNING id",
    [STMT_KEY_REVOKE] = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, " NOW ") WHERE id = ?1 RETURNING id",
    [STMT_KEY_GET] = "SELECT " KEY_COLUMNS " FROM api_keys WHERE id = ?1",
    [STMT_KEYS_LOAD] = "SELECT " KEY_COLUMNS " FROM api_keys",
    [STMT_AUDIT_APPEND] = "INSERT INTO audit_log(actor_id, actor_name, action, object_type, object_name, before,"
                          " after, request_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_AUDIT_OBJECT] = "SELECT " AUDIT_COLUMNS " FROM audit_log WHERE object_type = ?1 AND object_name = ?2"
                          " AND id < ?3 ORDER BY id DESC LIMIT ?4",
    [STMT_AUDIT_ALL] = "SELECT " AUDIT_COLUMNS " FROM audit_log WHERE (?1 IS NULL OR object_type = ?1)"
                       " AND id < ?3 ORDER BY id DESC LIMIT ?4",
    /* "WHERE true": SQLite's upsert after a SELECT needs a WHERE to parse. */
    [STMT_USAGE_HOURLY] = "INSERT INTO flag_usage_hourly(flag_name, hour_start, variant, reason, evaluations)"
                          " SELECT flag, hour, variant, reason, n FROM " USAGE_ROWS " WHERE true"
                          " ON CONFLICT(flag_name, hour_start, variant, reason) DO UPDATE"
                          " SET evaluations = flag_usage_hourly.evaluations + excluded.evaluations",
    [STMT_USAGE_PER_FLAG] = "INSERT INTO flag_usage(flag_name, first_evaluated, last_evaluated, evaluations)"
                            " SELECT flag, MIN(first), MAX(last), SUM(n) FROM " USAGE_ROWS " WHERE true GROUP BY flag"
                            " ON CONFLICT(flag_name) DO UPDATE SET"
                            " first_evaluated = MIN(flag_usage.first_evaluated, excluded.first_evaluated),"
                            " last_evaluated = MAX(flag_usage.last_evaluated, excluded.last_evaluated),"
                            " evaluations = flag_usage.evaluations + excluded.evaluations",
    [STMT_USAGE_FLAGS] = "SELECT flag_name, first_evaluated, last_evaluated, evaluations FROM flag_usage"
                         " WHERE ?1 IS NULL OR flag_name = ?1",
    [STMT_USAGE_TOTALS] = "SELECT flag_name, variant, reason, SUM(evaluations) FROM flag_usage_hourly"
                          " WHERE hour_start >= ?1 AND (?2 IS NULL OR flag_name = ?2) GROUP BY flag_name, variant, reason",
    [STMT_USAGE_PRUNE] = "DELETE FROM flag_usage_hourly WHERE hour_start < ?1",
};

struct sqlite_conn {
    struct store_conn base;
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT];
};

static int sqlite_open(struct store *store, char *err, size_t errlen)
{
    (void)store;
    (void)err;
    (void)errlen;
    return 0;
}

static void sqlite_close(struct store *store)
{
    (void)store;
}

static struct store_conn *sqlite_conn_create(struct store *store, const char *purpose)
{
    (void)purpose;
    struct sqlite_conn *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->base.store = store;
    return &c->base;
}

static void disconnect(struct sqlite_conn *c)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(c->stmts[i]);
        c->stmts[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

static void sqlite_conn_destroy(struct store_conn *conn)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    disconnect(c);
    free(c);
}

/* Maps an SQLite result to a store status, recording the message. */
static enum store_status fail(struct sqlite_conn *c, int rc, const char *what)
{
    store_set_error(&c->base, "sqlite %s: %s", what, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return STORE_CONFLICT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
        return STORE_UNAVAILABLE;
    default:
        return STORE_ERROR;
    }
}

/* Creates the directory that will hold the database file, one level, so the
 * default ./data/togglemaster.db works from a fresh checkout. */
static void make_parent_directory(const char *path)
{
    char *copy = strdup(path);
    if (copy != NULL) {
        const char *dir = dirname(copy);
        (void)mkdir(dir, 0750); /* if this fails, sqlite3_open_v2 says why */
        free(copy);
    }
}

static enum store_status ensure_open(struct sqlite_conn *c)
{
    const struct config *cfg = c->base.store->cfg;
    char pragmas[256];
    int rc;

    if (c->db != NULL)
        return STORE_OK;
    make_parent_directory(cfg->database);
    rc = sqlite3_open_v2(cfg->database, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        enum store_status st = fail(c, rc, "open");
        disconnect(c);
        return st;
    }
    sqlite3_busy_timeout(c->db, cfg->db_statement_timeout_ms);
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        enum store_status st = fail(c, rc, "configure");
        disconnect(c);
        return st;
    }
    return STORE_OK;
}

/* A reset statement ready for binding, prepared once per connection. */
static enum store_status statement(struct sqlite_conn *c, enum sqlite_statement which, sqlite3_stmt **out)
{
    enum store_status st = ensure_open(c);
    int rc;

    if (st != STORE_OK)
        return st;
    if (c->stmts[which] == NULL) {
        rc = sqlite3_prepare_v3(c->db, statement_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                &c->stmts[which], NULL);
        if (rc != SQLITE_OK)
            return fail(c, rc, "prepare");
    }
    sqlite3_reset(c->stmts[which]);
    sqlite3_clear_bindings(c->stmts[which]);
    *out = c->stmts[which];
    return STORE_OK;
}

static enum store_status sqlite_migrate(struct store_conn *conn, int *applied)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    enum store_status st = ensure_open(c);
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (st != STORE_OK)
        return st;
    /* BEGIN IMMEDIATE takes the write lock first, so two migrators queue
     * behind each other instead of both applying the same version. */
    rc = sqlite3_exec(c->db,
                      "BEGIN IMMEDIATE;"
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version INTEGER PRIMARY KEY,"
                      " name TEXT NOT NULL,"
                      " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto err;
    for (int i = 0; i < sqlite_migration_count; i++) {
        const struct migration *m = &sqlite_migrations[i];
        bool done;

        rc = sqlite3_prepare_v2(c->db, "SELECT 1 FROM schema_migrations WHERE version = ?1", -1, &stmt, NULL);
        if (rc != SQLITE_OK)
            goto err;
        sqlite3_bind_int(stmt, 1, m->version);
        rc = sqlite3_step(stmt);
        done = rc == SQLITE_ROW;
        sqlite3_finalize(stmt);
        stmt = NULL;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            goto err;
        if (done)
            continue;
        rc = sqlite3_exec(c->db, m->sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto err;
        rc = sqlite3_prepare_v2(c->db, "INSERT INTO schema_migrations(version, name) VALUES(?1, ?2)",
                                -1, &stmt, NULL);
        if (rc != SQLITE_OK)
            goto err;
        sqlite3_bind_int(stmt, 1, m->version);
        sqlite3_bind_text(stmt, 2, m->name, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
        sqlite3_finalize(stmt);
        stmt = NULL;
        if (rc != SQLITE_DONE)
            goto err;
        (*applied)++;
    }
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto err;
    return STORE_OK;

err:
    st = fail(c, rc, "migrate");
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    *applied = 0;
    return st;
}

static enum store_status sqlite_schema_version(struct store_conn *conn, int *version)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st;
    int rc;

    *version = 0;
    st = statement(c, STMT_SCHEMA_VERSION, &stmt);
    if (st != STORE_OK) {
        /* No schema_migrations table yet means version 0, not an error. */
        if (c->db != NULL && strstr(c->base.error, "no such table") != NULL)
            return STORE_OK;
        return st;
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
        return fail(c, rc, "schema version");
    *version = sqlite3_column_int(stmt, 0);
    sqlite3_reset(stmt);
    return STORE_OK;
}

/* A committed flag from the current row of stmt, whose first columns are
 * FLAG_COLUMNS. A row whose name is NULL (SQLite does not enforce NOT NULL
 * types strictly) is skipped by the caller. */
static enum store_status flag_from_row(struct sqlite_conn *c, sqlite3_stmt *stmt, struct flag **out)
{
    struct flag_row row = {
        .id = sqlite3_column_int64(stmt, 0),
        .name = (const char *)sqlite3_column_text(stmt, 1),
        .is_enabled = sqlite3_column_int(stmt, 2) != 0,
        .document = (const char *)sqlite3_column_text(stmt, 3),
        .version = sqlite3_column_int64(stmt, 4),
        .created_at = (const char *)sqlite3_column_text(stmt, 5),
        .updated_at = (const char *)sqlite3_column_text(stmt, 6),
    };

    *out = row.name ? flag_create(&row, NULL) : NULL;
    if (*out == NULL) {
        store_set_error(&c->base, "sqlite: out of memory reading a flag");
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* Runs a one-name statement to completion (committing an autocommit write)
 * and reads the flag its single row returns: STORE_NOT_FOUND without one.
 * out may be NULL when only the outcome matters. */
static enum store_status step_one(struct sqlite_conn *c, sqlite3_stmt *stmt, const char *what, struct flag **out)
{
    enum store_status st = STORE_NOT_FOUND;
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        st = out ? flag_from_row(c, stmt, out) : STORE_OK;
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE) {
        if (out != NULL && st == STORE_OK)
            flag_unref(*out);
        st = fail(c, rc, what);
    }
    sqlite3_reset(stmt);
    return st;
}

/* The statement for a write of `in`, with ?1 name, ?2 is_enabled and ?3
 * document (NULL: keep) bound. */
static enum store_status write_statement(struct sqlite_conn *c, enum sqlite_statement which,
                                         const struct flag_row *in, sqlite3_stmt **stmt)
{
    enum store_status st = statement(c, which, stmt);

    if (st != STORE_OK)
        return st;
    sqlite3_bind_text(*stmt, 1, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(*stmt, 2, in->is_enabled);
    if (in->document != NULL)
        sqlite3_bind_text(*stmt, 3, in->document, -1, SQLITE_STATIC);
    return STORE_OK;
}

static enum store_status sqlite_flag_create(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = write_statement(c, STMT_CREATE, in, &stmt);

    return st == STORE_OK ? step_one(c, stmt, "create", out) : st;
}

static enum store_status sqlite_flag_update(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = write_statement(c, STMT_UPDATE, in, &stmt);

    if (st != STORE_OK)
        return st;
    sqlite3_bind_int64(stmt, 4, in->expect_version);
    st = step_one(c, stmt, "update", out);
    if (st == STORE_NOT_FOUND && in->expect_version != 0 && statement(c, STMT_VERSION, &stmt) == STORE_OK) {
        sqlite3_bind_text(stmt, 1, in->name, -1, SQLITE_STATIC);
        if (step_one(c, stmt, "version", NULL) == STORE_OK)
            st = STORE_STALE;   /* the flag is there, at another version */
    }
    return st;
}

/* A statement whose only parameter is the flag name. */
static enum store_status by_name(struct store_conn *conn, enum sqlite_statement which, const char *what,
                                 const char *name, struct flag **out)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, which, &stmt);

    if (st != STORE_OK)
        return st;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    return step_one(c, stmt, what, out);
}

static enum store_status sqlite_flag_delete(struct store_conn *conn, const char *name)
{
    return by_name(conn, STMT_DELETE, "delete", name, NULL);
}

static enum store_status sqlite_flag_load_all(struct store_conn *conn, store_flag_fn fn, void *ctx)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, STMT_LOAD_ALL, &stmt);
    int rc;

    if (st != STORE_OK)
        return st;
    /* One statement is one read transaction: a consistent view. */
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct flag *flag;
        if (sqlite3_column_type(stmt, 1) == SQLITE_NULL)
            continue;
        st = flag_from_row(c, stmt, &flag);
        if (st == STORE_OK && fn(ctx, flag) != 0) {
            store_set_error(conn, "out of memory loading flags");
            st = STORE_ERROR;
        }
        flag_unref(flag);
        if (st != STORE_OK) {
            sqlite3_reset(stmt);
            return st;
        }
    }
    if (rc != SQLITE_DONE) {
        st = fail(c, rc, "load");
        sqlite3_reset(stmt);
        return st;
    }
    sqlite3_reset(stmt);
    return STORE_OK;
}

static enum store_status sqlite_flag_get(struct store_conn *conn, const char *name, struct flag **out)
{
    return by_name(conn, STMT_GET, "get", name, out);
}

/* ---- the flag set -------------------------------------------------------- */

static enum store_status sqlite_flagset_load(struct store_conn *conn, struct flagset **out)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, STMT_FLAGSET, &stmt);
    struct flagset *set;
    int rc = SQLITE_DONE;

    if (st != STORE_OK)
        return st;
    set = flagset_create();
    while (set != NULL && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(stmt, 0);
        const char *name = (const char *)sqlite3_column_text(stmt, 1);
        const char *text = (const char *)sqlite3_column_text(stmt, 2);
        json_t *value = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
        int failed = 0;
        if (value == NULL || name == NULL || kind == NULL)
            ;   /* not JSON: not ours; a $ref to it stays unresolved */
        else if (kind[0] == 'e')
            failed = flagset_add(set, name, value, sqlite3_column_int64(stmt, 3),
                                 (const char *)sqlite3_column_text(stmt, 4));
        else if (json_is_object(value))
            failed = flagset_set_metadata(set, value);
        json_decref(value);
        if (failed) {
            flagset_unref(set);
            set = NULL;
        }
    }
    if (set == NULL) {
        sqlite3_reset(stmt);
        store_set_error(conn, "sqlite: out of memory reading the flag set");
        return STORE_ERROR;
    }
    if (rc != SQLITE_DONE) {
        flagset_unref(set);
        st = fail(c, rc, "flag set");
        sqlite3_reset(stmt);
        return st;
    }
    sqlite3_reset(stmt);
    *out = set;
    return STORE_OK;
}

/* Runs a flag-set write whose RETURNING row says it found its target; the
 * row's first column (an integer) goes to *first when not NULL. */
static enum store_status flagset_write(struct sqlite_conn *c, enum sqlite_statement which, const char *what,
                                       const char *a, const char *b, int64_t *first)
{
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, which, &stmt);
    int rc;

    if (st != STORE_OK)
        return st;
    sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
    if (b != NULL)
        sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    st = rc == SQLITE_ROW ? STORE_OK : STORE_NOT_FOUND;
    if (rc == SQLITE_ROW && first != NULL)
        *first = sqlite3_column_int64(stmt, 0);
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        st = fail(c, rc, what);
    sqlite3_reset(stmt);
    return st;
}

static enum store_status sqlite_evaluator_put(struct store_conn *conn, const char *name, const char *rule,
                                              int64_t *version)
{
    return flagset_write((struct sqlite_conn *)conn, STMT_EVALUATOR_PUT, "evaluator", name, rule, version);
}

static enum store_status sqlite_evaluator_delete(struct store_conn *conn, const char *name)
{
    return flagset_write((struct sqlite_conn *)conn, STMT_EVALUATOR_DELETE, "evaluator", name, NULL, NULL);
}

static enum store_status sqlite_metadata_put(struct store_conn *conn, const char *metadata)
{
    return flagset_write((struct sqlite_conn *)conn, STMT_METADATA_PUT, "metadata", metadata, NULL, NULL);
}

static enum store_status sqlite_evaluator_get(struct store_conn *conn, const char *name, char **rule)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, STMT_EVALUATOR_GET, &stmt);
    int rc;

    if (st != STORE_OK)
        return st;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    st = STORE_NOT_FOUND;
    if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(stmt, 0);
        st = (*rule = strdup(text ? text : "null")) != NULL ? STORE_OK : STORE_ERROR;
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE) {
        if (st == STORE_OK)
            free(*rule);
        st = fail(c, rc, "evaluator");
    }
    sqlite3_reset(stmt);
    return st;
}

/* ---- keys and the audit trail ------------------------------------------------ */

static const char *column_text(sqlite3_stmt *stmt, int i)
{
    return (const char *)sqlite3_column_text(stmt, i);
}

static enum store_status sqlite_key_create(struct store_conn *conn, const struct auth_key *key)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    char hash[2 * AUTH_HASH_LEN + 1];
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, STMT_KEY_CREATE, &stmt);

    if (st != STORE_OK)
        return st;
    store_hash_hex(key->hash, hash);
    sqlite3_bind_text(stmt, 1, key->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, key->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, auth_role_name(key->role), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, hash, -1, SQLITE_STATIC);
    return step_one(c, stmt, "key", NULL);
}

/* Reads the keys stmt returns (KEY_COLUMNS) into a new array. */
static enum store_status read_keys(struct sqlite_conn *c, sqlite3_stmt *stmt, struct auth_key **out, size_t *count)
{
    struct auth_key *keys = NULL;
    size_t n = 0, cap = 0;
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            struct auth_key *grown = realloc(keys, (cap = cap ? 2 * cap : 16) * sizeof *keys);
            if (grown == NULL) {
                free(keys);
                sqlite3_reset(stmt);
                store_set_error(&c->base, "sqlite: out of memory reading keys");
                return STORE_ERROR;
            }
            keys = grown;
        }
        if (store_key_from_columns(&keys[n], column_text(stmt, 0), column_text(stmt, 1), column_text(stmt, 2),
                                   column_text(stmt, 3), column_text(stmt, 4), column_text(stmt, 5)) == 0)
            n++;
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        free(keys);
        return fail(c, rc, "keys");
    }
    *out = keys;
    *count = n;
    return STORE_OK;
}

static enum store_status sqlite_key_revoke(struct store_conn *conn, const char *id, struct auth_key *out)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    struct auth_key *keys;
    size_t count;
    enum store_status st = statement(c, STMT_KEY_REVOKE, &stmt);

    if (st != STORE_OK)
        return st;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    if ((st = step_one(c, stmt, "revoke", NULL)) != STORE_OK || (st = statement(c, STMT_KEY_GET, &stmt)) != STORE_OK)
        return st;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    if ((st = read_keys(c, stmt, &keys, &count)) != STORE_OK)
        return st;
    if (count == 1)
        *out = keys[0];
    free(keys);
    return count == 1 ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_status sqlite_keys_load(struct store_conn *conn, struct keyring **out)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    struct auth_key *keys;
    size_t count;
    enum store_status st = statement(c, STMT_KEYS_LOAD, &stmt);

    if (st != STORE_OK || (st = read_keys(c, stmt, &keys, &count)) != STORE_OK)
        return st;
    *out = keyring_create(keys, count);
    free(keys);
    if (*out == NULL) {
        store_set_error(conn, "sqlite: out of memory reading keys");
        return STORE_ERROR;
    }
    return STORE_OK;
}

static void bind_text_or_null(sqlite3_stmt *stmt, int i, const char *text)
{
    if (text != NULL)
        sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, i);
}

static enum store_status sqlite_audit_append(struct store_conn *conn, const struct audit_entry *e)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, STMT_AUDIT_APPEND, &stmt);
    const char *values[8] = {e->actor_id, e->actor_name, e->action, e->object_type, e->object_name,
                             e->before, e->after, e->request_id};
    int rc;

    if (st != STORE_OK)
        return st;
    for (int i = 0; i < 8; i++)
        bind_text_or_null(stmt, i + 1, values[i]);
    rc = sqlite3_step(stmt);
    st = rc == SQLITE_DONE ? STORE_OK : fail(c, rc, "audit");
    sqlite3_reset(stmt);
    return st;
}

static enum store_status sqlite_audit_list(struct store_conn *conn, const struct audit_query *q, store_audit_fn fn,
                                           void *ctx)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, q->object_name != NULL ? STMT_AUDIT_OBJECT : STMT_AUDIT_ALL, &stmt);
    int rc;

    if (st != STORE_OK)
        return st;
    bind_text_or_null(stmt, 1, q->object_type);
    if (q->object_name != NULL)
        sqlite3_bind_text(stmt, 2, q->object_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, q->before_id > 0 ? q->before_id : INT64_MAX);
    sqlite3_bind_int(stmt, 4, q->limit);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct audit_entry e = {
            .id = sqlite3_column_int64(stmt, 0), .at = column_text(stmt, 1), .actor_id = column_text(stmt, 2),
            .actor_name = column_text(stmt, 3), .action = column_text(stmt, 4),
            .object_type = column_text(stmt, 5), .object_name = column_text(stmt, 6),
            .before = column_text(stmt, 7), .after = column_text(stmt, 8), .request_id = column_text(stmt, 9),
        };
        if (fn(ctx, &e) != 0) {
            sqlite3_reset(stmt);
            store_set_error(conn, "out of memory reading the audit trail");
            return STORE_ERROR;
        }
    }
    st = rc == SQLITE_DONE ? STORE_OK : fail(c, rc, "audit");
    sqlite3_reset(stmt);
    return st;
}

/* ---- usage ------------------------------------------------------------------- */

static enum store_status sqlite_begin(struct store_conn *conn);
static enum store_status sqlite_commit(struct store_conn *conn);
static void sqlite_rollback(struct store_conn *conn);

/* Runs a usage write with rows (or before_s) bound as ?1. */
static enum store_status usage_write(struct sqlite_conn *c, enum sqlite_statement which, const char *rows,
                                     int64_t before_s)
{
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, which, &stmt);
    int rc;

    if (st != STORE_OK)
        return st;
    if (rows != NULL)
        sqlite3_bind_text(stmt, 1, rows, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(stmt, 1, before_s);
    rc = sqlite3_step(stmt);
    st = rc == SQLITE_DONE ? STORE_OK : fail(c, rc, "usage");
    sqlite3_reset(stmt);
    return st;
}

static enum store_status sqlite_usage_add(struct store_conn *conn, const char *rows)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    enum store_status st = sqlite_begin(conn);

    if (st == STORE_OK && (st = usage_write(c, STMT_USAGE_HOURLY, rows, 0)) == STORE_OK &&
        (st = usage_write(c, STMT_USAGE_PER_FLAG, rows, 0)) == STORE_OK)
        st = sqlite_commit(conn);
    if (st != STORE_OK)
        sqlite_rollback(conn);
    return st;
}

static enum store_status usage_read(struct sqlite_conn *c, sqlite3_stmt *stmt, bool per_flag, store_usage_fn fn,
                                    void *ctx)
{
    enum store_status st;
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct usage_row row = {.flag = column_text(stmt, 0), .evaluations = sqlite3_column_int64(stmt, 3)};
        if (per_flag) {
            row.first_s = sqlite3_column_int64(stmt, 1);
            row.last_s = sqlite3_column_int64(stmt, 2);
        } else {
            row.variant = column_text(stmt, 1);
            row.reason = column_text(stmt, 2);
        }
        if (row.flag == NULL || fn(ctx, &row) != 0) {
            sqlite3_reset(stmt);
            store_set_error(&c->base, "out of memory reading usage counts");
            return STORE_ERROR;
        }
    }
    st = rc == SQLITE_DONE ? STORE_OK : fail(c, rc, "usage");
    sqlite3_reset(stmt);
    return st;
}

static enum store_status sqlite_usage_flags(struct store_conn *conn, const char *flag, store_usage_fn fn, void *ctx)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, STMT_USAGE_FLAGS, &stmt);

    if (st != STORE_OK)
        return st;
    bind_text_or_null(stmt, 1, flag);
    return usage_read(c, stmt, true, fn, ctx);
}

static enum store_status sqlite_usage_totals(struct store_conn *conn, int64_t since_s, const char *flag,
                                             store_usage_fn fn, void *ctx)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;
    sqlite3_stmt *stmt;
    enum store_status st = statement(c, STMT_USAGE_TOTALS, &stmt);

    if (st != STORE_OK)
        return st;
    sqlite3_bind_int64(stmt, 1, since_s);
    bind_text_or_null(stmt, 2, flag);
    return usage_read(c, stmt, false, fn, ctx);
}

static enum store_status sqlite_usage_prune(struct store_conn *conn, int64_t before_s)
{
    return usage_write((struct sqlite_conn *)conn, STMT_USAGE_PRUNE, NULL, before_s);
}

/* ---- transactions ---------------------------------------------------------- */

static enum store_status exec_plain(struct sqlite_conn *c, const char *sql, const char *what)
{
    enum store_status st = ensure_open(c);
    int rc;

    if (st != STORE_OK)
        return st;
    rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? STORE_OK : fail(c, rc, what);
}

static enum store_status sqlite_begin(struct store_conn *conn)
{
    /* IMMEDIATE: take the write lock now, not at the first write. */
    return exec_plain((struct sqlite_conn *)conn, "BEGIN IMMEDIATE", "begin");
}

static enum store_status sqlite_commit(struct store_conn *conn)
{
    return exec_plain((struct sqlite_conn *)conn, "COMMIT", "commit");
}

static void sqlite_rollback(struct store_conn *conn)
{
    struct sqlite_conn *c = (struct sqlite_conn *)conn;

    if (c->db != NULL && !sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* No change feed: one process owns the file, so every write is local. */
const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .single_writer = true,
    .migrations = sqlite_migrations,
    .migration_count = &sqlite_migration_count,
    .open = sqlite_open,
    .close = sqlite_close,
    .conn_create = sqlite_conn_create,
    .conn_destroy = sqlite_conn_destroy,
    .migrate = sqlite_migrate,
    .schema_version = sqlite_schema_version,
    .flag_create = sqlite_flag_create,
    .flag_update = sqlite_flag_update,
    .flag_delete = sqlite_flag_delete,
    .flag_load_all = sqlite_flag_load_all,
    .flag_get = sqlite_flag_get,
    /* BEGIN IMMEDIATE holds the write lock: a plain read is locked enough. */
    .flag_get_locked = sqlite_flag_get,
    .evaluator_get_locked = sqlite_evaluator_get,
    .key_create = sqlite_key_create,
    .key_revoke = sqlite_key_revoke,
    .keys_load = sqlite_keys_load,
    .audit_append = sqlite_audit_append,
    .audit_list = sqlite_audit_list,
    .usage_add = sqlite_usage_add,
    .usage_flags = sqlite_usage_flags,
    .usage_totals = sqlite_usage_totals,
    .usage_prune = sqlite_usage_prune,
    .flagset_load = sqlite_flagset_load,
    .evaluator_put = sqlite_evaluator_put,
    .evaluator_delete = sqlite_evaluator_delete,
    .metadata_put = sqlite_metadata_put,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
};
