/*
 * api/access — API keys (/api/v1/keys) and the audit trail
 * (/api/v1/audit, /flags/{name}/history).
 *
 * A key is made here, on the event loop (getrandom() does not block once
 * the kernel is seeded), shown once in the 201 answer and wiped; the store
 * keeps its hash. The list answers from the snapshot's keyring; creating,
 * revoking and reading the audit trail go to the store workers.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../catalog.h"
#include "../log.h"
#include "routes.h"

#define AUDIT_DEFAULT_LIMIT 100

/* {"id","name","role","created_at","revoked_at"}: never the hash. */
static json_t *key_json(const struct auth_key *key)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", key->id, "name", key->name, "role",
                     auth_role_name(key->role), "created_at", key->created_at, "revoked_at",
                     key->revoked_at[0] != '\0' ? key->revoked_at : NULL);
}

static void respond_json(struct http_request *req, int status, json_t *json)
{
    size_t len;
    char *body = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;

    json_decref(json);
    if (body == NULL) {
        http_respond_error(req, 500, "internal error: out of memory");
        return;
    }
    len = strlen(body);
    http_respond_owned(req, status, body, len);
}


/* Oldest first, as they were made. */
static int by_creation(const void *a, const void *b)
{
    const struct auth_key *x = *(const struct auth_key *const *)a, *y = *(const struct auth_key *const *)b;
    int c = strcmp(x->created_at, y->created_at);
    return c != 0 ? c : strcmp(x->id, y->id);
}

