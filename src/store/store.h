/*
 * store — durable storage of flags, behind one interface.
 *
 * Owns: the choice of backend (SQLite embedded default, PostgreSQL for
 * production), connections, schema migrations and every SQL statement.
 * Nothing outside src/store/ sees SQL or a driver handle. Flags go in as a
 * struct flag_row and come back as the committed struct flag (flag.h); the
 * evaluators and flag-set metadata come back as one struct flagset.
 *
 * A `struct store` is the shared, immutable description of where the data
 * lives. A `struct store_conn` is one connection, used by one thread at a
 * time; it connects lazily and reconnects by itself after a failure, so a
 * caller never has to rebuild it. Every operation returns a status; on
 * anything but STORE_OK the connection's last error says why (never holding
 * a password).
 *
 * Audit. Every write below (flags, evaluators, metadata, keys) appends one
 * row to the audit trail in the same transaction as the change: who (the
 * connection's actor, store_conn_set_actor), what, and the object before
 * and after (a flag as GET /flags/<name> shows it, an evaluator's rule, a
 * key's id, name and role: never its hash). A write outside store_begin()
 * is its own transaction, repeated once when the connection was lost
 * before its commit was sent.
 */
#ifndef TM_STORE_H
#define TM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../auth.h"
#include "../config.h"
#include "../flag.h"
#include "../flagset.h"

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND,     /* no such flag */
    STORE_CONFLICT,      /* a flag with that name exists */
    STORE_UNAVAILABLE,   /* cannot reach the database, or it timed out */
    STORE_ERROR,         /* anything else: a bug or a broken database */
    STORE_STALE,         /* the flag is not at the version the update expected */
    STORE_INVALID,       /* the catalog refused the change before it reached the store */
};

/* Error messages (store_conn_error) are at most this long. */
#define STORE_ERROR_MAX 512

struct store;
struct store_conn;

/* Called once per flag by store_flag_load_all (the flag is borrowed: take
 * a reference to keep it); return non-zero to stop. */
typedef int (*store_flag_fn)(void *ctx, struct flag *flag);

struct store *store_open(const struct config *cfg, char *err, size_t errlen);
void store_close(struct store *store);
const char *store_backend_name(const struct store *store);
/* How many connections are worth having: SQLite has one writer. */
int store_max_connections(const struct store *store);
/* Whether the backend publishes changes to other instances (see below). */
bool store_has_change_feed(const struct store *store);
/* The schema version this binary migrates to. */
int store_latest_version(const struct store *store);

/* Never fails but for lack of memory (NULL); connecting happens on use.
 * `purpose` names the connection to the database (PostgreSQL shows it as
 * application_name "togglemaster/<purpose>" in pg_stat_activity). */
struct store_conn *store_conn_create(struct store *store, const char *purpose);
void store_conn_destroy(struct store_conn *conn);
const char *store_conn_error(const struct store_conn *conn);

/* Applies pending migrations under a lock that serializes concurrent
 * migrators; *applied counts the ones this call applied. */
enum store_status store_migrate(struct store_conn *conn, int *applied);
/* The highest applied migration (0 when none): one round trip, also the
 * readiness probe. */
enum store_status store_schema_version(struct store_conn *conn, int *version);

/* Writes return the flag as committed in *out (a new reference) on
 * STORE_OK. Create inserts `in` at version 1; update sets is_enabled of the
 * flag named in->name, its document when in->document is not NULL, counts
 * its version up and stamps updated_at (STORE_NOT_FOUND when there is no
 * such flag, STORE_STALE when in->expect_version is not 0 and not its
 * version). */
enum store_status store_flag_create(struct store_conn *conn, const struct flag_row *in, struct flag **out);
enum store_status store_flag_update(struct store_conn *conn, const struct flag_row *in, struct flag **out);
enum store_status store_flag_delete(struct store_conn *conn, const char *name);
/* Every flag, in no particular order, in one consistent read. */
enum store_status store_flag_load_all(struct store_conn *conn, store_flag_fn fn, void *ctx);
/* One flag as committed now: STORE_OK (a new reference in *out) or
 * STORE_NOT_FOUND. */
enum store_status store_flag_get(struct store_conn *conn, const char *name, struct flag **out);

/* The evaluators and the flag-set metadata, in one consistent read, as a
 * new set (*out, one reference). */
enum store_status store_flagset_load(struct store_conn *conn, struct flagset **out);
/* Creates or replaces an evaluator (rule: its JSON text); *version gets the
 * committed version (1 when created). */
enum store_status store_evaluator_put(struct store_conn *conn, const char *name, const char *rule,
                                      int64_t *version);
enum store_status store_evaluator_delete(struct store_conn *conn, const char *name);
/* Replaces the flag-set metadata (an object's JSON text). */
enum store_status store_metadata_put(struct store_conn *conn, const char *metadata);

/* Keys (auth.h): create stores key (its hash, never the key); revoke
 * stamps revoked_at (STORE_NOT_FOUND when there is no such key; revoking
 * a revoked key changes nothing and is STORE_OK) and fills *out when not
 * NULL. load: every key, revoked ones included. Changes are published on
 * the change feed (STORE_CHANGE_KEYS). */
