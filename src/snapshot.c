/*
 * snapshot — immutable in-memory view of all flags. See snapshot.h for the
 * concurrency model.
 */
#include "snapshot.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "flag.h"

/* One hazard pointer per reader thread, each on its own cache line so that
 * readers on different cores never write the same line. */
struct hazard_slot {
    _Atomic(struct snapshot *) announced;
    char pad[64 - sizeof(void *)];
};

struct snapshot_cell {
    _Atomic(struct snapshot *) current;
    pthread_mutex_t lock;
    _Atomic uint64_t generation;
    atomic_int slots_used;
    struct hazard_slot slots[SNAPSHOT_MAX_READER_THREADS];
};

/* A thread's slot number, shared by every cell (a process has one cell in
 * practice; tests may create several). -1: not assigned yet; -2: none left. */
static _Thread_local int thread_slot = -1;
static atomic_int next_thread_slot;

struct snapshot_builder {
    struct snapshot_flag **flags;
    size_t count, capacity;
};

/* ---- records ---------------------------------------------------------- */

static struct snapshot_flag *record_create(const char *name, int64_t id, bool is_enabled)
{
    struct snapshot_flag *f = calloc(1, sizeof *f);

    if (f == NULL)
        return NULL;
    atomic_init(&f->refs, 1);
    f->id = id;
    f->is_enabled = is_enabled;
    f->name_len = strlen(name);
    f->name = strdup(name);
    f->body = flag_render(name, is_enabled, &f->body_len);
    if (f->name == NULL || f->body == NULL) {
        free(f->name);
        free(f->body);
        free(f);
        return NULL;
    }
    return f;
}

static void record_release(struct snapshot_flag *f)
{
    if (f != NULL && atomic_fetch_sub(&f->refs, 1) == 1) {
        free(f->name);
        free(f->body);
        free(f);
    }
}

