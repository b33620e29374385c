/*
 * store/postgres — the production backend (libpq).
 *
 * Each store_conn owns one PGconn. It connects on first use with
 * connect_timeout = DB_CONNECT_TIMEOUT, sets statement_timeout =
 * DB_STATEMENT_TIMEOUT, and prepares every statement once.
 *
 * No call waits on the database without a deadline. statement_timeout is
 * enforced by the server, so it cannot end a wait on a server that is gone
 * silently (failover, a partition, a black-holed route): every query is
 * sent asynchronously and its answer awaited with poll() until
 * DB_STATEMENT_TIMEOUT + CLIENT_MARGIN_MS; past that the connection is
 * dropped and the caller gets STORE_UNAVAILABLE. TCP keepalives and
 * tcp_user_timeout (also DB_STATEMENT_TIMEOUT + CLIENT_MARGIN_MS) make the
 * kernel notice a dead peer on idle connections too (the sync thread's
 * LISTEN connection). Connecting is bounded by DB_CONNECT_TIMEOUT. After a
 * failed connect or a timeout, connections fail fast for
 * UNREACHABLE_BACKOFF_MS, and then only one of them at a time probes the
 * database while the others keep failing fast, so N queued writes cost one
 * timeout, not N. (Host name resolution is not covered: getaddrinfo() has
 * no timeout; use an address or a local resolver.)
 *
 * Before each
 * operation it reads whatever the server sent while the connection was idle
 * (PQconsumeInput): a server restart or a terminated backend shows up there
 * as a bad connection, which is then replaced before the statement is sent.
 * If a connection breaks during a statement, operations that are safe to
 * repeat (reads, setting is_enabled) are retried once on a fresh connection;
 * create and delete are not, because the first attempt may have committed:
 * the caller gets STORE_UNAVAILABLE (503) and decides. Nothing is retried
 * after a timeout.
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
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../flag.h"
#include "backend.h"
#include "migrations.h"

/* Serializes concurrent `migrate` runs across instances: an arbitrary
 * constant, the same in every ToggleMaster build. */
#define MIGRATION_LOCK_KEY "7311984202"
#define CHANGE_CHANNEL "togglemaster_flags"
/* Evaluators and flag-set metadata: a channel of their own, so that an
 * instance of an earlier version (which listens only to the flags') never
 * takes one of these for a flag name. */
#define FLAGSET_CHANNEL "togglemaster_flagset"
/* API keys created or revoked: listeners reload the keyring. */
#define KEYS_CHANNEL "togglemaster_keys"
/* "<instance id> <name>": names reach the store validated or as looked up
 * (at most FLAG_STORED_NAME_MAX bytes); PostgreSQL allows payloads up to
 * 8000 bytes. */
#define NOTIFY_PAYLOAD_MAX (FLAG_STORED_NAME_MAX + 32)
/* How long the client waits past statement_timeout before it gives up on
 * the server: the server's own timeout answers first when it can. */
#define CLIENT_MARGIN_MS 1000
/* How long every connection fails fast after a failed connect or a
 * timeout. */
#define UNREACHABLE_BACKOFF_MS 1000
/* Keepalive probes on idle connections: a dead peer is noticed within
 * idle + interval x count seconds. */
#define KEEPALIVE_IDLE_S "10"
#define KEEPALIVE_INTERVAL_S "3"
#define KEEPALIVE_COUNT "3"

enum pg_statement {
    STMT_CREATE, STMT_UPDATE, STMT_VERSION, STMT_DELETE, STMT_LOAD_ALL, STMT_GET,
    STMT_FLAGSET, STMT_EVALUATOR_PUT, STMT_EVALUATOR_DELETE, STMT_METADATA_PUT, STMT_GET_LOCKED,
    STMT_EVALUATOR_GET, STMT_KEY_CREATE, STMT_KEY_REVOKE, STMT_KEYS_LOAD, STMT_AUDIT_APPEND, STMT_AUDIT_OBJECT,
    STMT_AUDIT_ALL, STMT_USAGE_ADD, STMT_USAGE_FLAGS, STMT_USAGE_TOTALS, STMT_USAGE_PRUNE, STMT_COUNT
};

/* Not prepared: preparing would fail while the table does not exist yet. */
#define SCHEMA_VERSION_SQL "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"

/* Timestamps as RFC 3339 text in UTC, to the millisecond. */
#define RFC3339(column) "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* The columns of a flag row, in the order flag_from_result() reads them. */
#define FLAG_COLUMNS "id, name, is_enabled, document, version, " RFC3339("created_at") ", " RFC3339("updated_at")
#define NOTIFY_FLAG "pg_notify('" CHANGE_CHANNEL "', "
#define NOTIFY_FLAGSET "pg_notify('" FLAGSET_CHANNEL "', "
#define NOTIFY_KEYS "pg_notify('" KEYS_CHANNEL "', "
/* The columns of a key, in the order store_key_from_columns() takes them. */
#define KEY_COLUMNS "id, name, role, hash, " RFC3339("created_at") ", " RFC3339("revoked_at")
/* The columns of an audit row, in the order audit_list reads them. */
#define AUDIT_COLUMNS "id, " RFC3339("at") ", actor_id, actor_name, action, object_type, object_name, before," \
                      " after, request_id"