void api_keys_list(struct api_call *call)
{
    struct snapshot *snap = api_snapshot_or_503(call);
    const struct auth_key **order;
    json_t *list;

    if (snap == NULL)
        return;
    order = malloc((snap->keyring->count + 1) * sizeof *order);
    list = json_array();
    if (order == NULL || list == NULL) {
        free(order);
        json_decref(list);
        snapshot_release(snap);
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    for (size_t i = 0; i < snap->keyring->count; i++)
        order[i] = &snap->keyring->keys[i];
    qsort(order, snap->keyring->count, sizeof *order, by_creation);
    for (size_t i = 0; i < snap->keyring->count; i++)
        json_array_append_new(list, key_json(order[i]));
    free(order);
    snapshot_release(snap);
    respond_json(call->req, 200, list);
}

/* ---- create and revoke ------------------------------------------------------------ */

struct key_job {
    struct api_job base;
    bool revoke;
    struct auth_key key;       /* create: the new key's id, name, role, hash */
    char text[AUTH_KEY_LEN + 1];   /* create: the key itself, wiped after */
};

static void key_job_run(struct api_job *base, struct store_conn *conn, struct api_reply *reply)
{
    struct key_job *job = (struct key_job *)base;
    struct snapshot *snap;
    const struct auth_key *made;
    struct auth_key now;
    enum store_status st;
    json_t *json;

    if (job->revoke) {
        st = catalog_revoke_key(base->app, conn, job->key.id, &now);
        if (st == STORE_OK) {
            log_event(LOG_INFO, "API key revoked",
                      json_pack("{s:s, s:s, s:s}", "key_id", now.id, "by", base->who.id, "request_id",
                                base->req->request_id));
            api_reply_json(reply, 200, key_json(&now));
        } else if (st == STORE_NOT_FOUND) {
            api_reply_error(reply, 404, "API key not found");
        } else {
            api_reply_store_failure(base, conn, st, reply);
        }
        return;
    }
    st = catalog_create_key(base->app, conn, &job->key);
    if (st != STORE_OK) {
        api_reply_store_failure(base, conn, st, reply);
        return;
    }
    /* created_at as stored: from the keyring just re-read. */
    snap = snapshot_acquire(base->app->snapshots);
    made = snap != NULL ? keyring_find(snap->keyring, job->key.id, AUTH_KEY_ID_LEN) : NULL;
    json = key_json(made != NULL ? made : &job->key);
    snapshot_release(snap);
    json_object_set_new(json, "key", json_string(job->text));
    log_event(LOG_INFO, "API key created",
              json_pack("{s:s, s:s, s:s, s:s}", "key_id", job->key.id, "role", auth_role_name(job->key.role),
                        "by", base->who.id, "request_id", base->req->request_id));
    api_reply_json(reply, 201, json);
}

static void key_job_cleanup(struct api_job *base)
{
    struct key_job *job = (struct key_job *)base;

    OPENSSL_cleanse(job->text, sizeof job->text);
}

static struct key_job *new_key_job(struct api_call *call)
{
    return api_job_alloc(call, sizeof(struct key_job), key_job_run, key_job_cleanup);
}

void api_key_create(struct api_call *call)
{
    json_error_t jerr;
    json_t *root = json_loadb(call->req->body ? call->req->body : "", call->req->body_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    json_t *name = json_object_get(root, "name"), *role = json_object_get(root, "role");
    enum auth_role parsed;
    struct key_job *job;
    const char *key;

    if (!json_is_object(root) || !json_is_string(name) || !json_is_string(role) || json_object_size(root) != 2) {
        json_decref(root);
        http_respond_error(call->req, 400, "expected {\"name\": \"a label\", \"role\": \"admin|editor|client\"}");
        return;
    }
    if (!auth_name_valid(json_string_value(name), json_string_length(name))) {
        json_decref(root);
        http_respond_error(call->req, 400, "name: 1-100 bytes of text without control characters");
        return;
    }
    if (auth_role_parse(json_string_value(role), &parsed) != 0) {
        json_decref(root);
        http_respond_error(call->req, 400, "role: must be admin, editor or client");
        return;
    }
    if ((job = new_key_job(call)) == NULL) {
        json_decref(root);
        return;
    }
    if (auth_key_generate(job->text, &job->key) != 0) {
        json_decref(root);
        free(job);
        http_respond_error(call->req, 500, "internal error: no randomness from the kernel");
        return;
    }
    key = json_string_value(name);
    memcpy(job->key.name, key, json_string_length(name) + 1);
    job->key.role = parsed;
    json_decref(root);
    api_defer(call, &job->base);
}

void api_key_revoke(struct api_call *call)
{
    const struct route_param *id = &call->match->params[0];
    struct key_job *job;

    if (id->len == sizeof AUTH_ENV_ADMIN_ID - 1 && memcmp(id->value, AUTH_ENV_ADMIN_ID, id->len) == 0) {
        http_respond_error(call->req, 400, "ADMIN_TOKEN is not a stored key: change or unset it in the environment");
        return;
    }
    if (!auth_id_valid(id->value, id->len)) {
        http_respond_error(call->req, 404, "API key not found");
        return;
    }
    if ((job = new_key_job(call)) == NULL)
        return;
    job->revoke = true;
    memcpy(job->key.id, id->value, AUTH_KEY_ID_LEN + 1);
    api_defer(call, &job->base);
}

/* ---- the audit trail ------------------------------------------------------------- */

struct audit_job {
    struct api_job base;
    struct audit_query query;
    char type[16];
    char name[FLAG_STORED_NAME_MAX + 1];
};

/* A stored before/after text as JSON: itself when it parses (it is what
 * this service wrote), else as a string, so the answer stays valid JSON. */
static json_t *stored_json(const char *text)
{
    json_t *value;

    if (text == NULL)
        return json_null();
    value = json_loads(text, JSON_DECODE_ANY, NULL);
    return value != NULL ? value : json_string(text);
}

static int add_entry(void *ctx, const struct audit_entry *e)
{
    json_t *entry = json_pack("{s:I, s:s, s:{s:s, s:s}, s:s, s:{s:s, s:s}, s:o, s:o, s:s?}", "id",
                              (json_int_t)e->id, "at", e->at ? e->at : "", "actor", "id", e->actor_id,
                              "name", e->actor_name, "action", e->action, "object", "type", e->object_type,
                              "name", e->object_name, "before", stored_json(e->before), "after",
                              stored_json(e->after), "request_id", e->request_id);

    return entry != NULL ? json_array_append_new(ctx, entry) : -1;
}

static void audit_job_run(struct api_job *base, struct store_conn *conn, struct api_reply *reply)
{
    struct audit_job *job = (struct audit_job *)base;
    json_t *entries = json_array(), *last;
    enum store_status st;

    if (entries == NULL) {
        api_reply_error(reply, 500, "internal error: out of memory");
        return;
    }
    st = store_audit_list(conn, &job->query, add_entry, entries);
    if (st != STORE_OK) {
        json_decref(entries);
        api_reply_store_failure(base, conn, st, reply);
        return;
    }
    /* A full page may have more behind it: next_before continues. */
    last = json_array_get(entries, json_array_size(entries) - 1);
    api_reply_json(reply, 200,
               json_pack("{s:o, s:o}", "entries", entries, "next_before",
                         json_array_size(entries) == (size_t)job->query.limit && last != NULL
                             ? json_incref(json_object_get(last, "id"))
                             : json_null()));
}

static bool object_type_valid(const char *type)
{
    return strcmp(type, "flag") == 0 || strcmp(type, "evaluator") == 0 || strcmp(type, "metadata") == 0 ||
           strcmp(type, "key") == 0;
}

/* ?limit=1-1000 (default 100) and ?before=<id>; -1 after answering 400. */
static int paging(struct api_call *call, struct audit_query *q)
{
    char text[32];
    size_t len;
    long value;
    int rc;

    q->limit = AUDIT_DEFAULT_LIMIT;
    rc = http_query_param(call->req, "limit", text, sizeof text, &len);
    if (rc != 0) {
        if (rc < 0 || config_parse_int(text, 1, AUDIT_LIMIT_MAX, &value) != 0) {
            http_respond_error(call->req, 400, "limit: a whole number from 1 to 1000");
            return -1;
        }
        q->limit = (int)value;
    }
    rc = http_query_param(call->req, "before", text, sizeof text, &len);
    if (rc != 0) {
        if (rc < 0 || config_parse_int(text, 1, 0x7fffffffffffffffL, &value) != 0) {
            http_respond_error(call->req, 400, "before: an entry id (a whole number from 1)");
            return -1;
        }
        q->before_id = value;
    }
    return 0;
}

static struct audit_job *new_audit_job(struct api_call *call)
{
    return api_job_alloc(call, sizeof(struct audit_job), audit_job_run, NULL);
}

/* GET /api/v1/audit?object=TYPE[:NAME]&limit=&before= */
void api_audit_list(struct api_call *call)
{
    struct audit_job *job = new_audit_job(call);
    char object[16 + 1 + FLAG_STORED_NAME_MAX + 1];
    size_t len;
    int rc;

    if (job == NULL)
        return;
    if (paging(call, &job->query) != 0) {
        free(job);
        return;
    }
    rc = http_query_param(call->req, "object", object, sizeof object, &len);
    if (rc < 0 || (rc > 0 && len == 0)) {
        free(job);
        http_respond_error(call->req, 400, "object: TYPE or TYPE:NAME (flag, evaluator, metadata, key)");
        return;
    }
    if (rc > 0) {
        char *colon = memchr(object, ':', len);
        size_t type_len = colon ? (size_t)(colon - object) : len;
        if (type_len >= sizeof job->type || memchr(object, '\0', len) != NULL) {
            free(job);
            http_respond_error(call->req, 400, "object: TYPE or TYPE:NAME (flag, evaluator, metadata, key)");
            return;
        }
        memcpy(job->type, object, type_len);
        job->type[type_len] = '\0';
        if (!object_type_valid(job->type)) {
            free(job);
            http_respond_error(call->req, 400, "object: the type must be flag, evaluator, metadata or key");
            return;
        }
        job->query.object_type = job->type;
        if (colon != NULL) {
            memcpy(job->name, colon + 1, len - type_len - 1);
            job->name[len - type_len - 1] = '\0';
            job->query.object_name = job->name;
        }
    }
    api_defer(call, &job->base);
}

/* GET /flags/{name}/history?limit=&before=: the flag's entries, newest
 * first, also after it was deleted. */
void api_flag_history(struct api_call *call)
{
    const struct route_param *name = &call->match->params[0];
    struct audit_job *job;

    if (name->len > FLAG_STORED_NAME_MAX) {
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    if ((job = new_audit_job(call)) == NULL)
        return;
    if (paging(call, &job->query) != 0) {
        free(job);
        return;
    }
    strcpy(job->type, "flag");
    memcpy(job->name, name->value, name->len + 1);
    job->query.object_type = job->type;
    job->query.object_name = job->name;
    api_defer(call, &job->base);
}

/* GET /api/v1/whoami: who the caller's key says they are, so that a client
 * (the console) can show what its role allows. It only reports: every
 * route checks the role itself. */
void api_whoami(struct api_call *call)
{
    struct snapshot *snap = api_snapshot_or_503(call);
    bool anonymous = strcmp(call->who.id, "anonymous") == 0;
    json_t *body;

    if (snap == NULL)
        return;
    body = json_pack("{s:b, s:s, s:s?, s:s}", "auth", api_auth_on(call->app, snap), "role",
                     auth_role_name(call->who.role), "key_id", anonymous ? NULL : call->who.id, "name",
                     call->who.name);
    snapshot_release(snap);
    respond_json(call->req, 200, body);
}
