/*
 * flag — the flag model.
 *
 * Owns: what a valid flag name is, decoding the JSON bodies of the flag
 * write requests into plain structs (with a message that names the problem
 * when they are wrong), and rendering a flag as the JSON the API returns.
 * Pure functions: no I/O, no global state.
 */
#ifndef TM_FLAG_H
#define TM_FLAG_H

#include <stdbool.h>
#include <stddef.h>

/* Names are 1-100 characters of [A-Za-z0-9._:-], starting with a letter or
 * digit: the original column is VARCHAR(100), and the character set keeps
 * names safe in URLs, logs and metrics labels without escaping. */
#define FLAG_NAME_MAX 100

struct flag_create_request {
    char name[FLAG_NAME_MAX + 1];
    bool is_enabled;           /* false when the body leaves it out */
};

struct flag_update_request {
    bool is_enabled;
};

bool flag_name_valid(const char *name, size_t len);

/* Decode a request body. Return 0, or -1 with a client-facing message in
 * err (the 400 response's "error"). */
int flag_decode_create(const char *body, size_t len, struct flag_create_request *out,
                       char *err, size_t errlen);
int flag_decode_update(const char *body, size_t len, struct flag_update_request *out,
                       char *err, size_t errlen);

/* {"name":...,"is_enabled":...} as a malloc'd string (not NUL-terminated
 * use: *len is its length). NULL when out of memory. */
char *flag_render(const char *name, bool is_enabled, size_t *len);

#endif