/* The usage rows of a flush (store.c makes the JSON). */
#define USAGE_ROWS "json_to_recordset($1::json) AS r(flag text, variant text, reason text, hour bigint, n bigint," \
                   " first bigint, last bigint)"

static const struct {
    const char *name;
    const char *sql;
    int nparams;
} statements[STMT_COUNT] = {
    /* The last parameter of each write is the notification payload. */
    [STMT_CREATE] = {"tm_create",
                     "WITH w AS (INSERT INTO flags(name, is_enabled, document) VALUES($1, $2, $3) RETURNING *)"
                     " SELECT " FLAG_COLUMNS ", " NOTIFY_FLAG "$4) FROM w", 4},
    [STMT_UPDATE] = {"tm_update",
                     "WITH w AS (UPDATE flags SET is_enabled = $2, document = COALESCE($3, document),"
                     " version = version + 1, updated_at = now()"
                     " WHERE name = $1 AND ($4::bigint = 0 OR version = $4::bigint) RETURNING *)"
                     " SELECT " FLAG_COLUMNS ", " NOTIFY_FLAG "$5) FROM w", 5},
    [STMT_VERSION] = {"tm_version", "SELECT version FROM flags WHERE name = $1", 1},
    [STMT_DELETE] = {"tm_delete",
                     "WITH w AS (DELETE FROM flags WHERE name = $1 RETURNING id)"
                     " SELECT id, " NOTIFY_FLAG "$2) FROM w", 2},
    [STMT_LOAD_ALL] = {"tm_load_all", "SELECT " FLAG_COLUMNS " FROM flags", 0},
    [STMT_GET] = {"tm_get", "SELECT " FLAG_COLUMNS " FROM flags WHERE name = $1", 1},
    /* One statement, so one consistent read of both tables. */
    [STMT_FLAGSET] = {"tm_flagset",
                      "SELECT 'e', name, rule, version, " RFC3339("updated_at") " FROM evaluators"
                      " UNION ALL SELECT 'm', key, value, 0, NULL FROM catalog_settings WHERE key = 'metadata'", 0},
    [STMT_EVALUATOR_PUT] = {"tm_evaluator_put",
                            "WITH w AS (INSERT INTO evaluators(name, rule) VALUES($1, $2)"
                            " ON CONFLICT (name) DO UPDATE SET rule = EXCLUDED.rule,"
                            " version = evaluators.version + 1, updated_at = now() RETURNING version)"
                            " SELECT version, " NOTIFY_FLAGSET "$3) FROM w", 3},
    [STMT_EVALUATOR_DELETE] = {"tm_evaluator_delete",
                               "WITH w AS (DELETE FROM evaluators WHERE name = $1 RETURNING name)"
                               " SELECT name, " NOTIFY_FLAGSET "$2) FROM w", 2},
    [STMT_METADATA_PUT] = {"tm_metadata_put",
                           "WITH w AS (INSERT INTO catalog_settings(key, value) VALUES('metadata', $1)"
                           " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
                           " RETURNING key) SELECT key, " NOTIFY_FLAGSET "$2) FROM w", 2},
    /* The row an audited change is about to change, locked until commit. */
    [STMT_GET_LOCKED] = {"tm_get_locked", "SELECT " FLAG_COLUMNS " FROM flags WHERE name = $1 FOR UPDATE", 1},
    [STMT_EVALUATOR_GET] = {"tm_evaluator_get", "SELECT rule FROM evaluators WHERE name = $1 FOR UPDATE", 1},
    [STMT_KEY_CREATE] = {"tm_key_create",
                         "WITH w AS (INSERT INTO api_keys(id, name, role, hash) VALUES($1, $2, $3, $4) RETURNING id)"
                         " SELECT id, " NOTIFY_KEYS "$5) FROM w", 5},
    [STMT_KEY_REVOKE] = {"tm_key_revoke",
                         "WITH w AS (UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1"
                         " RETURNING *) SELECT " KEY_COLUMNS ", " NOTIFY_KEYS "$2) FROM w", 2},
    [STMT_KEYS_LOAD] = {"tm_keys_load", "SELECT " KEY_COLUMNS " FROM api_keys", 0},
    [STMT_AUDIT_APPEND] = {"tm_audit_append",
                           "INSERT INTO audit_log(actor_id, actor_name, action, object_type, object_name, before,"
                           " after, request_id) VALUES($1, $2, $3, $4, $5, $6, $7, $8)", 8},
    [STMT_AUDIT_OBJECT] = {"tm_audit_object",
                           "SELECT " AUDIT_COLUMNS " FROM audit_log WHERE object_type = $1 AND object_name = $2"
                           " AND id < $3::bigint ORDER BY id DESC LIMIT $4::int", 4},
    [STMT_AUDIT_ALL] = {"tm_audit_all",
                        "SELECT " AUDIT_COLUMNS " FROM audit_log WHERE ($1::text IS NULL OR object_type = $1)"
                        " AND id < $2::bigint ORDER BY id DESC LIMIT $3::int", 3},
    /* Both tables in one statement. Rows are taken in key order, so two
     * instances flushing at once lock shared rows in the same order and
     * never deadlock. */
    [STMT_USAGE_ADD] = {"tm_usage_add",
                        "WITH hourly AS (INSERT INTO flag_usage_hourly(flag_name, hour_start, variant, reason,"
                        " evaluations) SELECT flag, hour, variant, reason, n FROM " USAGE_ROWS
                        " ORDER BY flag, hour, variant, reason"
                        " ON CONFLICT (flag_name, hour_start, variant, reason) DO UPDATE"
                        " SET evaluations = flag_usage_hourly.evaluations + EXCLUDED.evaluations RETURNING 1)"
                        " INSERT INTO flag_usage(flag_name, first_evaluated, last_evaluated, evaluations)"
                        " SELECT flag, MIN(first), MAX(last), SUM(n) FROM " USAGE_ROWS " GROUP BY flag ORDER BY flag"
                        " ON CONFLICT (flag_name) DO UPDATE SET"
                        " first_evaluated = LEAST(flag_usage.first_evaluated, EXCLUDED.first_evaluated),"
                        " last_evaluated = GREATEST(flag_usage.last_evaluated, EXCLUDED.last_evaluated),"
                        " evaluations = flag_usage.evaluations + EXCLUDED.evaluations", 1},
    [STMT_USAGE_FLAGS] = {"tm_usage_flags",
                          "SELECT flag_name, first_evaluated, last_evaluated, evaluations FROM flag_usage"
                          " WHERE $1::text IS NULL OR flag_name = $1", 1},
    [STMT_USAGE_TOTALS] = {"tm_usage_totals",
                           "SELECT flag_name, variant, reason, SUM(evaluations)::bigint FROM flag_usage_hourly"
                           " WHERE hour_start >= $1::bigint AND ($2::text IS NULL OR flag_name = $2)"
                           " GROUP BY flag_name, variant, reason", 2},
    [STMT_USAGE_PRUNE] = {"tm_usage_prune", "DELETE FROM flag_usage_hourly WHERE hour_start < $1::bigint", 1},
};

