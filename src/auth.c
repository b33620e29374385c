/*
 * auth — API keys and the keyring. See auth.h.
 */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "text.h"

static const char *const role_names[] = {
    [ROLE_PUBLIC] = "public", [ROLE_CLIENT] = "client", [ROLE_EDITOR] = "editor", [ROLE_ADMIN] = "admin",
};

const char *auth_role_name(enum auth_role role)
{
    return role <= ROLE_ADMIN ? role_names[role] : "unknown";
}

int auth_role_parse(const char *text, enum auth_role *out)
{
    for (enum auth_role r = ROLE_CLIENT; r <= ROLE_ADMIN; r++)
        if (strcmp(text, role_names[r]) == 0) {
            *out = r;
            return 0;
        }
    return -1;
}

bool auth_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > AUTH_NAME_MAX || !text_utf8_valid(name, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

bool auth_id_valid(const char *id, size_t len)
{
    if (len != AUTH_KEY_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

void auth_hash(const char *text, size_t len, unsigned char out[AUTH_HASH_LEN])
{
    unsigned int out_len = AUTH_HASH_LEN;

    if (EVP_Digest(text, len, out, &out_len, EVP_sha256(), NULL) != 1)
        memset(out, 0, AUTH_HASH_LEN);   /* matches no stored hash of a real key */
}

bool auth_hash_equal(const unsigned char a[AUTH_HASH_LEN], const unsigned char b[AUTH_HASH_LEN])
{
    return CRYPTO_memcmp(a, b, AUTH_HASH_LEN) == 0;
}

static int fill_random(unsigned char *out, size_t len)
{
    while (len > 0) {
        ssize_t got = getrandom(out, len, 0);
        if (got <= 0)
            return -1;
        out += got;
        len -= (size_t)got;
    }
    return 0;
}

int auth_key_generate(char key[AUTH_KEY_LEN + 1], struct auth_key *meta)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char id_bytes[AUTH_KEY_ID_LEN / 2], secret[32];
    char encoded[48];
    char *p = key;

    if (fill_random(id_bytes, sizeof id_bytes) != 0 || fill_random(secret, sizeof secret) != 0)
        return -1;
    memcpy(p, AUTH_KEY_PREFIX, 3);
    p += 3;
    for (size_t i = 0; i < sizeof id_bytes; i++) {
        *p++ = hex[id_bytes[i] >> 4];
        *p++ = hex[id_bytes[i] & 15];
    }
    *p++ = '_';
    /* base64 (OpenSSL) turned into base64url without padding. */
    EVP_EncodeBlock((unsigned char *)encoded, secret, sizeof secret);
    for (size_t i = 0; i < AUTH_SECRET_LEN; i++)
        *p++ = encoded[i] == '+' ? '-' : encoded[i] == '/' ? '_' : encoded[i];
    *p = '\0';
    OPENSSL_cleanse(secret, sizeof secret);
    memcpy(meta->id, key + 3, AUTH_KEY_ID_LEN);
    meta->id[AUTH_KEY_ID_LEN] = '\0';
    auth_hash(key, AUTH_KEY_LEN, meta->hash);
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The value without surrounding blanks; -1 when empty or when what is left
 * holds blanks or control characters (a key never does). */
static int token_of(const char *value, size_t len, const char **out, size_t *out_len)
{
    while (len > 0 && is_blank(value[0])) {
        value++;
        len--;
    }
    while (len > 0 && is_blank(value[len - 1]))
        len--;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)value[i] <= 0x20 || value[i] == 0x7f)
            return -1;
    *out = value;
    *out_len = len;
    return 1;
}

int auth_parse_bearer(const char *authorization, size_t len, const char **out, size_t *out_len)
{
    if (authorization == NULL)
        return 0;
    while (len > 0 && is_blank(authorization[0])) {
        authorization++;
        len--;
    }
    if (len < 7 || strncasecmp(authorization, "Bearer", 6) != 0 || !is_blank(authorization[6]))
        return -1;
    return token_of(authorization + 7, len - 7, out, out_len);
}

int auth_parse_api_key(const char *value, size_t len, const char **out, size_t *out_len)
{
    if (value == NULL)
        return 0;
    return token_of(value, len, out, out_len);
}

/* ---- the keyring --------------------------------------------------------- */

static int compare_ids(const void *a, const void *b)
{
    return strcmp(((const struct auth_key *)a)->id, ((const struct auth_key *)b)->id);
}

struct keyring *keyring_create(const struct auth_key *keys, size_t count)
{
    struct keyring *ring = malloc(sizeof *ring + count * sizeof ring->keys[0]);

    if (ring == NULL)
        return NULL;
    atomic_init(&ring->refs, 1);
    ring->count = count;
    ring->active = 0;
    if (count > 0)
        memcpy(ring->keys, keys, count * sizeof ring->keys[0]);
    qsort(ring->keys, count, sizeof ring->keys[0], compare_ids);
    for (size_t i = 0; i < count; i++)
        ring->active += ring->keys[i].revoked_at[0] == '\0';
    return ring;
}

struct keyring *keyring_ref(struct keyring *ring)
{
    if (ring != NULL)
        atomic_fetch_add_explicit(&ring->refs, 1, memory_order_relaxed);
    return ring;
}

void keyring_unref(struct keyring *ring)
{
    if (ring != NULL && atomic_fetch_sub_explicit(&ring->refs, 1, memory_order_acq_rel) == 1)
        free(ring);
}

const struct auth_key *keyring_find(const struct keyring *ring, const char *id, size_t id_len)
{
    size_t lo = 0, hi = ring != NULL ? ring->count : 0;

    if (id_len != AUTH_KEY_ID_LEN)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(ring->keys[mid].id, id, AUTH_KEY_ID_LEN);
        if (c == 0)
            return &ring->keys[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const struct auth_key env_admin = {.id = AUTH_ENV_ADMIN_ID, .name = "ADMIN_TOKEN", .role = ROLE_ADMIN};

enum auth_outcome auth_check(const struct keyring *ring, const unsigned char *admin_hash, const char *credential,
                             size_t len, const struct auth_key **key)
{
    unsigned char presented[AUTH_HASH_LEN];
    const struct auth_key *found = NULL;

    auth_hash(credential, len, presented);
    if (admin_hash != NULL && auth_hash_equal(presented, admin_hash)) {
        *key = &env_admin;
        return AUTH_OK;
    }
    if (len == AUTH_KEY_LEN && memcmp(credential, AUTH_KEY_PREFIX, 3) == 0 && credential[3 + AUTH_KEY_ID_LEN] == '_')
        found = keyring_find(ring, credential + 3, AUTH_KEY_ID_LEN);
    if (found == NULL || !auth_hash_equal(presented, found->hash))
        return AUTH_UNKNOWN;
    if (found->revoked_at[0] != '\0')
        return AUTH_REVOKED;
    *key = found;
    return AUTH_OK;
}
