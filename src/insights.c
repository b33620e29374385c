/*
 * insights — the usage flusher. See insights.h.
 */
#include "insights.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "snapshot.h"
#include "store/store.h"

struct insights {
    struct app *app;
    struct store_conn *conn;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;             /* under lock */
    bool failing;              /* the last flush failed (log transitions only) */
    int64_t next_prune_s;
    atomic_llong last_flush_s;
};

/* The rows of one flush, with their own copies of the strings. */
struct flush {
    struct usage_row *rows;
    size_t count, cap;
    int64_t hour_start;
    bool failed;
};

static void add_row(void *ctx, const struct usage_total *total)
{
    struct flush *f = ctx;
    struct usage_row *row;

    if (total->unwritten == 0 || f->failed)
        return;
    if (f->count == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 64;
        struct usage_row *grown = realloc(f->rows, cap * sizeof *grown);
        if (grown == NULL) {
            f->failed = true;
            return;
        }
        f->rows = grown;
        f->cap = cap;
    }
    row = &f->rows[f->count];
    row->flag = strdup(total->flag);
    row->variant = strdup(total->variant);
    row->reason = flag_reason_text(total->reason);
    row->hour_start = f->hour_start;
    row->evaluations = (int64_t)total->unwritten;
    row->first_s = total->first_s;
    row->last_s = total->last_s;
    if (row->flag == NULL || row->variant == NULL) {
        free((char *)row->flag);
        free((char *)row->variant);
        f->failed = true;
        return;
    }
    f->count++;
}

static void free_rows(struct flush *f)
{
    for (size_t i = 0; i < f->count; i++) {
        free((char *)f->rows[i].flag);
        free((char *)f->rows[i].variant);
    }
    free(f->rows);
}

static int add_to_view(void *ctx, const struct usage_row *row)
{
    return usage_view_set(ctx, row->flag, strlen(row->flag), row->last_s);
}

/* Reads back every flag's last evaluation and publishes it. */
static enum store_status refresh_view(struct insights *in)
{
    struct snapshot *snap = snapshot_acquire(in->app->snapshots);
    struct usage_view *view = usage_view_create(snap ? snap->count : 0);
    enum store_status st;

    snapshot_release(snap);
    if (view == NULL)
        return STORE_ERROR;
    st = store_usage_flags(in->conn, NULL, add_to_view, view);
    if (st == STORE_OK && snapshot_set_usage(in->app->snapshots, view) != 0)
        st = STORE_ERROR;
    usage_view_unref(view);
    return st;
}

static bool in_catalogue(void *ctx, const char *flag)
{
    return snapshot_find(ctx, flag, strlen(flag)) != NULL;
}

/* One round: write, read back, tidy up. */
static void flush(struct insights *in)
{
    struct app *app = in->app;
    int64_t now = (int64_t)time(NULL);
    struct flush f = {.hour_start = now - now % 3600};
    enum store_status st;
    struct snapshot *snap;

    usage_totals(&app->usage, true, add_row, &f);
    st = f.failed ? STORE_ERROR : store_usage_add(in->conn, f.rows, f.count);
    usage_commit(&app->usage, st == STORE_OK);
    if (st == STORE_OK) {
        atomic_store(&in->last_flush_s, now);
        atomic_fetch_add(&app->metrics.usage_flushes_ok, 1);
        if (in->failing)
            log_msg(LOG_INFO, "usage counts written again");
        in->failing = false;
        /* Reading back and tidying up can wait for the next round. */
        if (refresh_view(in) == STORE_OK && now >= in->next_prune_s &&
            store_usage_prune(in->conn, now - (int64_t)USAGE_RETENTION_DAYS * 86400) == STORE_OK)
            in->next_prune_s = now + 3600;
    } else {
        atomic_fetch_add(&app->metrics.usage_flushes_failed, 1);
        metrics_db_error(&app->metrics, st == STORE_UNAVAILABLE ? METRICS_DB_UNAVAILABLE : METRICS_DB_ERROR);
        if (!in->failing)
            log_event(LOG_WARN, "cannot write usage counts; they stay in memory for the next try",
                      json_pack("{s:s, s:I}", "detail", f.failed ? "out of memory" : store_conn_error(in->conn),
                                "rows", (json_int_t)f.count));
        in->failing = true;
    }
    free_rows(&f);
    if ((snap = snapshot_acquire(app->snapshots)) != NULL) {
        usage_prune(&app->usage, in_catalogue, snap);
        snapshot_release(snap);
    }
}

static void *insights_main(void *arg)
{
    struct insights *in = arg;
    bool stopping = false, viewed = false;

    while (!stopping) {
        struct timespec until;
        /* Until the first snapshot is loaded, look often: the view of what
         * other instances wrote should follow it soon after a start. */
        int wait_s = viewed ? in->app->cfg->usage_flush_interval_s : 1;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_s;
        pthread_mutex_lock(&in->lock);
        while (!in->stopping) {
            int rc = pthread_cond_timedwait(&in->wake, &in->lock, &until);
            if (rc == ETIMEDOUT)
                break;
        }
        stopping = in->stopping;
        pthread_mutex_unlock(&in->lock);
        if (!viewed && !stopping) {
            /* The first round only reads: what every instance wrote before
             * this one started. Counts are written from the next one on. */
            if (snapshot_cell_generation(in->app->snapshots) != 0)
                viewed = refresh_view(in) == STORE_OK;
            continue;
        }
        flush(in);
    }
    return NULL;
}

struct insights *insights_start(struct app *app, char *err, size_t errlen)
{
    struct insights *in = calloc(1, sizeof *in);

    if (in == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->app = app;
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->wake, NULL);
    in->conn = store_conn_create(app->store, "usage");
    if (in->conn == NULL || pthread_create(&in->thread, NULL, insights_main, in) != 0) {
        snprintf(err, errlen, "cannot start the usage flusher");
        store_conn_destroy(in->conn);
        pthread_cond_destroy(&in->wake);
        pthread_mutex_destroy(&in->lock);
        free(in);
        return NULL;
    }
    return in;
}

void insights_stop(struct insights *in)
{
    if (in == NULL)
        return;
    pthread_mutex_lock(&in->lock);
    in->stopping = true;
    pthread_cond_signal(&in->wake);
    pthread_mutex_unlock(&in->lock);
    pthread_join(in->thread, NULL);
    store_conn_destroy(in->conn);
    pthread_cond_destroy(&in->wake);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

int64_t insights_last_flush(struct insights *in)
{
    return in ? atomic_load(&in->last_flush_s) : 0;
}
