/*
 * metrics — per-thread request counters and the Prometheus text format.
 * See metrics.h.
 */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

/* The statuses the service and its transport answer, each its own series. */
static const int counted_statuses[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 412, 413, 414,
                                       415, 417, 422, 429, 431, 500, 501, 503, 505};
#define COUNTED_STATUSES (sizeof counted_statuses / sizeof counted_statuses[0])
#define OTHER_STATUS_SLOT (METRICS_STATUS_SLOTS - 1)
_Static_assert(COUNTED_STATUSES < METRICS_STATUS_SLOTS, "one slot stays for other statuses");

/* Upper bounds in nanoseconds, and as written in the le label. */
static const long long bucket_ns[METRICS_LATENCY_BUCKETS] = {
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
static const char *const bucket_le[METRICS_LATENCY_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

/* One thread's counters. Only its thread writes them; a scrape reads them
 * meanwhile, so they are atomics, written with a relaxed load and store
 * (no locked instruction: there is one writer). */
struct request_counts {
    _Atomic uint64_t requests[METRICS_MAX_ROUTES + 1][METRICS_STATUS_SLOTS];
    _Atomic uint64_t buckets[METRICS_MAX_ROUTES + 1][METRICS_LATENCY_BUCKETS + 1];
    _Atomic uint64_t sum_ns[METRICS_MAX_ROUTES + 1];
};

static inline void bump(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}

static int status_slot(int status)
{
    for (size_t i = 0; i < COUNTED_STATUSES; i++)
        if (counted_statuses[i] == status)
            return (int)i;
    return OTHER_STATUS_SLOT;
}

void metrics_init(struct metrics *m, const struct metrics_route *routes, size_t count)
{
    memset(m, 0, sizeof *m);
    perthread_init(&m->threads, sizeof(struct request_counts), NULL, NULL);
    m->route_count = count > METRICS_MAX_ROUTES ? METRICS_MAX_ROUTES : count;
    memcpy(m->routes, routes, m->route_count * sizeof *routes);
    m->routes[m->route_count] = (struct metrics_route){"", "unmatched"};
    m->started_at_s = (int64_t)time(NULL);
}

void metrics_destroy(struct metrics *m)
{
    perthread_destroy(&m->threads);
}

void metrics_request(struct metrics *m, int route, int status, long long duration_ns)
{
    struct request_counts *c;
    int b = 0;

    if (status <= 0 || (c = perthread_get(&m->threads)) == NULL)
        return;
    if (route < 0 || (size_t)route >= m->route_count)
        route = (int)m->route_count;
    if (duration_ns < 0)
        duration_ns = 0;
    while (b < METRICS_LATENCY_BUCKETS && duration_ns > bucket_ns[b])
        b++;
    bump(&c->requests[route][status_slot(status)], 1);
    bump(&c->buckets[route][b], 1);
    bump(&c->sum_ns[route], (uint64_t)duration_ns);
}

void metrics_db_error(struct metrics *m, enum metrics_db_error kind)
{
    atomic_fetch_add_explicit(&m->db_errors[kind], 1, memory_order_relaxed);
}

/* ---- rendering --------------------------------------------------------------- */

struct request_totals {
    uint64_t requests[METRICS_MAX_ROUTES + 1][METRICS_STATUS_SLOTS];
    uint64_t buckets[METRICS_MAX_ROUTES + 1][METRICS_LATENCY_BUCKETS + 1];
    uint64_t sum_ns[METRICS_MAX_ROUTES + 1];
};

static void add_thread(void *ctx, void *block)
{
    struct request_totals *t = ctx;
    struct request_counts *c = block;

    for (int r = 0; r <= METRICS_MAX_ROUTES; r++) {
        for (int s = 0; s < METRICS_STATUS_SLOTS; s++)
            t->requests[r][s] += atomic_load_explicit(&c->requests[r][s], memory_order_relaxed);
        for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++)
            t->buckets[r][b] += atomic_load_explicit(&c->buckets[r][b], memory_order_relaxed);
        t->sum_ns[r] += atomic_load_explicit(&c->sum_ns[r], memory_order_relaxed);
    }
}

static void route_labels(struct buf *out, const struct metrics_route *route)
{
    buf_str(out, "method=\"");
    buf_str(out, route->method);
    buf_str(out, "\",route=\"");
    metrics_label_value(out, route->pattern, strlen(route->pattern));
    buf_str(out, "\"");
}

void metrics_render_requests(struct metrics *m, struct buf *out)
{
    struct request_totals *t = calloc(1, sizeof *t);

    if (t == NULL) {
        out->failed = true;
        return;
    }
    perthread_each(&m->threads, add_thread, t);
    metrics_header(out, "togglemaster_http_requests_total", "counter",
                   "HTTP requests answered, by route pattern and status (route=\"unmatched\": no route, or "
                   "refused before routing).");
    for (size_t r = 0; r <= m->route_count; r++)
        for (int s = 0; s < METRICS_STATUS_SLOTS; s++) {
            char status[8];
            if (t->requests[r][s] == 0)
                continue;
            if (s == OTHER_STATUS_SLOT)
                strcpy(status, "other");
            else
                snprintf(status, sizeof status, "%d", counted_statuses[s]);
            buf_str(out, "togglemaster_http_requests_total{");
            route_labels(out, &m->routes[r]);
            buf_printf(out, ",status=\"%s\"} %llu\n", status, (unsigned long long)t->requests[r][s]);
        }
    metrics_header(out, "togglemaster_http_request_duration_seconds", "histogram",
                   "Time from the first byte of a request to the last byte of its answer, by route pattern.");
    for (size_t r = 0; r <= m->route_count; r++) {
        uint64_t cumulative = 0;
        for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++)
            cumulative += t->buckets[r][b];
        if (cumulative == 0)
            continue;   /* a route never called: no series */
        cumulative = 0;
        for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++) {
            cumulative += t->buckets[r][b];
            buf_str(out, "togglemaster_http_request_duration_seconds_bucket{");
            route_labels(out, &m->routes[r]);
            buf_printf(out, ",le=\"%s\"} %llu\n", b < METRICS_LATENCY_BUCKETS ? bucket_le[b] : "+Inf",
                       (unsigned long long)cumulative);
        }
        buf_str(out, "togglemaster_http_request_duration_seconds_sum{");
        route_labels(out, &m->routes[r]);
        buf_printf(out, "} %.9f\n", (double)t->sum_ns[r] / 1e9);
        buf_str(out, "togglemaster_http_request_duration_seconds_count{");
        route_labels(out, &m->routes[r]);
        buf_printf(out, "} %llu\n", (unsigned long long)cumulative);
    }
    free(t);
}

void metrics_header(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_label_value(struct buf *out, const char *value, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        const char *escaped = value[i] == '\\' ? "\\\\" : value[i] == '"' ? "\\\"" : value[i] == '\n' ? "\\n" : NULL;
        if (escaped == NULL)
            continue;
        buf_add(out, value + start, i - start);
        buf_str(out, escaped);
        start = i + 1;
    }
    buf_add(out, value + start, len - start);
}

void metrics_sample(struct buf *out, const char *name, double value)
{
    buf_printf(out, "%s %.17g\n", name, value);
}

void metrics_sample_u64(struct buf *out, const char *name, unsigned long long value)
{
    buf_printf(out, "%s %llu\n", name, value);
}
