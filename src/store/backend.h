/*
 * store backends — the table each backend fills in. Private to src/store/
 * (and to tests that bring a backend of their own through
 * store_open_backend()).
 */
#ifndef TM_STORE_BACKEND_H
#define TM_STORE_BACKEND_H

#include <stdatomic.h>

#include "migrations.h"
#include "store.h"

struct store_backend {
    const char *name;
    bool single_writer;   /* one connection for writes, whatever DB_POOL_SIZE says */
    const struct migration *migrations;  /* in version order */
    const int *migration_count;
    int (*open)(struct store *store, char *err, size_t errlen);
    void (*close)(struct store *store);
    struct store_conn *(*conn_create)(struct store *store, const char *purpose);
    void (*conn_destroy)(struct store_conn *conn);
    enum store_status (*migrate)(struct store_conn *conn, int *applied);
    enum store_status (*schema_version)(struct store_conn *conn, int *version);
    enum store_status (*flag_create)(struct store_conn *conn, const struct flag_row *in, struct flag **out);
    enum store_status (*flag_update)(struct store_conn *conn, const struct flag_row *in, struct flag **out);
    enum store_status (*flag_delete)(struct store_conn *conn, const char *name);
    enum store_status (*flag_load_all)(struct store_conn *conn, store_flag_fn fn, void *ctx);
    enum store_status (*flag_get)(struct store_conn *conn, const char *name, struct flag **out);
    /* flag_get, locking the row until the transaction ends (audit's
     * "before"): store.c calls it only inside one. */
    enum store_status (*flag_get_locked)(struct store_conn *conn, const char *name, struct flag **out);
    /* An evaluator's rule text (malloc'd) locked the same way;
     * STORE_NOT_FOUND when there is none. */
    enum store_status (*evaluator_get_locked)(struct store_conn *conn, const char *name, char **rule);
    enum store_status (*flagset_load)(struct store_conn *conn, struct flagset **out);
    enum store_status (*evaluator_put)(struct store_conn *conn, const char *name, const char *rule,
                                       int64_t *version);
    enum store_status (*evaluator_delete)(struct store_conn *conn, const char *name);
    enum store_status (*metadata_put)(struct store_conn *conn, const char *metadata);
    enum store_status (*key_create)(struct store_conn *conn, const struct auth_key *key);
    /* Stamps revoked_at unless set; fills *out with the key as it is now. */
    enum store_status (*key_revoke)(struct store_conn *conn, const char *id, struct auth_key *out);
    enum store_status (*keys_load)(struct store_conn *conn, struct keyring **out);
    enum store_status (*audit_append)(struct store_conn *conn, const struct audit_entry *entry);
    enum store_status (*audit_list)(struct store_conn *conn, const struct audit_query *query,
                                    store_audit_fn fn, void *ctx);
    /* rows: a JSON array of {flag, variant, reason, hour, n, first, last}
     * objects, one per (flag, variant, reason); adds them in one
     * transaction of its own. */
    enum store_status (*usage_add)(struct store_conn *conn, const char *rows);
    enum store_status (*usage_flags)(struct store_conn *conn, const char *flag, store_usage_fn fn, void *ctx);
    enum store_status (*usage_totals)(struct store_conn *conn, int64_t since_s, const char *flag,
                                      store_usage_fn fn, void *ctx);
    enum store_status (*usage_prune)(struct store_conn *conn, int64_t before_s);
    enum store_status (*begin)(struct store_conn *conn);
    enum store_status (*commit)(struct store_conn *conn);
    void (*rollback)(struct store_conn *conn);
    /* Optional change feed; NULL where the backend has none. */
    enum store_status (*listen)(struct store_conn *conn);
    int (*listen_fd)(struct store_conn *conn);
    enum store_status (*drain_changes)(struct store_conn *conn, store_change_fn fn, void *ctx);
};

struct store {
    const struct store_backend *backend;
    const struct config *cfg;
    /* After a failed connect, other connections fail fast until this
     * monotonic time (ms) instead of each waiting out the connect timeout:
     * requests queued behind an unreachable database then get their 503 in
     * milliseconds, not one connect timeout each. */
    _Atomic long long unreachable_until_ms;
    /* While unreachable: one connection at a time tries to connect. */
    atomic_bool probing;
    /* Monotonic time (ms) of the last answer any connection got: a
     * statement that times out proves the database unreachable only when
     * nothing has answered since it was sent (else its own connection was
     * the trouble, e.g. a path that broke and healed). */
    _Atomic long long last_answer_ms;
    /* Random per process: marks the changes this instance publishes so its
     * own listener can skip them. */
    char instance_id[17];
};

/* Every backend connection starts with this header. */
struct store_conn {
    struct store *store;
    char error[STORE_ERROR_MAX];
    bool in_transaction;                /* between store_begin and its end */
    struct store_actor actor;           /* who the writes are for */
    char cli_actor_name[128];           /* its name, for store_conn_set_cli_actor */
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_postgres_backend;

void store_set_error(struct store_conn *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A key's hash as 64 lowercase hex digits, and a key from its stored
 * columns (id, name, role, hash, created_at, revoked_at; the last NULL
 * while active): 0, or -1 for a row that is not a valid key (skipped). */
void store_hash_hex(const unsigned char hash[AUTH_HASH_LEN], char out[2 * AUTH_HASH_LEN + 1]);
int store_key_from_columns(struct auth_key *key, const char *id, const char *name, const char *role,
                           const char *hash_hex, const char *created_at, const char *revoked_at);

/* store_open() with a given backend instead of the one cfg names. */
struct store *store_open_backend(const struct config *cfg, const struct store_backend *backend, char *err,
                                 size_t errlen);

#endif