struct pg_conn {
    struct store_conn base;
    PGconn *pg;
    bool prepared;        /* statements prepared on this PGconn */
    bool listening;       /* LISTEN issued on this PGconn */
    bool in_transaction;  /* between store_begin and commit or rollback */
    bool timed_out;       /* the last query got no answer in time */
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

/* The database did not answer: every connection fails fast for a while. */
static void mark_unreachable(struct store *store)
{
    atomic_store(&store->unreachable_until_ms, monotonic_ms() + UNREACHABLE_BACKOFF_MS);
}

static void note_answer(struct store *store)
{
    atomic_store(&store->last_answer_ms, monotonic_ms());
}

/* Waits for the answer to the query just sent, until the deadline. On
 * STORE_OK *out is the last result (the caller checks its status and clears
 * it); otherwise the connection is dropped. */
static enum store_status await_result(struct pg_conn *c, const char *what, PGresult **out)
{
    long long sent_ms = monotonic_ms();
    long long deadline = sent_ms + c->base.store->cfg->db_statement_timeout_ms + CLIENT_MARGIN_MS;
    PGresult *res, *last = NULL;

    c->timed_out = false;
    for (;;) {
        while (PQisBusy(c->pg)) {
            struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
            long long left = deadline - monotonic_ms();
            int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
            if (ready == 0) {
                store_set_error(&c->base, "postgres %s: no answer within %d ms; connection dropped", what,
                                c->base.store->cfg->db_statement_timeout_ms + CLIENT_MARGIN_MS);
                c->timed_out = true;
                PQclear(last);
                disconnect(c);
                /* Only when no other connection has heard from the
                 * database since this one sent: after a partition heals,
                 * a statement stuck on an old connection must not make
                 * every request fail fast for the backoff. */
                if (atomic_load(&c->base.store->last_answer_ms) < sent_ms)
                    mark_unreachable(c->base.store);
                return STORE_UNAVAILABLE;
            }
            if ((ready < 0 && errno != EINTR) || (ready > 0 && PQconsumeInput(c->pg) == 0)) {
                set_pg_error(c, what, PQerrorMessage(c->pg));
                PQclear(last);
                disconnect(c);
                return STORE_UNAVAILABLE;
            }
        }
        res = PQgetResult(c->pg);
        if (res == NULL)
            break;
        PQclear(last);
        last = res;
    }
    if (last == NULL) {
        set_pg_error(c, what, PQerrorMessage(c->pg));
        if (PQstatus(c->pg) != CONNECTION_OK)
            disconnect(c);
        return STORE_UNAVAILABLE;
    }
    note_answer(c->base.store);
    *out = last;
    return STORE_OK;
}

static enum store_status classify(struct pg_conn *c, PGresult *res, const char *what);

/* After a PQsend* call that returned `sent`: its answer, awaited with the
 * deadline, or the connection dropped when the query could not be sent. */
static enum store_status await_sent(struct pg_conn *c, const char *what, int sent, PGresult **out)
{
    if (!sent) {
        set_pg_error(c, what, PQerrorMessage(c->pg));
        disconnect(c);
        return STORE_UNAVAILABLE;
    }
    return await_result(c, what, out);
}

/* Sends a query (a prepared statement when `prepared`, else SQL text) and
 * waits for its answer. 0 with *out set (when out is not NULL; the caller
 * clears it), or -1 with *st set. */
static int query(struct pg_conn *c, const char *what, const char *statement, bool prepared, int nparams,
                 const char *const *params, PGresult **out, enum store_status *st)
{
    PGresult *res;
    ExecStatusType status;
    /* Without parameters, the simple protocol: it takes several statements
     * at once (migrations, LISTEN on two channels). */
    int sent = prepared      ? PQsendQueryPrepared(c->pg, statement, nparams, params, NULL, NULL, 0)
               : nparams > 0 ? PQsendQueryParams(c->pg, statement, nparams, NULL, params, NULL, NULL, 0)
                             : PQsendQuery(c->pg, statement);

    *st = await_sent(c, what, sent, &res);
    if (*st != STORE_OK)
        return -1;
    status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return 0;
    }
    *st = classify(c, res, what);
    PQclear(res);
    return -1;
}

