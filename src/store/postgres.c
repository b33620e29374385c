/*
 * store/postgres — the production backend (libpq).
 *
 * Each store_conn owns one PGconn. It connects on first use with
 * connect_timeout = DB_CONNECT_TIMEOUT, sets statement_timeout =
 * DB_STATEMENT_TIMEOUT, and prepares every statement once. Before each
 * operation it reads whatever the server sent while the connection was idle
 * (PQconsumeInput): a server restart or a terminated backend shows up there
 * as a bad connection, which is then replaced before the statement is sent.
 * If a connection breaks during a statement, operations that are safe to
 * repeat (reads, setting is_enabled) are retried once on a fresh connection;
 * create and delete are not, because the first attempt may have committed:
 * the caller gets STORE_UNAVAILABLE (503) and decides.
 *
 * Change feed: every write statement also calls pg_notify() on the
 * CHANGE_CHANNEL with "<instance id> <flag name>", inside the same statement
 * and so the same transaction: the notification goes out if and only if the
 * change commits, and PostgreSQL delivers notifications in commit order.
 * The sync thread LISTENs on its own connection (sync.c).
 *
 * Settings from the connection string the user gave win over ours
 * (connect_timeout, application_name), since the string is expanded last;
 * statement_timeout is set after connecting, so it always applies.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "migrations.h"

/* Serializes concurrent `migrate` runs across instances: an arbitrary
 * constant, the same in every ToggleMaster build. */
#define MIGRATION_LOCK_KEY "7311984202"
#define CHANGE_CHANNEL "togglemaster_flags"
/* "<instance id> <name>": names reach the store validated or as looked up
 * (at most 400 bytes); PostgreSQL allows payloads up to 8000 bytes. */
#define NOTIFY_PAYLOAD_MAX 1024

enum pg_statement {
    STMT_CREATE, STMT_SET_ENABLED, STMT_DELETE, STMT_LOAD_ALL, STMT_GET, STMT_COUNT
};

/* Not prepared: preparing would fail while the table does not exist yet. */
#define SCHEMA_VERSION_SQL "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"

static const struct {
    const char *name;
    const char *sql;
    int nparams;
} statements[STMT_COUNT] = {
    /* $3 (create, update) and $2 (delete) are the notification payload. */
    [STMT_CREATE] = {"tm_create",
                     "WITH w AS (INSERT INTO flags(name, is_enabled) VALUES($1, $2) RETURNING id)"
                     " SELECT id, pg_notify('" CHANGE_CHANNEL "', $3) FROM w", 3},
    [STMT_SET_ENABLED] = {"tm_set_enabled",
                          "WITH w AS (UPDATE flags SET is_enabled = $2 WHERE name = $1 RETURNING id)"
                          " SELECT id, pg_notify('" CHANGE_CHANNEL "', $3) FROM w", 3},
    [STMT_DELETE] = {"tm_delete",
                     "WITH w AS (DELETE FROM flags WHERE name = $1 RETURNING id)"
                     " SELECT id, pg_notify('" CHANGE_CHANNEL "', $2) FROM w", 2},
    [STMT_LOAD_ALL] = {"tm_load_all", "SELECT id, name, is_enabled FROM flags", 0},
    [STMT_GET] = {"tm_get", "SELECT id, is_enabled FROM flags WHERE name = $1", 1},
};

struct pg_conn {
    struct store_conn base;
    PGconn *pg;
    bool prepared;        /* statements prepared on this PGconn */
    bool listening;       /* LISTEN issued on this PGconn */
    char application_name[64];
};

static int pg_open(struct store *store, char *err, size_t errlen)
{
    char *parse_err = NULL;
    PQconninfoOption *opts = PQconninfoParse(store->cfg->database, &parse_err);

    if (opts == NULL) {
        snprintf(err, errlen, "DATABASE_URL: invalid PostgreSQL connection string: %s",
                 parse_err ? parse_err : "out of memory");
        PQfreemem(parse_err);
        return -1;
    }
    PQconninfoFree(opts);
    return 0;
}

static void pg_close(struct store *store)
{
    (void)store;
}

