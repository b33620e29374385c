/*
 * catalog — every change to the flags and the flag set, made durable and
 * then visible.
 *
 * Owns: the write path between a caller that has a store connection (a
 * store worker running an API job, the sync thread) and the two places a
 * flag lives: commit the change to the store, then put the committed flag
 * into the snapshot (or take it out), both under the flag name's lock
 * (app.h), so that the snapshot always ends with the state the database
 * committed last, and readers on this instance see a write as soon as it
 * is acknowledged. The same for the evaluators and flag-set metadata under
 * the flag set lock. Knows no HTTP and no SQL.
 */
#ifndef TM_CATALOG_H
#define TM_CATALOG_H

#include "app.h"

/* Each returns the store's status; on STORE_OK the snapshot has the
 * change. *out, when not NULL, gets the committed flag (a reference). */
enum store_status catalog_create(struct app *app, struct store_conn *conn, const struct flag_row *row,
                                 struct flag **out);

/* An update computes the new row from the flag as it is now: called under
 * the name's lock with the current flag and flag set, it fills row (name,
 * is_enabled, document or NULL to keep it; the strings must outlive the
 * call to catalog_update). Returns 0, or -1 to refuse the change
 * (catalog_update then returns STORE_INVALID; the callback keeps its own
 * message). */
typedef int (*catalog_change_fn)(void *ctx, const struct flag *current, const struct flagset *set,
                                 struct flag_row *row);
/* if_match: the version the caller saw (0: any); STORE_STALE when the flag
 * is at another. A change to the document is made against the version it
 * was computed from: when another instance changed the flag in between,
 * it is computed again from the newer one. */
enum store_status catalog_update(struct app *app, struct store_conn *conn, const char *name, int64_t if_match,
                                 catalog_change_fn change, void *ctx, struct flag **out);
enum store_status catalog_delete(struct app *app, struct store_conn *conn, const char *name);
/* Re-reads one flag another instance changed and applies what is committed
 * now: STORE_OK whether it exists or not. The change event says created,
 * updated or deleted by comparing with the version this instance knew. */
enum store_status catalog_refresh(struct app *app, struct store_conn *conn, const char *name);

/* Evaluators. put: rule is the fragment (*version gets its new version).
 * delete: STORE_CONFLICT while a flag or another evaluator refers to it,
 * with their names (comma-separated, cut to fit) in users. */
enum store_status catalog_put_evaluator(struct app *app, struct store_conn *conn, const char *name,
                                        json_t *rule, int64_t *version);
enum store_status catalog_delete_evaluator(struct app *app, struct store_conn *conn, const char *name,
                                           char *users, size_t users_len);
/* Re-reads the whole flag set (another instance changed it) and applies it. */
enum store_status catalog_refresh_flagset(struct app *app, struct store_conn *conn);

/* API keys: create stores key (its hash; see auth.h), revoke stamps it
 * revoked (out: the key as it is now); either way the snapshot's keyring
 * is re-read before returning, so the next request on this instance sees
 * the change. refresh re-reads the keys (another instance changed them). */
enum store_status catalog_create_key(struct app *app, struct store_conn *conn, const struct auth_key *key);
enum store_status catalog_revoke_key(struct app *app, struct store_conn *conn, const char *id,
                                     struct auth_key *out);
enum store_status catalog_refresh_keys(struct app *app, struct store_conn *conn);

/* Calls fn with the name of each evaluator, then each flag, in snap that
 * refers to the evaluator `name`; returns their number. */
size_t catalog_evaluator_users(const struct snapshot *snap, const char *name,
                               void (*fn)(void *ctx, const char *user), void *ctx);

#endif
