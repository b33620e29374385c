/*
 * flag — the flag: the domain type every other module shares.
 *
 * Owns: what a valid flag name is; `struct flag`, one immutable,
 * reference-counted definition built once from a stored row, with its JSON
 * rendering made at that moment (so reads never encode); and decoding the
 * JSON bodies of the flag write requests into plain structs, with a message
 * that names the problem when they are wrong. Pure: no I/O, no global state.
 *
 * Adding a field to flags means: a member in struct flag_row (what the
 * store reads and writes), the same in struct flag, and its line in
 * flag_create()'s rendering. The snapshot, the sync thread and the API hold
 * flags by pointer and never spell the fields out.
 */
#ifndef TM_FLAG_H
#define TM_FLAG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names are 1-100 characters of [A-Za-z0-9._:-], starting with a letter or
 * digit: the original column is VARCHAR(100), and the character set keeps
 * names safe in URLs, logs and metrics labels without escaping. Rows the
 * original monolith wrote may hold other names (up to 100 characters, which
 * is at most FLAG_STORED_NAME_MAX bytes of UTF-8); they are served as they
 * are. */
#define FLAG_NAME_MAX 100
#define FLAG_STORED_NAME_MAX (4 * FLAG_NAME_MAX)

/* A flag as the store holds it. Strings are borrowed for the call. */
struct flag_row {
    const char *name;
    int64_t id;                /* the store's row id */
    bool is_enabled;
};

/* A committed flag. Immutable once created; shared by every snapshot that
 * holds it, freed when the last reference goes. */
struct flag {
    atomic_long refs;
    uint64_t name_hash;        /* flag_name_hash(name) */
    int64_t id;
    bool is_enabled;
    size_t name_len;
    size_t body_len;
    const char *body;          /* {"name":...,"is_enabled":...}, not NUL-terminated */
    char name[];               /* NUL-terminated; the body follows it */
};

struct flag_create_request {
    char name[FLAG_NAME_MAX + 1];
    bool is_enabled;           /* false when the body leaves it out */
};

struct flag_update_request {
    bool is_enabled;
};

bool flag_name_valid(const char *name, size_t len);
uint64_t flag_name_hash(const char *name, size_t len);

/* A new flag with one reference, or NULL when out of memory. */
struct flag *flag_create(const struct flag_row *row);
struct flag *flag_ref(struct flag *flag);
void flag_unref(struct flag *flag);

/* Decode a request body. Return 0, or -1 with a client-facing message in
 * err (the 400 response's "error"). */
int flag_decode_create(const char *body, size_t len, struct flag_create_request *out,
                       char *err, size_t errlen);
int flag_decode_update(const char *body, size_t len, struct flag_update_request *out,
                       char *err, size_t errlen);

#endif