static int exec_simple(struct pg_conn *c, const char *what, const char *sql, enum store_status *st)
{
    return query(c, what, sql, false, 0, NULL, NULL, st);
}

static enum store_status ensure_connected(struct pg_conn *c)
{
    struct store *store = c->base.store;
    const struct config *cfg = store->cfg;
    char timeout[16], user_timeout[16], setting[64];
    const char *keys[] = {"connect_timeout", "application_name", "keepalives", "keepalives_idle",
                          "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", NULL};
    const char *values[] = {timeout, c->application_name, "1", KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S,
                            KEEPALIVE_COUNT, user_timeout, cfg->database, NULL};
    enum store_status st;
    long long now;
    bool expected = false;

    /* Notice a connection the server closed while we were idle. */
    if (c->pg != NULL && (PQconsumeInput(c->pg) == 0 || PQstatus(c->pg) != CONNECTION_OK))
        disconnect(c);
    if (c->pg != NULL)
        return STORE_OK;
    now = monotonic_ms();
    if (now < atomic_load(&store->unreachable_until_ms) ||
        (atomic_load(&store->unreachable_until_ms) != 0 &&
         !atomic_compare_exchange_strong(&store->probing, &expected, true))) {
        store_set_error(&c->base, "postgres connect: database unreachable at the last attempt; "
                                  "retrying within %d ms", UNREACHABLE_BACKOFF_MS);
        return STORE_UNAVAILABLE;
    }
    /* Healthy (anyone may connect), or this connection is the one probe. */
    snprintf(timeout, sizeof timeout, "%d", cfg->db_connect_timeout_s);
    snprintf(user_timeout, sizeof user_timeout, "%d", cfg->db_statement_timeout_ms + CLIENT_MARGIN_MS);
    c->pg = PQconnectdbParams(keys, values, 1);
    if (!connection_ok(c)) {
        set_pg_error(c, "connect", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        disconnect(c);
        mark_unreachable(store);
        atomic_store(&store->probing, false);
        return STORE_UNAVAILABLE;
    }
    snprintf(setting, sizeof setting, "SET statement_timeout = %d", cfg->db_statement_timeout_ms);
    if (exec_simple(c, "configure", setting, &st) != 0) {
        disconnect(c);
        atomic_store(&store->probing, false);
        return STORE_UNAVAILABLE;
    }
    atomic_store(&store->unreachable_until_ms, 0);
    atomic_store(&store->probing, false);
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
        PGresult *res;
        int sent = PQsendPrepare(c->pg, statements[i].name, statements[i].sql, statements[i].nparams, NULL);
        enum store_status st = await_sent(c, "prepare", sent, &res);

        if (st != STORE_OK)
            return st;
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            st = classify(c, res, "prepare");
            PQclear(res);
            return st;
        }
        PQclear(res);
    }
    c->prepared = true;
    return STORE_OK;
}

/* Runs a prepared statement. On STORE_OK *out holds the result (caller
 * clears it). A connection found broken is replaced and, when `repeatable`,
 * the statement is sent once more; nothing is repeated after a timeout. */
static enum store_status run(struct pg_conn *c, enum pg_statement which, const char *const *params,
                             bool repeatable, PGresult **out)
{
    const char *what = statements[which].name + 3;   /* without "tm_" */

    for (int attempt = 0;; attempt++) {
        enum store_status st;

        if (c->in_transaction && !connection_ok(c)) {
            /* Reconnecting would run the rest outside the transaction. */
            store_set_error(&c->base, "postgres %s: the transaction was lost with its connection", what);
            return STORE_UNAVAILABLE;
        }
        st = ensure_connected(c);

        if (st == STORE_OK && !c->prepared)
            st = prepare_all(c);
        if (st != STORE_OK)
            return st;
        if (query(c, what, statements[which].name, true, statements[which].nparams, params, out, &st) == 0)
            return STORE_OK;
        if (!(st == STORE_UNAVAILABLE && c->pg == NULL && !c->timed_out && repeatable && attempt == 0) ||
            c->in_transaction)
            return st;
    }
}

