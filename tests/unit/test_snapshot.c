/* Unit tests for snapshot.c: building, lookups, the list body, cursors,
 * changes, loads racing writes, and readers racing writers (run under ASan
 * and TSan in `make test`: a node freed while a reader holds it shows up
 * there).
 *
 * White-box: this file includes snapshot.c itself, so it can check the
 * structures' invariants after every change of a long random sequence
 * compared against a plain sorted array, and so it can swap the name hash
 * for weak ones that force deep trie paths and full 64-bit collisions. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/logic.h"
#include "flag.h"

enum hash_mode { HASH_REAL, HASH_LOW_BITS, HASH_LENGTH };
static enum hash_mode hash_mode = HASH_REAL;

static uint64_t test_hash(const char *name, size_t len)
{
    uint64_t h = flag_name_hash(name, len);
    if (hash_mode == HASH_LOW_BITS)
        return h & 0x3ff;          /* 10 bits: two trie levels, then collisions */
    if (hash_mode == HASH_LENGTH)
        return len % 3;            /* everything collides at once */
    return h;
}

#define flag_name_hash test_hash
#include "snapshot.c"
#undef flag_name_hash

static struct flag *make_flag(const char *name, int64_t id, bool enabled)
{
    struct flag_row row = {.name = name, .id = id, .is_enabled = enabled};
    struct flag *f = flag_create(&row, NULL);

    if (f == NULL)
        abort();
    f->name_hash = test_hash(f->name, f->name_len);   /* as the index will hash lookups */
    return f;
}

static const struct flag *find(const struct snapshot *s, const char *name)
{
    return snapshot_find(s, name, strlen(name));
}

/* The list body, joined from its parts. */
static char *list_text(const struct snapshot *s, size_t *len)
{
    size_t n = snapshot_list_part_count(s), total;
    struct iovec *parts = malloc(n * sizeof *parts);
    char *text, *p;

    total = snapshot_list_parts(s, parts);
    text = p = malloc(total + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i].iov_base, parts[i].iov_len);
        p += parts[i].iov_len;
    }
    *p = '\0';
    *len = (size_t)(p - text);
    CHECK(*len == total);
    free(parts);
    return text;
}

/* ---- invariants ---------------------------------------------------------- */