enum store_status store_key_create(struct store_conn *conn, const struct auth_key *key);
enum store_status store_key_revoke(struct store_conn *conn, const char *id, struct auth_key *out);
enum store_status store_keys_load(struct store_conn *conn, struct keyring **out);

/* Who the writes on a connection are made for, until set again (NULL:
 * the service itself, "system"). The strings are borrowed until then. */
struct store_actor {
    const char *id;            /* a key id, AUTH_ENV_ADMIN_ID, "anonymous", "cli" */
    const char *name;          /* the key's label, or what id means */
    const char *request_id;    /* NULL outside a request */
};
void store_conn_set_actor(struct store_conn *conn, const struct store_actor *actor);
/* The actor of a command-line tool: id "cli", name "togglemaster COMMAND
 * (USER)" with the user running it. */
void store_conn_set_cli_actor(struct store_conn *conn, const char *command);

/* One row of the audit trail. Strings are borrowed for the call. */
struct audit_entry {
    int64_t id;                /* increasing: newer rows have larger ids */
    const char *at;            /* RFC 3339 UTC */
    const char *actor_id, *actor_name;
    const char *action;        /* create, update, delete, revoke */
    const char *object_type;   /* flag, evaluator, metadata, key */
    const char *object_name;
    const char *before, *after;   /* JSON texts, NULL when there is none */
    const char *request_id;    /* NULL when none */
};
#define AUDIT_LIMIT_MAX 1000
/* Newest first: rows of object_type/object_name (NULL: any) with an id
 * below before_id (0: no bound), at most limit (1-AUDIT_LIMIT_MAX). */
struct audit_query {
    const char *object_type, *object_name;
    int64_t before_id;
    int limit;
};
/* Called once per row; return non-zero to stop (STORE_ERROR). */
typedef int (*store_audit_fn)(void *ctx, const struct audit_entry *entry);
enum store_status store_audit_list(struct store_conn *conn, const struct audit_query *query, store_audit_fn fn,
                                   void *ctx);

/* Usage: evaluation counts, added up over instances (usage.h). Not
 * audited and not published: they are not changes to the catalogue. */
struct usage_row {
    const char *flag;
    const char *variant;       /* "" when the evaluation gave none */
    const char *reason;        /* "TARGETING_MATCH", ... */
    int64_t hour_start;        /* Unix seconds, a multiple of 3600 */
    int64_t evaluations;
    int64_t first_s, last_s;   /* Unix seconds */
};
/* Adds rows (at most one per flag, variant and reason) in one transaction
 * of its own: to the hour hour_start, and to each flag's first and last
 * time and total. */
enum store_status store_usage_add(struct store_conn *conn, const struct usage_row *rows, size_t count);
/* Called once per row; return non-zero to stop (STORE_ERROR). */
typedef int (*store_usage_fn)(void *ctx, const struct usage_row *row);
/* Per flag (flag NULL: every flag): first_s, last_s and evaluations (all
 * time); variant and reason NULL. */
enum store_status store_usage_flags(struct store_conn *conn, const char *flag, store_usage_fn fn, void *ctx);
/* Sums per flag, variant and reason over the hours from since_s on (flag
 * NULL: every flag); hour_start, first_s and last_s 0. */
enum store_status store_usage_totals(struct store_conn *conn, int64_t since_s, const char *flag, store_usage_fn fn,
                                     void *ctx);
/* Deletes the hourly counts before before_s. */
enum store_status store_usage_prune(struct store_conn *conn, int64_t before_s);

/* Transactions: the writes above made between begin and commit commit
 * together (and publish their changes at commit), or not at all. Nothing
 * is retried inside one. */
enum store_status store_begin(struct store_conn *conn);
enum store_status store_commit(struct store_conn *conn);
void store_rollback(struct store_conn *conn);

/*
 * Change feed. Every committed write publishes what it changed in the same
 * transaction (PostgreSQL NOTIFY): a flag's name, or that the flag set
 * (evaluators, metadata) changed; other instances listening apply it.
 * Backends without a feed (SQLite: one process owns the file) report no
 * socket. A caller that (re)starts listening must then reload everything,
 * since changes made while it was not listening are not replayed.
 */
enum store_change { STORE_CHANGE_FLAG, STORE_CHANGE_FLAGSET, STORE_CHANGE_KEYS };
/* name: the flag's, or "" for the flag set and the keys. */
typedef void (*store_change_fn)(void *ctx, enum store_change kind, const char *name);
/* Starts listening on conn (connecting if needed). */
enum store_status store_listen(struct store_conn *conn);
/* The socket to poll for changes, or -1 when conn is not listening (never
 * started, or the connection was lost: call store_listen again). */
int store_listen_fd(struct store_conn *conn);
/* Calls fn for each change another instance published since the last call;
 * this instance's own changes are skipped. */
enum store_status store_drain_changes(struct store_conn *conn, store_change_fn fn, void *ctx);

#endif