static const char *value_or_null(PGresult *res, int i, int column)
{
    return PQgetisnull(res, i, column) ? NULL : PQgetvalue(res, i, column);
}

/* A committed flag from row i of res, whose first columns are FLAG_COLUMNS. */
static enum store_status flag_from_result(struct pg_conn *c, PGresult *res, int i, struct flag **out)
{
    struct flag_row row = {
        .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
        .name = PQgetvalue(res, i, 1),
        .is_enabled = PQgetvalue(res, i, 2)[0] == 't',
        .document = value_or_null(res, i, 3),
        .version = strtoll(PQgetvalue(res, i, 4), NULL, 10),
        .created_at = value_or_null(res, i, 5),
        .updated_at = value_or_null(res, i, 6),
    };

    *out = flag_create(&row, NULL);
    if (*out == NULL) {
        store_set_error(&c->base, "out of memory reading a flag");
        return STORE_ERROR;
    }
    return STORE_OK;
}

static enum store_status pg_migrate(struct store_conn *conn, int *applied)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    enum store_status st = ensure_connected(c);

    if (st != STORE_OK)
        return st;
    /* A session-level advisory lock: a second instance migrating at the same
     * moment waits here, then finds everything applied. */
    if (exec_simple(c, "migrate", "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", &st) != 0)
        return st;
    if (exec_simple(c, "migrate", "CREATE TABLE IF NOT EXISTS schema_migrations ("
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
        if (query(c, "migrate", "SELECT 1 FROM schema_migrations WHERE version = $1", false, 1, params, &res,
                  &st) != 0)
            goto out;
        done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
            continue;
        if (exec_simple(c, "migrate", "BEGIN", &st) != 0)
            goto out;
        if (exec_simple(c, "migrate", m->sql, &st) != 0)
            goto rollback;
        if (query(c, "migrate", "INSERT INTO schema_migrations(version, name) VALUES($1, $2)", false, 2, params,
                  NULL, &st) != 0)
            goto rollback;
        if (exec_simple(c, "migrate", "COMMIT", &st) != 0)
            goto out;
        (*applied)++;
    }
    st = STORE_OK;
    goto out;

rollback:
    if (c->pg != NULL) {
        enum store_status ignored;
        exec_simple(c, "migrate", "ROLLBACK", &ignored);
    }
out:
    if (c->pg != NULL) {
        enum store_status ignored;
        exec_simple(c, "migrate", "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", &ignored);
    }
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
    st = await_sent(c, "schema version", PQsendQueryParams(c->pg, SCHEMA_VERSION_SQL, 0, NULL, NULL, NULL, NULL, 0),
                    &res);
    if (st != STORE_OK)
        return st;
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

static void notify_payload(struct pg_conn *c, char *payload, const char *name)
{
    snprintf(payload, NOTIFY_PAYLOAD_MAX, "%s %s", c->base.store->instance_id, name);
}

/* A write whose returned row (FLAG_COLUMNS) is the flag as committed. */
static enum store_status pg_flag_create(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    char payload[NOTIFY_PAYLOAD_MAX];
    const char *params[4] = {in->name, in->is_enabled ? "true" : "false", in->document, payload};
    PGresult *res;
    enum store_status st;

    notify_payload(c, payload, in->name);
    st = run(c, STMT_CREATE, params, false, &res);
    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? flag_from_result(c, res, 0, out) : STORE_ERROR;
    PQclear(res);
    return st;
}

/* An update that changed no row: no such flag, or not at the expected
 * version. */
static enum store_status missing_or_stale(struct pg_conn *c, const char *name)
{
    const char *params[1] = {name};
    PGresult *res;
    enum store_status st = run(c, STMT_VERSION, params, true, &res);

    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? STORE_STALE : STORE_NOT_FOUND;
    PQclear(res);
    return st;
}

static enum store_status pg_flag_update(struct store_conn *conn, const struct flag_row *in, struct flag **out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    char payload[NOTIFY_PAYLOAD_MAX], expect[24];
    const char *params[5] = {in->name, in->is_enabled ? "true" : "false", in->document, expect, payload};
    PGresult *res;
    enum store_status st;

    snprintf(expect, sizeof expect, "%lld", (long long)in->expect_version);
    notify_payload(c, payload, in->name);
    /* Repeatable only when it is not conditional: a repeated counting-up
     * would otherwise find its own first attempt as a newer version. */
    st = run(c, STMT_UPDATE, params, in->expect_version == 0, &res);
    if (st != STORE_OK)
        return st;
    if (PQntuples(res) > 0)
        st = flag_from_result(c, res, 0, out);
    else
        st = in->expect_version != 0 ? missing_or_stale(c, in->name) : STORE_NOT_FOUND;
    PQclear(res);
    return st;
}

static enum store_status pg_flag_delete(struct store_conn *conn, const char *name)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    char payload[NOTIFY_PAYLOAD_MAX];
    const char *params[2] = {name, payload};
    PGresult *res;
    enum store_status st;

    notify_payload(c, payload, name);
    st = run(c, STMT_DELETE, params, false, &res);
    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? STORE_OK : STORE_NOT_FOUND;
    PQclear(res);
    return st;
}

