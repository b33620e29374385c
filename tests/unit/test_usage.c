/* Unit tests for usage.c (per-thread evaluation counts: totals over threads,
 * collecting and committing what was written, pruning) and metrics.c (the
 * request counters and the exposition format), run also under TSan: threads
 * count while a reader sums, collects and commits. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "flag.h"
#include "metrics.h"
#include "usage.h"

#define THREADS 4
#define PER_THREAD 20000

static struct usage counts;
static struct flag *flags[3];
static atomic_bool go;

static struct flag *make_flag(const char *name)
{
    struct flag_row row = {.name = name, .id = 1, .is_enabled = true};

    return flag_create(&row, NULL);
}

static struct flag_result result_of(const struct flag *f, int variant, enum flag_reason reason)
{
    struct flag_result r = {.reason = reason, .variant = &f->variants[variant]};

    return r;
}

struct seen {
    uint64_t count, unwritten;
    int64_t first, last;
    int triples;
};

static void sum_flag(void *ctx, const struct usage_total *t)
{
    struct seen *s = ctx;

    s->count += t->count;
    s->unwritten += t->unwritten;
    if (s->first == 0 || t->first_s < s->first)
        s->first = t->first_s;
    if (t->last_s > s->last)
        s->last = t->last_s;
    s->triples++;
}

static void *counter(void *arg)
{
    long id = (long)arg;

    while (!atomic_load(&go))
        ;
    for (int i = 0; i < PER_THREAD; i++) {
        const struct flag *f = flags[i % 3];
        struct flag_result r = result_of(f, (int)((i + id) % 2), i % 5 == 0 ? FLAG_REASON_TARGETING_MATCH
                                                                              : FLAG_REASON_STATIC);
        if (i % 100 == 0) {
            struct usage_table *t = usage_hold(&counts);
            usage_count_held(&counts, t, f, &r, 1000 + i);
            usage_release(t);
        } else {
            usage_count(&counts, f, &r, 1000 + i);
        }
    }
    return NULL;
}

/* While THREADS count, a reader collects and commits over and over as the
 * flusher does; at the end the totals are exact and, after one last
 * collect and commit, nothing is left unwritten. */
static void test_counting_across_threads(void)
{
    pthread_t threads[THREADS];
    struct seen s = {0};
    uint64_t written = 0;

    usage_init(&counts);
    for (long i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, counter, (void *)i);
    atomic_store(&go, true);
    for (int round = 0; round < 50; round++) {
        struct seen r = {0};
        usage_totals(&counts, true, sum_flag, &r);
        usage_commit(&counts, round % 3 != 0);   /* some writes "fail": counted again next time */
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    usage_totals(&counts, false, sum_flag, &s);
    CHECK(s.count == (uint64_t)THREADS * PER_THREAD);
    CHECK(s.triples == 3 * 2 * 2);
    CHECK(s.first == 1000 && s.last == 1000 + PER_THREAD - 1);
    written = s.count - s.unwritten;
    CHECK(written <= s.count);
    memset(&s, 0, sizeof s);
    usage_totals(&counts, true, sum_flag, &s);
    usage_commit(&counts, true);
    CHECK(s.count == (uint64_t)THREADS * PER_THREAD);
    memset(&s, 0, sizeof s);
    usage_totals(&counts, false, sum_flag, &s);
    CHECK(s.unwritten == 0);
    CHECK(atomic_load(&counts.dropped) == 0);
}

static bool keep_only_first(void *ctx, const char *flag)
{
    return strcmp(flag, ctx) == 0;
}

/* Written triples of flags gone from the catalogue are dropped; unwritten
 * ones stay until written. */
static void test_prune(void)
{
    struct seen s = {0};
    struct flag_result r = result_of(flags[1], 0, FLAG_REASON_STATIC);

    usage_count(&counts, flags[1], &r, 5000);   /* unwritten: survives the prune */
    usage_prune(&counts, keep_only_first, (void *)flags[0]->name);
    usage_totals(&counts, false, sum_flag, &s);
    CHECK(s.triples == 2 * 2 + 1);
    CHECK(s.unwritten == 1);
    usage_totals(&counts, true, sum_flag, &(struct seen){0});
    usage_commit(&counts, true);
    usage_prune(&counts, keep_only_first, (void *)flags[0]->name);
    memset(&s, 0, sizeof s);
    usage_totals(&counts, false, sum_flag, &s);
    CHECK(s.triples == 2 * 2);
    usage_destroy(&counts);
}

static void test_view(void)
{
    struct usage_view *v = usage_view_create(2);

    CHECK(v != NULL);
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "flag-%d", i);
        CHECK(usage_view_set(v, name, strlen(name), 100 + i) == 0);
    }
    CHECK(usage_view_set(v, "flag-7", 6, 50) == 0);    /* the later time wins */
    CHECK(usage_view_last(v, "flag-7", 6) == 107);
    CHECK(usage_view_last(v, "flag-999", 8) == 1099);
    CHECK(usage_view_last(v, "flag-123456", 8) == 223);  /* names are taken by their length */
    CHECK(usage_view_last(v, "flag-1000", 9) == 0);
    CHECK(usage_view_last(v, "nope", 4) == 0);
    CHECK(usage_view_last(NULL, "flag-7", 6) == 0);
    CHECK(usage_view_count(v) == 1000);
    usage_view_unref(v);
}

static void *requester(void *arg)
{
    struct metrics *m = arg;

    for (int i = 0; i < PER_THREAD; i++)
        metrics_request(m, i % 3, i % 2 ? 200 : 599, 1000LL * (i % 4000));
    return NULL;
}

static void test_metrics(void)
{
    static const struct metrics_route routes[] = {{"GET", "/a"}, {"POST", "/b/{x}"}};
    struct metrics m;
    pthread_t threads[THREADS];
    struct buf out = {0};
    char *text;
    size_t len;
    char want[128];

    metrics_init(&m, routes, 2);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, requester, &m);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    metrics_request(&m, 0, 0, 5);   /* never answered: not counted */
    metrics_render_requests(&m, &out);
    text = buf_take(&out, &len);
    CHECK(text != NULL);
    /* i % 3 == 2 is no route: unmatched. Odd i answered 200, even 599 (other). */
    snprintf(want, sizeof want, "togglemaster_http_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} %d\n",
             THREADS * (PER_THREAD / 6));
    CHECK(text && strstr(text, want) != NULL);
    CHECK(text && strstr(text, "route=\"unmatched\",status=\"other\"}") != NULL);
    snprintf(want, sizeof want,
             "togglemaster_http_request_duration_seconds_count{method=\"POST\",route=\"/b/{x}\"} %d\n",
             THREADS * ((PER_THREAD + 1) / 3));   /* i % 3 == 1 */
    CHECK(text && strstr(text, want) != NULL);
    free(text);
    metrics_destroy(&m);

    metrics_label_value(&out, "a\"b\\c\nd", 7);
    text = buf_take(&out, &len);
    CHECK(text && len == 10 && memcmp(text, "a\\\"b\\\\c\\nd", 10) == 0);
    free(text);
}

int main(void)
{
    flags[0] = make_flag("alpha");
    flags[1] = make_flag("beta");
    flags[2] = make_flag("gamma");
    test_counting_across_threads();
    test_prune();
    test_view();
    test_metrics();
    for (int i = 0; i < 3; i++)
        flag_unref(flags[i]);
    return CHECK_DONE("usage");
}
