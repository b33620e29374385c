/*
 * app — the server context: the one place that holds the running service's
 * parts, built by main for `serve` and handed to every handler. There is no
 * other global mutable state (the log settings aside, fixed at start).
 */
#ifndef TM_APP_H
#define TM_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "snapshot.h"
#include "store/store.h"
#include "workers.h"

/* Writes to one flag name are ordered by one of these locks, held from the
 * store call to the snapshot update, so the snapshot always ends with the
 * state the database committed last. Different names rarely share one. */
#define APP_NAME_LOCKS 64

struct sync;

struct app {
    const struct config *cfg;
    struct store *store;
    struct workers *workers;
    struct snapshot_cell *snapshots;
    struct sync *sync;
    pthread_mutex_t name_locks[APP_NAME_LOCKS];
    atomic_bool shutting_down;
};

pthread_mutex_t *app_name_lock(struct app *app, const char *name);

#endif
