/*
 * perthread — one block of memory per thread for each owner that counts
 * things on hot paths (metrics.c, usage.c).
 *
 * Owns: the list of blocks an owner has handed out, and each thread's
 * cache of its own blocks. A thread finds its block without a lock after
 * the first call; a reader (a scrape, a flush) walks every block. What a
 * block holds, and how it is read safely while its thread writes, is the
 * owner's business. Blocks live until the owner is destroyed, so the counts
 * of a thread that ends are kept.
 */
#ifndef TM_PERTHREAD_H
#define TM_PERTHREAD_H

#include <pthread.h>
#include <stddef.h>

struct perthread_block {
    struct perthread_block *next;
    /* the owner's bytes follow, zeroed when the block is made */
};

struct perthread {
    pthread_mutex_t lock;      /* leaf lock: only while linking or walking the list */
    struct perthread_block *head;
    size_t size;               /* bytes after the header */
    void (*init)(void *block); /* optional, for what zero is not */
    void (*fini)(void *block); /* optional, at perthread_destroy */
};

void perthread_init(struct perthread *pt, size_t size, void (*init)(void *), void (*fini)(void *));
void perthread_destroy(struct perthread *pt);
/* This thread's block (made on first use), or NULL when out of memory. */
void *perthread_get(struct perthread *pt);
/* Calls fn for every block, holding the list lock (blocks made meanwhile
 * wait); fn must not call perthread_get on pt. */
void perthread_each(struct perthread *pt, void (*fn)(void *ctx, void *block), void *ctx);

#endif
