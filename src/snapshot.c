/*
 * snapshot — the immutable in-memory catalogue. See snapshot.h for the
 * structures and the concurrency model.
 *
 * Reference counting: every node holds one reference on each thing it
 * points to (flags, child nodes); a snapshot holds one on each of its two
 * roots. Path copying makes a new node that points to the old node's other
 * entries, so each of those gains a reference; the old node keeps its own
 * until the old snapshot is released.
 */
#include "snapshot.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== names ============================================================== */

static int compare_names(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int compare_flag(const struct flag *f, const char *name, size_t len)
{
    return compare_names(f->name, f->name_len, name, len);
}

/* ==== the index: a CHAMP trie ============================================ */

#define INDEX_BITS 5
#define INDEX_SLOT(hash, shift) ((unsigned)((hash) >> (shift)) & 31u)
/* Past 64 bits of hash, flags of one hash share a collision node. */
#define INDEX_HASH_BITS 64

struct snapshot_index_node {
    atomic_long refs;
    uint32_t datamap;          /* slot holds a flag */
    uint32_t nodemap;          /* slot holds a child */
    uint32_t collisions;       /* > 0: a collision node of that many flags, no maps */
    void *entries[];           /* flags in slot order, then children in slot order */
};

static unsigned popcount(uint32_t x)
{
    return (unsigned)__builtin_popcount(x);
}

static unsigned index_data_count(const struct snapshot_index_node *n)
{
    return n->collisions ? n->collisions : popcount(n->datamap);
}

static unsigned index_child_count(const struct snapshot_index_node *n)
{
    return n->collisions ? 0 : popcount(n->nodemap);
}

static struct snapshot_index_node *index_alloc(uint32_t datamap, uint32_t nodemap, uint32_t collisions)
{
    unsigned entries = collisions ? collisions : popcount(datamap) + popcount(nodemap);
    struct snapshot_index_node *n = malloc(sizeof *n + entries * sizeof(void *));

    if (n == NULL)
        return NULL;
    atomic_init(&n->refs, 1);
    n->datamap = datamap;
    n->nodemap = nodemap;
    n->collisions = collisions;
    return n;
}

static void index_unref(struct snapshot_index_node *n)
{
    unsigned data;

    if (n == NULL || atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    data = index_data_count(n);
    for (unsigned i = 0; i < data; i++)
        flag_unref(n->entries[i]);
    for (unsigned i = 0; i < index_child_count(n); i++)
        index_unref(n->entries[data + i]);
    free(n);
}

/* Takes a reference on every entry of n except `skip` (an index into
 * entries, or -1): for a copy that shares them. */
static void index_share_entries(const struct snapshot_index_node *n, int skip)
{
    unsigned data = index_data_count(n), total = data + index_child_count(n);

    for (unsigned i = 0; i < total; i++) {
        if ((int)i == skip)
            continue;
        if (i < data)
            flag_ref(n->entries[i]);
        else
            atomic_fetch_add_explicit(&((struct snapshot_index_node *)n->entries[i])->refs, 1,
                                      memory_order_relaxed);
    }
}

static const struct flag *index_find(const struct snapshot_index_node *n, uint64_t hash, const char *name,
                                     size_t len)
{
    for (unsigned shift = 0; n != NULL; shift += INDEX_BITS) {
        uint32_t bit;
        if (n->collisions) {
            for (unsigned i = 0; i < n->collisions; i++) {
                const struct flag *f = n->entries[i];
                if (f->name_len == len && memcmp(f->name, name, len) == 0)
                    return f;
            }
            return NULL;
        }
        bit = 1u << INDEX_SLOT(hash, shift);
        if (n->datamap & bit) {
            const struct flag *f = n->entries[popcount(n->datamap & (bit - 1))];
            return f->name_hash == hash && f->name_len == len && memcmp(f->name, name, len) == 0 ? f : NULL;
        }
        if (!(n->nodemap & bit))
            return NULL;
        n = n->entries[popcount(n->datamap) + popcount(n->nodemap & (bit - 1))];
    }
    return NULL;
}

/* A subtree holding two flags of different names, from `shift` on. Takes a
 * reference on both. */
static struct snapshot_index_node *index_pair(struct flag *a, struct flag *b, unsigned shift)
{
    struct snapshot_index_node *n, *child;
    unsigned sa, sb;

    if (shift >= INDEX_HASH_BITS) {
        n = index_alloc(0, 0, 2);
        if (n != NULL) {
            n->entries[0] = flag_ref(a);
            n->entries[1] = flag_ref(b);
        }
        return n;
    }
    sa = INDEX_SLOT(a->name_hash, shift);
    sb = INDEX_SLOT(b->name_hash, shift);
    if (sa == sb) {
        child = index_pair(a, b, shift + INDEX_BITS);
        n = child ? index_alloc(0, 1u << sa, 0) : NULL;
        if (n == NULL) {
            index_unref(child);
            return NULL;
        }
        n->entries[0] = child;
        return n;
    }
    n = index_alloc((1u << sa) | (1u << sb), 0, 0);
    if (n != NULL) {
        n->entries[sa < sb ? 0 : 1] = flag_ref(a);
        n->entries[sa < sb ? 1 : 0] = flag_ref(b);
    }
    return n;
}

/* A copy of n with `flag` in place of the same name, or added. NULL when
 * out of memory. *added tells whether the name is new. */
static struct snapshot_index_node *index_put(const struct snapshot_index_node *n, struct flag *flag,
                                             unsigned shift, bool *added)
{
    unsigned data, children, at;
    struct snapshot_index_node *copy, *child;
    uint32_t bit;

    if (n == NULL) {   /* an empty root */
        *added = true;
        copy = index_alloc(1u << INDEX_SLOT(flag->name_hash, 0), 0, 0);
        if (copy != NULL)
            copy->entries[0] = flag_ref(flag);
        return copy;
    }
    data = index_data_count(n);
    children = index_child_count(n);
    if (n->collisions) {
        for (at = 0; at < data; at++) {
            const struct flag *f = n->entries[at];
            if (f->name_len == flag->name_len && memcmp(f->name, flag->name, f->name_len) == 0)
                break;
        }
        *added = at == data;
        copy = index_alloc(0, 0, data + *added);
        if (copy == NULL)
            return NULL;
        memcpy(copy->entries, n->entries, data * sizeof(void *));
        index_share_entries(n, (int)at);
        copy->entries[at] = flag_ref(flag);
        return copy;
    }

    bit = 1u << INDEX_SLOT(flag->name_hash, shift);
    if (n->datamap & bit) {
        struct flag *existing;
        at = popcount(n->datamap & (bit - 1));
        existing = n->entries[at];
        if (existing->name_len == flag->name_len && memcmp(existing->name, flag->name, flag->name_len) == 0) {
            *added = false;   /* same name: replace the entry */
            copy = index_alloc(n->datamap, n->nodemap, 0);
            if (copy == NULL)
                return NULL;
            memcpy(copy->entries, n->entries, (data + children) * sizeof(void *));
            index_share_entries(n, (int)at);
            copy->entries[at] = flag_ref(flag);
            return copy;
        }
        /* Another name in this slot: both move one level down. */
        *added = true;
        child = index_pair(existing, flag, shift + INDEX_BITS);
        copy = child ? index_alloc(n->datamap & ~bit, n->nodemap | bit, 0) : NULL;
        if (copy == NULL) {
            index_unref(child);
            return NULL;
        }
        unsigned child_at = popcount(n->nodemap & (bit - 1));
        memcpy(copy->entries, n->entries, at * sizeof(void *));
        memcpy(copy->entries + at, n->entries + at + 1, (data - at - 1 + child_at) * sizeof(void *));
        copy->entries[data - 1 + child_at] = child;
        memcpy(copy->entries + data + child_at, n->entries + data + child_at,
               (children - child_at) * sizeof(void *));
        index_share_entries(n, (int)at);
        return copy;
    }
    if (n->nodemap & bit) {
        at = data + popcount(n->nodemap & (bit - 1));
        child = index_put(n->entries[at], flag, shift + INDEX_BITS, added);
        copy = child ? index_alloc(n->datamap, n->nodemap, 0) : NULL;
        if (copy == NULL) {
            index_unref(child);
            return NULL;
        }
        memcpy(copy->entries, n->entries, (data + children) * sizeof(void *));
        index_share_entries(n, (int)at);
        copy->entries[at] = child;
        return copy;
    }
    /* An empty slot. */
    *added = true;
    at = popcount(n->datamap & (bit - 1));
    copy = index_alloc(n->datamap | bit, n->nodemap, 0);
    if (copy == NULL)
        return NULL;
    memcpy(copy->entries, n->entries, at * sizeof(void *));
    copy->entries[at] = flag_ref(flag);
    memcpy(copy->entries + at + 1, n->entries + at, (data - at + children) * sizeof(void *));
    index_share_entries(n, -1);
    return copy;
}

/* The flag of a node that holds exactly one flag and no child, else NULL. */
static struct flag *index_single(const struct snapshot_index_node *n)
{
    if (n != NULL && index_data_count(n) == 1 && index_child_count(n) == 0)
        return n->entries[0];
    return NULL;
}

/* Removes name from n. Returns 0 when absent (*out untouched), 1 when
 * removed (*out: the new node, NULL when it became empty), -1 when out of
 * memory. A child left with a single flag is folded into its parent, so
 * the trie stays as shallow as its contents need. */
static int index_remove(const struct snapshot_index_node *n, uint64_t hash, const char *name, size_t len,
                        unsigned shift, struct snapshot_index_node **out)
{
    unsigned data, children, at;
    struct snapshot_index_node *copy, *child;
    uint32_t bit;
    int rc;

    if (n == NULL)
        return 0;
    data = index_data_count(n);
    children = index_child_count(n);
    if (n->collisions) {
        for (at = 0; at < data; at++) {
            const struct flag *f = n->entries[at];
            if (f->name_len == len && memcmp(f->name, name, len) == 0)
                break;
        }
        if (at == data)
            return 0;
        copy = index_alloc(0, 0, data - 1);
        if (copy == NULL)
            return -1;
        memcpy(copy->entries, n->entries, at * sizeof(void *));
        memcpy(copy->entries + at, n->entries + at + 1, (data - at - 1) * sizeof(void *));
        index_share_entries(n, (int)at);
        *out = copy;
        return 1;
    }
    bit = 1u << INDEX_SLOT(hash, shift);
    if (n->datamap & bit) {
        const struct flag *f;
        at = popcount(n->datamap & (bit - 1));
        f = n->entries[at];
        if (f->name_len != len || memcmp(f->name, name, len) != 0)
            return 0;
        if (data + children == 1) {
            *out = NULL;
            return 1;
        }
        copy = index_alloc(n->datamap & ~bit, n->nodemap, 0);
        if (copy == NULL)
            return -1;
        memcpy(copy->entries, n->entries, at * sizeof(void *));
        memcpy(copy->entries + at, n->entries + at + 1, (data - at - 1 + children) * sizeof(void *));
        index_share_entries(n, (int)at);
        *out = copy;
        return 1;
    }
    if (!(n->nodemap & bit))
        return 0;
    at = data + popcount(n->nodemap & (bit - 1));
    rc = index_remove(n->entries[at], hash, name, len, shift + INDEX_BITS, &child);
    if (rc <= 0)
        return rc;
    struct flag *single = index_single(child);
    if (child == NULL || single != NULL) {
        /* The child is gone, or down to one flag: that flag (if any) moves up
         * into this node's slot. */
        unsigned child_at = at - data, data_at = popcount(n->datamap & (bit - 1));
        copy = index_alloc(single ? n->datamap | bit : n->datamap, n->nodemap & ~bit, 0);
        if (copy == NULL) {
            index_unref(child);
            return -1;
        }
        unsigned new_data = data + (single != NULL);
        memcpy(copy->entries, n->entries, data_at * sizeof(void *));
        if (single != NULL)
            copy->entries[data_at] = flag_ref(single);
        memcpy(copy->entries + data_at + (single != NULL), n->entries + data_at, (data - data_at) * sizeof(void *));
        memcpy(copy->entries + new_data, n->entries + data, child_at * sizeof(void *));
        memcpy(copy->entries + new_data + child_at, n->entries + at + 1, (children - child_at - 1) * sizeof(void *));
        index_share_entries(n, (int)at);
        index_unref(child);
        *out = copy;
        return 1;
    }
    copy = index_alloc(n->datamap, n->nodemap, 0);
    if (copy == NULL) {
        index_unref(child);
        return -1;
    }
    memcpy(copy->entries, n->entries, (data + children) * sizeof(void *));
    index_share_entries(n, (int)at);
    copy->entries[at] = child;
    *out = copy;
    return 1;
}

/* Builds the subtree of flags[0..n) (distinct names, n >= 1) from `shift`
 * on, by distributing them over the 32 slots; scratch has room for n. Takes
 * a reference on every flag. */
static struct snapshot_index_node *index_build(struct flag **flags, size_t n, unsigned shift,
                                               struct flag **scratch)
{
    size_t count[32] = {0}, start[32];
    uint32_t datamap = 0, nodemap = 0;
    struct snapshot_index_node *node;
    unsigned data_at = 0, child_at;

    if (shift >= INDEX_HASH_BITS) {
        node = index_alloc(0, 0, (uint32_t)n);
        if (node != NULL)
            for (size_t i = 0; i < n; i++)
                node->entries[i] = flag_ref(flags[i]);
        return node;
    }
    for (size_t i = 0; i < n; i++)
        count[INDEX_SLOT(flags[i]->name_hash, shift)]++;
    for (size_t s = 0, at = 0; s < 32; s++) {
        start[s] = at;
        at += count[s];
        if (count[s] == 1)
            datamap |= 1u << s;
        else if (count[s] > 1)
            nodemap |= 1u << s;
    }
    {
        size_t fill[32];
        memcpy(fill, start, sizeof fill);
        for (size_t i = 0; i < n; i++)
            scratch[fill[INDEX_SLOT(flags[i]->name_hash, shift)]++] = flags[i];
    }
    node = index_alloc(datamap, nodemap, 0);
    if (node == NULL)
        return NULL;
    child_at = popcount(datamap);
    for (unsigned s = 0; s < 32; s++) {
        if (count[s] == 1) {
            node->entries[data_at++] = flag_ref(scratch[start[s]]);
        } else if (count[s] > 1) {
            struct snapshot_index_node *child =
                index_build(scratch + start[s], count[s], shift + INDEX_BITS, flags + start[s]);
            if (child == NULL) {
                /* Make the node consistent for index_unref: keep what is built. */
                node->datamap = 0;
                node->nodemap = 0;
                for (unsigned i = 0; i < data_at; i++)
                    flag_unref(node->entries[i]);
                for (unsigned i = popcount(datamap); i < child_at; i++)
                    index_unref(node->entries[i]);
                free(node);
                return NULL;
            }
            node->entries[child_at++] = child;
        }
    }
    return node;
}

/* ==== the order: a B+tree with rendered leaves ============================ */

struct snapshot_order_node {
    atomic_long refs;
    bool leaf;
    unsigned count;            /* flags (leaf) or children (inner) */
    size_t flags;              /* flags below */
    size_t leaves;             /* leaves below (1 for a leaf) */
    size_t bytes;              /* list text below: each flag's summary and a comma */
    char *text;                /* leaf: ",{...},{...}" (bytes long) */
    /* leaf: count flags. inner: count children, then count keys: the first
     * flag below each child (borrowed: the child holds it). */
    void *items[];
};

static struct flag *order_first(const struct snapshot_order_node *n)
{
    return n->leaf ? n->items[0] : n->items[n->count];
}

static void order_unref(struct snapshot_order_node *n)
{
    if (n == NULL || atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i < n->count; i++) {
        if (n->leaf)
            flag_unref(n->items[i]);
        else
            order_unref(n->items[i]);
    }
    free(n->text);
    free(n);
}

static void order_ref(struct snapshot_order_node *n)
{
    atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

/* A leaf of flags[0..n) (1 <= n <= SNAPSHOT_LEAF_MAX), with its text.
 * Takes a reference on each flag. */
static struct snapshot_order_node *leaf_make(struct flag *const *flags, unsigned n)
{
    struct snapshot_order_node *leaf = malloc(sizeof *leaf + n * sizeof(void *));
    size_t bytes = 0;
    char *p;

    if (leaf == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++)
        bytes += flags[i]->summary_len + 1;
    leaf->text = malloc(bytes);
    if (leaf->text == NULL) {
        free(leaf);
        return NULL;
    }
    atomic_init(&leaf->refs, 1);
    leaf->leaf = true;
    leaf->count = n;
    leaf->flags = n;
    leaf->leaves = 1;
    leaf->bytes = bytes;
    p = leaf->text;
    for (unsigned i = 0; i < n; i++) {
        leaf->items[i] = flag_ref(flags[i]);
        *p++ = ',';
        memcpy(p, flags[i]->summary, flags[i]->summary_len);
        p += flags[i]->summary_len;
    }
    return leaf;
}

/* An inner node over children[0..n) (1 <= n <= SNAPSHOT_FANOUT). Takes a
 * reference on each child. */
static struct snapshot_order_node *inner_make(struct snapshot_order_node *const *children, unsigned n)
{
    struct snapshot_order_node *inner = malloc(sizeof *inner + 2 * n * sizeof(void *));

    if (inner == NULL)
        return NULL;
    atomic_init(&inner->refs, 1);
    inner->leaf = false;
    inner->count = n;
    inner->flags = inner->leaves = inner->bytes = 0;
    inner->text = NULL;
    for (unsigned i = 0; i < n; i++) {
        order_ref(children[i]);
        inner->items[i] = children[i];
        inner->items[n + i] = order_first(children[i]);
        inner->flags += children[i]->flags;
        inner->leaves += children[i]->leaves;
        inner->bytes += children[i]->bytes;
    }
    return inner;
}

/* In an inner node: the child whose range holds name (the last child whose
 * first flag sorts at or before name; the first child otherwise). */
static unsigned inner_route(const struct snapshot_order_node *n, const char *name, size_t len)
{
    unsigned lo = 1, hi = n->count;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (compare_flag(n->items[n->count + mid], name, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;
}

/* In a leaf: the first position whose flag sorts at or after name (or
 * strictly after it). */
static unsigned leaf_position(const struct snapshot_order_node *n, const char *name, size_t len, bool strictly)
{
    unsigned lo = 0, hi = n->count;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int c = compare_flag(n->items[mid], name, len);
        if (c < 0 || (strictly && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Makes one node, or two halves when n exceeds max, out of items. */
static int order_make_split(bool leaf, void *const *items, unsigned n, unsigned max,
                            struct snapshot_order_node **left, struct snapshot_order_node **right)
{
    unsigned first = n <= max ? n : n / 2;

    *right = NULL;
    *left = leaf ? leaf_make((struct flag *const *)items, first)
                 : inner_make((struct snapshot_order_node *const *)items, first);
    if (*left == NULL)
        return -1;
    if (first == n)
        return 0;
    *right = leaf ? leaf_make((struct flag *const *)items + first, n - first)
                  : inner_make((struct snapshot_order_node *const *)items + first, n - first);
    if (*right == NULL) {
        order_unref(*left);
        return -1;
    }
    return 0;
}

/* A copy of the subtree n with `flag` put in; when the copy overflows it
 * comes back as two nodes (*right not NULL). */
static int order_put(const struct snapshot_order_node *n, struct flag *flag, bool *added,
                     struct snapshot_order_node **left, struct snapshot_order_node **right)
{
    void *items[SNAPSHOT_LEAF_MAX + SNAPSHOT_FANOUT + 1];
    unsigned at, count;
    int rc;

    if (n->leaf) {
        at = leaf_position(n, flag->name, flag->name_len, false);
        *added = !(at < n->count && compare_flag(n->items[at], flag->name, flag->name_len) == 0);
        memcpy(items, n->items, at * sizeof(void *));
        items[at] = flag;
        memcpy(items + at + 1, n->items + at + !*added, (n->count - at - !*added) * sizeof(void *));
        count = n->count + *added;
        return order_make_split(true, items, count, SNAPSHOT_LEAF_MAX, left, right);
    }
    struct snapshot_order_node *child_left, *child_right;
    at = inner_route(n, flag->name, flag->name_len);
    if (order_put(n->items[at], flag, added, &child_left, &child_right) != 0)
        return -1;
    memcpy(items, n->items, at * sizeof(void *));
    items[at] = child_left;
    count = n->count;
    if (child_right != NULL) {
        items[at + 1] = child_right;
        count++;
    }
    memcpy(items + at + 1 + (child_right != NULL), n->items + at + 1, (n->count - at - 1) * sizeof(void *));
    rc = order_make_split(false, items, count, SNAPSHOT_FANOUT, left, right);
    order_unref(child_left);    /* the new nodes hold their own references */
    order_unref(child_right);
    return rc;
}

static unsigned order_max(const struct snapshot_order_node *n)
{
    return n->leaf ? SNAPSHOT_LEAF_MAX : SNAPSHOT_FANOUT;
}

/* A node that holds the items of a and then those of b (same kind and
 * height, together within the maximum). */
static struct snapshot_order_node *order_merge(const struct snapshot_order_node *a,
                                               const struct snapshot_order_node *b)
{
    void *items[SNAPSHOT_LEAF_MAX + SNAPSHOT_FANOUT];

    memcpy(items, a->items, a->count * sizeof(void *));
    memcpy(items + a->count, b->items, b->count * sizeof(void *));
    return a->leaf ? leaf_make((struct flag *const *)items, a->count + b->count)
                   : inner_make((struct snapshot_order_node *const *)items, a->count + b->count);
}

/* Removes name from the subtree n: 0 when absent, 1 when removed (*out the
 * new subtree, NULL when empty), -1 when out of memory. A child left under
 * a quarter full is merged with a neighbour when both fit in one node. */
static int order_remove(const struct snapshot_order_node *n, const char *name, size_t len,
                        struct snapshot_order_node **out)
{
    void *items[SNAPSHOT_LEAF_MAX + SNAPSHOT_FANOUT];
    struct snapshot_order_node *child, *merged = NULL;
    unsigned at, count;
    int rc;

    if (n->leaf) {
        at = leaf_position(n, name, len, false);
        if (at == n->count || compare_flag(n->items[at], name, len) != 0)
            return 0;
        if (n->count == 1) {
            *out = NULL;
            return 1;
        }
        memcpy(items, n->items, at * sizeof(void *));
        memcpy(items + at, n->items + at + 1, (n->count - at - 1) * sizeof(void *));
        *out = leaf_make((struct flag *const *)items, n->count - 1);
        return *out ? 1 : -1;
    }
    at = inner_route(n, name, len);
    rc = order_remove(n->items[at], name, len, &child);
    if (rc <= 0)
        return rc;
    memcpy(items, n->items, n->count * sizeof(void *));
    count = n->count;
    if (child == NULL) {
        memmove(items + at, items + at + 1, (count - at - 1) * sizeof(void *));
        count--;
    } else {
        items[at] = child;
        if (child->count < order_max(child) / 4 && count > 1) {
            /* The smaller neighbour is the likelier to fit. */
            unsigned other = at + 1 < count ? at + 1 : at - 1, first;
            if (at > 0 && at + 1 < count &&
                ((const struct snapshot_order_node *)items[at - 1])->count <
                    ((const struct snapshot_order_node *)items[at + 1])->count)
                other = at - 1;
            first = other < at ? other : at;
            const struct snapshot_order_node *a = items[first], *b = items[first + 1];
            if (a->count + b->count <= order_max(child)) {
                merged = order_merge(a, b);
                if (merged == NULL) {
                    order_unref(child);
                    return -1;
                }
                items[first] = merged;
                memmove(items + first + 1, items + first + 2, (count - first - 2) * sizeof(void *));
                count--;
            }
        }
    }
    *out = count ? inner_make((struct snapshot_order_node *const *)items, count) : NULL;
    order_unref(child);
    order_unref(merged);
    return count == 0 || *out != NULL ? 1 : -1;
}

/* Builds one level of nodes over items[0..n), spreading them evenly. */
static struct snapshot_order_node **order_build_level(bool leaf, void **items, size_t n, size_t *made)
{
    size_t max = leaf ? SNAPSHOT_LEAF_MAX : SNAPSHOT_FANOUT;
    size_t nodes = (n + max - 1) / max, at = 0;
    struct snapshot_order_node **level = malloc(nodes * sizeof *level);

    if (level == NULL)
        return NULL;
    for (size_t i = 0; i < nodes; i++) {
        unsigned take = (unsigned)(n / nodes + (i < n % nodes));
        level[i] = leaf ? leaf_make((struct flag *const *)items + at, take)
                        : inner_make((struct snapshot_order_node *const *)items + at, take);
        if (level[i] == NULL) {
            while (i > 0)
                order_unref(level[--i]);
            free(level);
            return NULL;
        }
        at += take;
    }
    *made = nodes;
    return level;
}

/* The tree over sorted, distinct flags[0..n), n >= 1, built bottom-up. */
static struct snapshot_order_node *order_build(struct flag **flags, size_t n)
{
    size_t count;
    struct snapshot_order_node **level = order_build_level(true, (void **)flags, n, &count), *root;

    while (level != NULL && count > 1) {
        size_t above;
        struct snapshot_order_node **next = order_build_level(false, (void **)level, count, &above);
        for (size_t i = 0; i < count; i++)
            order_unref(level[i]);   /* the level above holds them now */
        free(level);
        level = next;
        count = above;
    }
    if (level == NULL)
        return NULL;
    root = level[0];
    free(level);
    return root;
}

/* ==== snapshots =========================================================== */

/* Takes over index and order, and a reference to flagset, keyring and usage. */
static struct snapshot *snapshot_make(struct snapshot_index_node *index, struct snapshot_order_node *order,
                                      struct flagset *flagset, struct keyring *keyring, struct usage_view *usage)
{
    struct snapshot *snap = malloc(sizeof *snap);

    if (snap == NULL) {
        index_unref(index);
        order_unref(order);
        return NULL;
    }
    atomic_init(&snap->refs, 1);
    snap->generation = 0;
    snap->count = order ? order->flags : 0;
    snap->index = index;
    snap->order = order;
    snap->flagset = flagset_ref(flagset);
    snap->keyring = keyring_ref(keyring);
    snap->usage = usage_view_ref(usage);
    return snap;
}

void snapshot_release(struct snapshot *snap)
{
    if (snap != NULL && atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1) {
        index_unref(snap->index);
        order_unref(snap->order);
        flagset_unref(snap->flagset);
        keyring_unref(snap->keyring);
        usage_view_unref(snap->usage);
        free(snap);
    }
}

static struct snapshot *snapshot_with_put_bound(const struct snapshot *cur, struct flag *flag);

/* A new snapshot: cur with flag put in, its $refs resolved against cur's
 * flag set. */
static struct snapshot *snapshot_with_put(const struct snapshot *cur, struct flag *flag)
{
    struct flag *bound = flag_bind(flag, cur->flagset);
    struct snapshot *next;

    if (bound == NULL)
        return NULL;
    next = snapshot_with_put_bound(cur, bound);
    flag_unref(bound);
    return next;
}

static struct snapshot *snapshot_with_put_bound(const struct snapshot *cur, struct flag *flag)
{
    struct snapshot_index_node *index;
    struct snapshot_order_node *left = NULL, *right = NULL, *root;
    bool added_to_index, added_to_order;

    index = index_put(cur->index, flag, 0, &added_to_index);
    if (index == NULL)
        return NULL;
    if (cur->order == NULL) {
        left = leaf_make(&flag, 1);
    } else if (order_put(cur->order, flag, &added_to_order, &left, &right) != 0) {
        left = NULL;
    }
    if (left == NULL) {
        index_unref(index);
        return NULL;
    }
    root = left;
    if (right != NULL) {   /* the root split: one level more */
        struct snapshot_order_node *halves[2] = {left, right};
        root = inner_make(halves, 2);
        order_unref(left);
        order_unref(right);
        if (root == NULL) {
            index_unref(index);
            return NULL;
        }
    }
    return snapshot_make(index, root, cur->flagset, cur->keyring, cur->usage);
}

/* A new snapshot: cur without name. NULL with *found false when cur has no
 * such flag; NULL with *found true when out of memory. */
static struct snapshot *snapshot_with_remove(const struct snapshot *cur, const char *name, size_t len,
                                             bool *found)
{
    struct snapshot_index_node *index = NULL;
    struct snapshot_order_node *order = NULL;
    int rc = index_remove(cur->index, flag_name_hash(name, len), name, len, 0, &index);

    *found = rc != 0;
    if (rc <= 0)
        return NULL;
    if (order_remove(cur->order, name, len, &order) < 0) {
        index_unref(index);
        return NULL;
    }
    /* A root with one child gives way to it: the tree gets one level lower. */
    while (order != NULL && !order->leaf && order->count == 1) {
        struct snapshot_order_node *only = order->items[0];
        order_ref(only);
        order_unref(order);
        order = only;
    }
    return snapshot_make(index, order, cur->flagset, cur->keyring, cur->usage);
}

const struct flag *snapshot_find(const struct snapshot *snap, const char *name, size_t len)
{
    return index_find(snap->index, flag_name_hash(name, len), name, len);
}

size_t snapshot_list_part_count(const struct snapshot *snap)
{
    return (snap->order ? snap->order->leaves : 0) + 2;
}

static void collect_leaves(const struct snapshot_order_node *n, struct iovec **part)
{
    if (n->leaf) {
        (*part)->iov_base = n->text;
        (*part)->iov_len = n->bytes;
        (*part)++;
        return;
    }
    for (unsigned i = 0; i < n->count; i++)
        collect_leaves(n->items[i], part);
}

size_t snapshot_list_parts(const struct snapshot *snap, struct iovec *parts)
{
    struct iovec *part = parts + 1;

    parts[0].iov_base = (void *)"[";
    parts[0].iov_len = 1;
    if (snap->order != NULL) {
        collect_leaves(snap->order, &part);
        parts[1].iov_base = (char *)parts[1].iov_base + 1;   /* no comma before the first */
        parts[1].iov_len--;
    }
    part->iov_base = (void *)"]";
    part->iov_len = 1;
    return snap->order ? snap->order->bytes + 1 : 2;
}

/* ---- cursors ------------------------------------------------------------ */

static void cursor_descend_leftmost(struct snapshot_cursor *cur, const struct snapshot_order_node *n)
{
    for (;;) {
        cur->depth++;
        cur->path[cur->depth] = n;
        cur->at[cur->depth] = 0;
        if (n->leaf)
            return;
        n = n->items[0];
    }
}

void snapshot_cursor_after(const struct snapshot *snap, const char *after, size_t len,
                           struct snapshot_cursor *cur)
{
    const struct snapshot_order_node *n = snap->order;

    cur->depth = -1;
    if (n == NULL)
        return;
    if (len == 0) {
        cursor_descend_leftmost(cur, n);
        return;
    }
    for (;;) {
        cur->depth++;
        cur->path[cur->depth] = n;
        if (n->leaf) {
            cur->at[cur->depth] = leaf_position(n, after, len, true);
            return;
        }
        cur->at[cur->depth] = inner_route(n, after, len);
        n = n->items[cur->at[cur->depth]];
    }
}

const struct flag *snapshot_cursor_next(struct snapshot_cursor *cur)
{
    while (cur->depth >= 0) {
        const struct snapshot_order_node *n = cur->path[cur->depth];
        if (n->leaf && cur->at[cur->depth] < n->count)
            return n->items[cur->at[cur->depth]++];
        /* This leaf is done: up to the first ancestor with a next child. */
        do {
            cur->depth--;
        } while (cur->depth >= 0 && cur->at[cur->depth] + 1 >= cur->path[cur->depth]->count);
        if (cur->depth < 0)
            return NULL;
        cur->at[cur->depth]++;
        n = cur->path[cur->depth]->items[cur->at[cur->depth]];
        cursor_descend_leftmost(cur, n);
    }
    return NULL;
}

/* ---- building ----------------------------------------------------------- */

struct builder_entry {
    struct flag *flag;
    size_t seq;                /* order of adding: the last of a name wins */
};

struct snapshot_builder {
    struct builder_entry *entries;
    size_t count, capacity;
    struct flagset *flagset;
    struct keyring *keyring;
};

struct snapshot_builder *snapshot_builder_create(void)
{
    return calloc(1, sizeof(struct snapshot_builder));
}

void snapshot_builder_abort(struct snapshot_builder *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->count; i++)
        flag_unref(b->entries[i].flag);
    free(b->entries);
    flagset_unref(b->flagset);
    keyring_unref(b->keyring);
    free(b);
}

void snapshot_builder_set_flagset(struct snapshot_builder *b, struct flagset *set)
{
    flagset_unref(b->flagset);
    b->flagset = flagset_ref(set);
}

void snapshot_builder_set_keyring(struct snapshot_builder *b, struct keyring *ring)
{
    keyring_unref(b->keyring);
    b->keyring = keyring_ref(ring);
}

int snapshot_builder_add(struct snapshot_builder *b, struct flag *flag)
{
    if (b->count == b->capacity) {
        size_t capacity = b->capacity ? 2 * b->capacity : 64;
        struct builder_entry *grown = realloc(b->entries, capacity * sizeof *grown);
        if (grown == NULL)
            return -1;
        b->entries = grown;
        b->capacity = capacity;
    }
    b->entries[b->count].flag = flag_ref(flag);
    b->entries[b->count].seq = b->count;
    b->count++;
    return 0;
}

static int compare_entries(const void *pa, const void *pb)
{
    const struct builder_entry *a = pa, *b = pb;
    int c = compare_names(a->flag->name, a->flag->name_len, b->flag->name, b->flag->name_len);
    return c != 0 ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

struct snapshot *snapshot_builder_finish(struct snapshot_builder *b)
{
    struct flag **sorted = NULL, **scratch = NULL;
    struct snapshot_index_node *index = NULL;
    struct snapshot_order_node *order = NULL;
    struct snapshot *snap = NULL;
    size_t kept = 0;

    if (b->keyring == NULL && (b->keyring = keyring_create(NULL, 0)) == NULL)
        goto out;
    if (b->flagset == NULL && (b->flagset = flagset_create()) == NULL)
        goto out;
    /* Rules with $refs are compiled against the set the snapshot holds. */
    for (size_t i = 0; i < b->count; i++) {
        struct flag *bound;
        if (!flag_needs_binding(b->entries[i].flag, b->flagset))
            continue;
        if ((bound = flag_bind(b->entries[i].flag, b->flagset)) == NULL)
            goto out;
        flag_unref(b->entries[i].flag);
        b->entries[i].flag = bound;
    }
    if (b->count > 0) {
        sorted = malloc(b->count * sizeof *sorted);
        scratch = malloc(b->count * sizeof *scratch);
        if (sorted == NULL || scratch == NULL)
            goto out;
        qsort(b->entries, b->count, sizeof *b->entries, compare_entries);
        /* Sorted by name, then by when added: of each name keep the last. */
        for (size_t i = 0; i < b->count; i++) {
            const struct flag *f = b->entries[i].flag;
            if (i + 1 < b->count && compare_names(f->name, f->name_len, b->entries[i + 1].flag->name,
                                                  b->entries[i + 1].flag->name_len) == 0)
                continue;
            sorted[kept++] = b->entries[i].flag;
        }
        order = order_build(sorted, kept);
        if (order == NULL)
            goto out;
        memcpy(scratch, sorted, kept * sizeof *scratch);
        index = index_build(scratch, kept, 0, sorted);
        if (index == NULL) {
            order_unref(order);
            goto out;
        }
    }
    snap = snapshot_make(index, order, b->flagset, b->keyring, NULL);
out:
    free(sorted);
    free(scratch);
    snapshot_builder_abort(b);
    return snap;
}

/* ==== the cell ============================================================ */

/* One hazard pointer per reader thread, each on its own cache line so that
 * readers on different cores never write the same line. */
struct hazard_slot {
    _Atomic(struct snapshot *) announced;
    char pad[64 - sizeof(void *)];
};

struct tracked_name {
    char *name;
    size_t len;
};

struct snapshot_cell {
    _Atomic(struct snapshot *) current;
    pthread_mutex_t lock;
    _Atomic uint64_t generation;
    atomic_llong loaded_ms;    /* CLOCK_MONOTONIC of the last full load published */
    atomic_int slots_used;
    /* While a load is in progress: the names changed since it began. */
    bool loading;
    bool tracked_lost;         /* out of memory noting one: the load repeats */
    bool flagset_changed;      /* the flag set was replaced during the load */
    bool keyring_changed;      /* so were the keys */
    struct tracked_name *tracked;
    size_t tracked_count, tracked_capacity;
    struct hazard_slot slots[SNAPSHOT_MAX_READER_THREADS];
};

/* A thread's slot number, shared by every cell (a process has one cell in
 * practice; tests may create several). -1: not assigned yet; -2: none left. */
static _Thread_local int thread_slot = -1;
static atomic_int next_thread_slot;

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

static void forget_tracked_locked(struct snapshot_cell *cell)
{
    for (size_t i = 0; i < cell->tracked_count; i++)
        free(cell->tracked[i].name);
    free(cell->tracked);
    cell->tracked = NULL;
    cell->tracked_count = cell->tracked_capacity = 0;
    cell->tracked_lost = false;
    cell->flagset_changed = false;
    cell->keyring_changed = false;
}

void snapshot_cell_destroy(struct snapshot_cell *cell)
{
    if (cell == NULL)
        return;
    snapshot_release(atomic_load(&cell->current));
    forget_tracked_locked(cell);
    pthread_mutex_destroy(&cell->lock);
    free(cell);
}

uint64_t snapshot_cell_generation(struct snapshot_cell *cell)
{
    return atomic_load(&cell->generation);
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

/* Makes snap current (taking over the caller's reference) and drops the
 * old one once no reader is between loading and counting it. */
static void publish_locked(struct snapshot_cell *cell, struct snapshot *snap)
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

static void track_locked(struct snapshot_cell *cell, const char *name, size_t len)
{
    if (!cell->loading)
        return;
    if (cell->tracked_count == cell->tracked_capacity) {
        size_t capacity = cell->tracked_capacity ? 2 * cell->tracked_capacity : 16;
        struct tracked_name *grown = realloc(cell->tracked, capacity * sizeof *grown);
        if (grown == NULL) {
            cell->tracked_lost = true;
            return;
        }
        cell->tracked = grown;
        cell->tracked_capacity = capacity;
    }
    cell->tracked[cell->tracked_count].name = malloc(len + 1);
    if (cell->tracked[cell->tracked_count].name == NULL) {
        cell->tracked_lost = true;
        return;
    }
    memcpy(cell->tracked[cell->tracked_count].name, name, len);
    cell->tracked[cell->tracked_count].name[len] = '\0';
    cell->tracked[cell->tracked_count].len = len;
    cell->tracked_count++;
}

int snapshot_put(struct snapshot_cell *cell, struct flag *flag)
{
    struct snapshot *cur, *next;

    pthread_mutex_lock(&cell->lock);
    track_locked(cell, flag->name, flag->name_len);
    cur = atomic_load(&cell->current);
    next = cur ? snapshot_with_put(cur, flag) : NULL;
    if (next != NULL)
        publish_locked(cell, next);
    pthread_mutex_unlock(&cell->lock);
    return cur == NULL || next != NULL ? 0 : -1;
}

int snapshot_remove(struct snapshot_cell *cell, const char *name, size_t len)
{
    struct snapshot *cur, *next = NULL;
    bool found = false;

    pthread_mutex_lock(&cell->lock);
    track_locked(cell, name, len);
    cur = atomic_load(&cell->current);
    if (cur != NULL)
        next = snapshot_with_remove(cur, name, len, &found);
    if (next != NULL)
        publish_locked(cell, next);
    pthread_mutex_unlock(&cell->lock);
    return found && next == NULL ? -1 : 0;
}

/* A new snapshot: cur with another flag set, every flag that uses $ref
 * compiled again against it. O(flags): flag sets change rarely. */
static struct snapshot *snapshot_with_flagset(const struct snapshot *cur, struct flagset *set)
{
    struct snapshot *next;
    struct snapshot_cursor cursor;
    const struct flag *f;

    if (cur->index != NULL)
        atomic_fetch_add_explicit(&cur->index->refs, 1, memory_order_relaxed);
    if (cur->order != NULL)
        order_ref(cur->order);
    next = snapshot_make(cur->index, cur->order, set, cur->keyring, cur->usage);
    snapshot_cursor_after(cur, "", 0, &cursor);
    while (next != NULL && (f = snapshot_cursor_next(&cursor)) != NULL) {
        struct snapshot *rebound;
        if (!flag_needs_binding(f, set))
            continue;
        rebound = snapshot_with_put(next, (struct flag *)f);
        snapshot_release(next);
        next = rebound;
    }
    return next;
}

int snapshot_set_flagset(struct snapshot_cell *cell, struct flagset *set)
{
    struct snapshot *cur, *next = NULL;

    pthread_mutex_lock(&cell->lock);
    if (cell->loading)
        cell->flagset_changed = true;
    cur = atomic_load(&cell->current);
    if (cur != NULL && (next = snapshot_with_flagset(cur, set)) != NULL)
        publish_locked(cell, next);
    pthread_mutex_unlock(&cell->lock);
    return cur == NULL || next != NULL ? 0 : -1;
}

/* A new snapshot: cur's flags and flag set, shared, with other keys and
 * usage view. */
static struct snapshot *snapshot_sharing(const struct snapshot *cur, struct keyring *ring, struct usage_view *usage)
{
    if (cur->index != NULL)
        atomic_fetch_add_explicit(&cur->index->refs, 1, memory_order_relaxed);
    if (cur->order != NULL)
        order_ref(cur->order);
    return snapshot_make(cur->index, cur->order, cur->flagset, ring, usage);
}

int snapshot_set_keyring(struct snapshot_cell *cell, struct keyring *ring)
{
    struct snapshot *cur, *next = NULL;

    pthread_mutex_lock(&cell->lock);
    if (cell->loading)
        cell->keyring_changed = true;
    cur = atomic_load(&cell->current);
    if (cur != NULL && (next = snapshot_sharing(cur, ring, cur->usage)) != NULL)
        publish_locked(cell, next);
    pthread_mutex_unlock(&cell->lock);
    return cur == NULL || next != NULL ? 0 : -1;
}

int snapshot_set_usage(struct snapshot_cell *cell, struct usage_view *usage)
{
    struct snapshot *cur, *next = NULL;

    pthread_mutex_lock(&cell->lock);
    cur = atomic_load(&cell->current);
    if (cur != NULL && (next = snapshot_sharing(cur, cur->keyring, usage)) != NULL)
        publish_locked(cell, next);
    pthread_mutex_unlock(&cell->lock);
    return cur == NULL || next != NULL ? 0 : -1;
}

long long snapshot_cell_loaded_ms(struct snapshot_cell *cell)
{
    return atomic_load(&cell->loaded_ms);
}

void snapshot_load_begin(struct snapshot_cell *cell)
{
    pthread_mutex_lock(&cell->lock);
    forget_tracked_locked(cell);
    cell->loading = true;
    pthread_mutex_unlock(&cell->lock);
}

void snapshot_load_abort(struct snapshot_cell *cell)
{
    pthread_mutex_lock(&cell->lock);
    cell->loading = false;
    forget_tracked_locked(cell);
    pthread_mutex_unlock(&cell->lock);
}

int snapshot_load_publish(struct snapshot_cell *cell, struct snapshot *loaded)
{
    struct snapshot *cur;
    int rc = 0;

    pthread_mutex_lock(&cell->lock);
    cur = atomic_load(&cell->current);
    if (cell->tracked_lost ||
        (cur == NULL && (cell->tracked_count > 0 || cell->flagset_changed || cell->keyring_changed)))
        rc = 1;
    /* The usage view is never loaded with the flags: keep the current one. */
    if (rc == 0 && cur != NULL && loaded->usage == NULL)
        loaded->usage = usage_view_ref(cur->usage);
    /* Keys replaced during the load: the current ones are at least as new.
     * (loaded is not published yet: it is still ours to change.) */
    if (rc == 0 && cell->keyring_changed && cur->keyring != loaded->keyring) {
        keyring_unref(loaded->keyring);
        loaded->keyring = keyring_ref(cur->keyring);
    }
    /* A flag set replaced during the load: the current one is at least as
     * new as what the load read. */
    if (rc == 0 && cell->flagset_changed && cur->flagset != loaded->flagset) {
        struct snapshot *merged = snapshot_with_flagset(loaded, cur->flagset);
        snapshot_release(loaded);
        loaded = merged;
        if (loaded == NULL)
            rc = -1;   /* out of memory */
    }
    /* Each name written during the load takes its state from the current
     * snapshot, which has every local write applied in commit order. */
    for (size_t i = 0; rc == 0 && i < cell->tracked_count; i++) {
        const struct tracked_name *t = &cell->tracked[i];
        const struct flag *now = snapshot_find(cur, t->name, t->len);
        struct snapshot *merged;
        bool found = true;
        if (now != NULL)
            merged = snapshot_with_put(loaded, (struct flag *)now);
        else
            merged = snapshot_with_remove(loaded, t->name, t->len, &found);
        if (merged != NULL) {
            snapshot_release(loaded);
            loaded = merged;
        } else if (found) {
            rc = -1;   /* out of memory */
        }
    }
    if (rc == 0) {
        struct timespec ts;
        publish_locked(cell, loaded);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        atomic_store(&cell->loaded_ms, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    } else if (loaded != NULL)
        snapshot_release(loaded);
    cell->loading = false;
    forget_tracked_locked(cell);
    pthread_mutex_unlock(&cell->lock);
    return rc;
}
