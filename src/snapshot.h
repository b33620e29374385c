/*
 * snapshot — the immutable in-memory catalogue that serves reads.
 *
 * Owns: the committed flags (held by pointer, struct flag), two persistent
 * structures over them, the flag set they share (flagset.h: evaluators and
 * flag-set metadata, with every flag's $refs resolved against it), the API
 * keys (auth.h: a keyring, so checking a key needs no I/O), and the cell
 * that holds the current snapshot.
 *
 *  - The index: a hash array mapped trie (CHAMP layout, 32-way, keyed by
 *    flag_name_hash) for `GET /flags/<name>`: at most ceil(64/5) levels, in
 *    practice log32(n): 3 node visits at 10k flags, 4 at 1M.
 *  - The order: a B+tree of flags sorted by name (byte order). Each leaf
 *    holds up to SNAPSHOT_LEAF_MAX flags and the pre-rendered JSON of those
 *    flags as list elements (",{...},{...}"), so the `GET /flags` body is
 *    "[" + the leaves' texts + "]", sent with writev without being copied.
 *
 * Both are persistent: a change copies only the nodes on the path to it
 * (path copying) and shares everything else with the previous snapshot. One
 * change costs O(SNAPSHOT_LEAF_MAX + fan-out x depth), whatever the
 * catalogue's size, and a response that pins an old snapshot pins only the
 * nodes the current one no longer shares.
 *
 * Concurrency. A snapshot never changes after it is published. Writers (store
 * workers after a commit, the sync thread) make the next snapshot from the
 * current one plus a change and publish it with one atomic pointer exchange;
 * making and publishing are serialized by the cell's lock, which readers
 * never take. Readers call snapshot_acquire(), which returns a counted
 * reference; a response that points into the snapshot's texts holds it until
 * the transport has sent it.
 *
 * The gap between loading the pointer and counting the reference is closed
 * with one hazard pointer per reader thread: a reader announces the snapshot
 * it is about to count, re-checks that it is still current, counts it and
 * clears the announcement. After an exchange the publisher waits until no
 * thread announces the old snapshot before dropping the cell's reference.
 * Readers never wait and never take a lock (a thread beyond the
 * SNAPSHOT_MAX_READER_THREADS slots falls back to the cell's lock). Thread
 * slot numbers come from one process-wide counter: the only global mutable
 * state outside the server context (app.h), fixed once per thread.
 *
 * Lock order: a flag name lock (app.h) may be held when calling into this
 * module; the cell lock is taken inside it and is never held while calling
 * out, so nothing waits for I/O while holding it.
 */
#ifndef TM_SNAPSHOT_H
#define TM_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "auth.h"
#include "flag.h"
#include "flagset.h"
#include "usage.h"

#define SNAPSHOT_MAX_READER_THREADS 1024
/* Flags per leaf of the order (and so per part of the list body), and
 * children per inner node. A change re-renders one leaf and copies one node
 * per level. */
#define SNAPSHOT_LEAF_MAX 64
#define SNAPSHOT_FANOUT 32
/* Depth bound of the order tree: 64 x 32^7 flags, far beyond memory. */
#define SNAPSHOT_MAX_DEPTH 8

struct snapshot_index_node;
struct snapshot_order_node;

struct snapshot {
    atomic_long refs;
    uint64_t generation;       /* increases with every publish */
    size_t count;              /* flags */
    struct snapshot_index_node *index;   /* NULL when empty */
    struct snapshot_order_node *order;   /* NULL when empty */
    struct flagset *flagset;   /* evaluators and flag-set metadata; never NULL */
    struct keyring *keyring;   /* the API keys (auth.h); never NULL */
    struct usage_view *usage;  /* when each flag was last evaluated (usage.h), or NULL */
};

struct snapshot_cell;

struct snapshot_cell *snapshot_cell_create(void);
void snapshot_cell_destroy(struct snapshot_cell *cell);

/* Counted reference to the current snapshot, or NULL before the first
 * publish. Never blocks. Pair with snapshot_release(). */
struct snapshot *snapshot_acquire(struct snapshot_cell *cell);
void snapshot_release(struct snapshot *snap);

/* The number of publishes so far. */
uint64_t snapshot_cell_generation(struct snapshot_cell *cell);

/* ---- changes (writers) -------------------------------------------------- */

