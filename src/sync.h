/*
 * sync — keeps the snapshot in step with the store.
 *
 * Owns: one thread with its own store connection that loads the whole
 * catalogue into the first snapshot (retrying every second until the
 * database answers and its schema is current), then reloads it every
 * RESYNC_INTERVAL as a safety net for changes this instance did not make.
 * Local writes update the snapshot themselves (api/flags.c); a reload that
 * raced with one is thrown away and retried, so it never rolls a newer
 * local write back.
 */
#ifndef TM_SYNC_H
#define TM_SYNC_H

#include "app.h"

struct sync *sync_start(struct app *app, char *err, size_t errlen);
void sync_stop(struct sync *sync);

/* Loads the whole catalogue once and publishes it if no local write raced
 * with the load. Returns 0, 1 when a race made it give up, or -1 on a store
 * failure (message in conn's error). */
int sync_reload(struct app *app, struct store_conn *conn);

#endif