static enum store_status pg_flag_load_all(struct store_conn *conn, store_flag_fn fn, void *ctx)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    PGresult *res;
    enum store_status st = run(c, STMT_LOAD_ALL, NULL, true, &res);

    if (st != STORE_OK)
        return st;
    for (int i = 0, n = PQntuples(res); i < n && st == STORE_OK; i++) {
        struct flag *flag;
        st = flag_from_result(c, res, i, &flag);
        if (st == STORE_OK && fn(ctx, flag) != 0) {
            store_set_error(conn, "out of memory loading flags");
            st = STORE_ERROR;
        }
        flag_unref(flag);
    }
    PQclear(res);
    return st;
}

static enum store_status pg_flag_get(struct store_conn *conn, const char *name, struct flag **out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    const char *params[1] = {name};
    PGresult *res;
    enum store_status st = run(c, STMT_GET, params, true, &res);

    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? flag_from_result(c, res, 0, out) : STORE_NOT_FOUND;
    PQclear(res);
    return st;
}

/* ---- the flag set ------------------------------------------------------ */

static enum store_status pg_flagset_load(struct store_conn *conn, struct flagset **out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    struct flagset *set;
    PGresult *res;
    enum store_status st = run(c, STMT_FLAGSET, NULL, true, &res);

    if (st != STORE_OK)
        return st;
    set = flagset_create();
    for (int i = 0, n = PQntuples(res); set != NULL && i < n; i++) {
        json_t *value = json_loads(PQgetvalue(res, i, 2), JSON_DECODE_ANY, NULL);
        int rc;
        if (value == NULL)
            continue;   /* not JSON: not ours; a $ref to it stays unresolved */
        if (PQgetvalue(res, i, 0)[0] == 'e')
            rc = flagset_add(set, PQgetvalue(res, i, 1), value, strtoll(PQgetvalue(res, i, 3), NULL, 10),
                             value_or_null(res, i, 4));
        else
            rc = json_is_object(value) ? flagset_set_metadata(set, value) : 0;
        json_decref(value);
        if (rc != 0) {
            flagset_unref(set);
            set = NULL;
        }
    }
    PQclear(res);
    if (set == NULL) {
        store_set_error(conn, "out of memory reading the flag set");
        return STORE_ERROR;
    }
    *out = set;
    return STORE_OK;
}

/* A flag-set write whose row count says whether it found its target. */
static enum store_status flagset_write(struct pg_conn *c, enum pg_statement which, const char *first,
                                       const char *second, PGresult **out)
{
    char payload[NOTIFY_PAYLOAD_MAX];
    const char *params[3] = {first, second, payload};
    PGresult *res;
    enum store_status st;

    notify_payload(c, payload, "");
    if (statements[which].nparams == 2)
        params[1] = payload;
    st = run(c, which, params, false, &res);
    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (out != NULL && st == STORE_OK)
        *out = res;
    else
        PQclear(res);
    return st;
}

static enum store_status pg_evaluator_put(struct store_conn *conn, const char *name, const char *rule,
                                          int64_t *version)
{
    PGresult *res;
    enum store_status st = flagset_write((struct pg_conn *)conn, STMT_EVALUATOR_PUT, name, rule, &res);

    if (st == STORE_OK) {
        *version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    return st;
}

static enum store_status pg_evaluator_delete(struct store_conn *conn, const char *name)
{
    return flagset_write((struct pg_conn *)conn, STMT_EVALUATOR_DELETE, name, NULL, NULL);
}

static enum store_status pg_metadata_put(struct store_conn *conn, const char *metadata)
{
    return flagset_write((struct pg_conn *)conn, STMT_METADATA_PUT, metadata, NULL, NULL);
}

static enum store_status pg_flag_get_locked(struct store_conn *conn, const char *name, struct flag **out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    const char *params[1] = {name};
    PGresult *res;
    enum store_status st = run(c, STMT_GET_LOCKED, params, false, &res);

    if (st != STORE_OK)
        return st;
    st = PQntuples(res) > 0 ? flag_from_result(c, res, 0, out) : STORE_NOT_FOUND;
    PQclear(res);
    return st;
}

static enum store_status pg_evaluator_get_locked(struct store_conn *conn, const char *name, char **rule)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    const char *params[1] = {name};
    PGresult *res;
    enum store_status st = run(c, STMT_EVALUATOR_GET, params, false, &res);

    if (st != STORE_OK)
        return st;
    st = STORE_NOT_FOUND;
    if (PQntuples(res) > 0)
        st = (*rule = strdup(PQgetvalue(res, 0, 0))) != NULL ? STORE_OK : STORE_ERROR;
    PQclear(res);
    return st;
}

/* ---- keys and the audit trail ------------------------------------------- */

