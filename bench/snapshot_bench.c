/*
 * Snapshot costs at catalogue scale (part of `make bench`, not a test):
 * building a snapshot of N flags (start-up, full resync), applying one
 * change (every write), and one lookup (every read). Prints one line per N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "snapshot.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void measure(int n)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    struct snapshot_builder *b = snapshot_builder_create();
    struct snapshot *snap;
    char name[32];
    double t0, t1, t2, t3;
    int changes = 200, lookups = 1000000, found = 0;

    t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "flag-%07d", i);
        snapshot_builder_add(b, name, i, i % 2);
    }
    snap = snapshot_builder_finish(b);
    snapshot_cell_lock(cell);
    snapshot_publish(cell, snap);
    snapshot_cell_unlock(cell);
    t1 = now_s();
    for (int i = 0; i < changes; i++) {
        struct snapshot_change c = {.kind = SNAPSHOT_UPSERT, .name = name, .id = i, .is_enabled = i % 2};
        snprintf(name, sizeof name, "flag-%07d", (i * 7919) % n);
        snapshot_apply(cell, &c);
    }
    t2 = now_s();
    snap = snapshot_acquire(cell);
    char (*names)[32] = malloc(1024 * sizeof *names);
    for (int i = 0; i < 1024; i++)
        snprintf(names[i], sizeof names[i], "flag-%07d", (i * 104729) % n);
    t3 = now_s();
    for (int i = 0; i < lookups; i++)
        found += snapshot_find(snap, names[i & 1023], 12) != NULL;
    double t4 = now_s();
    printf("snapshot %7d flags: build %8.1f ms, apply one change %7.3f ms, lookup %5.0f ns (%d found), list %zu bytes\n",
           n, (t1 - t0) * 1e3, (t2 - t1) * 1e3 / changes, (t4 - t3) * 1e9 / lookups, found, snap->list_len);
    free(names);
    snapshot_release(snap);
    snapshot_cell_destroy(cell);
}

int main(void)
{
    measure(100);
    measure(10000);
    measure(100000);
    return 0;
}
