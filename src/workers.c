/*
 * workers — the store worker pool. See workers.h.
 */
#include "workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct worker {
    pthread_t thread;
    struct workers *pool;
    struct store_conn *conn;
};

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct worker_job *head, *tail;
    size_t queued;
    int busy;                  /* threads running a job */
    bool stopping;
    int count;
    struct worker *threads;
};

static struct worker_job *take(struct workers *w)
{
    struct worker_job *job = NULL;

    pthread_mutex_lock(&w->lock);
    while (w->head == NULL && !w->stopping)
        pthread_cond_wait(&w->wake, &w->lock);
    if (w->head != NULL && !w->stopping) {
        job = w->head;
        w->head = job->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->queued--;
        w->busy++;
    }
    pthread_mutex_unlock(&w->lock);
    return job;
}

static void done(struct workers *w)
{
    pthread_mutex_lock(&w->lock);
    w->busy--;
    pthread_mutex_unlock(&w->lock);
}

void workers_stats(struct workers *w, int *busy, int *threads, size_t *queued)
{
    pthread_mutex_lock(&w->lock);
    *busy = w->busy;
    *threads = w->count;
    *queued = w->queued;
    pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
    struct worker *self = arg;
    struct worker_job *job;

    while ((job = take(self->pool)) != NULL) {
        job->run(job, self->conn);
        done(self->pool);
    }
    return NULL;
}

struct workers *workers_start(struct store *store, int count, char *err, size_t errlen)
{
    struct workers *w = calloc(1, sizeof *w);
    int started = 0;

    if (w == NULL || (w->threads = calloc((size_t)count, sizeof *w->threads)) == NULL) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    for (; started < count; started++) {
        struct worker *t = &w->threads[started];
        t->pool = w;
        t->conn = store_conn_create(store, "worker");
        if (t->conn == NULL || pthread_create(&t->thread, NULL, worker_main, t) != 0) {
            store_conn_destroy(t->conn);
            snprintf(err, errlen, "cannot start store worker %d", started);
            w->count = started;
            workers_destroy(w);
            return NULL;
        }
    }
    w->count = count;
    return w;
}

int workers_submit(struct workers *w, struct worker_job *job)
{
    int rc = -1;

    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (!w->stopping && w->queued < WORKERS_MAX_QUEUE) {
        if (w->tail != NULL)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        w->queued++;
        rc = 0;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void workers_stop(struct workers *w)
{
    struct worker_job *job;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    w->stopping = true;
    job = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);

    while (job != NULL) {
        struct worker_job *next = job->next;
        job->cancel(job, "server is shutting down; retry on another instance");
        job = next;
    }
    for (int i = 0; i < w->count; i++) {
        pthread_join(w->threads[i].thread, NULL);
        store_conn_destroy(w->threads[i].conn);
    }
}

void workers_destroy(struct workers *w)
{
    if (w == NULL)
        return;
    workers_stop(w);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}