/* The keys in res (KEY_COLUMNS first), valid rows only, into a new array. */
static struct auth_key *keys_from_result(PGresult *res, size_t *count)
{
    int n = PQntuples(res);
    struct auth_key *keys = malloc((n > 0 ? (size_t)n : 1) * sizeof *keys);

    *count = 0;
    for (int i = 0; keys != NULL && i < n; i++)
        if (store_key_from_columns(&keys[*count], value_or_null(res, i, 0), value_or_null(res, i, 1),
                                   value_or_null(res, i, 2), value_or_null(res, i, 3), value_or_null(res, i, 4),
                                   value_or_null(res, i, 5)) == 0)
            (*count)++;
    return keys;
}

static enum store_status pg_key_create(struct store_conn *conn, const struct auth_key *key)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    char payload[NOTIFY_PAYLOAD_MAX], hash[2 * AUTH_HASH_LEN + 1];
    const char *params[5] = {key->id, key->name, auth_role_name(key->role), hash, payload};
    PGresult *res;
    enum store_status st;

    notify_payload(c, payload, "");
    store_hash_hex(key->hash, hash);
    st = run(c, STMT_KEY_CREATE, params, false, &res);
    if (st == STORE_OK)
        PQclear(res);
    return st;
}

static enum store_status pg_key_revoke(struct store_conn *conn, const char *id, struct auth_key *out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    char payload[NOTIFY_PAYLOAD_MAX];
    const char *params[2] = {id, payload};
    struct auth_key *keys;
    size_t count;
    PGresult *res;
    enum store_status st;

    notify_payload(c, payload, "");
    st = run(c, STMT_KEY_REVOKE, params, false, &res);
    if (st != STORE_OK)
        return st;
    keys = keys_from_result(res, &count);
    PQclear(res);
    if (keys == NULL) {
        store_set_error(conn, "out of memory reading a key");
        return STORE_ERROR;
    }
    if (count == 1)
        *out = keys[0];
    free(keys);
    return count == 1 ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_status pg_keys_load(struct store_conn *conn, struct keyring **out)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    struct auth_key *keys;
    size_t count;
    PGresult *res;
    enum store_status st = run(c, STMT_KEYS_LOAD, NULL, true, &res);

    if (st != STORE_OK)
        return st;
    keys = keys_from_result(res, &count);
    PQclear(res);
    *out = keys != NULL ? keyring_create(keys, count) : NULL;
    free(keys);
    if (*out == NULL) {
        store_set_error(conn, "out of memory reading keys");
        return STORE_ERROR;
    }
    return STORE_OK;
}

static enum store_status pg_audit_append(struct store_conn *conn, const struct audit_entry *e)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    const char *params[8] = {e->actor_id, e->actor_name, e->action, e->object_type, e->object_name,
                             e->before, e->after, e->request_id};
    PGresult *res;
    enum store_status st = run(c, STMT_AUDIT_APPEND, params, false, &res);

    if (st == STORE_OK)
        PQclear(res);
    return st;
}

static enum store_status pg_audit_list(struct store_conn *conn, const struct audit_query *q, store_audit_fn fn,
                                       void *ctx)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    char before[24], limit[16];
    const char *object_params[4] = {q->object_type, q->object_name, before, limit};
    const char *all_params[3] = {q->object_type, before, limit};
    PGresult *res;
    enum store_status st;

    snprintf(before, sizeof before, "%lld", (long long)(q->before_id > 0 ? q->before_id : INT64_MAX));
    snprintf(limit, sizeof limit, "%d", q->limit);
    if (q->object_name != NULL)
        st = run(c, STMT_AUDIT_OBJECT, object_params, true, &res);
    else
        st = run(c, STMT_AUDIT_ALL, all_params, true, &res);
    if (st != STORE_OK)
        return st;
    for (int i = 0, n = PQntuples(res); i < n && st == STORE_OK; i++) {
        struct audit_entry e = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10), .at = PQgetvalue(res, i, 1),
            .actor_id = PQgetvalue(res, i, 2), .actor_name = PQgetvalue(res, i, 3),
            .action = PQgetvalue(res, i, 4), .object_type = PQgetvalue(res, i, 5),
            .object_name = PQgetvalue(res, i, 6), .before = value_or_null(res, i, 7),
            .after = value_or_null(res, i, 8), .request_id = value_or_null(res, i, 9),
        };
        if (fn(ctx, &e) != 0) {
            store_set_error(conn, "out of memory reading the audit trail");
            st = STORE_ERROR;
        }
    }
    PQclear(res);
    return st;
}

/* ---- usage ---------------------------------------------------------------- */

static enum store_status pg_usage_add(struct store_conn *conn, const char *rows)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    const char *params[1] = {rows};
    PGresult *res;
    /* Not repeatable: a lost answer may hide a commit, and counting twice
     * is worse than once less. */
    enum store_status st = run(c, STMT_USAGE_ADD, params, false, &res);

    if (st == STORE_OK)
        PQclear(res);
    return st;
}