static int invariant_failures;
#define INVARIANT(expr) do { if (!(expr)) { invariant_failures++; \
    fprintf(stderr, "invariant %s:%d: %s\n", __FILE__, __LINE__, #expr); } } while (0)

/* Returns the number of flags below n. */
static size_t check_index(const struct snapshot_index_node *n, unsigned shift, uint64_t prefix, bool root)
{
    size_t total = 0;
    unsigned data = index_data_count(n), children = index_child_count(n);

    if (n->collisions) {
        INVARIANT(shift >= INDEX_HASH_BITS && n->collisions >= 2);
        for (unsigned i = 0; i < data; i++)
            INVARIANT(((const struct flag *)n->entries[i])->name_hash == prefix);
        return data;
    }
    INVARIANT((n->datamap & n->nodemap) == 0);
    INVARIANT(root || data + children >= 1);
    unsigned d = 0, c = 0;
    for (unsigned slot = 0; slot < 32; slot++) {
        uint64_t here = prefix | ((uint64_t)slot << shift);
        uint64_t mask = shift + INDEX_BITS >= 64 ? ~0ULL : (1ULL << (shift + INDEX_BITS)) - 1;
        if (n->datamap & (1u << slot)) {
            const struct flag *f = n->entries[d++];
            INVARIANT((f->name_hash & mask) == (here & mask));
            total++;
        } else if (n->nodemap & (1u << slot)) {
            const struct snapshot_index_node *child = n->entries[data + c++];
            size_t below = check_index(child, shift + INDEX_BITS, here, false);
            INVARIANT(below >= 2);   /* single flags are folded into the parent */
            total += below;
        }
    }
    return total;
}

struct order_check {
    int leaf_depth;
    const struct flag *last;
};

static void check_order(const struct snapshot_order_node *n, int depth, bool root, struct order_check *oc)
{
    INVARIANT(n->count >= 1);
    if (n->leaf) {
        size_t bytes = 0;
        INVARIANT(n->count <= SNAPSHOT_LEAF_MAX && n->flags == n->count && n->leaves == 1);
        if (oc->leaf_depth < 0)
            oc->leaf_depth = depth;
        INVARIANT(oc->leaf_depth == depth);
        for (unsigned i = 0; i < n->count; i++) {
            const struct flag *f = n->items[i];
            INVARIANT(oc->last == NULL || compare_flag(oc->last, f->name, f->name_len) < 0);
            oc->last = f;
            INVARIANT(n->text[bytes] == ',' && memcmp(n->text + bytes + 1, f->summary, f->summary_len) == 0);
            bytes += f->summary_len + 1;
        }
        INVARIANT(bytes == n->bytes);
        return;
    }
    INVARIANT(n->count <= SNAPSHOT_FANOUT && (!root || n->count >= 2));
    size_t flags = 0, leaves = 0, bytes = 0;
    for (unsigned i = 0; i < n->count; i++) {
        const struct snapshot_order_node *child = n->items[i];
        INVARIANT(n->items[n->count + i] == order_first(child));
        check_order(child, depth + 1, false, oc);
        flags += child->flags;
        leaves += child->leaves;
        bytes += child->bytes;
    }
    INVARIANT(flags == n->flags && leaves == n->leaves && bytes == n->bytes);
}

static void check_structure(const struct snapshot *s)
{
    struct order_check oc = {.leaf_depth = -1};

    INVARIANT((s->index == NULL) == (s->count == 0) && (s->order == NULL) == (s->count == 0));
    if (s->index != NULL)
        INVARIANT(check_index(s->index, 0, 0, true) == s->count);
    if (s->order != NULL) {
        check_order(s->order, 0, true, &oc);
        INVARIANT(s->order->flags == s->count);
    }
}

/* ---- tests ------------------------------------------------------------- */

static void test_build_and_find(void)
{
    struct snapshot_builder *b = snapshot_builder_create();
    const char *names[] = {"b", "a-b", "B", "a.b", "a"};
    struct snapshot_cursor cur;
    struct snapshot *s;
    size_t len;
    char *text;

    for (int i = 0; i < 5; i++) {
        struct flag *f = make_flag(names[i], i + 1, i % 2 == 0);
        CHECK(snapshot_builder_add(b, f) == 0);
        flag_unref(f);
    }
    /* A repeated name: the last one added wins. */
    struct flag *again = make_flag("b", 99, false);
    snapshot_builder_add(b, again);
    flag_unref(again);
    s = snapshot_builder_finish(b);
    CHECK(s != NULL && s->count == 5);
    check_structure(s);
    CHECK(find(s, "a.b") != NULL && find(s, "a.b")->id == 4);
    CHECK(find(s, "b") != NULL && find(s, "b")->id == 99);
    CHECK(find(s, "missing") == NULL && find(s, "") == NULL);
    /* Byte order: uppercase before lowercase, '-' (0x2d) before '.' (0x2e). */
    text = list_text(s, &len);
    CHECK(strcmp(text, "[{\"name\":\"B\",\"is_enabled\":true},{\"name\":\"a\",\"is_enabled\":true},"
                       "{\"name\":\"a-b\",\"is_enabled\":false},{\"name\":\"a.b\",\"is_enabled\":false},"
                       "{\"name\":\"b\",\"is_enabled\":false}]") == 0);
    free(text);
    snapshot_cursor_after(s, "a", 1, &cur);
    CHECK(strcmp(snapshot_cursor_next(&cur)->name, "a-b") == 0);
    snapshot_cursor_after(s, "a-a", 3, &cur);
    CHECK(strcmp(snapshot_cursor_next(&cur)->name, "a-b") == 0);
    snapshot_cursor_after(s, "", 0, &cur);
    CHECK(strcmp(snapshot_cursor_next(&cur)->name, "B") == 0);
    snapshot_cursor_after(s, "zzz", 3, &cur);
    CHECK(snapshot_cursor_next(&cur) == NULL);
    snapshot_release(s);

    s = snapshot_builder_finish(snapshot_builder_create());
    CHECK(s != NULL && s->count == 0 && find(s, "a") == NULL);
    text = list_text(s, &len);
    CHECK(strcmp(text, "[]") == 0 && snapshot_list_part_count(s) == 2);
    free(text);
    snapshot_cursor_after(s, "", 0, &cur);
    CHECK(snapshot_cursor_next(&cur) == NULL);
    snapshot_release(s);
}

static void publish_empty(struct snapshot_cell *cell)
{
    snapshot_load_begin(cell);
    CHECK(snapshot_load_publish(cell, snapshot_builder_finish(snapshot_builder_create())) == 0);
}

static int put_failures;

static void put(struct snapshot_cell *cell, const char *name, int64_t id, bool enabled)
{
    struct flag *f = make_flag(name, id, enabled);
    put_failures += snapshot_put(cell, f) != 0;
    flag_unref(f);
}

static void test_changes(void)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    struct snapshot *s, *held;
    size_t len;
    char *text;

    CHECK(snapshot_acquire(cell) == NULL);
    put(cell, "m", 1, true);                      /* nothing loaded: nothing to change */
    CHECK(snapshot_acquire(cell) == NULL && snapshot_cell_generation(cell) == 0);

    publish_empty(cell);
    held = snapshot_acquire(cell);
    CHECK(held != NULL && held->count == 0 && held->generation == 1);
    put(cell, "m", 1, true);
    put(cell, "c", 2, true);
    put(cell, "x", 3, true);
    put(cell, "m", 1, false);                     /* replace */
    s = snapshot_acquire(cell);
    CHECK(s->count == 3 && find(s, "m") != NULL && !find(s, "m")->is_enabled);
    text = list_text(s, &len);
    CHECK(strcmp(text, "[{\"name\":\"c\",\"is_enabled\":true},{\"name\":\"m\",\"is_enabled\":false},"
                       "{\"name\":\"x\",\"is_enabled\":true}]") == 0);
    free(text);
    check_structure(s);
    snapshot_release(s);

    CHECK(snapshot_remove(cell, "m", 1) == 0);
    uint64_t generation = snapshot_cell_generation(cell);
    CHECK(snapshot_remove(cell, "never-existed", 13) == 0);
    CHECK(snapshot_cell_generation(cell) == generation);   /* nothing published */
    s = snapshot_acquire(cell);
    CHECK(s->count == 2 && find(s, "m") == NULL && find(s, "c") != NULL);
    snapshot_release(s);
    CHECK(snapshot_remove(cell, "c", 1) == 0 && snapshot_remove(cell, "x", 1) == 0);
    s = snapshot_acquire(cell);
    CHECK(s->count == 0 && s->index == NULL && s->order == NULL);
    snapshot_release(s);

    /* An old snapshot a reader still holds is untouched by later changes. */
    CHECK(held->count == 0);
    text = list_text(held, &len);
    CHECK(strcmp(text, "[]") == 0);
    free(text);
    snapshot_release(held);
    snapshot_cell_destroy(cell);
}

