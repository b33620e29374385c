/*
 * snapshot — the immutable in-memory view of all flags that serves reads.
 *
 * Owns: the flag records as last committed to the store, their pre-rendered
 * JSON bodies (one per flag, plus the full `GET /flags` list), the name index,
 * and the cell that holds the current snapshot.
 *
 * Concurrency model. A snapshot never changes after it is built. Writers
 * (store workers after a commit, the resync thread) build a new snapshot from
 * the current one plus a change, then publish it with one atomic pointer
 * exchange; rebuilds are serialized by the cell's mutex, which readers never
 * take. Readers call snapshot_acquire(), which returns a counted reference:
 * the response that points into the snapshot's pre-rendered bodies holds it
 * until libmicrohttpd has sent it, then releases it.
 *
 * The gap between loading the pointer and counting the reference is closed
 * with one hazard pointer per reader thread: a reader announces the snapshot
 * it is about to count, re-checks that it is still current, counts it and
 * clears the announcement. After an exchange the publisher waits until no
 * thread announces the old snapshot before dropping the cell's reference.
 * Readers never wait and never take a lock (a thread beyond the
 * SNAPSHOT_MAX_READER_THREADS slots falls back to the cell's mutex).
 *
 * Cost: a rebuild is O(n) in flags (records are shared between snapshots by
 * reference count, so only pointers are copied, but the list body and the
 * index are rebuilt). That keeps one write at 100k flags in the low
 * milliseconds; a chunked list body would make it O(changed) if it matters.
 */
#ifndef TM_SNAPSHOT_H
#define TM_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_MAX_READER_THREADS 1024

/* One flag as last committed. Immutable once built; shared by snapshots. */
struct snapshot_flag {
    atomic_long refs;
    int64_t id;                /* the store's row id */
    bool is_enabled;
    size_t name_len;
    char *name;
    size_t body_len;
    char *body;                /* {"name":...,"is_enabled":...} */
};

struct snapshot {
    atomic_long refs;
    uint64_t generation;       /* increases with every publish */
    size_t count;
    struct snapshot_flag **flags;  /* sorted by name, byte order */
    uint32_t *index;           /* open addressing: position + 1, 0 = empty */
    size_t index_mask;
    size_t list_len;
    char *list_body;           /* [flag,flag,...] */
};

/* A change to apply on top of a snapshot. */
struct snapshot_change {
    enum { SNAPSHOT_UPSERT, SNAPSHOT_DELETE } kind;
    const char *name;
    int64_t id;
    bool is_enabled;
};

struct snapshot_cell;

struct snapshot_cell *snapshot_cell_create(void);
void snapshot_cell_destroy(struct snapshot_cell *cell);

/* Counted reference to the current snapshot, or NULL before the first
 * publish. Never blocks. Pair with snapshot_release(). */
struct snapshot *snapshot_acquire(struct snapshot_cell *cell);
void snapshot_release(struct snapshot *snap);

/* The rebuild lock: hold it from reading the current snapshot to publishing
 * the next, so concurrent writers do not lose each other's changes. */
void snapshot_cell_lock(struct snapshot_cell *cell);
void snapshot_cell_unlock(struct snapshot_cell *cell);

/* Counts publishes and changes applied: a loader compares it before and
 * after reading the store to detect a write that raced with the read. */
uint64_t snapshot_cell_generation(struct snapshot_cell *cell);

/* Publishes snap (taking over the caller's reference) and drops the old one.
 * Call with the cell locked. */
void snapshot_publish(struct snapshot_cell *cell, struct snapshot *snap);

/* Applies one change to the current snapshot and publishes the result; takes
 * the lock itself. Returns 0, or -1 when out of memory (nothing changes). */
int snapshot_apply(struct snapshot_cell *cell, const struct snapshot_change *change);

/* Building a whole snapshot (initial load, resync): add rows in any order,
 * then finish. Duplicated names keep the last one added. */
struct snapshot_builder;
struct snapshot_builder *snapshot_builder_create(void);
int snapshot_builder_add(struct snapshot_builder *b, const char *name, int64_t id, bool is_enabled);
struct snapshot *snapshot_builder_finish(struct snapshot_builder *b); /* frees b */
void snapshot_builder_abort(struct snapshot_builder *b);

/* Lookups on an acquired snapshot. */
const struct snapshot_flag *snapshot_find(const struct snapshot *snap, const char *name, size_t len);
/* Position of the first flag whose name sorts strictly after `after`. */
size_t snapshot_position_after(const struct snapshot *snap, const char *after, size_t len);

#endif
