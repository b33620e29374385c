/* Unit tests for auth.c (key format, hashing, header parsing, the keyring
 * and checking a credential) and guard.c (failed authentications per
 * address). */
#include <string.h>

#include "auth.h"
#include "check.h"
#include "guard.h"

static int parsed(int (*parse)(const char *, size_t, const char **, size_t *), const char *header,
                  const char *want)
{
    const char *out = NULL;
    size_t len = 0;
    int rc = parse(header, header ? strlen(header) : 0, &out, &len);

    if (rc == 1 && want != NULL)
        return len == strlen(want) && memcmp(out, want, len) == 0;
    return rc;
}

static void test_key_format(void)
{
    char a[AUTH_KEY_LEN + 1], b[AUTH_KEY_LEN + 1];
    struct auth_key ka = {0}, kb = {0};
    unsigned char hash[AUTH_HASH_LEN];

    CHECK(auth_key_generate(a, &ka) == 0);
    CHECK(auth_key_generate(b, &kb) == 0);
    CHECK(strlen(a) == AUTH_KEY_LEN && strncmp(a, "tm_", 3) == 0 && a[15] == '_');
    CHECK(strcmp(a, b) != 0 && strcmp(ka.id, kb.id) != 0);
    CHECK(auth_id_valid(ka.id, strlen(ka.id)) && memcmp(a + 3, ka.id, AUTH_KEY_ID_LEN) == 0);
    /* base64url: no '+', '/', '=' or blanks, so a key is one token anywhere. */
    for (size_t i = 16; i < AUTH_KEY_LEN; i++)
        CHECK(strchr("+/= ", a[i]) == NULL);
    auth_hash(a, strlen(a), hash);
    CHECK(auth_hash_equal(hash, ka.hash));
    CHECK(!auth_hash_equal(hash, kb.hash));
    /* SHA-256 of "abc" (FIPS 180-2's first example). */
    static const unsigned char abc[AUTH_HASH_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    auth_hash("abc", 3, hash);
    CHECK(memcmp(hash, abc, AUTH_HASH_LEN) == 0);
}

static void test_names_and_roles(void)
{
    enum auth_role role;

    CHECK(auth_role_parse("client", &role) == 0 && role == ROLE_CLIENT);
    CHECK(auth_role_parse("admin", &role) == 0 && role == ROLE_ADMIN);
    CHECK(auth_role_parse("public", &role) != 0);
    CHECK(auth_role_parse("Admin", &role) != 0);
    CHECK(ROLE_ADMIN > ROLE_EDITOR && ROLE_EDITOR > ROLE_CLIENT && ROLE_CLIENT > ROLE_PUBLIC);
    CHECK(auth_name_valid("ci pipeline — prod", strlen("ci pipeline — prod")));
    CHECK(!auth_name_valid("", 0));
    CHECK(!auth_name_valid("tab\there", 8));
    CHECK(!auth_name_valid("\xff\xfe", 2));
    CHECK(!auth_id_valid("0123456789AB", 12));
    CHECK(!auth_id_valid("0123456789a", 11));
}

static void test_header_parsing(void)
{
    CHECK(parsed(auth_parse_bearer, NULL, NULL) == 0);
    CHECK(parsed(auth_parse_bearer, "Bearer tm_abc", "tm_abc") == 1);
    CHECK(parsed(auth_parse_bearer, "bearer   tm_abc  ", "tm_abc") == 1);
    CHECK(parsed(auth_parse_bearer, "  BEARER\ttm_abc", "tm_abc") == 1);
    CHECK(parsed(auth_parse_bearer, "Basic dXNlcjpwYXNz", NULL) == -1);
    CHECK(parsed(auth_parse_bearer, "Bearer", NULL) == -1);
    CHECK(parsed(auth_parse_bearer, "Bearer ", NULL) == -1);
    CHECK(parsed(auth_parse_bearer, "Bearertm_abc", NULL) == -1);
    CHECK(parsed(auth_parse_bearer, "Bearer tm_a tm_b", NULL) == -1);
    CHECK(parsed(auth_parse_api_key, "tm_abc", "tm_abc") == 1);
    CHECK(parsed(auth_parse_api_key, " tm_abc ", "tm_abc") == 1);
    CHECK(parsed(auth_parse_api_key, "", NULL) == -1);
    CHECK(parsed(auth_parse_api_key, "tm\x01" "abc", NULL) == -1);
}

static void test_check(void)
{
    char text[3][AUTH_KEY_LEN + 1], forged[AUTH_KEY_LEN + 1];
    struct auth_key keys[3] = {0};
    const struct auth_key *who = NULL;
    unsigned char admin[AUTH_HASH_LEN];
    struct keyring *ring;

    for (int i = 0; i < 3; i++) {
        CHECK(auth_key_generate(text[i], &keys[i]) == 0);
        keys[i].role = (enum auth_role)(ROLE_CLIENT + i);
    }
    strcpy(keys[2].revoked_at, "2026-01-01T00:00:00.000Z");
    ring = keyring_create(keys, 3);
    CHECK(ring != NULL && ring->count == 3 && ring->active == 2);
    for (size_t i = 1; ring && i < ring->count; i++)
        CHECK(strcmp(ring->keys[i - 1].id, ring->keys[i].id) < 0);
    CHECK(auth_check(ring, NULL, text[0], AUTH_KEY_LEN, &who) == AUTH_OK && who->role == ROLE_CLIENT);
    CHECK(auth_check(ring, NULL, text[1], AUTH_KEY_LEN, &who) == AUTH_OK && who->role == ROLE_EDITOR);
    CHECK(auth_check(ring, NULL, text[2], AUTH_KEY_LEN, &who) == AUTH_REVOKED);
    /* A known id with another secret: the hash decides. */
    strcpy(forged, text[0]);
    forged[AUTH_KEY_LEN - 1] = forged[AUTH_KEY_LEN - 1] == 'A' ? 'B' : 'A';
    CHECK(auth_check(ring, NULL, forged, AUTH_KEY_LEN, &who) == AUTH_UNKNOWN);
    CHECK(auth_check(ring, NULL, text[0], AUTH_KEY_LEN - 1, &who) == AUTH_UNKNOWN);
    CHECK(auth_check(ring, NULL, "", 0, &who) == AUTH_UNKNOWN);
    /* ADMIN_TOKEN: any string, compared by hash. */
    auth_hash("a-long-admin-token-123", 22, admin);
    CHECK(auth_check(ring, admin, "a-long-admin-token-123", 22, &who) == AUTH_OK && who->role == ROLE_ADMIN &&
          strcmp(who->id, AUTH_ENV_ADMIN_ID) == 0);
    CHECK(auth_check(ring, admin, "a-long-admin-token-124", 22, &who) == AUTH_UNKNOWN);
    CHECK(auth_check(ring, NULL, "a-long-admin-token-123", 22, &who) == AUTH_UNKNOWN);
    CHECK(keyring_find(ring, keys[1].id, AUTH_KEY_ID_LEN) != NULL);
    CHECK(keyring_find(ring, "000000000000", AUTH_KEY_ID_LEN) == NULL ||
          strcmp(keys[0].id, "000000000000") == 0);
    keyring_unref(ring);
    ring = keyring_create(NULL, 0);
    CHECK(ring != NULL && ring->count == 0 && auth_check(ring, NULL, text[0], AUTH_KEY_LEN, &who) == AUTH_UNKNOWN);
    keyring_unref(ring);
}

static void test_guard(void)
{
    static struct guard g;
    long long t = 1000000;

    guard_init(&g, 3, 60);
    CHECK(guard_refused(&g, "10.0.0.1", t) == 0);
    CHECK(guard_count(&g, "10.0.0.1", t) == 0);
    CHECK(guard_count(&g, "10.0.0.1", t + 10) == 0);
    CHECK(guard_count(&g, "10.0.0.1", t + 20) == 0);
    CHECK(guard_refused(&g, "10.0.0.1", t + 25) == 0);
    /* The fourth within the window, one over the limit: refused for the window. */
    CHECK(guard_count(&g, "10.0.0.1", t + 30) == 60);
    CHECK(guard_refused(&g, "10.0.0.1", t + 40) == 60);
    CHECK(guard_refused(&g, "10.0.0.1", t + 30 + 59500) == 1);
    CHECK(guard_refused(&g, "10.0.0.2", t + 40) == 0);
    CHECK(guard_refused(&g, "10.0.0.1", t + 30 + 60000) == 0);
    /* Failures spread wider than the window never add up. */
    for (int i = 0; i < 10; i++)
        CHECK(guard_count(&g, "10.0.0.3", t + i * 61000LL) == 0);
    CHECK(guard_refused(&g, "10.0.0.3", t + 10 * 61000LL) == 0);
    guard_destroy(&g);
    /* A limit of 0 turns it off. */
    guard_init(&g, 0, 60);
    for (int i = 0; i < 100; i++)
        CHECK(guard_count(&g, "10.0.0.4", t) == 0);
    CHECK(guard_refused(&g, "10.0.0.4", t) == 0);
    guard_destroy(&g);
}

int main(void)
{
    test_key_format();
    test_names_and_roles();
    test_header_parsing();
    test_check();
    test_guard();
    return CHECK_DONE("unit[auth]");
}
