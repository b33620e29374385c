/*
 * usage — how often each flag is evaluated, counted in memory.
 *
 * Owns: per-thread tables of evaluation counts by flag, variant and reason,
 * with the first and last time each was seen (perthread.h: a thread counts
 * into its own table under its own lock, which nobody else takes but a
 * scrape or a flush, for a moment); what part of the counts has been
 * written to the database; and the usage view, the immutable map from flag
 * name to when it was last evaluated on any instance, that the snapshot
 * carries for GET /flags/<name>.
 *
 * Nothing is written per request. The flusher (insights.h) takes the
 * counts not yet written (usage_collect), writes them in one transaction,
 * and marks them written (usage_commit) or leaves them for the next try.
 * Flags that are gone from the catalogue are dropped once written
 * (usage_prune), so memory follows the catalogue, not its history.
 *
 * Limits: USAGE_MAX_ENTRIES (flag, variant, reason) triples per thread;
 * past it, evaluations of new triples are counted only in usage_dropped.
 */
#ifndef TM_USAGE_H
#define TM_USAGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flag.h"
#include "perthread.h"

#define USAGE_MAX_ENTRIES 1000000
/* Longest variant name kept; a longer one is counted as its first bytes. */
#define USAGE_VARIANT_MAX 200

struct usage {
    struct perthread threads;
    atomic_ullong dropped;     /* evaluations not counted: a table was full */
};

void usage_init(struct usage *u);
void usage_destroy(struct usage *u);

/* One evaluation of flag on this thread, with its result, at Unix time
 * now_s. For many at once (a bulk evaluation), hold the thread's table. */
void usage_count(struct usage *u, const struct flag *flag, const struct flag_result *result, int64_t now_s);
struct usage_table;
struct usage_table *usage_hold(struct usage *u);   /* NULL: out of memory; count nothing */
void usage_count_held(struct usage *u, struct usage_table *t, const struct flag *flag,
                      const struct flag_result *result, int64_t now_s);
void usage_release(struct usage_table *t);

/* One (flag, variant, reason) summed over threads. variant is "" when the
 * evaluation gave no variant. */
struct usage_total {
    const char *flag, *variant;
    enum flag_reason reason;
    uint64_t count;            /* since the process started */
    uint64_t unwritten;        /* of which not yet in the database */
    int64_t first_s, last_s;   /* first and last evaluation seen (Unix s) */
};
/* Calls fn for each triple, summed over threads (the strings are borrowed
 * for the call). With collect, marks every count as being written: the
 * next usage_commit(true) makes them written, usage_commit(false) leaves
 * them to be collected again. */
typedef void (*usage_total_fn)(void *ctx, const struct usage_total *total);
void usage_totals(struct usage *u, bool collect, usage_total_fn fn, void *ctx);
void usage_commit(struct usage *u, bool written);
/* Drops the written triples of flags for which keep() says false. */
void usage_prune(struct usage *u, bool (*keep)(void *ctx, const char *flag), void *ctx);

/* ---- the usage view ---------------------------------------------------------- */

/* When each flag was last evaluated, as the database knows it (all
 * instances), for reads. Immutable once made; counted references. */
struct usage_view;
struct usage_view *usage_view_create(size_t expected);
/* While building: sets name's time (the later one wins). -1 out of memory. */
int usage_view_set(struct usage_view *v, const char *name, size_t len, int64_t last_s);
/* 0 when the flag was never evaluated (or v is NULL). */
int64_t usage_view_last(const struct usage_view *v, const char *name, size_t len);
/* The same as the end of a JSON object, made when the view was built:
 * `,"last_evaluated_at":"2026-12-03T23:38:05Z"}` (or `...:null}`), for
 * GET /flags/<name> to send after its pre-rendered body (less its '}')
 * without formatting anything per request. Valid while v is. */
const char *usage_view_json_tail(const struct usage_view *v, const char *name, size_t len, size_t *tail_len);
size_t usage_view_count(const struct usage_view *v);
struct usage_view *usage_view_ref(struct usage_view *v);
void usage_view_unref(struct usage_view *v);

#endif
