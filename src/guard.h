/*
 * guard — counts events per name in a window and refuses a name that has
 * too many: failed authentications per client address (slows guessing),
 * writes and key creations per API key (bounds what one leaked or runaway
 * key can do).
 *
 * Owns: a fixed table of GUARD_SLOTS slots, each for one name (by hash)
 * and its events in the current window. A name may have `limit` events
 * within `window_s` seconds; the next one is refused (429, Retry-After),
 * and so is the name for the next `window_s` seconds. Checking a name is a few atomic loads and takes no lock, and is
 * skipped entirely until some name has been refused; counting an event
 * takes the table's lock. Two names that share a slot share a count: at
 * worst a name that also counts events is refused early, never one that
 * does not, since a refusal needs an event from the slot's current name.
 */
#ifndef TM_GUARD_H
#define TM_GUARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define GUARD_SLOTS 4096

struct guard_slot {
    _Atomic uint64_t name;             /* hash of the name; 0: free */
    _Atomic long long refused_until_ms;
    long long window_start_ms;
    int events;                        /* in the current window */
};

struct guard {
    int limit;                         /* events per window; 0 disables */
    int window_s;
    atomic_int refusing;               /* slots with refused_until_ms set */
    pthread_mutex_t lock;
    struct guard_slot slots[GUARD_SLOTS];
};

void guard_init(struct guard *g, int limit, int window_s);
void guard_destroy(struct guard *g);
/* Seconds until name may go on, or 0 when it may now. */
int guard_refused(struct guard *g, const char *name, long long now_ms);
/* Counts an event; returns what guard_refused() would now. */
int guard_count(struct guard *g, const char *name, long long now_ms);

#endif