/* ---- random changes against a model ------------------------------------- */

#define MODEL_NAMES 3000

struct model {
    char names[MODEL_NAMES][24];
    int64_t ids[MODEL_NAMES];       /* 0: absent */
    int order[MODEL_NAMES];         /* name indexes sorted by name */
};

static struct model model;

static int compare_model_names(const void *a, const void *b)
{
    return strcmp(model.names[*(const int *)a], model.names[*(const int *)b]);
}

/* Everything the snapshot says agrees with the model. */
static void compare_with_model(const struct snapshot *s, unsigned *seed)
{
    size_t count = 0, len, expected_len = 1;
    struct snapshot_cursor cur;
    char *text, *expected, *p;
    int mismatches = 0;

    for (int i = 0; i < MODEL_NAMES; i++) {
        const struct flag *f = find(s, model.names[i]);
        if (model.ids[i] != 0) {
            count++;
            mismatches += f == NULL || f->id != model.ids[i] || f->is_enabled != (model.ids[i] % 2 == 1);
        } else {
            mismatches += f != NULL;
        }
    }
    CHECK(mismatches == 0);
    CHECK(s->count == count);

    expected = p = malloc(MODEL_NAMES * 64 + 2);
    *p++ = '[';
    for (int k = 0; k < MODEL_NAMES; k++) {
        int i = model.order[k];
        if (model.ids[i] == 0)
            continue;
        p += sprintf(p, "%s{\"name\":\"%s\",\"is_enabled\":%s}", p[-1] == '[' ? "" : ",", model.names[i],
                     model.ids[i] % 2 == 1 ? "true" : "false");
    }
    *p++ = ']';
    *p = '\0';
    expected_len = (size_t)(p - expected);
    text = list_text(s, &len);
    CHECK(len == expected_len && memcmp(text, expected, len) == 0);
    free(text);
    free(expected);

    /* A cursor from a random point sees exactly the model's next names. */
    int from = (int)(rand_r(seed) % MODEL_NAMES), k = 0;
    const char *after = model.names[model.order[from]];
    snapshot_cursor_after(s, after, strlen(after), &cur);
    mismatches = 0;
    for (k = from + 1; k < MODEL_NAMES; k++) {
        int i = model.order[k];
        if (model.ids[i] == 0)
            continue;
        const struct flag *f = snapshot_cursor_next(&cur);
        mismatches += f == NULL || strcmp(f->name, model.names[i]) != 0;
    }
    CHECK(mismatches == 0 && snapshot_cursor_next(&cur) == NULL);
    check_structure(s);
}

