/*
 * http/loop — one epoll event loop. See loop.h.
 */
#include "loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Events taken from the kernel per epoll_wait(). */
#define LOOP_MAX_EVENTS 256

struct loop {
    int epoll_fd;
    struct loop_watch waker;   /* an eventfd other threads write to */
    atomic_bool stopping;
    atomic_bool woken;         /* a wake is pending: later ones need no write */
    struct loop_hooks hooks;
    long long next_tick_ms, now_ms;
};

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_waker(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    uint64_t count;

    (void)events;
    /* Read the eventfd first, then clear the flag, then look at what was
     * posted: a wake that sets the flag after this clears it writes again
     * (and is seen next round); one that found the flag still set posted
     * its work before the hook runs. Clearing first would let a read consume
     * a write whose flag stays set, and silence every later wake. */
    if (read(watch->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return;
    atomic_store(&loop->woken, false);
    loop->hooks.wake(loop, loop->hooks.data);
}

struct loop *loop_create(const struct loop_hooks *hooks)
{
    struct loop *loop = calloc(1, sizeof *loop);

    if (loop == NULL)
        return NULL;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->waker.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->waker.fn = on_waker;
    loop->hooks = *hooks;
    loop->now_ms = monotonic_ms();
    loop->next_tick_ms = loop->now_ms + hooks->tick_ms;
    if (loop->epoll_fd < 0 || loop->waker.fd < 0 || loop_watch(loop, &loop->waker, EPOLLIN) != 0) {
        loop_destroy(loop);
        return NULL;
    }
    return loop;
}

void loop_destroy(struct loop *loop)
{
    if (loop == NULL)
        return;
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    if (loop->waker.fd >= 0)
        close(loop->waker.fd);
    free(loop);
}

int loop_watch(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = watch};

    watch->events = events;
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, watch->fd, &ev);
}

int loop_rewatch(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = watch};

    if (watch->events == events)
        return 0;
    watch->events = events;
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, watch->fd, &ev);
}

void loop_unwatch(struct loop *loop, struct loop_watch *watch)
{
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
    watch->events = 0;
}

void loop_run_once(struct loop *loop, int timeout_ms)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    int n = epoll_wait(loop->epoll_fd, events, LOOP_MAX_EVENTS, timeout_ms);

    loop->now_ms = monotonic_ms();
    for (int i = 0; i < n; i++) {
        struct loop_watch *watch = events[i].data.ptr;
        watch->fn(loop, watch, events[i].events);
    }
    if (loop->now_ms >= loop->next_tick_ms) {
        loop->next_tick_ms = loop->now_ms + loop->hooks.tick_ms;
        loop->hooks.tick(loop, loop->hooks.data);
    }
    loop->hooks.after_round(loop, loop->hooks.data);
}

void loop_run(struct loop *loop)
{
    while (!atomic_load(&loop->stopping)) {
        long long wait = loop->next_tick_ms - monotonic_ms();
        loop_run_once(loop, wait < 0 ? 0 : (int)wait);
    }
}

void loop_wake(struct loop *loop)
{
    uint64_t one = 1;

    if (atomic_exchange(&loop->woken, true))
        return;   /* already pending */
    while (write(loop->waker.fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

void loop_stop(struct loop *loop)
{
    atomic_store(&loop->stopping, true);
    atomic_store(&loop->woken, false);
    loop_wake(loop);
}

long long loop_now_ms(const struct loop *loop)
{
    return loop->now_ms;
}
