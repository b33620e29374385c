/*
 * usage — per-thread evaluation counts and the usage view. See usage.h.
 */
#include "usage.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* ---- one thread's table ---------------------------------------------------- */

struct usage_entry {
    uint64_t hash;             /* 0: an empty slot */
    char *flag;                /* one allocation: flag NUL variant NUL */
    const char *variant;
    enum flag_reason reason;
    uint64_t count, collecting, written;
    int64_t first_s, last_s;
};

struct usage_table {
    pthread_mutex_t lock;      /* taken by its thread per count, by readers per table */
    struct usage_entry *slots;
    size_t cap, used;          /* cap is 0 or a power of two */
};

static void table_init(void *block)
{
    struct usage_table *t = block;

    pthread_mutex_init(&t->lock, NULL);
}

static void table_fini(void *block)
{
    struct usage_table *t = block;

    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].flag);
    free(t->slots);
    pthread_mutex_destroy(&t->lock);
}

/* Serializes the readers (totals, commit, prune): prune frees the strings
 * the totals hand out. */
static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;

void usage_init(struct usage *u)
{
    perthread_init(&u->threads, sizeof(struct usage_table), table_init, table_fini);
    atomic_init(&u->dropped, 0);
}

void usage_destroy(struct usage *u)
{
    perthread_destroy(&u->threads);
}

/* FNV-1a: variant names are short. */
static uint64_t bytes_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static uint64_t triple_hash(uint64_t flag_hash, const char *variant, size_t variant_len, enum flag_reason reason)
{
    uint64_t h = flag_hash ^ (bytes_hash(variant, variant_len) * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)reason << 57);

    return h == 0 ? 1 : h;
}

static bool entry_is(const struct usage_entry *e, uint64_t hash, const char *flag, size_t flag_len,
                     const char *variant, size_t variant_len, enum flag_reason reason)
{
    return e->hash == hash && e->reason == reason && strncmp(e->flag, flag, flag_len) == 0 &&
           e->flag[flag_len] == '\0' && strncmp(e->variant, variant, variant_len) == 0 &&
           e->variant[variant_len] == '\0';
}