/* Publishes a snapshot with `flag` in place of any flag of the same name (the
 * snapshot takes its own reference, to flag or to a copy bound to its flag
 * set). Before the first load this does
 * nothing but note the name for the load in progress. 0, or -1 when out of
 * memory (nothing changes). */
int snapshot_put(struct snapshot_cell *cell, struct flag *flag);
/* Publishes a snapshot without the flag called name[0..len), if any. */
int snapshot_remove(struct snapshot_cell *cell, const char *name, size_t len);
/* Publishes a snapshot with another flag set (the snapshot takes its own
 * reference); every flag whose rule uses $ref is compiled again against it
 * (O(flags): sets change rarely). Before the first load this only notes
 * that the set changed. 0, or -1 when out of memory. */
int snapshot_set_flagset(struct snapshot_cell *cell, struct flagset *set);

/* Publishes a snapshot with other keys (the snapshot takes its own
 * reference). Before the first load this only notes that the keys
 * changed. 0, or -1 when out of memory. */
int snapshot_set_keyring(struct snapshot_cell *cell, struct keyring *ring);

/* Publishes a snapshot with another usage view (a reference is taken;
 * NULL: none). Loads keep the current view. 0, or -1 when out of memory. */
int snapshot_set_usage(struct snapshot_cell *cell, struct usage_view *usage);
/* CLOCK_MONOTONIC milliseconds of the last full load published (0: none):
 * when the catalogue was last confirmed against the store. */
long long snapshot_cell_loaded_ms(struct snapshot_cell *cell);

/* ---- full loads (initial load, resync) ---------------------------------- */

/* A load reads every flag from the store outside any lock of ours, while
 * local writes go on. It begins with snapshot_load_begin(), which starts
 * noting every name put or removed; snapshot_load_publish() then publishes
 * the loaded snapshot with, for each noted name, the state the current
 * snapshot holds (a write that committed during the read is at least as new
 * as what the read saw); the same for the flag set when it was replaced
 * during the load. Returns 0 when published, 1 when the load must be
 * repeated (a write came in before anything was loaded, so there is no
 * current state to take), -1 when out of memory. Either way it takes over
 * `loaded`. Only one load at a time (the sync thread's). */
void snapshot_load_begin(struct snapshot_cell *cell);
int snapshot_load_publish(struct snapshot_cell *cell, struct snapshot *loaded);
void snapshot_load_abort(struct snapshot_cell *cell);

/* Building a whole snapshot: add flags in any order (the builder takes its
 * own references), then finish. When a name repeats, the last added wins.
 * The flag set (an empty one unless set) binds the flags' $refs. */
struct snapshot_builder;
struct snapshot_builder *snapshot_builder_create(void);
int snapshot_builder_add(struct snapshot_builder *b, struct flag *flag);
void snapshot_builder_set_flagset(struct snapshot_builder *b, struct flagset *set);
/* The keys (an empty keyring unless set). */
void snapshot_builder_set_keyring(struct snapshot_builder *b, struct keyring *ring);
/* NULL when out of memory; frees b either way. */
struct snapshot *snapshot_builder_finish(struct snapshot_builder *b);
void snapshot_builder_abort(struct snapshot_builder *b);

/* ---- reads -------------------------------------------------------------- */

const struct flag *snapshot_find(const struct snapshot *snap, const char *name, size_t len);

/* The `GET /flags` body as parts to send in order: "[", each leaf's text,
 * "]". snapshot_list_part_count() says how many iovecs snapshot_list_parts()
 * fills; the parts point into snap and stay valid while it is held. Returns
 * the body's total length. */
size_t snapshot_list_part_count(const struct snapshot *snap);
size_t snapshot_list_parts(const struct snapshot *snap, struct iovec *parts);

/* Walking flags in name order from a position. */
struct snapshot_cursor {
    const struct snapshot_order_node *path[SNAPSHOT_MAX_DEPTH];
    unsigned at[SNAPSHOT_MAX_DEPTH];
    int depth;                 /* -1: at the end */
};
/* Positions cur before the first flag whose name sorts strictly after
 * after[0..len) (len 0: the first flag). */
void snapshot_cursor_after(const struct snapshot *snap, const char *after, size_t len,
                           struct snapshot_cursor *cur);
/* The next flag in order, or NULL at the end. */
const struct flag *snapshot_cursor_next(struct snapshot_cursor *cur);

#endif
