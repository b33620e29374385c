/*
 * perthread — per-thread blocks. See perthread.h.
 */
#include "perthread.h"

#include <stdlib.h>

/* Owners a thread remembers without a search: metrics and usage, with room
 * for tests that make several of each. */
#define PERTHREAD_CACHE 8

static _Thread_local struct {
    const struct perthread *owner;
    void *block;
} cache[PERTHREAD_CACHE];
static _Thread_local unsigned cache_next;

void perthread_init(struct perthread *pt, size_t size, void (*init)(void *), void (*fini)(void *))
{
    pthread_mutex_init(&pt->lock, NULL);
    pt->head = NULL;
    pt->size = size;
    pt->init = init;
    pt->fini = fini;
}

void perthread_destroy(struct perthread *pt)
{
    struct perthread_block *b = pt->head, *next;

    for (; b != NULL; b = next) {
        next = b->next;
        if (pt->fini != NULL)
            pt->fini(b + 1);
        free(b);
    }
    pt->head = NULL;
    pthread_mutex_destroy(&pt->lock);
    /* This thread's cache may name pt; a later owner at the same address
     * must not find a freed block. (Other threads' caches are the owner's
     * to keep right: every owner outlives the threads that count into it.) */
    for (unsigned i = 0; i < PERTHREAD_CACHE; i++)
        if (cache[i].owner == pt)
            cache[i].owner = NULL;
}

void *perthread_get(struct perthread *pt)
{
    struct perthread_block *b;
    unsigned slot;

    for (unsigned i = 0; i < PERTHREAD_CACHE; i++)
        if (cache[i].owner == pt)
            return cache[i].block;
    b = calloc(1, sizeof *b + pt->size);
    if (b == NULL)
        return NULL;
    if (pt->init != NULL)
        pt->init(b + 1);
    pthread_mutex_lock(&pt->lock);
    b->next = pt->head;
    pt->head = b;
    pthread_mutex_unlock(&pt->lock);
    slot = cache_next++ % PERTHREAD_CACHE;
    cache[slot].owner = pt;
    cache[slot].block = b + 1;
    return b + 1;
}

void perthread_each(struct perthread *pt, void (*fn)(void *ctx, void *block), void *ctx)
{
    pthread_mutex_lock(&pt->lock);
    for (struct perthread_block *b = pt->head; b != NULL; b = b->next)
        fn(ctx, b + 1);
    pthread_mutex_unlock(&pt->lock);
}
