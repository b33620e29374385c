/* libFuzzer target: what this service parses to decide who a caller is,
 * and the body pre-check every JSON route runs. The first byte picks:
 *  0-1  the credential headers (Bearer, X-API-Key), then the check against
 *       a keyring of three keys and ADMIN_TOKEN: a credential is accepted
 *       only when it is byte for byte one of them (the oracle);
 *  2    the JSON shape measure: depth and element counts stay within the
 *       input's size, and agree with jansson on depth for what it parses;
 *  3    the failed-authentication table, driven by addresses and times
 *       from the input: never more refusals than failures allow. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "guard.h"
#include "text.h"

#define ADMIN "fuzz-admin-token-0123456789"

static struct keyring *ring;
static char keys[3][AUTH_KEY_LEN + 1];
static unsigned char admin_hash[AUTH_HASH_LEN];
static struct guard guard;

static void setup(void)
{
    struct auth_key meta[3] = {0};

    for (int i = 0; i < 3; i++) {
        if (auth_key_generate(keys[i], &meta[i]) != 0)
            abort();
        meta[i].role = (enum auth_role)(ROLE_CLIENT + i);
    }
    strcpy(meta[2].revoked_at, "2026-01-01T00:00:00.000Z");
    ring = keyring_create(meta, 3);
    auth_hash(ADMIN, strlen(ADMIN), admin_hash);
    guard_init(&guard, 3, 60);
}

static void credentials(int mode, const char *text, size_t len)
{
    const char *credential = NULL;
    const struct auth_key *key = NULL;
    size_t credential_len = 0;
    int rc = mode == 0 ? auth_parse_bearer(text, len, &credential, &credential_len)
                       : auth_parse_api_key(text, len, &credential, &credential_len);

    if (rc != 1)
        return;
    if (credential < text || credential + credential_len > text + len || credential_len == 0)
        abort();
    for (size_t i = 0; i < credential_len; i++)
        if ((unsigned char)credential[i] <= 0x20)
            abort();
    if (auth_check(ring, admin_hash, credential, credential_len, &key) == AUTH_OK) {
        bool known = credential_len == strlen(ADMIN) && memcmp(credential, ADMIN, credential_len) == 0;
        for (int i = 0; i < 2; i++)   /* keys[2] is revoked */
            known |= credential_len == AUTH_KEY_LEN && memcmp(credential, keys[i], AUTH_KEY_LEN) == 0;
        if (!known || key == NULL)
            abort();
    }
}

static void shape(const char *text, size_t len)
{
    int depth;
    size_t elements;
    json_t *parsed;

    text_json_shape(text, len, &depth, &elements);
    if (depth < 0 || (size_t)depth > len || elements > len)
        abort();
    /* Where jansson accepts the text (duplicate keys would drop members),
     * it nests exactly as deep as measured. */
    parsed = depth < 500 ? json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (parsed != NULL) {
        int deepest = 0, level = 0;
        /* Depth from the parsed value: walk with an explicit stack. */
        json_t *stack[512];
        size_t at[512];
        stack[0] = parsed;
        at[0] = 0;
        level = json_is_array(parsed) || json_is_object(parsed) ? 1 : 0;
        deepest = level;
        while (level > 0) {
            json_t *top = stack[level - 1], *child = NULL;
            if (json_is_array(top)) {
                if (at[level - 1] < json_array_size(top))
                    child = json_array_get(top, at[level - 1]++);
            } else {
                /* Objects: iterate members by index over a key list. */
                void *it = json_object_iter(top);
                for (size_t i = 0; it != NULL && i < at[level - 1]; i++)
                    it = json_object_iter_next(top, it);
                if (it != NULL) {
                    child = json_object_iter_value(it);
                    at[level - 1]++;
                }
            }
            if (child == NULL) {
                level--;
            } else if (json_is_array(child) || json_is_object(child)) {
                stack[level] = child;
                at[level] = 0;
                level++;
                if (level > deepest)
                    deepest = level;
            }
        }
        json_decref(parsed);
        if (deepest != depth)
            abort();
    }
}

static void failures(const uint8_t *data, size_t size)
{
    static long long now = 1000000;   /* the table lives across inputs: time only goes on */
    int refusals = 0, counted = 0;

    for (size_t i = 0; i + 2 <= size; i += 2) {
        char address[2] = {(char)('a' + data[i] % 4), '\0'};
        now += data[i + 1] * 100;
        if (data[i] & 0x80) {
            counted++;
            if (guard_count(&guard, address, now) > 0)
                refusals++;
        } else if (guard_refused(&guard, address, now) > 60) {
            abort();   /* never longer than the window */
        }
    }
    if (refusals > counted)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;

    if (!ready) {
        setup();
        ready = 1;
    }
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0:
    case 1:
        credentials(data[0] % 4, (const char *)data + 1, size - 1);
        break;
    case 2:
        shape((const char *)data + 1, size - 1);
        break;
    default:
        failures(data + 1, size - 1);
        break;
    }
    return 0;
}