static struct store_conn *pg_conn_create(struct store *store, const char *purpose)
{
    struct pg_conn *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->base.store = store;
    snprintf(c->application_name, sizeof c->application_name, "togglemaster/%s", purpose);
    return &c->base;
}

static void disconnect(struct pg_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    c->prepared = false;
    c->listening = false;
}

static void pg_conn_destroy(struct store_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    disconnect(c);
    free(c);
}

/* libpq messages end with a newline; keep the error on one line. */
static void set_pg_error(struct pg_conn *c, const char *what, const char *message)
{
    store_set_error(&c->base, "postgres %s: %s", what, message ? message : "unknown error");
    size_t len = strlen(c->base.error);
    while (len > 0 && (c->base.error[len - 1] == '\n' || c->base.error[len - 1] == ' '))
        c->base.error[--len] = '\0';
    for (char *p = c->base.error; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

/* How long every connection fails fast after a failed connect. */
#define UNREACHABLE_BACKOFF_MS 1000

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool connection_ok(struct pg_conn *c)
{
    return c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK;
}

static enum store_status ensure_connected(struct pg_conn *c)
{
    const struct config *cfg = c->base.store->cfg;
    char timeout[16], setting[64];
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {timeout, c->application_name, cfg->database, NULL};
    PGresult *res;

    /* Notice a connection the server closed while we were idle. */
    if (c->pg != NULL && (PQconsumeInput(c->pg) == 0 || PQstatus(c->pg) != CONNECTION_OK))
        disconnect(c);
    if (c->pg == NULL) {
        struct store *store = c->base.store;
        long long now = monotonic_ms();
        if (now < atomic_load(&store->unreachable_until_ms)) {
            store_set_error(&c->base, "postgres connect: database unreachable at the last attempt; "
                                      "retrying within %d ms", UNREACHABLE_BACKOFF_MS);
            return STORE_UNAVAILABLE;
        }
        snprintf(timeout, sizeof timeout, "%d", cfg->db_connect_timeout_s);
        c->pg = PQconnectdbParams(keys, values, 1);
        if (!connection_ok(c)) {
            set_pg_error(c, "connect", c->pg ? PQerrorMessage(c->pg) : "out of memory");
            disconnect(c);
            atomic_store(&store->unreachable_until_ms, monotonic_ms() + UNREACHABLE_BACKOFF_MS);
            return STORE_UNAVAILABLE;
        }
        atomic_store(&store->unreachable_until_ms, 0);
        snprintf(setting, sizeof setting, "SET statement_timeout = %d", cfg->db_statement_timeout_ms);
        res = PQexec(c->pg, setting);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            set_pg_error(c, "configure", PQerrorMessage(c->pg));
            PQclear(res);
            disconnect(c);
            return STORE_UNAVAILABLE;
        }
        PQclear(res);
    }
    return STORE_OK;
}

/* Classifies a failed result. Connection trouble, timeouts and overload are
 * STORE_UNAVAILABLE (503, retry later); a unique violation is a conflict. */
static enum store_status classify(struct pg_conn *c, PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    set_pg_error(c, what, res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
                                                             : PQerrorMessage(c->pg));
    if (PQstatus(c->pg) != CONNECTION_OK) {
        disconnect(c);
        return STORE_UNAVAILABLE;
    }
    if (state == NULL)
        return STORE_ERROR;
    if (strcmp(state, "23505") == 0)
        return STORE_CONFLICT;
    if (strncmp(state, "08", 2) == 0 ||   /* connection exception */
        strncmp(state, "53", 2) == 0 ||   /* insufficient resources */
        strncmp(state, "57", 2) == 0 ||   /* cancelled (statement_timeout), shutdown */
        strncmp(state, "40", 2) == 0)     /* serialization failure, deadlock */
        return STORE_UNAVAILABLE;
    return STORE_ERROR;
}

static enum store_status prepare_all(struct pg_conn *c)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        PGresult *res = PQprepare(c->pg, statements[i].name, statements[i].sql, statements[i].nparams, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            enum store_status st = classify(c, res, "prepare");
            PQclear(res);
            return st;
        }
        PQclear(res);
    }
    c->prepared = true;
    return STORE_OK;
}