static void test_against_model(enum hash_mode mode, int steps)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    unsigned seed = 12345u + (unsigned)mode;

    hash_mode = mode;
    invariant_failures = 0;
    memset(&model, 0, sizeof model);
    for (int i = 0; i < MODEL_NAMES; i++) {
        snprintf(model.names[i], sizeof model.names[i], "f%05u-%u", (unsigned)(rand_r(&seed) % 100000), i);
        model.order[i] = i;
    }
    qsort(model.order, MODEL_NAMES, sizeof model.order[0], compare_model_names);
    publish_empty(cell);
    for (int step = 1; step <= steps; step++) {
        /* Grow to most of the names, then shrink to few, then grow again:
         * splits, merges and the root changing height all happen. */
        int phase = (step * 3 / steps) % 2, i = (int)(rand_r(&seed) % MODEL_NAMES);
        bool insert = (int)(rand_r(&seed) % 100) < (phase == 0 ? 80 : 15);
        if (insert) {
            int64_t id = 2 * step + (int64_t)(rand_r(&seed) % 2);
            put(cell, model.names[i], id, id % 2 == 1);
            model.ids[i] = id;
        } else {
            put_failures += snapshot_remove(cell, model.names[i], strlen(model.names[i])) != 0;
            model.ids[i] = 0;
        }
        if (step % 2000 == 0 || step == steps) {
            struct snapshot *s = snapshot_acquire(cell);
            compare_with_model(s, &seed);
            snapshot_release(s);
        }
    }
    CHECK(invariant_failures == 0);
    CHECK(put_failures == 0);
    snapshot_cell_destroy(cell);
    hash_mode = HASH_REAL;
}

/* Removes flag n<i> and checks the structures; true when removed. */
static bool remove_and_check(struct snapshot_cell *cell, int i)
{
    char name[16];
    struct snapshot *s;
    int rc;

    snprintf(name, sizeof name, "n%05d", i);
    rc = snapshot_remove(cell, name, strlen(name));
    put_failures += rc != 0;
    s = snapshot_acquire(cell);
    check_structure(s);
    snapshot_release(s);
    return rc == 0;
}

/* Full leaves, then one leaf emptied from the middle of the range: a leaf
 * under a quarter full beside full neighbours must stay as it is (merging
 * would overflow), and once it is empty the tree must drop it. Then seven
 * flags in eight go, so that leaves do merge. */
static void test_skewed_removals(void)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    struct snapshot_builder *b = snapshot_builder_create();
    enum { N = 20 * SNAPSHOT_LEAF_MAX };
    char name[16];
    struct snapshot *s;
    bool present[N];

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%05d", i);
        struct flag *f = make_flag(name, i + 1, false);
        snapshot_builder_add(b, f);
        flag_unref(f);
        present[i] = true;
    }
    snapshot_load_begin(cell);
    CHECK(snapshot_load_publish(cell, snapshot_builder_finish(b)) == 0);
    invariant_failures = 0;
    for (int i = 5 * SNAPSHOT_LEAF_MAX; i < 6 * SNAPSHOT_LEAF_MAX; i++)
        present[i] = !remove_and_check(cell, i);
    for (int i = 0; i < N; i++)
        if (i % 8 != 0)
            present[i] = !remove_and_check(cell, i);
    s = snapshot_acquire(cell);
    int missing = 0, count = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%05d", i);
        missing += present[i] != (find(s, name) != NULL);
        count += present[i];
    }
    CHECK(missing == 0 && s->count == (size_t)count);
    /* 19 leaves of 8 flags: neighbours under a quarter full merged. */
    CHECK(s->order->leaves <= 10);
    snapshot_release(s);
    CHECK(invariant_failures == 0);
    snapshot_cell_destroy(cell);
}

/* A load takes, for every name written while it read, the state the
 * current snapshot holds: what it read may be older. */
