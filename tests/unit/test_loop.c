/* Unit tests for http/loop.c: wake-ups from many threads are never lost
 * (each poster bumps a counter, then wakes the loop; the loop's wake hook
 * drains the counter), ticks come at their interval, and a watched
 * descriptor's callback runs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http/loop.h"

#define POSTERS 4
#define POSTS 200000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long pending, drained;
static atomic_long ticks;
static struct loop *loop;

static void on_wake(struct loop *l, void *data)
{
    (void)l;
    (void)data;
    pthread_mutex_lock(&lock);
    drained += pending;
    pending = 0;
    pthread_mutex_unlock(&lock);
}

static void on_tick(struct loop *l, void *data)
{
    (void)l;
    (void)data;
    atomic_fetch_add(&ticks, 1);
}

static void nothing(struct loop *l, void *data)
{
    (void)l;
    (void)data;
}

static void *poster_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < POSTS; i++) {
        pthread_mutex_lock(&lock);
        pending++;
        pthread_mutex_unlock(&lock);
        loop_wake(loop);
    }
    return NULL;
}

static void *loop_main(void *arg)
{
    (void)arg;
    loop_run(loop);
    return NULL;
}

static bool readable_called;

static void on_readable(struct loop *l, struct loop_watch *w, uint32_t events)
{
    char byte;
    (void)l;
    readable_called = (events & EPOLLIN) && read(w->fd, &byte, 1) == 1 && byte == 'x';
}

int main(void)
{
    struct loop_hooks hooks = {.tick_ms = 20, .tick = on_tick, .wake = on_wake, .after_round = nothing};
    pthread_t posters[POSTERS], runner;
    long done = 0;

    loop = loop_create(&hooks);
    CHECK(loop != NULL);
    pthread_create(&runner, NULL, loop_main, NULL);
    for (int i = 0; i < POSTERS; i++)
        pthread_create(&posters[i], NULL, poster_main, NULL);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(posters[i], NULL);
    /* Every post was followed by a wake: all must be drained, promptly. */
    for (int waited = 0; waited < 2000; waited += 10) {
        pthread_mutex_lock(&lock);
        done = drained;
        pthread_mutex_unlock(&lock);
        if (done == (long)POSTERS * POSTS)
            break;
        usleep(10000);
    }
    if (done != (long)POSTERS * POSTS)
        fprintf(stderr, "loop: %ld of %ld posts never seen (a wake-up was lost)\n",
                (long)POSTERS * POSTS - done, (long)POSTERS * POSTS);
    CHECK(done == (long)POSTERS * POSTS);
    long before = atomic_load(&ticks);
    usleep(200 * 1000);
    CHECK(atomic_load(&ticks) - before >= 5);   /* about 10 in 200 ms at 20 ms */
    loop_stop(loop);
    pthread_join(runner, NULL);

    /* One round by hand: a readable descriptor's callback runs. */
    int fds[2];
    CHECK(pipe(fds) == 0);
    struct loop_watch w = {.fd = fds[0], .fn = on_readable};
    CHECK(loop_watch(loop, &w, EPOLLIN) == 0);
    CHECK(write(fds[1], "x", 1) == 1);
    loop_run_once(loop, 100);
    CHECK(readable_called);
    loop_unwatch(loop, &w);
    close(fds[0]);
    close(fds[1]);
    loop_destroy(loop);
    return CHECK_DONE("unit[loop]");
}