static int compare_names(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int compare_records(const void *pa, const void *pb)
{
    const struct snapshot_flag *a = *(struct snapshot_flag *const *)pa;
    const struct snapshot_flag *b = *(struct snapshot_flag *const *)pb;
    return compare_names(a->name, a->name_len, b->name, b->name_len);
}

/* ---- snapshots -------------------------------------------------------- */

/* FNV-1a: short keys, no attacker-controlled collisions worth a keyed hash
 * since names are validated and inserted only by authenticated writers. */
static uint64_t hash_name(const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void snapshot_free(struct snapshot *snap)
{
    for (size_t i = 0; i < snap->count; i++)
        record_release(snap->flags[i]);
    free(snap->flags);
    free(snap->index);
    free(snap->list_body);
    free(snap);
}

void snapshot_release(struct snapshot *snap)
{
    if (snap != NULL && atomic_fetch_sub(&snap->refs, 1) == 1)
        snapshot_free(snap);
}

/* Takes ownership of flags[0..count) (sorted, unique names) and builds the
 * index and list body around them. On failure releases them. */
static struct snapshot *snapshot_assemble(struct snapshot_flag **flags, size_t count)
{
    struct snapshot *snap = calloc(1, sizeof *snap);
    size_t capacity = 16, list_len = 2;
    char *p;

    if (snap == NULL)
        goto err;
    atomic_init(&snap->refs, 1);
    snap->flags = flags;
    snap->count = count;
    flags = NULL;

    while (capacity < 2 * snap->count)
        capacity *= 2;
    snap->index = calloc(capacity, sizeof *snap->index);
    if (snap->index == NULL)
        goto err;
    snap->index_mask = capacity - 1;
    for (size_t i = 0; i < snap->count; i++) {
        const struct snapshot_flag *f = snap->flags[i];
        size_t slot = hash_name(f->name, f->name_len) & snap->index_mask;
        while (snap->index[slot] != 0)
            slot = (slot + 1) & snap->index_mask;
        snap->index[slot] = (uint32_t)(i + 1);
        list_len += f->body_len + 1;
    }

    snap->list_body = malloc(list_len);
    if (snap->list_body == NULL)
        goto err;
    p = snap->list_body;
    *p++ = '[';
    for (size_t i = 0; i < snap->count; i++) {
        if (i > 0)
            *p++ = ',';
        memcpy(p, snap->flags[i]->body, snap->flags[i]->body_len);
        p += snap->flags[i]->body_len;
    }
    *p++ = ']';
    snap->list_len = (size_t)(p - snap->list_body);
    return snap;

err:
    if (snap != NULL) {
        snapshot_free(snap);
    } else {
        for (size_t i = 0; i < count; i++)
            record_release(flags[i]);
        free(flags);
    }
    return NULL;
}

const struct snapshot_flag *snapshot_find(const struct snapshot *snap, const char *name, size_t len)
{
    size_t slot = hash_name(name, len) & snap->index_mask;
    uint32_t at;

    while ((at = snap->index[slot]) != 0) {
        const struct snapshot_flag *f = snap->flags[at - 1];
        if (f->name_len == len && memcmp(f->name, name, len) == 0)
            return f;
        slot = (slot + 1) & snap->index_mask;
    }
    return NULL;
}

/* First position whose name is >= name (or > name when strictly is set). */
static size_t lower_bound(const struct snapshot *snap, const char *name, size_t len, bool strictly)
{
    size_t lo = 0, hi = snap->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct snapshot_flag *f = snap->flags[mid];
        int c = compare_names(f->name, f->name_len, name, len);
        if (c < 0 || (strictly && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t snapshot_position_after(const struct snapshot *snap, const char *after, size_t len)
{
    return lower_bound(snap, after, len, true);
}

/* ---- building --------------------------------------------------------- */

struct snapshot_builder *snapshot_builder_create(void)
{
    return calloc(1, sizeof(struct snapshot_builder));
}

void snapshot_builder_abort(struct snapshot_builder *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->count; i++)
        record_release(b->flags[i]);
    free(b->flags);
    free(b);
}

int snapshot_builder_add(struct snapshot_builder *b, const char *name, int64_t id, bool is_enabled)
{
    struct snapshot_flag *f;

    if (b->count == b->capacity) {
        size_t capacity = b->capacity ? 2 * b->capacity : 64;
        struct snapshot_flag **grown = realloc(b->flags, capacity * sizeof *grown);
        if (grown == NULL)
            return -1;
        b->flags = grown;
        b->capacity = capacity;
    }
    f = record_create(name, id, is_enabled);
    if (f == NULL)
        return -1;
    b->flags[b->count++] = f;
    return 0;
}

struct snapshot *snapshot_builder_finish(struct snapshot_builder *b)
{
    struct snapshot_flag **flags = b->flags;
    size_t count = b->count, kept = 0;

    free(b);
    if (count > UINT32_MAX - 1) {
        for (size_t i = 0; i < count; i++)
            record_release(flags[i]);
        free(flags);
        return NULL;
    }
    /* A stable order is not needed: names are unique in the store. Should a
     * name repeat anyway, keep one record of it. */
    if (count > 1)
        qsort(flags, count, sizeof *flags, compare_records);
    for (size_t i = 0; i < count; i++) {
        if (kept > 0 && compare_records(&flags[kept - 1], &flags[i]) == 0) {
            record_release(flags[kept - 1]);
            kept--;
        }
        flags[kept++] = flags[i];
    }
    if (flags == NULL)
        flags = malloc(sizeof *flags);  /* an empty catalogue is still a snapshot */
    return snapshot_assemble(flags, kept);
}

/* ---- the cell --------------------------------------------------------- */

struct snapshot_cell *snapshot_cell_create(void)
{
    struct snapshot_cell *cell = calloc(1, sizeof *cell);

    if (cell == NULL)
        return NULL;
    if (pthread_mutex_init(&cell->lock, NULL) != 0) {
        free(cell);
        return NULL;
    }
    return cell;
}

void snapshot_cell_destroy(struct snapshot_cell *cell)
{
    if (cell == NULL)
        return;
    snapshot_release(atomic_load(&cell->current));
    pthread_mutex_destroy(&cell->lock);
    free(cell);
}

uint64_t snapshot_cell_generation(struct snapshot_cell *cell)
{
    return atomic_load(&cell->generation);
}

void snapshot_cell_lock(struct snapshot_cell *cell)
{
    pthread_mutex_lock(&cell->lock);
}

void snapshot_cell_unlock(struct snapshot_cell *cell)
{
    pthread_mutex_unlock(&cell->lock);
}

static struct hazard_slot *my_slot(struct snapshot_cell *cell)
{
    if (thread_slot == -1) {
        int slot = atomic_fetch_add(&next_thread_slot, 1);
        thread_slot = slot < SNAPSHOT_MAX_READER_THREADS ? slot : -2;
    }
    if (thread_slot < 0)
        return NULL;
    /* Publishers scan slots [0, slots_used): make ours visible first. */
    int used = atomic_load(&cell->slots_used);
    while (used <= thread_slot &&
           !atomic_compare_exchange_weak(&cell->slots_used, &used, thread_slot + 1))
        ;
    return &cell->slots[thread_slot];
}

struct snapshot *snapshot_acquire(struct snapshot_cell *cell)
{
    struct hazard_slot *hazard = my_slot(cell);
    struct snapshot *snap;

    if (hazard == NULL) {
        pthread_mutex_lock(&cell->lock);
        snap = atomic_load(&cell->current);
        if (snap != NULL)
            atomic_fetch_add(&snap->refs, 1);
        pthread_mutex_unlock(&cell->lock);
        return snap;
    }
    for (;;) {
        snap = atomic_load(&cell->current);
        atomic_store(&hazard->announced, snap);
        if (atomic_load(&cell->current) == snap)
            break;
    }
    if (snap != NULL)
        atomic_fetch_add(&snap->refs, 1);
    atomic_store_explicit(&hazard->announced, NULL, memory_order_release);
    return snap;
}

void snapshot_publish(struct snapshot_cell *cell, struct snapshot *snap)
{
    struct snapshot *old;
    int used;

    snap->generation = atomic_fetch_add(&cell->generation, 1) + 1;
    old = atomic_exchange(&cell->current, snap);
    if (old == NULL)
        return;
    used = atomic_load(&cell->slots_used);
    for (int i = 0; i < used; i++) {
        while (atomic_load(&cell->slots[i].announced) == old)
            sched_yield();
    }
    snapshot_release(old);
}

int snapshot_apply(struct snapshot_cell *cell, const struct snapshot_change *change)
{
    struct snapshot *cur, *next;
    struct snapshot_flag **flags, *record = NULL;
    size_t len = strlen(change->name), pos, count;
    bool exists;

    snapshot_cell_lock(cell);
    /* Count every change, even one that alters nothing here: a load in
     * progress may have read the store before it committed, and must retry. */
    atomic_fetch_add(&cell->generation, 1);
    cur = atomic_load(&cell->current);
    if (cur == NULL) {
        snapshot_cell_unlock(cell);
        return 0;
    }
    pos = lower_bound(cur, change->name, len, false);
    exists = pos < cur->count &&
             compare_names(cur->flags[pos]->name, cur->flags[pos]->name_len, change->name, len) == 0;
    if (change->kind == SNAPSHOT_DELETE && !exists) {
        snapshot_cell_unlock(cell);
        return 0;
    }
    if (change->kind == SNAPSHOT_UPSERT) {
        record = record_create(change->name, change->id, change->is_enabled);
        if (record == NULL)
            goto oom;
    }

    count = cur->count + (record != NULL) - exists;
    flags = malloc((count ? count : 1) * sizeof *flags);
    if (flags == NULL)
        goto oom;
    /* Copy [0,pos), then the new record if any, then the rest after the
     * replaced or deleted one; every shared record gains a reference. */
    memcpy(flags, cur->flags, pos * sizeof *flags);
    size_t out = pos;
    if (record != NULL)
        flags[out++] = record;
    size_t rest = pos + exists;
    memcpy(flags + out, cur->flags + rest, (cur->count - rest) * sizeof *flags);
    for (size_t i = 0; i < count; i++)
        if (flags[i] != record)
            atomic_fetch_add(&flags[i]->refs, 1);

    next = snapshot_assemble(flags, count);
    if (next == NULL) {
        snapshot_cell_unlock(cell);
        return -1;
    }
    snapshot_publish(cell, next);
    snapshot_cell_unlock(cell);
    return 0;

oom:
    record_release(record);
    snapshot_cell_unlock(cell);
    return -1;
}
