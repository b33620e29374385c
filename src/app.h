/*
 * app — the server context: the one place that holds the running service's
 * parts, built by main for `serve` and handed to the API's handlers. Beyond
 * it the process keeps two pieces of global state, both fixed early: the
 * log settings (log.c) and the snapshot's per-thread reader slot numbers
 * (snapshot.c).
 *
 * Lock order. Every lock in the service, from outermost to innermost; a
 * thread holding one may take only those below it:
 *
 *   1. a flag name lock (app_name_lock): held by a write from its store
 *      call to its snapshot update, and by the sync thread applying another
 *      instance's change. Database I/O is allowed under it: that is its
 *      purpose, so that writes to one name land in the snapshot in commit
 *      order. Functions that expect one held end in _locked.
 *      The flag set lock (app->flagset_lock) is of the same rank, for the
 *      evaluators and flag-set metadata, and is never held together with a
 *      name lock; so is the keys lock (app->keys_lock), for API keys.
 *   2. the snapshot cell lock (inside snapshot.c): held only while making
 *      and publishing the next snapshot; never held while calling out of
 *      snapshot.c, so never across I/O. Readers never take it.
 *   3. leaf locks, each held for a few instructions and never while taking
 *      another: the store worker queue (workers.c), an event loop's inbox
 *      (http/), the log buffer (log.c; its writer writes stdout without
 *      holding it), the guard tables (guard.c), the per-thread block lists
 *      (perthread.c), a thread's usage table (usage.c; also taken under
 *      the block list's lock and under usage's readers lock, which is held
 *      only by the usage flusher and /metrics, and never across I/O).
 *      One exception to "never while taking another": the change
 *      journal's lock (events.c) is held by its own thread while handing
 *      events to each subscriber's stream, which takes the stream's lock
 *      and then, without it, the loop's inbox lock (http/stream.c). It is
 *      taken briefly under a name lock (publishing a write; a writer more
 *      than EVENTS_HISTORY events ahead of the fan-out waits for it, which
 *      only copies bytes) and by event loops (subscribing), never across
 *      I/O.
 *
 * Nothing an event-loop thread can wait on is held across I/O: event loops
 * take only leaf locks and the snapshot's hazard slots (no lock at all).
 */
#ifndef TM_APP_H
#define TM_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "guard.h"
#include "metrics.h"
#include "snapshot.h"
#include "store/store.h"
#include "workers.h"

/* Writes to one flag name are ordered by one of these locks. Different
 * names rarely share one. */
#define APP_NAME_LOCKS 64

struct sync;
struct insights;
struct events;
struct http_server;

struct app {
    const struct config *cfg;
    struct store *store;
    struct workers *workers;
    struct snapshot_cell *snapshots;
    struct sync *sync;
    struct insights *insights;
    struct events *events;     /* the change journal (SSE); NULL outside serve */
    struct http_server *http;  /* set once serving: /metrics reads its connection count */
    /* METRICS_ENABLED: requests and evaluations are counted. */
    bool counting;
    struct metrics metrics;
    struct usage usage;        /* evaluation counts per flag (usage.h) */
    pthread_mutex_t name_locks[APP_NAME_LOCKS];
    pthread_mutex_t flagset_lock;
    pthread_mutex_t keys_lock;
    /* Some API key has existed: authentication is on, for good (revoked
     * keys count). Set before a snapshot holding keys is published, so a
     * request never finds keys in the snapshot and this still false; the
     * check of an open service then costs no snapshot (app_note_keys). */
    atomic_bool keys_seen;
    /* SIGTERM arrived: /ready answers 503 so that load balancers take this
     * instance out while it still serves (SHUTDOWN_DRAIN). */
    atomic_bool draining;
    /* ADMIN_TOKEN's hash (auth.h), when set. */
    bool has_admin_token;
    unsigned char admin_token_hash[AUTH_HASH_LEN];
    struct guard auth_guard;   /* failed authentications per address */
    struct guard write_guard;  /* writes per API key */
    struct guard key_guard;    /* key creations per API key */
};

/* Initializes and destroys the locks and the failed-authentication table
 * (app->cfg must be set). */
void app_init_locks(struct app *app);
void app_destroy_locks(struct app *app);
pthread_mutex_t *app_name_lock(struct app *app, const char *name);
/* Call with every keyring before publishing it (sets keys_seen). */
void app_note_keys(struct app *app, const struct keyring *ring);

#endif