/* Runs a prepared statement. On STORE_OK *out holds the result (caller
 * clears it). A broken connection is replaced and, when `repeatable`, the
 * statement is sent once more. */
static enum store_status run(struct pg_conn *c, enum pg_statement which, const char *const *params,
                             bool repeatable, PGresult **out)
{
    for (int attempt = 0;; attempt++) {
        enum store_status st = ensure_connected(c);
        PGresult *res;
        ExecStatusType status;

        if (st == STORE_OK && !c->prepared)
            st = prepare_all(c);
        if (st != STORE_OK)
            return st;
        res = PQexecPrepared(c->pg, statements[which].name, statements[which].nparams, params,
                             NULL, NULL, 0);
        status = PQresultStatus(res);
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
            *out = res;
            return STORE_OK;
        }
        st = classify(c, res, statements[which].name + 3);
        PQclear(res);
        if (!(st == STORE_UNAVAILABLE && c->pg == NULL && repeatable && attempt == 0))
            return st;
    }
}

/* Unprepared statements (migrations, LISTEN): returns 0, with the result
 * in *out when out is not NULL (caller clears it), or -1 with *st set. */
static int exec_params(struct pg_conn *c, const char *sql, int nparams, const char *const *params,
                       PGresult **out, enum store_status *st)
{
    PGresult *res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(res);

    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return 0;
    }
    *st = classify(c, res, "migrate");
    PQclear(res);
    return -1;
}

static int exec_simple(struct pg_conn *c, const char *sql, enum store_status *st)
{
    return exec_params(c, sql, 0, NULL, NULL, st);
}

static enum store_status pg_migrate(struct store_conn *conn, int *applied)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    enum store_status st = ensure_connected(c);

    if (st != STORE_OK)
        return st;
    /* A session-level advisory lock: a second instance migrating at the same
     * moment waits here, then finds everything applied. */
    if (exec_simple(c, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", &st) != 0)
        return st;
    if (exec_simple(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version INTEGER PRIMARY KEY,"
                       " name TEXT NOT NULL,"
                       " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())", &st) != 0)
        goto out;
    for (int i = 0; i < postgres_migration_count; i++) {
        const struct migration *m = &postgres_migrations[i];
        char version[16];
        const char *params[2] = {version, m->name};
        PGresult *res;
        bool done;

        snprintf(version, sizeof version, "%d", m->version);
        if (exec_params(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params, &res, &st) != 0)
            goto out;
        done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
            continue;
        if (exec_simple(c, "BEGIN", &st) != 0)
            goto out;
        if (exec_simple(c, m->sql, &st) != 0)
            goto rollback;
        if (exec_params(c, "INSERT INTO schema_migrations(version, name) VALUES($1, $2)", 2, params, NULL,
                        &st) != 0)
            goto rollback;
        if (exec_simple(c, "COMMIT", &st) != 0)
            goto out;
        (*applied)++;
    }
    st = STORE_OK;
    goto out;

rollback:
    if (c->pg != NULL)
        PQclear(PQexec(c->pg, "ROLLBACK"));
out:
    if (c->pg != NULL)
        PQclear(PQexec(c->pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
    return st;
}

static enum store_status pg_schema_version(struct store_conn *conn, int *version)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    PGresult *res;
    enum store_status st;

    *version = 0;
    st = ensure_connected(c);
    if (st != STORE_OK)
        return st;
    res = PQexec(c->pg, SCHEMA_VERSION_SQL);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        *version = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        return STORE_OK;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state != NULL && strcmp(state, "42P01") == 0) {  /* undefined_table */
        PQclear(res);
        return STORE_OK;
    }
    st = classify(c, res, "schema version");
    PQclear(res);
    return st;
}

/* A one-name write whose returned id tells whether a row matched. */
static enum store_status write_one(struct pg_conn *c, enum pg_statement which, const char *name,
                                   int enabled, bool repeatable, int64_t *id)
{
    char payload[NOTIFY_PAYLOAD_MAX];
    const char *params[3] = {name, enabled ? "true" : "false", payload};
    PGresult *res;
    enum store_status st;

    snprintf(payload, sizeof payload, "%s %s", c->base.store->instance_id, name);
    if (which == STMT_DELETE)
        params[1] = payload;
    st = run(c, which, params, repeatable, &res);
    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (st == STORE_OK)
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return st;
}

static enum store_status pg_flag_create(struct store_conn *conn, const char *name, bool is_enabled,
                                        struct store_flag *out)
{
    out->is_enabled = is_enabled;
    return write_one((struct pg_conn *)conn, STMT_CREATE, name, is_enabled, false, &out->id);
}

static enum store_status pg_flag_set_enabled(struct store_conn *conn, const char *name, bool is_enabled,
                                             struct store_flag *out)
{
    out->is_enabled = is_enabled;
    return write_one((struct pg_conn *)conn, STMT_SET_ENABLED, name, is_enabled, true, &out->id);
}

static enum store_status pg_flag_delete(struct store_conn *conn, const char *name)
{
    int64_t id;
    return write_one((struct pg_conn *)conn, STMT_DELETE, name, 0, false, &id);
}

static enum store_status pg_flag_load_all(struct store_conn *conn, store_row_fn row, void *ctx)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    PGresult *res;
    enum store_status st = run(c, STMT_LOAD_ALL, NULL, true, &res);

    if (st != STORE_OK)
        return st;
    for (int i = 0, n = PQntuples(res); i < n; i++) {
        const char *enabled = PQgetvalue(res, i, 2);
        if (row(ctx, PQgetvalue(res, i, 1), strtoll(PQgetvalue(res, i, 0), NULL, 10),
                enabled[0] == 't') != 0) {
            PQclear(res);
            store_set_error(conn, "out of memory loading flags");
            return STORE_ERROR;
        }
    }
    PQclear(res);
    return STORE_OK;
}

