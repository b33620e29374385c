/* Unit tests for snapshot.c: building, lookups, changes, and readers racing
 * writers (run under ASan in `make test`: a snapshot freed while a reader
 * holds it shows up there as a use-after-free). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snapshot.h"

static const struct snapshot_flag *find(const struct snapshot *s, const char *name)
{
    return snapshot_find(s, name, strlen(name));
}

static void test_build_and_find(void)
{
    struct snapshot_builder *b = snapshot_builder_create();
    struct snapshot *s;

    snapshot_builder_add(b, "b", 2, true);
    snapshot_builder_add(b, "a-b", 3, false);
    snapshot_builder_add(b, "B", 4, true);
    snapshot_builder_add(b, "a.b", 5, false);
    snapshot_builder_add(b, "a", 1, false);
    s = snapshot_builder_finish(b);
    CHECK(s != NULL && s->count == 5);
    /* Byte order: uppercase before lowercase, '-' (0x2d) before '.' (0x2e). */
    CHECK(strcmp(s->flags[0]->name, "B") == 0 && strcmp(s->flags[1]->name, "a") == 0);
    CHECK(strcmp(s->flags[2]->name, "a-b") == 0 && strcmp(s->flags[3]->name, "a.b") == 0);
    CHECK(strcmp(s->flags[4]->name, "b") == 0);
    CHECK(find(s, "a.b") != NULL && find(s, "a.b")->id == 5);
    CHECK(find(s, "missing") == NULL && find(s, "") == NULL);
    CHECK(s->list_len == strlen("[{\"name\":\"B\",\"is_enabled\":true},{\"name\":\"a\",\"is_enabled\":false},"
                                "{\"name\":\"a-b\",\"is_enabled\":false},{\"name\":\"a.b\",\"is_enabled\":false},"
                                "{\"name\":\"b\",\"is_enabled\":true}]"));
    CHECK(strncmp(s->list_body, "[{\"name\":\"B\",\"is_enabled\":true},{\"name\":\"a\"", 43) == 0);
    CHECK(snapshot_position_after(s, "a", 1) == 2);
    CHECK(snapshot_position_after(s, "", 0) == 0);
    CHECK(snapshot_position_after(s, "a-a", 3) == 2);
    CHECK(snapshot_position_after(s, "zzz", 3) == 5);
    snapshot_release(s);

    s = snapshot_builder_finish(snapshot_builder_create());
    CHECK(s != NULL && s->count == 0 && s->list_len == 2 && memcmp(s->list_body, "[]", 2) == 0);
    CHECK(find(s, "a") == NULL);
    snapshot_release(s);
}

static void test_apply(void)
{
    struct snapshot_cell *cell = snapshot_cell_create();
    struct snapshot_change change = {.kind = SNAPSHOT_UPSERT, .name = "m", .id = 1, .is_enabled = true};
    struct snapshot *s, *held;
    uint64_t gen;

    CHECK(snapshot_acquire(cell) == NULL);
    gen = snapshot_cell_generation(cell);
    CHECK(snapshot_apply(cell, &change) == 0);          /* nothing loaded: no-op */
    CHECK(snapshot_acquire(cell) == NULL);
    CHECK(snapshot_cell_generation(cell) > gen);         /* but counted */

    snapshot_cell_lock(cell);
    snapshot_publish(cell, snapshot_builder_finish(snapshot_builder_create()));
    snapshot_cell_unlock(cell);
    held = snapshot_acquire(cell);
    CHECK(held != NULL && held->count == 0);

    CHECK(snapshot_apply(cell, &change) == 0);
    change.name = "c";
    change.id = 2;
    CHECK(snapshot_apply(cell, &change) == 0);
    change.name = "x";
    change.id = 3;
    CHECK(snapshot_apply(cell, &change) == 0);
    change.name = "m";
    change.is_enabled = false;
    change.id = 1;
    CHECK(snapshot_apply(cell, &change) == 0);           /* replace */
    s = snapshot_acquire(cell);
    CHECK(s->count == 3 && strcmp(s->flags[0]->name, "c") == 0 && strcmp(s->flags[2]->name, "x") == 0);
    CHECK(find(s, "m") != NULL && !find(s, "m")->is_enabled);
    CHECK(s->list_len == strlen("[{\"name\":\"c\",\"is_enabled\":true},{\"name\":\"m\",\"is_enabled\":false},"
                                "{\"name\":\"x\",\"is_enabled\":true}]"));
    const char *tail = "{\"name\":\"x\",\"is_enabled\":true}]";
    CHECK(memcmp(s->list_body + s->list_len - strlen(tail), tail, strlen(tail)) == 0);
    snapshot_release(s);

    change.kind = SNAPSHOT_DELETE;
    CHECK(snapshot_apply(cell, &change) == 0);
    change.name = "never-existed";
    CHECK(snapshot_apply(cell, &change) == 0);
    s = snapshot_acquire(cell);
    CHECK(s->count == 2 && find(s, "m") == NULL && find(s, "c") != NULL);
    CHECK(s->list_len == strlen("[{\"name\":\"c\",\"is_enabled\":true},{\"name\":\"x\",\"is_enabled\":true}]"));
    snapshot_release(s);

    /* An old snapshot a reader still holds is untouched by later changes. */
    CHECK(held->count == 0 && held->list_len == 2);
    snapshot_release(held);
    snapshot_cell_destroy(cell);
}

/* ---- readers racing writers ------------------------------------------- */

#define RACE_FLAGS 16
#define RACE_WRITES 4000

struct race {
    struct snapshot_cell *cell;
    atomic_int done;
    long reads, bad;
};

/* Every record a writer publishes has is_enabled == (id % 2): a reader that
 * ever sees otherwise, or a list body that disagrees with the records, saw
 * a state that never existed. */
static void *race_reader(void *arg)
{
    struct race *r = arg;
    uint64_t last_generation = 0;
    long reads = 0, bad = 0;

    while (!r->done) {
        struct snapshot *s = snapshot_acquire(r->cell);
        size_t expect = 2;
        if (s == NULL)
            continue;
        if (s->generation < last_generation)
            bad++;
        last_generation = s->generation;
        for (size_t i = 0; i < s->count; i++) {
            const struct snapshot_flag *f = s->flags[i];
            if (f->is_enabled != (f->id % 2 == 1) || snapshot_find(s, f->name, f->name_len) != f)
                bad++;
            expect += f->body_len + (i > 0);
        }
        if (expect != s->list_len)
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
        struct snapshot_change change = {.kind = (i % 7 == 0) ? SNAPSHOT_DELETE : SNAPSHOT_UPSERT,
                                         .name = name, .id = i, .is_enabled = i % 2 == 1};
        snprintf(name, sizeof name, "flag-%d", i % RACE_FLAGS);
        if (snapshot_apply(r->cell, &change) != 0)
            __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_race(void)
{
    struct race r = {.cell = snapshot_cell_create()};
    pthread_t readers[4], writers[2];

    snapshot_cell_lock(r.cell);
    snapshot_publish(r.cell, snapshot_builder_finish(snapshot_builder_create()));
    snapshot_cell_unlock(r.cell);
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

int main(void)
{
    test_build_and_find();
    test_apply();
    test_race();
    return CHECK_DONE("unit[snapshot]");
}