/* Calls fn for each row of res, read as usage_row columns by `shape`. */
static enum store_status usage_rows(struct store_conn *conn, PGresult *res, bool per_flag, store_usage_fn fn,
                                    void *ctx)
{
    enum store_status st = STORE_OK;

    for (int i = 0, n = PQntuples(res); i < n && st == STORE_OK; i++) {
        struct usage_row row = {.flag = PQgetvalue(res, i, 0)};
        if (per_flag) {
            row.first_s = strtoll(PQgetvalue(res, i, 1), NULL, 10);
            row.last_s = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        } else {
            row.variant = PQgetvalue(res, i, 1);
            row.reason = PQgetvalue(res, i, 2);
        }
        row.evaluations = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        if (fn(ctx, &row) != 0) {
            store_set_error(conn, "out of memory reading usage counts");
            st = STORE_ERROR;
        }
    }
    PQclear(res);
    return st;
}

static enum store_status pg_usage_flags(struct store_conn *conn, const char *flag, store_usage_fn fn, void *ctx)
{
    const char *params[1] = {flag};
    PGresult *res;
    enum store_status st = run((struct pg_conn *)conn, STMT_USAGE_FLAGS, params, true, &res);

    return st == STORE_OK ? usage_rows(conn, res, true, fn, ctx) : st;
}

static enum store_status pg_usage_totals(struct store_conn *conn, int64_t since_s, const char *flag,
                                         store_usage_fn fn, void *ctx)
{
    char since[24];
    const char *params[2] = {since, flag};
    PGresult *res;
    enum store_status st;

    snprintf(since, sizeof since, "%lld", (long long)since_s);
    st = run((struct pg_conn *)conn, STMT_USAGE_TOTALS, params, true, &res);
    return st == STORE_OK ? usage_rows(conn, res, false, fn, ctx) : st;
}

static enum store_status pg_usage_prune(struct store_conn *conn, int64_t before_s)
{
    char before[24];
    const char *params[1] = {before};
    PGresult *res;
    enum store_status st;

    snprintf(before, sizeof before, "%lld", (long long)before_s);
    st = run((struct pg_conn *)conn, STMT_USAGE_PRUNE, params, true, &res);
    if (st == STORE_OK)
        PQclear(res);
    return st;
}

/* ---- transactions ------------------------------------------------------- */

static enum store_status pg_begin(struct store_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    enum store_status st = ensure_connected(c);

    if (st == STORE_OK && !c->prepared)
        st = prepare_all(c);
    if (st != STORE_OK || exec_simple(c, "begin", "BEGIN", &st) != 0)
        return st;
    c->in_transaction = true;
    return STORE_OK;
}

static enum store_status pg_commit(struct store_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    enum store_status st;

    if (!c->in_transaction || !connection_ok(c)) {
        c->in_transaction = false;
        store_set_error(conn, "postgres commit: the transaction was lost with its connection");
        return STORE_UNAVAILABLE;
    }
    c->in_transaction = false;
    if (exec_simple(c, "commit", "COMMIT", &st) != 0)
        return st;
    return STORE_OK;
}

static void pg_rollback(struct store_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    enum store_status ignored;

    if (c->in_transaction && connection_ok(c))
        exec_simple(c, "rollback", "ROLLBACK", &ignored);
    c->in_transaction = false;
}

static enum store_status pg_listen(struct store_conn *conn)
{
    struct pg_conn *c = (struct pg_conn *)conn;
    enum store_status st = ensure_connected(c);

    if (st != STORE_OK)
        return st;
    if (exec_simple(c, "listen", "LISTEN " CHANGE_CHANNEL "; LISTEN " FLAGSET_CHANNEL "; LISTEN " KEYS_CHANNEL, &st) != 0)
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
        if (!own && strcmp(note->relname, FLAGSET_CHANNEL) == 0)
            fn(ctx, STORE_CHANGE_FLAGSET, "");
        else if (!own && strcmp(note->relname, KEYS_CHANNEL) == 0)
            fn(ctx, STORE_CHANGE_KEYS, "");
        else if (!own)
            fn(ctx, STORE_CHANGE_FLAG, space != NULL ? space + 1 : payload);
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
    .flag_update = pg_flag_update,
    .flag_delete = pg_flag_delete,
    .flag_load_all = pg_flag_load_all,
    .flag_get = pg_flag_get,
    .flag_get_locked = pg_flag_get_locked,
    .evaluator_get_locked = pg_evaluator_get_locked,
    .key_create = pg_key_create,
    .key_revoke = pg_key_revoke,
    .keys_load = pg_keys_load,
    .audit_append = pg_audit_append,
    .audit_list = pg_audit_list,
    .usage_add = pg_usage_add,
    .usage_flags = pg_usage_flags,
    .usage_totals = pg_usage_totals,
    .usage_prune = pg_usage_prune,
    .flagset_load = pg_flagset_load,
    .evaluator_put = pg_evaluator_put,
    .evaluator_delete = pg_evaluator_delete,
    .metadata_put = pg_metadata_put,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .listen = pg_listen,
    .listen_fd = pg_listen_fd,
    .drain_changes = pg_drain_changes,
};
