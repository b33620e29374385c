/*
 * http/loop — one event loop on epoll, run by one thread.
 *
 * Owns: the epoll instance, the callbacks registered on file descriptors,
 * a periodic tick, and a way for other threads to wake the loop. Modelled
 * on Redis's ae.c, smaller: level-triggered epoll (one read per readiness
 * is the cheapest pattern for request/response traffic: no extra read to
 * see EAGAIN), no per-event allocation, and the tick instead of a timer
 * heap (connection deadlines are swept by the tick; see http/server.c).
 *
 * Threading: everything here but loop_wake() and loop_stop() must be called
 * on the loop's own thread.
 */
#ifndef TM_HTTP_LOOP_H
#define TM_HTTP_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_watch;

/* Called with the epoll events that are ready (EPOLLIN, EPOLLOUT, ...). */
typedef void (*loop_watch_fn)(struct loop *loop, struct loop_watch *watch, uint32_t events);
typedef void (*loop_hook_fn)(struct loop *loop, void *data);

/* What the loop calls besides the watch callbacks, all on its thread. */
struct loop_hooks {
    int tick_ms;
    loop_hook_fn tick;         /* every tick_ms */
    loop_hook_fn wake;         /* after loop_wake() */
    loop_hook_fn after_round;  /* after the callbacks of each epoll_wait(): a
                                * safe point to free what they closed, since
                                * a later event of the same round may still
                                * name it */
    void *data;
};

/* Embedded by whoever watches a descriptor; must stay put while watched. */
struct loop_watch {
    int fd;
    uint32_t events;           /* what is being watched now */
    loop_watch_fn fn;
};

struct loop *loop_create(const struct loop_hooks *hooks);
void loop_destroy(struct loop *loop);

/* Starts, changes or stops watching watch->fd; 0 or -1 (errno set). A
 * descriptor must be unwatched before it is closed. */
int loop_watch(struct loop *loop, struct loop_watch *watch, uint32_t events);
int loop_rewatch(struct loop *loop, struct loop_watch *watch, uint32_t events);
void loop_unwatch(struct loop *loop, struct loop_watch *watch);

/* Runs until loop_stop(). */
void loop_run(struct loop *loop);
/* Runs one round (waiting at most timeout_ms for events): for tests. */
void loop_run_once(struct loop *loop, int timeout_ms);
/* From any thread. */
void loop_wake(struct loop *loop);
void loop_stop(struct loop *loop);

/* Monotonic milliseconds, read once per round: cheap to call often. */
long long loop_now_ms(const struct loop *loop);

#endif