static void test_load_merges_writes_made_during_it(void)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    struct snapshot_builder *b;
    struct snapshot *s;
    struct flag *f;

    /* Before anything is loaded, a write during a load means the load
     * cannot know the current state: it must be repeated. */
    snapshot_load_begin(cell);
    put(cell, "early", 1, true);
    CHECK(snapshot_load_publish(cell, snapshot_builder_finish(snapshot_builder_create())) == 1);
    CHECK(snapshot_acquire(cell) == NULL);

    publish_empty(cell);
    put(cell, "kept", 1, true);
    put(cell, "deleted-during-load", 2, true);
    snapshot_load_begin(cell);
    /* What the load read: the state before these writes. */
    b = snapshot_builder_create();
    f = make_flag("kept", 1, false);
    snapshot_builder_add(b, f);
    flag_unref(f);
    f = make_flag("deleted-during-load", 2, true);
    snapshot_builder_add(b, f);
    flag_unref(f);
    f = make_flag("other", 5, true);
    snapshot_builder_add(b, f);
    flag_unref(f);
    /* The writes that committed while the load read. */
    put(cell, "kept", 1, true);
    put(cell, "created-during-load", 3, true);
    CHECK(snapshot_remove(cell, "deleted-during-load", 19) == 0);
    CHECK(snapshot_load_publish(cell, snapshot_builder_finish(b)) == 0);
    s = snapshot_acquire(cell);
    CHECK(s->count == 3);
    CHECK(find(s, "kept") != NULL && find(s, "kept")->is_enabled);
    CHECK(find(s, "created-during-load") != NULL && find(s, "deleted-during-load") == NULL);
    CHECK(find(s, "other") != NULL);   /* from the load itself */
    check_structure(s);
    snapshot_release(s);
    /* Names are noted only while a load is in progress. */
    put(cell, "after", 9, true);
    CHECK(cell->tracked_count == 0);
    snapshot_cell_destroy(cell);
}

/* ---- readers racing writers ------------------------------------------- */

#define RACE_FLAGS 200
#define RACE_WRITES 4000

struct race {
    struct snapshot_cell *cell;
    atomic_int done;
    long reads, bad;
};

/* Every flag a writer publishes has is_enabled == (id % 2): a reader that
 * ever sees otherwise, or a list that disagrees with the lookups, saw a
 * state that never existed. */
static void *race_reader(void *arg)
{
    struct race *r = arg;
    uint64_t last_generation = 0;
    long reads = 0, bad = 0;

    while (!r->done) {
        struct snapshot *s = snapshot_acquire(r->cell);
        struct snapshot_cursor cur;
        const struct flag *f;
        size_t seen = 0, bytes = 1;
        if (s == NULL)
            continue;
        if (s->generation < last_generation)
            bad++;
        last_generation = s->generation;
        snapshot_cursor_after(s, "", 0, &cur);
        while ((f = snapshot_cursor_next(&cur)) != NULL) {
            if (f->is_enabled != (f->id % 2 == 1) || snapshot_find(s, f->name, f->name_len) != f)
                bad++;
            bytes += f->summary_len + 1;
            seen++;
        }
        if (seen != s->count || (s->order && bytes != s->order->bytes + 1))
            bad++;
        snapshot_release(s);
        reads++;
    }
    __atomic_add_fetch(&r->reads, reads, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->bad, bad, __ATOMIC_RELAXED);
    return NULL;
}

static void *race_writer(void *arg)
{
    struct race *r = arg;
    char name[16];

    for (int i = 1; i <= RACE_WRITES; i++) {
        snprintf(name, sizeof name, "flag-%d", (i * 7919) % RACE_FLAGS);
        if (i % 7 == 0) {
            if (snapshot_remove(r->cell, name, strlen(name)) != 0)
                __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
        } else {
            struct flag *f = make_flag(name, i, i % 2 == 1);
            if (snapshot_put(r->cell, f) != 0)
                __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
            flag_unref(f);
        }
    }
    return NULL;
}

static void test_race(void)
{
    struct race r = {.cell = snapshot_cell_create()};
    pthread_t readers[4], writers[2];

    publish_empty(r.cell);
    for (int i = 0; i < 4; i++)
        pthread_create(&readers[i], NULL, race_reader, &r);
    for (int i = 0; i < 2; i++)
        pthread_create(&writers[i], NULL, race_writer, &r);
    for (int i = 0; i < 2; i++)
        pthread_join(writers[i], NULL);
    r.done = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(readers[i], NULL);
    printf("snapshot race: %ld reads during %d writes, %ld inconsistent\n", r.reads, 2 * RACE_WRITES, r.bad);
    CHECK(r.reads > 0);
    CHECK(r.bad == 0);
    snapshot_cell_destroy(r.cell);
}

