/*
 * api/ops — what operators and flag owners read about the running service:
 * GET /metrics (Prometheus text), GET /flags/{name}/usage and
 * GET /insights/stale.
 *
 * /metrics answers on the event loop from counters in memory (metrics.h,
 * usage.h) and the gauges of the other rooms; it never touches the
 * database. Usage and stale flags read the counts every instance wrote
 * (insights.h), so they go to the store workers.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../buf.h"
#include "../events.h"
#include "../insights.h"
#include "../log.h"
#include "../metrics.h"
#include "../sync.h"
#include "../text.h"
#include "../version.h"
#include "routes.h"

#define PROMETHEUS_TEXT "text/plain; version=0.0.4; charset=utf-8"

/* ---- GET /metrics -------------------------------------------------------------- */

static void add_evaluation(void *ctx, const struct usage_total *total)
{
    struct buf *out = ctx;

    buf_str(out, "togglemaster_evaluations_total{flag=\"");
    metrics_label_value(out, total->flag, strlen(total->flag));
    buf_str(out, "\",variant=\"");
    metrics_label_value(out, total->variant, strlen(total->variant));
    buf_printf(out, "\",reason=\"%s\"} %llu\n", flag_reason_text(total->reason), (unsigned long long)total->count);
}

static double monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The release number and the git revision it was built from (version.h). */
static void build_labels(struct buf *out)
{
    buf_str(out, "togglemaster_build_info{version=\"");
    metrics_label_value(out, TM_VERSION, strlen(TM_VERSION));
    buf_str(out, "\",revision=\"");
    metrics_label_value(out, TM_GIT_REVISION, strlen(TM_GIT_REVISION));
    buf_str(out, "\"} 1\n");
}

/* CPU seconds and resident bytes from /proc/self/stat, open descriptors
 * from /proc/self/fd: Prometheus's usual process metrics. */
