/*
 * events — the change journal: every change this instance applies (its
 * own writes and those arriving from other instances), numbered, kept for
 * a while, and pushed to subscribers (the API's Server-Sent Events stream,
 * GET /api/v1/events).
 *
 * Owns: the numbering of events (an instance's run has an id of its own,
 * so an event id names the run and the place in it: "<run>-<seq>"), the
 * last EVENTS_HISTORY events rendered as SSE messages for replay after a
 * reconnect (Last-Event-ID), the table of subscribers (at most
 * EVENTS_MAX_SUBSCRIBERS), and a thread that sends every subscriber a
 * comment line each EVENTS_HEARTBEAT seconds (so proxies keep the
 * connection and a gone client is found) and drops those gone.
 *
 * Knows no HTTP: a subscriber is a sink of bytes (send, close). Publishing
 * costs the writer O(1): the event is rendered once into the ring and the
 * journal's thread hands it to every sink (under the journal's lock, a
 * lock of rank 3 in app.h's order, taken under a name lock; sinks take
 * only leaf locks). Each subscriber gets every event after its catch-up,
 * once and in order.
 */
#ifndef TM_EVENTS_H
#define TM_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

struct events_settings {
    int history;               /* events kept for replay */
    int max_subscribers;
    int heartbeat_s;
};

/* Where a subscriber's bytes go. send returns 0, or -1 when the subscriber
 * is gone (it is then closed and dropped). close is called once. */
struct events_sink {
    int (*send)(void *ctx, const char *data, size_t len);
    void (*close)(void *ctx);
    void *ctx;
};

struct events;

struct events *events_create(const struct events_settings *settings);
/* Closes every subscriber, stops the heartbeat thread and takes no new
 * subscriber; events are still numbered and kept. Called before the HTTP
 * server stops, since the sinks are its streams. */
void events_stop(struct events *ev);
/* Stops (if not yet) and frees. */
void events_destroy(struct events *ev);

/* A change. type: "flag" (with action "created", "updated" or "deleted"
 * and the flag's name), "evaluators", "keys" or "reload" (everything may
 * have changed: read it all again). Any thread; ev may be NULL (nothing
 * is published: the commands and tests that run without a server). */
void events_publish(struct events *ev, const char *type, const char *action, const char *name);

/* Subscribing is two steps, so that a full table is answered before
 * anything is promised to the client: reserve a slot (-1 when
 * EVENTS_MAX_SUBSCRIBERS are taken), then attach the sink to it, or give
 * it back (unreserve). Attaching sends the reconnection delay and either
 * the events after last_event_id (when this run still holds them) or,
 * when it cannot replay from there, a "reset" event (read everything
 * again); then a "ready" event carrying the newest id. last_event_id may
 * be NULL (a first connection: nothing to replay). From then on the
 * journal owns the sink; when attaching fails (-1: the sink's send
 * failed) the slot is free again and the sink is the caller's. */
int events_reserve(struct events *ev);
void events_unreserve(struct events *ev, int slot);
int events_attach(struct events *ev, int slot, const struct events_sink *sink, const char *last_event_id,
                  size_t last_event_id_len);

struct events_stats {
    long subscribers;
    unsigned long long published;   /* events since start */
    unsigned long long dropped;     /* subscribers dropped because gone or too slow */
};
void events_stats(struct events *ev, struct events_stats *out);

#endif