/* Doubles the table (or makes the first one): -1 when out of memory. */
static int table_grow(struct usage_table *t)
{
    size_t cap = t->cap ? 2 * t->cap : 64;
    struct usage_entry *slots = calloc(cap, sizeof *slots);

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        const struct usage_entry *e = &t->slots[i];
        size_t at;
        if (e->hash == 0)
            continue;
        for (at = e->hash & (cap - 1); slots[at].hash != 0; at = (at + 1) & (cap - 1))
            ;
        slots[at] = *e;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

void usage_count_held(struct usage *u, struct usage_table *t, const struct flag *flag,
                      const struct flag_result *result, int64_t now_s)
{
    const char *variant = result->variant ? result->variant->name : "";
    size_t variant_len = result->variant ? result->variant->name_len : 0;
    uint64_t hash;
    size_t at;
    struct usage_entry *e;

    if (variant_len > USAGE_VARIANT_MAX)
        variant_len = USAGE_VARIANT_MAX;
    hash = triple_hash(flag->name_hash, variant, variant_len, result->reason);
    if (t->cap > 0) {
        for (at = hash & (t->cap - 1); t->slots[at].hash != 0; at = (at + 1) & (t->cap - 1)) {
            e = &t->slots[at];
            if (entry_is(e, hash, flag->name, flag->name_len, variant, variant_len, result->reason)) {
                e->count++;
                e->last_s = now_s;
                return;
            }
        }
    }
    /* A new triple. The table stays at most half full. */
    if (t->used >= USAGE_MAX_ENTRIES || ((t->used + 1) * 2 > t->cap && table_grow(t) != 0)) {
        atomic_fetch_add_explicit(&u->dropped, 1, memory_order_relaxed);
        return;
    }
    for (at = hash & (t->cap - 1); t->slots[at].hash != 0; at = (at + 1) & (t->cap - 1))
        ;
    e = &t->slots[at];
    e->flag = malloc(flag->name_len + 1 + variant_len + 1);
    if (e->flag == NULL) {
        atomic_fetch_add_explicit(&u->dropped, 1, memory_order_relaxed);
        return;
    }
    memcpy(e->flag, flag->name, flag->name_len + 1);
    memcpy(e->flag + flag->name_len + 1, variant, variant_len);
    e->flag[flag->name_len + 1 + variant_len] = '\0';
    e->variant = e->flag + flag->name_len + 1;
    e->hash = hash;
    e->reason = result->reason;
    e->count = 1;
    e->collecting = e->written = 0;
    e->first_s = e->last_s = now_s;
    t->used++;
}

struct usage_table *usage_hold(struct usage *u)
{
    struct usage_table *t = perthread_get(&u->threads);

    if (t != NULL)
        pthread_mutex_lock(&t->lock);
    return t;
}

void usage_release(struct usage_table *t)
{
    pthread_mutex_unlock(&t->lock);
}

void usage_count(struct usage *u, const struct flag *flag, const struct flag_result *result, int64_t now_s)
{
    struct usage_table *t = usage_hold(u);

    if (t == NULL) {
        atomic_fetch_add_explicit(&u->dropped, 1, memory_order_relaxed);
        return;
    }
    usage_count_held(u, t, flag, result, now_s);
    usage_release(t);
}

/* ---- reading: totals over threads -------------------------------------------- */

struct merged {
    struct usage_total *items;  /* open addressing by hash; count == 0: empty */
    uint64_t *hashes;
    size_t cap, used;
    bool collect, failed;
};

static int merged_grow(struct merged *m)
{
    size_t cap = m->cap ? 2 * m->cap : 256;
    struct usage_total *items = calloc(cap, sizeof *items);
    uint64_t *hashes = calloc(cap, sizeof *hashes);

    if (items == NULL || hashes == NULL) {
        free(items);
        free(hashes);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        size_t at;
        if (m->hashes[i] == 0)
            continue;
        for (at = m->hashes[i] & (cap - 1); hashes[at] != 0; at = (at + 1) & (cap - 1))
            ;
        hashes[at] = m->hashes[i];
        items[at] = m->items[i];
    }
    free(m->items);
    free(m->hashes);
    m->items = items;
    m->hashes = hashes;
    m->cap = cap;
    return 0;
}

static void merge_entry(struct merged *m, const struct usage_entry *e)
{
    size_t at;
    struct usage_total *total;

    if ((m->used + 1) * 2 > m->cap && merged_grow(m) != 0) {
        m->failed = true;
        return;
    }
    for (at = e->hash & (m->cap - 1); m->hashes[at] != 0; at = (at + 1) & (m->cap - 1)) {
        total = &m->items[at];
        if (m->hashes[at] == e->hash && total->reason == e->reason && strcmp(total->flag, e->flag) == 0 &&
            strcmp(total->variant, e->variant) == 0)
            goto add;
    }
    m->hashes[at] = e->hash;
    total = &m->items[at];
    total->flag = e->flag;
    total->variant = e->variant;
    total->reason = e->reason;
    total->first_s = e->first_s;
    m->used++;
add:
    total->count += e->count;
    total->unwritten += e->count - e->written;
    if (e->first_s < total->first_s)
        total->first_s = e->first_s;
    if (e->last_s > total->last_s)
        total->last_s = e->last_s;
}

static void merge_table(void *ctx, void *block)
{
    struct merged *m = ctx;
    struct usage_table *t = block;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++) {
        struct usage_entry *e = &t->slots[i];
        if (e->hash == 0)
            continue;
        if (m->collect)
            e->collecting = e->count;
        merge_entry(m, e);
    }
    pthread_mutex_unlock(&t->lock);
}

void usage_totals(struct usage *u, bool collect, usage_total_fn fn, void *ctx)
{
    struct merged m = {.collect = collect};

    pthread_mutex_lock(&readers_lock);
    perthread_each(&u->threads, merge_table, &m);
    for (size_t i = 0; i < m.cap; i++)
        if (m.hashes[i] != 0)
            fn(ctx, &m.items[i]);
    pthread_mutex_unlock(&readers_lock);
    free(m.items);
    free(m.hashes);
}

static void commit_table(void *ctx, void *block)
{
    bool written = *(bool *)ctx;
    struct usage_table *t = block;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++) {
        struct usage_entry *e = &t->slots[i];
        if (e->hash != 0 && written && e->collecting > e->written)
            e->written = e->collecting;
        e->collecting = 0;
    }
    pthread_mutex_unlock(&t->lock);
}

void usage_commit(struct usage *u, bool written)
{
    pthread_mutex_lock(&readers_lock);
    perthread_each(&u->threads, commit_table, &written);
    pthread_mutex_unlock(&readers_lock);
}

struct prune {
    bool (*keep)(void *ctx, const char *flag);
    void *ctx;
};

