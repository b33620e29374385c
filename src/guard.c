/*
 * guard — events per name in a window. See guard.h.
 */
#include "guard.h"

#include <string.h>

/* FNV-1a, never 0 (0 marks a free slot). Not keyed: a caller who picks
 * names to collide only shares a count with another that counts events. */
static uint64_t name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *p = name != NULL ? name : ""; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h != 0 ? h : 1;
}

void guard_init(struct guard *g, int limit, int window_s)
{
    memset(g, 0, sizeof *g);
    g->limit = limit;
    g->window_s = window_s;
    atomic_init(&g->refusing, 0);
    pthread_mutex_init(&g->lock, NULL);
}

void guard_destroy(struct guard *g)
{
    pthread_mutex_destroy(&g->lock);
}

static int seconds_left(long long until_ms, long long now_ms)
{
    return until_ms > now_ms ? (int)((until_ms - now_ms + 999) / 1000) : 0;
}

int guard_refused(struct guard *g, const char *name, long long now_ms)
{
    uint64_t h;
    struct guard_slot *slot;

    if (atomic_load_explicit(&g->refusing, memory_order_relaxed) == 0)
        return 0;
    h = name_hash(name);
    slot = &g->slots[h % GUARD_SLOTS];
    if (atomic_load_explicit(&slot->name, memory_order_acquire) != h)
        return 0;
    return seconds_left(atomic_load_explicit(&slot->refused_until_ms, memory_order_relaxed), now_ms);
}

int guard_count(struct guard *g, const char *name, long long now_ms)
{
    uint64_t h = name_hash(name);
    struct guard_slot *slot = &g->slots[h % GUARD_SLOTS];
    long long window_ms = (long long)g->window_s * 1000, until;
    int left = 0;

    if (g->limit <= 0)
        return 0;
    pthread_mutex_lock(&g->lock);
    until = atomic_load_explicit(&slot->refused_until_ms, memory_order_relaxed);
    if (until != 0 && until <= now_ms) {
        /* The refusal is over: the slot starts again. */
        atomic_store_explicit(&slot->refused_until_ms, 0, memory_order_relaxed);
        atomic_fetch_sub(&g->refusing, 1);
        until = 0;
    }
    if (atomic_load_explicit(&slot->name, memory_order_relaxed) != h ||
        now_ms - slot->window_start_ms >= window_ms) {
        if (until == 0) {
            /* Another name's window is over, or this one's: start one. */
            atomic_store_explicit(&slot->name, h, memory_order_release);
            slot->window_start_ms = now_ms;
            slot->events = 0;
        }
    }
    slot->events++;
    if (until == 0 && slot->events > g->limit) {
        until = now_ms + window_ms;
        /* The slot now belongs to this name, refused. */
        atomic_store_explicit(&slot->name, h, memory_order_release);
        atomic_store_explicit(&slot->refused_until_ms, until, memory_order_relaxed);
        atomic_fetch_add(&g->refusing, 1);
    }
    if (atomic_load_explicit(&slot->name, memory_order_relaxed) == h)
        left = seconds_left(until, now_ms);
    pthread_mutex_unlock(&g->lock);
    return left;
}
