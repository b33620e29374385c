/* Unit tests for events.c (the change journal): numbering, replay from
 * Last-Event-ID, reset, the subscriber cap, dropping a sink that fails, and
 * (also under TSan) threads publishing while subscribers attach: each
 * subscriber sees, after its catch-up, every later event once and in order. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "events.h"

#define PUBLISHERS 4
#define PER_PUBLISHER 1000
#define LATE_SUBSCRIBERS 8

/* A sink that keeps what it is sent. */
struct sink {
    pthread_mutex_t lock;
    char *text;
    size_t len, cap;
    bool fail;          /* send fails: a client that is gone */
    atomic_int closed;
};

static int sink_send(void *ctx, const char *data, size_t len)
{
    struct sink *s = ctx;
    char *grown;

    if (s->fail)
        return -1;
    pthread_mutex_lock(&s->lock);
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        while (cap < s->len + len + 1)
            cap *= 2;
        if ((grown = realloc(s->text, cap)) == NULL) {
            pthread_mutex_unlock(&s->lock);
            return -1;
        }
        s->text = grown;
        s->cap = cap;
    }
    memcpy(s->text + s->len, data, len);
    s->len += len;
    s->text[s->len] = '\0';
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void sink_close(void *ctx)
{
    atomic_fetch_add(&((struct sink *)ctx)->closed, 1);
}