static enum store_status pg_flag_get(struct store_conn *conn, const char *name, struct store_flag *out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    const char *params[1] = {name};
    PGresult *res;
    enum store_status st = run(c, STMT_GET, params, true, &res);

    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (st == STORE_OK) {
        out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        out->is_enabled = PQgetvalue(res, 0, 1)[0] == 't';
    }
    PQclear(res);
    return st;
}

static enum store_status pg_listen(struct store_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    enum store_status st = ensure_connected(c);

    if (st != STORE_OK)
        return st;
    if (exec_simple(c, "LISTEN " CHANGE_CHANNEL, &st) != 0)
        return st;
    c->listening = true;
    return STORE_OK;
}

static int pg_listen_fd(struct store_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    return c->listening && connection_ok(c) ? PQsocket(c->pg) : -1;
}

static enum store_status pg_drain_changes(struct store_conn *conn, store_change_fn fn, void *ctx)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    const char *self = c->base.store->instance_id;
    size_t self_len = strlen(self);
    PGnotify *note;

    if (!c->listening || !connection_ok(c)) {
        store_set_error(conn, "postgres listen: not listening");
        return STORE_UNAVAILABLE;
    }
    if (PQconsumeInput(c->pg) == 0 || PQstatus(c->pg) != CONNECTION_OK) {
        set_pg_error(c, "listen", PQerrorMessage(c->pg));
        disconnect(c);
        return STORE_UNAVAILABLE;
    }
    while ((note = PQnotifies(c->pg)) != NULL) {
        const char *payload = note->extra, *space = strchr(payload, ' ');
        bool own = space != NULL && (size_t)(space - payload) == self_len &&
                   strncmp(payload, self, self_len) == 0;
        if (!own)
            fn(ctx, space != NULL ? space + 1 : payload);
        PQfreemem(note);
    }
    return STORE_OK;
}

const struct store_backend store_postgres_backend = {
    .name = "postgres",
    .migrations = postgres_migrations,
    .migration_count = &postgres_migration_count,
    .open = pg_open,
    .close = pg_close,
    .conn_create = pg_conn_create,
    .conn_destroy = pg_conn_destroy,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .flag_create = pg_flag_create,
    .flag_set_enabled = pg_flag_set_enabled,
    .flag_delete = pg_flag_delete,
    .flag_load_all = pg_flag_load_all,
    .flag_get = pg_flag_get,
    .listen = pg_listen,
    .listen_fd = pg_listen_fd,
    .drain_changes = pg_drain_changes,
};
