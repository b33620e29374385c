/*
 * workers — the store worker pool.
 *
 * Owns: DB_POOL_SIZE threads (1 for SQLite), each with its own store
 * connection, and the FIFO queue of jobs they take. This is the connection
 * pool: a connection belongs to exactly one thread, so there is no check-out
 * and no lock around a connection. HTTP threads never wait on the database:
 * a handler that needs it suspends its request, submits a job and returns;
 * the worker runs the job and resumes the request.
 *
 * The queue is bounded (WORKERS_MAX_QUEUE); a full queue is back-pressure
 * the caller turns into 503.
 */
#ifndef TM_WORKERS_H
#define TM_WORKERS_H

#include <stddef.h>

#include "store/store.h"

#define WORKERS_MAX_QUEUE 4096

struct worker_job {
    /* Runs on a worker thread with that worker's connection. */
    void (*run)(struct worker_job *job, struct store_conn *conn);
    /* Runs instead of run() for a job that cannot run: still queued at
     * shutdown, or refused by a full queue. `why` is a client-facing reason. */
    void (*cancel)(struct worker_job *job, const char *why);
    struct worker_job *next;
};

struct workers;

struct workers *workers_start(struct store *store, int count, char *err, size_t errlen);
/* Queues job; returns -1 (job not taken) when the queue is full or the pool
 * is stopping. */
int workers_submit(struct workers *w, struct worker_job *job);
/* Lets running jobs finish, cancels queued ones, joins the threads and
 * closes their connections. Later submits are refused (and cancelled), so
 * the HTTP side may keep running until it is stopped. */
void workers_stop(struct workers *w);
/* For /metrics: threads running a job, threads, jobs waiting. */
void workers_stats(struct workers *w, int *busy, int *threads, size_t *queued);
/* Frees the pool; call after workers_stop() once nothing can submit. */
void workers_destroy(struct workers *w);

#endif