static struct sink *sink_new(void)
{
    struct sink *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void sink_free(struct sink *s)
{
    pthread_mutex_destroy(&s->lock);
    free(s->text);
    free(s);
}

static int attach(struct events *ev, struct sink *s, const char *last_id)
{
    struct events_sink sink = {sink_send, sink_close, s};
    int slot = events_reserve(ev);

    if (slot < 0)
        return -2;
    return events_attach(ev, slot, &sink, last_id, last_id ? strlen(last_id) : 0);
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Waits (up to 5 s) until the journal's thread has sent s text holding
 * needle: delivery is asynchronous. */
static bool delivered(struct sink *s, const char *needle)
{
    for (int i = 0; i < 500; i++) {
        bool found;
        pthread_mutex_lock(&s->lock);
        found = s->text != NULL && strstr(s->text, needle) != NULL;
        pthread_mutex_unlock(&s->lock);
        if (found)
            return true;
        usleep(10000);
    }
    return false;
}

static bool closed_within(struct sink *s, int want)
{
    for (int i = 0; i < 500 && atomic_load(&s->closed) != want; i++)
        usleep(10000);
    return atomic_load(&s->closed) == want;
}

/* The run id, from a "ready" event's data. */
static void run_of(const struct sink *s, char run[17])
{
    const char *p = strstr(s->text, "\"run\":\"");
    memcpy(run, p + 7, 16);
    run[16] = '\0';
}

static void test_replay_reset_and_cap(void)
{
    struct events_settings settings = {.history = 3, .max_subscribers = 2, .heartbeat_s = 3600};
    struct events *ev = events_create(&settings);
    struct sink *a = sink_new(), *b = sink_new(), *c = sink_new(), *d = sink_new(), *e = sink_new();
    char run[17], id[64];

    CHECK(ev != NULL);
    CHECK(attach(ev, a, NULL) == 0);
    CHECK(strncmp(a->text, "retry: 2000\n\n", 13) == 0);
    CHECK(strstr(a->text, "event: ready\n") != NULL);
    run_of(a, run);
    events_publish(ev, "flag", "created", "f1");
    events_publish(ev, "evaluators", NULL, NULL);
    snprintf(id, sizeof id, "id: %s-2\nevent: change\ndata: {\"type\":\"evaluators\"}\n\n", run);
    CHECK(delivered(a, id));
    CHECK(delivered(a, "data: {\"type\":\"flag\",\"action\":\"created\",\"name\":\"f1\"}\n\n"));

    /* Replay after 1: event 2 only, then ready at 2. */
    snprintf(id, sizeof id, "%s-1", run);
    CHECK(attach(ev, b, id) == 0);
    CHECK(count(b->text, "event: change") == 1 && strstr(b->text, "evaluators") != NULL);
    CHECK(strstr(b->text, "event: reset") == NULL);
    /* The table is full. */
    CHECK(attach(ev, c, NULL) == -2);
    CHECK(c->text == NULL && atomic_load(&c->closed) == 0);

    /* A gone subscriber is dropped on the next event, freeing its slot. */
    b->fail = true;
    events_publish(ev, "flag", "updated", "f1");
    CHECK(closed_within(b, 1));
    struct events_stats stats;
    events_stats(ev, &stats);
    CHECK(stats.subscribers == 1 && stats.dropped == 1 && stats.published == 3);

    /* Older than the history (3 kept: 1..3 after five events: 3..5): reset. */
    events_publish(ev, "flag", "updated", "f2");
    events_publish(ev, "flag", "updated", "f3");
    CHECK(delivered(a, "\"name\":\"f3\""));
    snprintf(id, sizeof id, "%s-1", run);
    CHECK(attach(ev, d, id) == 0);
    CHECK(strstr(d->text, "event: reset") != NULL && strstr(d->text, "no longer kept") != NULL);
    CHECK(count(d->text, "event: change") == 0);
    atomic_store(&d->closed, 0);
    /* Another run's id: reset too. A sink that fails during the catch-up is
     * not kept, and stays the caller's (not closed). */
    e->fail = true;
    CHECK(attach(ev, e, "0123456789abcdef-2") == -2);   /* a and d hold both slots */
    events_destroy(ev);
    CHECK(atomic_load(&a->closed) == 1 && atomic_load(&d->closed) == 1 && atomic_load(&e->closed) == 0);

    ev = events_create(&settings);
    CHECK(attach(ev, e, NULL) == -1);
    CHECK(atomic_load(&e->closed) == 0);
    e->fail = false;
    CHECK(attach(ev, e, "0123456789abcdef-2") == 0);
    CHECK(strstr(e->text, "event: reset") != NULL && strstr(e->text, "another instance") != NULL);
    events_stop(ev);
    CHECK(attach(ev, c, NULL) == -2);   /* stopped: no new subscriber */
    events_publish(ev, "keys", NULL, NULL);   /* still numbered, told to no one */
    events_destroy(ev);
    sink_free(a);
    sink_free(b);
    sink_free(c);
    sink_free(d);
    sink_free(e);
}

/* ---- threads ------------------------------------------------------------- */

static struct events *shared;
static atomic_bool go;

static void *publisher(void *arg)
{
    char name[32];

    while (!atomic_load(&go))
        ;
    for (int i = 0; i < PER_PUBLISHER; i++) {
        snprintf(name, sizeof name, "p%ld-%d", (long)(intptr_t)arg, i);
        events_publish(shared, "flag", "updated", name);
    }
    return NULL;
}

/* The ids after the "ready" event are ready's + 1, + 2, ...: nothing
 * missed, nothing twice, in order. */
static bool consecutive(const char *text)
{
    const char *ready = strstr(text, "event: ready");
    const char *q = ready;
    unsigned long long expect;

    if (ready == NULL)
        return false;
    while (q > text && strncmp(q, "id: ", 4) != 0)   /* ready's own id line */
        q--;
    expect = strtoull(strchr(q, '-') + 1, NULL, 10) + 1;
    for (q = ready; (q = strstr(q, "id: ")) != NULL; q += 4, expect++)
        if (strtoull(strchr(q, '-') + 1, NULL, 10) != expect)
            return false;
    return true;
}

static void test_threads(void)
{
    struct events_settings settings = {.history = 100, .max_subscribers = 64, .heartbeat_s = 1};
    pthread_t threads[PUBLISHERS];
    struct sink *early = sink_new(), *late[LATE_SUBSCRIBERS];

    shared = events_create(&settings);
    CHECK(attach(shared, early, NULL) == 0);
    for (long i = 0; i < PUBLISHERS; i++)
        pthread_create(&threads[i], NULL, publisher, (void *)(intptr_t)i);
    atomic_store(&go, true);
    for (int i = 0; i < LATE_SUBSCRIBERS; i++) {
        late[i] = sink_new();
        CHECK(attach(shared, late[i], NULL) == 0);
    }
    for (int i = 0; i < PUBLISHERS; i++)
        pthread_join(threads[i], NULL);
    {
        char last[64];
        snprintf(last, sizeof last, "-%d\nevent: change", PUBLISHERS * PER_PUBLISHER + 0);
        CHECK(delivered(early, last));   /* the last event has gone out */
    }
    events_stop(shared);   /* the journal's thread sends no more */
    CHECK(count(early->text, "event: change") == PUBLISHERS * PER_PUBLISHER);
    CHECK(consecutive(early->text));
    for (int i = 0; i < LATE_SUBSCRIBERS; i++) {
        CHECK(consecutive(late[i]->text));
        CHECK(count(late[i]->text, "event: change") <= PUBLISHERS * PER_PUBLISHER);
    }
    events_destroy(shared);
    sink_free(early);
    for (int i = 0; i < LATE_SUBSCRIBERS; i++)
        sink_free(late[i]);
}

int main(void)
{
    test_replay_reset_and_cap();
    test_threads();
    return CHECK_DONE("test_events");
}