/* A flag whose rule uses $ref "frag": "on" when the fragment is true. */
static struct flag *make_ref_flag(const char *name)
{
    struct flag_row row = {.name = name, .id = 1, .is_enabled = true,
                           .document = "{\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"off\","
                                       "\"targeting\":{\"if\":[{\"$ref\":\"frag\"},\"on\",\"off\"]}}"};
    struct flag *f = flag_create(&row, NULL);

    if (f == NULL)
        abort();
    f->name_hash = test_hash(f->name, f->name_len);
    return f;
}

/* The variant the current snapshot's flag called name gives an empty
 * context, or NULL on an error. */
static const char *current_variant(struct snapshot_cell *cell, const char *name)
{
    struct snapshot *snap = snapshot_acquire(cell);
    const struct flag *f = snapshot_find(snap, name, strlen(name));
    struct flag_result r;
    struct arena arena;

    arena_init(&arena, LOGIC_ARENA_LIMIT);
    flag_evaluate(f, NULL, 0, &arena, &r);
    arena_free(&arena);
    snapshot_release(snap);
    return r.variant ? r.variant->name : NULL;   /* names live in the flag, which the cell still holds */
}

static struct flagset *set_with(const char *fragment_text)
{
    struct flagset *set = flagset_create();
    json_t *fragment = json_loads(fragment_text, JSON_DECODE_ANY, NULL);

    if (set == NULL || fragment == NULL || flagset_add(set, "frag", fragment, 1, NULL) != 0)
        abort();
    json_decref(fragment);
    return set;
}

/* Flags whose rules use $ref are compiled against the snapshot's flag set:
 * when put, when the set changes, and in a load. */
static void test_flag_sets(void)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    struct flagset *yes = set_with("true"), *no = set_with("false");
    struct snapshot_builder *b = snapshot_builder_create();
    struct flag *ref = make_ref_flag("ref"), *plain = make_flag("plain", 2, true);

    snapshot_builder_set_flagset(b, yes);
    snapshot_builder_add(b, ref);
    snapshot_builder_add(b, plain);
    snapshot_load_begin(cell);
    CHECK(snapshot_load_publish(cell, snapshot_builder_finish(b)) == 0);
    CHECK(current_variant(cell, "ref") != NULL && strcmp(current_variant(cell, "ref"), "on") == 0);
    CHECK(snapshot_set_flagset(cell, no) == 0);
    CHECK(current_variant(cell, "ref") != NULL && strcmp(current_variant(cell, "ref"), "off") == 0);
    {
        struct snapshot *snap = snapshot_acquire(cell);
        CHECK(snap->flagset == no && snapshot_find(snap, "plain", 5) == plain);   /* untouched: shared */
        CHECK(snapshot_find(snap, "ref", 3) != ref);                              /* rebuilt for the set */
        snapshot_release(snap);
    }
    /* A flag put in later is bound to the current set. */
    CHECK(snapshot_put(cell, ref) == 0);
    CHECK(current_variant(cell, "ref") != NULL && strcmp(current_variant(cell, "ref"), "off") == 0);
    /* A set replaced during a load wins over the one the load read. */
    b = snapshot_builder_create();
    snapshot_builder_set_flagset(b, no);
    snapshot_builder_add(b, ref);
    snapshot_load_begin(cell);
    CHECK(snapshot_set_flagset(cell, yes) == 0);
    CHECK(snapshot_load_publish(cell, snapshot_builder_finish(b)) == 0);
    CHECK(current_variant(cell, "ref") != NULL && strcmp(current_variant(cell, "ref"), "on") == 0);
    flag_unref(ref);
    flag_unref(plain);
    flagset_unref(yes);
    flagset_unref(no);
    snapshot_cell_destroy(cell);
}

int main(int argc, char **argv)
{
    /* Under the sanitizers the model runs are shortened (they are slow). */
    int steps = argc > 1 ? atoi(argv[1]) : 60000;

    test_build_and_find();
    test_changes();
    test_against_model(HASH_REAL, steps);
    test_against_model(HASH_LOW_BITS, steps / 3);
    test_against_model(HASH_LENGTH, steps / 10);
    test_skewed_removals();
    test_load_merges_writes_made_during_it();
    test_race();
    test_flag_sets();
    CHECK(put_failures == 0);
    return CHECK_DONE("unit[snapshot]");
}
