/*
 * sync — keeps the snapshot in step with the store.
 *
 * Owns: one thread with its own store connection that
 *  - loads the whole catalogue into the first snapshot, retrying every
 *    second until the database answers and its schema is current;
 *  - listens to the store's change feed (PostgreSQL LISTEN/NOTIFY) and, for
 *    each flag another instance changed, re-reads that row and applies it
 *    through the catalog (under the flag's name lock), so it never
 *    interleaves with a local write of the same name and the snapshot ends
 *    at the last committed state;
 *  - reloads everything every RESYNC_INTERVAL as a safety net, and at once
 *    after (re)starting to listen, since changes made while the feed was
 *    down are not replayed; a lost feed is re-established every second.
 * Local writes update the snapshot themselves (api/flags.c). A full reload
 * reads without holding any lock of ours, so writes go on during it; the
 * snapshot keeps the state of every name written meanwhile
 * (snapshot_load_publish), so a reload never rolls a newer local write back.
 */
#ifndef TM_SYNC_H
#define TM_SYNC_H

#include "app.h"

/* More changed names than this in one batch are applied by a full reload. */
#define SYNC_MAX_BATCH 512

struct sync *sync_start(struct app *app, char *err, size_t errlen);
/* Asks for a full reload now (SIGHUP: after an import into SQLite, which
 * has no change feed). Returns at once. */
void sync_request_reload(struct sync *sync);
void sync_stop(struct sync *sync);

/* For /metrics. */
struct sync_stats {
    bool has_feed;             /* the store has a change feed (PostgreSQL) */
    bool listening;            /* and this instance is listening to it now */
    long long last_message_ms; /* CLOCK_MONOTONIC of the last change received, or of
                                * when listening began (0: never listened) */
    unsigned long feed_reconnects;
    unsigned long load_failures;   /* full loads that failed */
};
void sync_stats(struct sync *sync, struct sync_stats *out);

#endif