static void process_metrics(struct buf *out)
{
    FILE *f = fopen("/proc/self/stat", "r");
    unsigned long utime = 0, stime = 0;
    long rss = 0;
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    int fds = 0;
    DIR *dir;
    struct dirent *d;

    if (f != NULL) {
        char line[1024], *after;
        if (fgets(line, sizeof line, f) != NULL && (after = strrchr(line, ')')) != NULL)
            sscanf(after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u %*u %ld",
                   &utime, &stime, &rss);
        fclose(f);
    }
    if ((dir = opendir("/proc/self/fd")) != NULL) {
        while ((d = readdir(dir)) != NULL)
            fds += d->d_name[0] != '.';
        closedir(dir);
        fds--;   /* the directory's own */
    }
    metrics_header(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
    metrics_sample(out, "process_cpu_seconds_total", ticks > 0 ? (double)(utime + stime) / (double)ticks : 0);
    metrics_header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    metrics_sample(out, "process_resident_memory_bytes", (double)rss * (double)page);
    metrics_header(out, "process_open_fds", "gauge", "Open file descriptors.");
    metrics_sample(out, "process_open_fds", fds);
}

void api_metrics(struct api_call *call)
{
    struct app *app = call->app;
    struct buf out = {0};
    struct snapshot *snap;
    struct sync_stats feed;
    int busy = 0, threads = 0;
    size_t queued = 0;
    long long loaded_ms;
    double now = monotonic_s();

    if (!app->counting) {
        http_respond_error(call->req, 404, "metrics are off (METRICS_ENABLED=false)");
        return;
    }
    metrics_render_requests(&app->metrics, &out);

    metrics_header(&out, "togglemaster_evaluations_total", "counter",
                   "Flag evaluations (OFREP, native, bulk) by flag, variant (\"\" for none) and reason.");
    usage_totals(&app->usage, false, add_evaluation, &out);
    metrics_header(&out, "togglemaster_evaluations_uncounted_total", "counter",
                   "Evaluations not counted per flag: a usage table was full or memory ran out.");
    metrics_sample_u64(&out, "togglemaster_evaluations_uncounted_total", atomic_load(&app->usage.dropped));

    snap = snapshot_acquire(app->snapshots);
    metrics_header(&out, "togglemaster_snapshot_generation", "gauge",
                   "Snapshots published since start (each change to flags, keys or usage makes one).");
    metrics_sample_u64(&out, "togglemaster_snapshot_generation", snap ? snap->generation : 0);
    metrics_header(&out, "togglemaster_flags", "gauge", "Flags in the snapshot that serves reads.");
    metrics_sample_u64(&out, "togglemaster_flags", snap ? snap->count : 0);
    snapshot_release(snap);
    loaded_ms = snapshot_cell_loaded_ms(app->snapshots);
    metrics_header(&out, "togglemaster_snapshot_loaded_age_seconds", "gauge",
                   "Seconds since the catalogue was last loaded whole from the database (RESYNC_INTERVAL).");
    if (loaded_ms > 0)
        metrics_sample(&out, "togglemaster_snapshot_loaded_age_seconds", now - (double)loaded_ms / 1000);

    sync_stats(app->sync, &feed);
    metrics_header(&out, "togglemaster_flag_loads_failed_total", "counter",
                   "Full loads of the catalogue that failed (retried every second).");
    metrics_sample_u64(&out, "togglemaster_flag_loads_failed_total", feed.load_failures);
    if (feed.has_feed) {
        metrics_header(&out, "togglemaster_change_feed_up", "gauge",
                       "1 while listening to other instances' changes (PostgreSQL LISTEN).");
        metrics_sample(&out, "togglemaster_change_feed_up", feed.listening);
        metrics_header(&out, "togglemaster_change_feed_last_message_age_seconds", "gauge",
                       "Seconds since the last change-feed message (or since listening began).");
        if (feed.last_message_ms > 0)
            metrics_sample(&out, "togglemaster_change_feed_last_message_age_seconds",
                           now - (double)feed.last_message_ms / 1000);
        metrics_header(&out, "togglemaster_change_feed_reconnects_total", "counter",
                       "Times the change feed was lost and listened to again.");
        metrics_sample_u64(&out, "togglemaster_change_feed_reconnects_total", feed.feed_reconnects);
    }

    workers_stats(app->workers, &busy, &threads, &queued);
    metrics_header(&out, "togglemaster_store_workers", "gauge",
                   "Store worker threads (one database connection each), busy or idle.");
    buf_printf(&out, "togglemaster_store_workers{state=\"busy\"} %d\ntogglemaster_store_workers{state=\"idle\"} %d\n",
               busy, threads - busy);
    metrics_header(&out, "togglemaster_store_queue_depth", "gauge", "Jobs waiting for a store worker.");
    metrics_sample_u64(&out, "togglemaster_store_queue_depth", queued);
    metrics_header(&out, "togglemaster_store_queue_capacity", "gauge",
                   "Jobs that may wait before requests get 503 (WORKERS_MAX_QUEUE).");
    metrics_sample_u64(&out, "togglemaster_store_queue_capacity", WORKERS_MAX_QUEUE);
    metrics_header(&out, "togglemaster_database_errors_total", "counter",
                   "Database failures met by requests and background work, by kind.");
    buf_printf(&out, "togglemaster_database_errors_total{kind=\"unavailable\"} %llu\n"
                     "togglemaster_database_errors_total{kind=\"error\"} %llu\n",
               atomic_load(&app->metrics.db_errors[METRICS_DB_UNAVAILABLE]),
               atomic_load(&app->metrics.db_errors[METRICS_DB_ERROR]));
    metrics_header(&out, "togglemaster_usage_flushes_total", "counter",
                   "Writes of the evaluation counts to the database (USAGE_FLUSH_INTERVAL), by result.");
    buf_printf(&out, "togglemaster_usage_flushes_total{result=\"ok\"} %llu\n"
                     "togglemaster_usage_flushes_total{result=\"failed\"} %llu\n",
               atomic_load(&app->metrics.usage_flushes_ok), atomic_load(&app->metrics.usage_flushes_failed));
    metrics_header(&out, "togglemaster_usage_last_flush_timestamp_seconds", "gauge",
                   "Unix time of the last successful write of the evaluation counts.");
    if (insights_last_flush(app->insights) > 0)
        metrics_sample_u64(&out, "togglemaster_usage_last_flush_timestamp_seconds",
                           (unsigned long long)insights_last_flush(app->insights));

    metrics_header(&out, "togglemaster_http_connections", "gauge", "Open client connections.");
    metrics_sample_u64(&out, "togglemaster_http_connections",
                       app->http ? (unsigned long long)http_server_connections(app->http) : 0);
    {
        struct events_stats es;
        events_stats(app->events, &es);
        metrics_header(&out, "togglemaster_event_subscribers", "gauge",
                       "Open change streams (GET /api/v1/events; EVENTS_MAX_SUBSCRIBERS at most).");
        metrics_sample_u64(&out, "togglemaster_event_subscribers", (unsigned long long)es.subscribers);
        metrics_header(&out, "togglemaster_events_published_total", "counter",
                       "Changes told to the change streams (local writes and other instances').");
        metrics_sample_u64(&out, "togglemaster_events_published_total", es.published);
        metrics_header(&out, "togglemaster_event_subscribers_dropped_total", "counter",
                       "Change streams dropped because their client left, stopped reading or the server stopped.");
        metrics_sample_u64(&out, "togglemaster_event_subscribers_dropped_total", es.dropped);
    }
    metrics_header(&out, "togglemaster_log_lines_dropped_total", "counter",
                   "Log lines lost because stdout failed (a slow stdout is waited for, never dropped).");
    metrics_sample_u64(&out, "togglemaster_log_lines_dropped_total", log_lines_lost());
    metrics_header(&out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
    metrics_sample_u64(&out, "process_start_time_seconds", (unsigned long long)app->metrics.started_at_s);
    process_metrics(&out);
    metrics_header(&out, "togglemaster_build_info", "gauge", "The running build: version and git revision.");
    build_labels(&out);

    http_set_content_type(call->req, PROMETHEUS_TEXT);
    api_respond_buf(call->req, 200, &out);
}

/* ---- GET /flags/{name}/usage ---------------------------------------------------- */

static const struct {
    const char *name;
    int64_t seconds;
} usage_windows[] = {{"1h", 3600}, {"24h", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}};

struct usage_job {
    struct api_job base;
    char name[FLAG_STORED_NAME_MAX + 1];
    const char *window;
    int64_t now, since;
    uint64_t pending;          /* this instance's evaluations not yet written */
    json_t *variants, *reasons;   /* name -> evaluations in the window */
    json_int_t evaluations;
    json_t *all_time;          /* {first_evaluated_at, last_evaluated_at, evaluations}, or NULL */
};

static json_t *time_or_null(int64_t unix_s)
{
    char when[32];

    if (unix_s <= 0)
        return json_null();
    text_format_time(unix_s, when, sizeof when);
    return json_string(when);
}

static void add_count(json_t *object, const char *key, json_int_t n)
{
    json_t *have = json_object_get(object, key);

    json_object_set_new(object, key, json_integer(json_integer_value(have) + n));
}

static int usage_window_row(void *ctx, const struct usage_row *row)
{
    struct usage_job *job = ctx;

    add_count(job->variants, row->variant, row->evaluations);
    add_count(job->reasons, row->reason, row->evaluations);
    job->evaluations += row->evaluations;
    return 0;
}

static int usage_flag_row(void *ctx, const struct usage_row *row)
{
    struct usage_job *job = ctx;

    json_decref(job->all_time);
    job->all_time = json_pack("{s:o, s:o, s:I}", "first_evaluated_at", time_or_null(row->first_s),
                              "last_evaluated_at", time_or_null(row->last_s), "evaluations",
                              (json_int_t)row->evaluations);
    return job->all_time == NULL;
}

static void usage_job_run(struct api_job *base, struct store_conn *conn, struct api_reply *reply)
{
    struct usage_job *job = (struct usage_job *)base;
    enum store_status st = store_usage_totals(conn, job->since, job->name, usage_window_row, job);
    json_t *variants, *out;
    const char *key;
    json_t *value;

    if (st == STORE_OK)
        st = store_usage_flags(conn, job->name, usage_flag_row, job);
    if (st != STORE_OK) {
        api_reply_store_failure(base, conn, st, reply);
        return;
    }
    /* Variants as a list, most evaluated first is the client's to sort:
     * here in the order of their names, with each one's share. */
    variants = json_array();
    json_object_foreach(job->variants, key, value) {
        json_int_t n = json_integer_value(value);
        json_array_append_new(variants, json_pack("{s:o, s:I, s:f}", "variant",
                                                  key[0] ? json_string(key) : json_null(), "evaluations", n,
                                                  "share", job->evaluations ? (double)n / (double)job->evaluations : 0.0));
    }
    out = json_pack("{s:s, s:s, s:o, s:o, s:I, s:o, s:O, s:o, s:o, s:o, s:I}", "flag", job->name, "window",
                    job->window, "since", time_or_null(job->since), "until", time_or_null(job->now),
                    "evaluations", job->evaluations, "variants", variants, "reasons", job->reasons,
                    "first_evaluated_at",
                    json_incref(job->all_time ? json_object_get(job->all_time, "first_evaluated_at") : json_null()),
                    "last_evaluated_at",
                    json_incref(job->all_time ? json_object_get(job->all_time, "last_evaluated_at") : json_null()),
                    "evaluations_all_time",
                    job->all_time ? json_incref(json_object_get(job->all_time, "evaluations")) : json_integer(0),
                    "pending_on_this_instance", (json_int_t)job->pending);
    api_reply_json(reply, 200, out);
}

static void usage_job_cleanup(struct api_job *base)
{
    struct usage_job *job = (struct usage_job *)base;

    json_decref(job->variants);
    json_decref(job->reasons);
    json_decref(job->all_time);
}

static void add_pending(void *ctx, const struct usage_total *total)
{
    struct usage_job *job = ctx;

    if (strcmp(total->flag, job->name) == 0)
        job->pending += total->unwritten;
}

void api_flag_usage(struct api_call *call)
{
    const struct route_param *name = &call->match->params[0];
    char window[8];
    size_t len;
    int found = http_query_param(call->req, "window", window, sizeof window, &len);
    struct snapshot *snap;
    struct usage_job *job;
    size_t w;

    if (found == 0)
        strcpy(window, "24h");
    for (w = 0; found >= 0 && w < sizeof usage_windows / sizeof usage_windows[0]; w++)
        if (strcmp(window, usage_windows[w].name) == 0)
            break;
    if (found < 0 || w == sizeof usage_windows / sizeof usage_windows[0]) {
        http_respond_error(call->req, 400, "window must be one of 1h, 24h, 7d, 30d");
        return;
    }
    if ((snap = api_snapshot_or_503(call)) == NULL)
        return;
    if (snapshot_find(snap, name->value, name->len) == NULL) {
        snapshot_release(snap);
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    snapshot_release(snap);
    if ((job = api_job_alloc(call, sizeof *job, usage_job_run, usage_job_cleanup)) == NULL)
        return;
    memcpy(job->name, name->value, name->len + 1);
    job->window = usage_windows[w].name;
    job->now = (int64_t)time(NULL);
    /* Whole hours: the counts are kept per hour. */
    job->since = job->now - usage_windows[w].seconds;
    job->since -= job->since % 3600;
    job->variants = json_object();
    job->reasons = json_object();
    if (call->app->counting)
        usage_totals(&call->app->usage, false, add_pending, job);
    api_defer(call, &job->base);
}

/* ---- GET /insights/stale -------------------------------------------------------- */

#define STALE_DAYS_MAX 3650

struct stale_job {
    struct api_job base;
    int days;
    int64_t now, cutoff;
    json_t *window;            /* flag -> {"evaluations": n, "variants": {variant: n}} since cutoff */
    json_t *last;              /* flag -> last evaluated (Unix s) */
};

static int stale_window_row(void *ctx, const struct usage_row *row)
{
    struct stale_job *job = ctx;
    json_t *entry = json_object_get(job->window, row->flag);

    if (entry == NULL) {
        entry = json_pack("{s:I, s:{}}", "evaluations", (json_int_t)0, "variants");
        if (entry == NULL || json_object_set_new(job->window, row->flag, entry) != 0)
            return 1;
    }
    add_count(entry, "evaluations", row->evaluations);
    add_count(json_object_get(entry, "variants"), row->variant, row->evaluations);
    return 0;
}

static int stale_flag_row(void *ctx, const struct usage_row *row)
{
    struct stale_job *job = ctx;

    return json_object_set_new(job->last, row->flag, json_integer(row->last_s)) != 0;
}

/* A candidate for removal, or NULL: not evaluated for the whole window (and
 * older than it), or unchanged for the whole window while every evaluation
 * in it gave one variant. */
static json_t *stale_entry(const struct stale_job *job, const struct flag *flag)
{
    json_t *usage = json_object_get(job->window, flag->name);
    int64_t last = json_integer_value(json_object_get(job->last, flag->name));
    int64_t created = text_parse_time(flag->created_at), updated = text_parse_time(flag->updated_at);
    json_int_t evaluations = json_integer_value(json_object_get(usage, "evaluations"));
    json_t *variants = json_object_get(usage, "variants");
    const char *only = NULL;

    if (updated < 0)
        updated = created;
    if (evaluations == 0) {
        /* Too young to judge, or evaluated in the window after all (the
         * hourly counts go back USAGE_RETENTION_DAYS; the last time, for ever). */
        if (created < 0 || created > job->cutoff || last >= job->cutoff)
            return NULL;
        return json_pack("{s:s, s:s, s:o, s:o, s:I}", "name", flag->name, "reason", "not_evaluated",
                         "last_evaluated_at", time_or_null(last), "updated_at", time_or_null(updated),
                         "evaluations", (json_int_t)0);
    }
    if (json_object_size(variants) != 1 || updated < 0 || updated > job->cutoff)
        return NULL;
    only = json_object_iter_key(json_object_iter(variants));
    return json_pack("{s:s, s:s, s:o, s:o, s:I, s:o}", "name", flag->name, "reason", "single_variant",
                     "last_evaluated_at", time_or_null(last), "updated_at", time_or_null(updated), "evaluations",
                     evaluations, "variant", only[0] ? json_string(only) : json_null());
}

static void stale_job_run(struct api_job *base, struct store_conn *conn, struct api_reply *reply)
{
    struct stale_job *job = (struct stale_job *)base;
    enum store_status st = store_usage_totals(conn, job->cutoff, NULL, stale_window_row, job);
    struct snapshot *snap;
    struct snapshot_cursor cursor;
    const struct flag *flag;
    json_t *flags;

    if (st == STORE_OK)
        st = store_usage_flags(conn, NULL, stale_flag_row, job);
    if (st != STORE_OK) {
        api_reply_store_failure(base, conn, st, reply);
        return;
    }
    if ((snap = snapshot_acquire(job->base.app->snapshots)) == NULL) {
        api_reply_error(reply, 503, "flags are not loaded from the database yet; retry shortly");
        return;
    }
    flags = json_array();
    snapshot_cursor_after(snap, "", 0, &cursor);
    while ((flag = snapshot_cursor_next(&cursor)) != NULL) {
        json_t *entry = stale_entry(job, flag);
        if (entry != NULL)
            json_array_append_new(flags, entry);
    }
    snapshot_release(snap);
    api_reply_json(reply, 200, json_pack("{s:i, s:o, s:o}", "days", job->days, "since", time_or_null(job->cutoff),
                                         "flags", flags));
}

static void stale_job_cleanup(struct api_job *base)
{
    struct stale_job *job = (struct stale_job *)base;

    json_decref(job->window);
    json_decref(job->last);
}

void api_stale_flags(struct api_call *call)
{
    char text[16];
    size_t len;
    long days = 30;
    int found = http_query_param(call->req, "days", text, sizeof text, &len);
    struct stale_job *job;

    if (found < 0 || (found > 0 && config_parse_int(text, 1, STALE_DAYS_MAX, &days) != 0)) {
        http_respond_error(call->req, 400, "days must be a whole number from 1 to 3650");
        return;
    }
    if ((job = api_job_alloc(call, sizeof *job, stale_job_run, stale_job_cleanup)) == NULL)
        return;
    job->days = (int)days;
    job->now = (int64_t)time(NULL);
    job->cutoff = job->now - days * 86400;
    job->window = json_object();
    job->last = json_object();
    api_defer(call, &job->base);
}
