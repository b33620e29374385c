/*
 * keycmd — `togglemaster keys create|list|revoke`. See keycmd.h.
 */
#include "keycmd.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "store/store.h"

#define USAGE "usage: togglemaster keys create --role admin|editor|client --name LABEL\n" \
              "       togglemaster keys list [--json]\n" \
              "       togglemaster keys revoke ID\n"

static int usage(const char *problem)
{
    fprintf(stderr, "togglemaster keys: %s\n%s", problem, USAGE);
    return 2;
}

static int fail(struct store_conn *conn, const char *what)
{
    fprintf(stderr, "togglemaster keys: cannot %s: %s\n", what, store_conn_error(conn));
    return 1;
}

static int command_create(struct store_conn *conn, int argc, char **argv)
{
    const char *role = NULL, *name = NULL;
    char key[AUTH_KEY_LEN + 1];
    struct auth_key meta = {0};
    enum store_status st;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else
            return usage("create: unexpected argument");
    }
    if (role == NULL || name == NULL)
        return usage("create needs --role and --name");
    if (auth_role_parse(role, &meta.role) != 0)
        return usage("--role must be admin, editor or client");
    if (!auth_name_valid(name, strlen(name)))
        return usage("--name must be 1-100 bytes of text without control characters");
    if (auth_key_generate(key, &meta) != 0) {
        fprintf(stderr, "togglemaster keys: no randomness from the kernel\n");
        return 1;
    }
    strcpy(meta.name, name);
    st = store_key_create(conn, &meta);
    if (st != STORE_OK) {
        OPENSSL_cleanse(key, sizeof key);
        return fail(conn, "create the key");
    }
    /* The key alone on stdout, for scripts; the rest on stderr. */
    printf("%s\n", key);
    fflush(stdout);
    OPENSSL_cleanse(key, sizeof key);
    fprintf(stderr,
            "Created %s key %s (\"%s\"). It is shown once: only its hash is stored.\n"
            "Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.\n",
            auth_role_name(meta.role), meta.id, meta.name);
    return 0;
}

static int command_list(struct store_conn *conn, int argc, char **argv)
{
    bool as_json = argc == 1 && strcmp(argv[0], "--json") == 0;
    struct keyring *ring = NULL;
    json_t *array;

    if (argc > 0 && !as_json)
        return usage("list: unexpected argument");
    if (store_keys_load(conn, &ring) != STORE_OK)
        return fail(conn, "read the keys");
    array = json_array();
    if (!as_json)
        printf("%-12s  %-6s  %-24s  %-24s  %s\n", "ID", "ROLE", "CREATED", "REVOKED", "NAME");
    for (size_t i = 0; i < ring->count; i++) {
        const struct auth_key *k = &ring->keys[i];
        if (as_json)
            json_array_append_new(array, json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", k->id, "name", k->name,
                                                   "role", auth_role_name(k->role), "created_at", k->created_at,
                                                   "revoked_at", k->revoked_at[0] ? k->revoked_at : NULL));
        else
            printf("%-12s  %-6s  %-24s  %-24s  %s\n", k->id, auth_role_name(k->role), k->created_at,
                   k->revoked_at[0] ? k->revoked_at : "-", k->name);
    }
    if (as_json) {
        json_dumpf(array, stdout, JSON_COMPACT);
        putchar('\n');
    }
    json_decref(array);
    keyring_unref(ring);
    return 0;
}

static int command_revoke(struct store_conn *conn, int argc, char **argv)
{
    struct auth_key now;
    enum store_status st;

    if (argc != 1)
        return usage("revoke needs one key id");
    if (!auth_id_valid(argv[0], strlen(argv[0]))) {
        fprintf(stderr, "togglemaster keys: no key with id '%.40s' (ids are 12 hex digits)\n", argv[0]);
        return 3;
    }
    st = store_key_revoke(conn, argv[0], &now);
    if (st == STORE_NOT_FOUND) {
        fprintf(stderr, "togglemaster keys: no key with id %s\n", argv[0]);
        return 3;
    }
    if (st != STORE_OK)
        return fail(conn, "revoke the key");
    fprintf(stderr, "Revoked key %s (\"%s\") at %s.\n", now.id, now.name, now.revoked_at);
    return 0;
}

int keycmd_run(const struct config *cfg, int argc, char **argv)
{
    char err[512];
    struct store *store;
    struct store_conn *conn;
    int rc;

    if (argc < 2)
        return usage("which one: create, list or revoke?");
    if (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "list") != 0 && strcmp(argv[1], "revoke") != 0)
        return usage("unknown subcommand");
    if ((store = store_open(cfg, err, sizeof err)) == NULL) {
        fprintf(stderr, "togglemaster keys: cannot open the store: %s\n", err);
        return 1;
    }
    if ((conn = store_conn_create(store, "keys")) == NULL) {
        store_close(store);
        fprintf(stderr, "togglemaster keys: out of memory\n");
        return 1;
    }
    store_conn_set_cli_actor(conn, "keys");
    if (strcmp(argv[1], "create") == 0)
        rc = command_create(conn, argc - 2, argv + 2);
    else if (strcmp(argv[1], "list") == 0)
        rc = command_list(conn, argc - 2, argv + 2);
    else
        rc = command_revoke(conn, argc - 2, argv + 2);
    store_conn_destroy(conn);
    store_close(store);
    return rc;
}
