/*
 * auth — API keys: what one looks like, making one, hashing and checking
 * one, the roles, and the keyring the snapshot holds.
 *
 * Owns: the key format, "tm_" + a 12-hex-digit public id + "_" + 43
 * characters of base64url (256 bits from getrandom(), the kernel's
 * CSPRNG). The id names the key in lists, logs and the audit trail; the
 * whole key is shown once, at creation, and only its SHA-256 is stored. A
 * presented key is found by its id and compared by hash in constant time
 * (CRYPTO_memcmp), so neither the lookup nor the comparison tells an
 * attacker how much of a guess was right. Keys hold 256 random bits, so an
 * unsalted hash is enough: there is nothing to brute-force.
 *
 * ADMIN_TOKEN (any string of at least AUTH_TOKEN_MIN bytes from the
 * environment) acts as an admin key with the id "env-admin"; it is hashed
 * once at start and compared the same way.
 *
 * A keyring is the immutable set of keys (revoked ones included, so that
 * revoking the last key never turns authentication off) sorted by id,
 * counted by reference, held by the snapshot: checking a key costs no I/O
 * and no lock. Pure: no I/O but getrandom().
 */
#ifndef TM_AUTH_H
#define TM_AUTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Who may call a route; a key has one of the last three. Ordered: a role
 * may do everything the roles below it may. */
enum auth_role {
    ROLE_PUBLIC = 0,           /* anyone: the probes */
    ROLE_CLIENT,               /* read flags, evaluate, OFREP, the flagd document */
    ROLE_EDITOR,               /* change flags and evaluators */
    ROLE_ADMIN,                /* everything: keys and the audit trail too */
};

#define AUTH_KEY_PREFIX "tm_"
#define AUTH_KEY_ID_LEN 12                      /* hex digits */
#define AUTH_SECRET_LEN 43                      /* base64url of 32 bytes */
#define AUTH_KEY_LEN (3 + AUTH_KEY_ID_LEN + 1 + AUTH_SECRET_LEN)
#define AUTH_HASH_LEN 32                        /* SHA-256 */
#define AUTH_NAME_MAX 100                       /* a key's label, bytes */
#define AUTH_TOKEN_MIN 16                       /* ADMIN_TOKEN, bytes */
#define AUTH_TIME_MAX 32                        /* RFC 3339 timestamps */
#define AUTH_ENV_ADMIN_ID "env-admin"

struct auth_key {
    char id[AUTH_KEY_ID_LEN + 1];
    char name[AUTH_NAME_MAX + 1];
    enum auth_role role;
    unsigned char hash[AUTH_HASH_LEN];
    char created_at[AUTH_TIME_MAX];
    char revoked_at[AUTH_TIME_MAX];             /* "" while active */
};

struct keyring {
    atomic_long refs;
    size_t count;
    size_t active;                              /* not revoked */
    struct auth_key keys[];                     /* sorted by id */
};

/* "admin", "editor", "client" (and "public"); auth_role_parse() is its
 * inverse for the three key roles: 0, or -1. */
const char *auth_role_name(enum auth_role role);
int auth_role_parse(const char *text, enum auth_role *out);

/* A label is 1-AUTH_NAME_MAX bytes of valid UTF-8 without control
 * characters. */
bool auth_name_valid(const char *name, size_t len);
/* An id is AUTH_KEY_ID_LEN lowercase hex digits. */
bool auth_id_valid(const char *id, size_t len);

void auth_hash(const char *text, size_t len, unsigned char out[AUTH_HASH_LEN]);
/* Constant-time comparison of two hashes. */
bool auth_hash_equal(const unsigned char a[AUTH_HASH_LEN], const unsigned char b[AUTH_HASH_LEN]);

/* A new key: its text into key (AUTH_KEY_LEN + 1 bytes), and its id and
 * hash into meta (name, role and times are the caller's). 0, or -1 when
 * the kernel gives no randomness. */
int auth_key_generate(char key[AUTH_KEY_LEN + 1], struct auth_key *meta);

/* The credential a request carries: "Authorization: Bearer <key>" (the
 * scheme in any case) or "X-API-Key: <key>", surrounding blanks trimmed.
 * Returns 1 with the credential in out and out_len, 0 when there is none,
 * -1 when a header is there but malformed (another scheme, empty, or
 * holding blanks or control characters). */
int auth_parse_bearer(const char *authorization, size_t len, const char **out, size_t *out_len);
int auth_parse_api_key(const char *value, size_t len, const char **out, size_t *out_len);

/* The keyring: made from keys[0..count) in any order (copied); NULL when
 * out of memory. */
struct keyring *keyring_create(const struct auth_key *keys, size_t count);
struct keyring *keyring_ref(struct keyring *ring);
void keyring_unref(struct keyring *ring);
const struct auth_key *keyring_find(const struct keyring *ring, const char *id, size_t id_len);

/* Checking a presented credential. admin_hash: ADMIN_TOKEN's hash, or
 * NULL when unset. On AUTH_OK, *key is the key (for ADMIN_TOKEN a static
 * one with id AUTH_ENV_ADMIN_ID). */
enum auth_outcome { AUTH_OK = 0, AUTH_UNKNOWN, AUTH_REVOKED };
enum auth_outcome auth_check(const struct keyring *ring, const unsigned char *admin_hash, const char *credential,
                             size_t len, const struct auth_key **key);

#endif
