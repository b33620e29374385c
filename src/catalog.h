/*
 * catalog — every change to the flags, made durable and then visible.
 *
 * Owns: the write path between a caller that has a store connection (a
 * store worker running an API job, the sync thread) and the two places a
 * flag lives: commit the change to the store, then put the committed flag
 * into the snapshot (or take it out), both under the flag name's lock
 * (app.h), so that the snapshot always ends with the state the database
 * committed last, and readers on this instance see a write as soon as it
 * is acknowledged. Knows no HTTP and no SQL.
 */
#ifndef TM_CATALOG_H
#define TM_CATALOG_H

#include "app.h"

/* Each returns the store's status; on STORE_OK the snapshot has the
 * change. *out, when not NULL, gets the committed flag (a reference). */
enum store_status catalog_create(struct app *app, struct store_conn *conn, const struct flag_row *row,
                                 struct flag **out);
enum store_status catalog_update(struct app *app, struct store_conn *conn, const struct flag_row *row,
                                 struct flag **out);
enum store_status catalog_delete(struct app *app, struct store_conn *conn, const char *name);
/* Re-reads one flag another instance changed and applies what is committed
 * now: STORE_OK whether it exists or not. */
enum store_status catalog_refresh(struct app *app, struct store_conn *conn, const char *name);

#endif
