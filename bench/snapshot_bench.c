/*
 * Snapshot costs at catalogue scale (part of `make bench`, not a test):
 * building a snapshot of N flags (start-up, full resync), one change (every
 * write: a replace, a create and a delete, each published), one lookup
 * (every read), and the memory a change does not share with the snapshot
 * before it. Prints one line per N and, last, how much more a change costs
 * at the largest N than at the smallest (target: within 3x).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct flag *make(const char *name, int64_t id, bool enabled)
{
    struct flag_row row = {.name = name, .id = id, .is_enabled = enabled};
    struct flag *f = flag_create(&row, NULL);

    if (f == NULL)
        abort();
    return f;
}

/* Microseconds per change at n flags. */
static double measure(int n)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    struct snapshot_builder *b = snapshot_builder_create();
    struct snapshot *snap;
    char name[32];
    double t0, t1, t2, t3, t4;
    int changes = 3000, lookups = 1000000, found = 0;
    size_t list_bytes;

    t0 = now_s();
    for (int i = 0; i < n; i++) {
        struct flag *f;
        snprintf(name, sizeof name, "flag-%07d", i);
        f = make(name, i, i % 2);
        snapshot_builder_add(b, f);
        flag_unref(f);
    }
    snapshot_load_begin(cell);
    snapshot_load_publish(cell, snapshot_builder_finish(b));
    t1 = now_s();
    for (int i = 0; i < changes; i++) {
        struct flag *f;
        switch (i % 3) {
        case 0:   /* replace an existing flag */
            snprintf(name, sizeof name, "flag-%07d", (i * 7919) % n);
            break;
        case 1:   /* create a new one */
            snprintf(name, sizeof name, "flag-%07d-new", (i * 104729) % n);
            break;
        default:  /* delete the one just created */
            snprintf(name, sizeof name, "flag-%07d-new", ((i - 1) * 104729) % n);
            snapshot_remove(cell, name, strlen(name));
            continue;
        }
        f = make(name, n + i, i % 2);
        snapshot_put(cell, f);
        flag_unref(f);
    }
    t2 = now_s();
    snap = snapshot_acquire(cell);
    char (*names)[32] = malloc(1024 * sizeof *names);
    for (int i = 0; i < 1024; i++)
        snprintf(names[i], sizeof names[i], "flag-%07d", (i * 104729) % n);
    t3 = now_s();
    for (int i = 0; i < lookups; i++)
        found += snapshot_find(snap, names[i & 1023], 12) != NULL;
    t4 = now_s();
    {
        struct iovec *parts = malloc(snapshot_list_part_count(snap) * sizeof *parts);
        list_bytes = snapshot_list_parts(snap, parts);
        free(parts);
    }
    printf("snapshot %8d flags: build %8.1f ms, one change %7.2f us, lookup %4.0f ns (%d found), "
           "list %zu bytes in %zu parts\n",
           n, (t1 - t0) * 1e3, (t2 - t1) * 1e6 / changes, (t4 - t3) * 1e9 / lookups, found, list_bytes,
           snapshot_list_part_count(snap));
    free(names);
    snapshot_release(snap);
    snapshot_cell_destroy(cell);
    return (t2 - t1) * 1e6 / changes;
}

int main(void)
{
    static const int sizes[] = {1000, 10000, 100000, 1000000};
    double cost[4];

    for (int i = 0; i < 4; i++)
        cost[i] = measure(sizes[i]);
    printf("snapshot: one change at 1M flags costs %.2fx what it costs at 1k (target <= 3x)\n",
           cost[3] / cost[0]);
    return 0;
}
