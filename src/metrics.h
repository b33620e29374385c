/*
 * metrics — what the service counts on its hot paths, and the Prometheus
 * text format it is read in.
 *
 * Owns: per-thread counters of HTTP requests by route and status, and
 * latency histograms by route (perthread.h: a request touches only its own
 * thread's cache lines, with plain loads and stores); process-wide counters
 * of rare events (database errors, usage flushes); and the writers of the
 * exposition format (HELP/TYPE lines, label escaping) that the /metrics
 * handler uses for these and for the gauges other modules report.
 *
 * A request is counted once, when its exchange ends (written or aborted),
 * under the route table's pattern, never its raw path: the series are
 * bounded by the route table (METRICS_MAX_ROUTES) times the statuses the
 * service answers (METRICS_STATUS_SLOTS, the rest as "other").
 */
#ifndef TM_METRICS_H
#define TM_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "perthread.h"

struct buf;

/* Routes of the route table, plus one for requests that matched none (or
 * were refused by the transport before routing). */
#define METRICS_MAX_ROUTES 64
/* Status codes counted under their own label; others count as "other". */
#define METRICS_STATUS_SLOTS 32
/* Latency buckets (upper bounds, seconds), +Inf aside. */
#define METRICS_LATENCY_BUCKETS 16

enum metrics_db_error {
    METRICS_DB_UNAVAILABLE,    /* unreachable, lost, timed out */
    METRICS_DB_ERROR,          /* any other failure */
    METRICS_DB_ERROR_KINDS
};

struct metrics_route {
    const char *method;        /* "GET", "POST", ...: the route's method */
    const char *pattern;       /* "/flags/{name}" */
};

struct metrics {
    struct perthread threads;
    size_t route_count;        /* routes given; index route_count is "unmatched" */
    struct metrics_route routes[METRICS_MAX_ROUTES + 1];
    atomic_ullong db_errors[METRICS_DB_ERROR_KINDS];
    atomic_ullong usage_flushes_ok, usage_flushes_failed;
    int64_t started_at_s;      /* Unix time the process started serving */
};

/* routes[0..count) label the route indices; count <= METRICS_MAX_ROUTES. */
void metrics_init(struct metrics *m, const struct metrics_route *routes, size_t count);
void metrics_destroy(struct metrics *m);

/* One request ended: route is an index into the routes given (anything
 * else: unmatched), status what was answered (0: none, not counted). */
void metrics_request(struct metrics *m, int route, int status, long long duration_ns);
void metrics_db_error(struct metrics *m, enum metrics_db_error kind);

/* The request counters and histograms, summed over threads. */
void metrics_render_requests(struct metrics *m, struct buf *out);

/* ---- the exposition format ------------------------------------------------ */

/* "# HELP name help\n# TYPE name type\n". */
void metrics_header(struct buf *out, const char *name, const char *type, const char *help);
/* A label value, escaped (\\, \", \n) between the quotes the caller writes. */
void metrics_label_value(struct buf *out, const char *value, size_t len);
/* "name value\n" for a sample without labels. */
void metrics_sample(struct buf *out, const char *name, double value);
void metrics_sample_u64(struct buf *out, const char *name, unsigned long long value);

#endif