static void prune_table(void *ctx, void *block)
{
    struct prune *p = ctx;
    struct usage_table *t = block;
    struct usage_table kept = {.cap = 0};
    bool any = false;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap && !any; i++)
        any = t->slots[i].hash != 0 && t->slots[i].count == t->slots[i].written && !p->keep(p->ctx, t->slots[i].flag);
    if (any) {
        /* Rebuild without them: reinsert what stays into a fresh table. */
        kept.cap = t->cap;
        kept.slots = calloc(kept.cap, sizeof *kept.slots);
        for (size_t i = 0; kept.slots != NULL && i < t->cap; i++) {
            struct usage_entry *e = &t->slots[i];
            size_t at;
            if (e->hash == 0)
                continue;
            if (e->count == e->written && !p->keep(p->ctx, e->flag)) {
                free(e->flag);
                continue;
            }
            for (at = e->hash & (kept.cap - 1); kept.slots[at].hash != 0; at = (at + 1) & (kept.cap - 1))
                ;
            kept.slots[at] = *e;
            kept.used++;
        }
        if (kept.slots != NULL) {
            free(t->slots);
            t->slots = kept.slots;
            t->used = kept.used;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void usage_prune(struct usage *u, bool (*keep)(void *ctx, const char *flag), void *ctx)
{
    struct prune p = {keep, ctx};

    pthread_mutex_lock(&readers_lock);
    perthread_each(&u->threads, prune_table, &p);
    pthread_mutex_unlock(&readers_lock);
}

/* ---- the usage view ------------------------------------------------------------- */

/* `,"last_evaluated_at":"YYYY-MM-DDTHH:MM:SSZ"}` and its NUL. */
#define VIEW_TAIL_MAX 48

struct view_slot {
    uint64_t hash;             /* 0: empty */
    int64_t last_s;
    char *name;
    char tail[VIEW_TAIL_MAX];
};

static const char never_evaluated_tail[] = ",\"last_evaluated_at\":null}";

static void render_tail(struct view_slot *s)
{
    char when[24];

    text_format_time(s->last_s, when, sizeof when);
    snprintf(s->tail, sizeof s->tail, ",\"last_evaluated_at\":\"%s\"}", when);
}

struct usage_view {
    atomic_long refs;
    size_t cap, used;
    struct view_slot *slots;
};

struct usage_view *usage_view_create(size_t expected)
{
    struct usage_view *v = calloc(1, sizeof *v);
    size_t cap = 16;

    while (cap < 2 * expected + 2)
        cap *= 2;
    if (v == NULL || (v->slots = calloc(cap, sizeof *v->slots)) == NULL) {
        free(v);
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->cap = cap;
    return v;
}

static uint64_t view_hash(const char *name, size_t len)
{
    uint64_t h = flag_name_hash(name, len);

    return h == 0 ? 1 : h;
}

static struct view_slot *view_find(const struct usage_view *v, const char *name, size_t len, uint64_t hash)
{
    size_t at;

    for (at = hash & (v->cap - 1); v->slots[at].hash != 0; at = (at + 1) & (v->cap - 1))
        if (v->slots[at].hash == hash && strncmp(v->slots[at].name, name, len) == 0 && v->slots[at].name[len] == '\0')
            return &v->slots[at];
    return &v->slots[at];   /* the empty slot where it would go */
}

int usage_view_set(struct usage_view *v, const char *name, size_t len, int64_t last_s)
{
    uint64_t hash = view_hash(name, len);
    struct view_slot *s = view_find(v, name, len, hash);

    if (s->hash != 0) {
        if (last_s > s->last_s) {
            s->last_s = last_s;
            render_tail(s);
        }
        return 0;
    }
    if ((v->used + 1) * 2 > v->cap) {
        struct view_slot *old = v->slots;
        size_t old_cap = v->cap;
        struct view_slot *slots = calloc(2 * old_cap, sizeof *slots);
        if (slots == NULL)
            return -1;
        v->slots = slots;
        v->cap = 2 * old_cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].hash != 0)
                *view_find(v, old[i].name, strlen(old[i].name), old[i].hash) = old[i];
        free(old);
        s = view_find(v, name, len, hash);
    }
    if ((s->name = strndup(name, len)) == NULL)
        return -1;
    s->hash = hash;
    s->last_s = last_s;
    render_tail(s);
    v->used++;
    return 0;
}

int64_t usage_view_last(const struct usage_view *v, const char *name, size_t len)
{
    const struct view_slot *s;

    if (v == NULL || v->used == 0)
        return 0;
    s = view_find(v, name, len, view_hash(name, len));
    return s->hash != 0 ? s->last_s : 0;
}

const char *usage_view_json_tail(const struct usage_view *v, const char *name, size_t len, size_t *tail_len)
{
    const struct view_slot *s = v != NULL && v->used > 0 ? view_find(v, name, len, view_hash(name, len)) : NULL;

    if (s == NULL || s->hash == 0 || s->last_s <= 0) {
        *tail_len = sizeof never_evaluated_tail - 1;
        return never_evaluated_tail;
    }
    *tail_len = strlen(s->tail);
    return s->tail;
}

size_t usage_view_count(const struct usage_view *v)
{
    return v ? v->used : 0;
}

struct usage_view *usage_view_ref(struct usage_view *v)
{
    if (v != NULL)
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

void usage_view_unref(struct usage_view *v)
{
    if (v == NULL || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < v->cap; i++)
        free(v->slots[i].name);
    free(v->slots);
    free(v);
}
