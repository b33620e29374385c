/*
 * api/evaluate — evaluating flags for a context: OpenFeature's OFREP
 * (POST /ofrep/v1/evaluate/flags/{key}, and the bulk POST
 * /ofrep/v1/evaluate/flags with ETag/304) and the native evaluation
 * service (GET and POST /evaluate, the course's {flag_name, user_id,
 * result}).
 *
 * All of it runs on the event loop's thread and touches nothing but the
 * snapshot: parse the context, evaluate the compiled rule (flag.h,
 * flag_evaluate), write the answer from the flag's pre-rendered parts. The
 * rule's computed values go to an arena that each event-loop thread keeps
 * for itself (created on its first evaluation, freed when the thread ends,
 * reset after every evaluation): in steady state an evaluation allocates
 * nothing but the parsed context and the response.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../buf.h"
#include "../eval/logic.h"
#include "routes.h"

/* Query parameters of GET /evaluate that become context attributes, and
 * the length of one name or value. */
#define EVALUATE_MAX_ATTRIBUTES 64
#define EVALUATE_PARAM_MAX 1024

/* ---- the per-thread arena --------------------------------------------------- */

static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_destroy(void *arena)
{
    arena_free(arena);
    free(arena);
}

static void arena_key_create(void)
{
    (void)pthread_key_create(&arena_key, arena_destroy);
}

static struct arena *thread_arena(void)
{
    struct arena *arena;

    pthread_once(&arena_once, arena_key_create);
    arena = pthread_getspecific(arena_key);
    if (arena == NULL && (arena = malloc(sizeof *arena)) != NULL) {
        arena_init(arena, LOGIC_ARENA_LIMIT);
        if (pthread_setspecific(arena_key, arena) != 0) {
            free(arena);
            arena = NULL;
        }
    }
    return arena;
}

/* ---- shared parts ----------------------------------------------------------- */

static int64_t now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* Usage insights and the evaluation metrics (METRICS_ENABLED). */
static void count_evaluation(struct app *app, const struct flag *flag, const struct flag_result *result, int64_t now)
{
    if (app->counting)
        usage_count(&app->usage, flag, result, now);
}

/* The metadata an evaluation reports: the flag set's, with the flag's own
 * over it (flagd's merge). Appended to b. */
static void add_metadata(struct buf *b, const struct flag *flag, const struct flagset *set)
{
    json_t *merged;
    char *text;

    if (flag->metadata_json == NULL) {
        buf_add(b, set->metadata_json, set->metadata_len);
        return;
    }
    if (json_object_size(set->metadata) == 0) {
        buf_add(b, flag->metadata_json, flag->metadata_len);
        return;
    }
    /* Deep copies: the snapshot's values are shared with other threads,
     * whose reference counts a shallow copy would touch. */
    merged = json_deep_copy(set->metadata);
    if (merged == NULL ||
        json_object_update_new(merged, json_deep_copy(json_object_get(flag->doc, "metadata"))) != 0) {
        b->failed = true;
    } else if ((text = json_dumps(merged, JSON_COMPACT)) == NULL) {
        b->failed = true;
    } else {
        buf_str(b, text);
        free(text);
    }
    json_decref(merged);
}

/* An OFREP error object: {"key": ..., "errorCode": ..., "errorDetails": ...}
 * (key left out when NULL). */
static void add_ofrep_error(struct buf *b, const char *key, size_t key_len, const char *code, const char *details)
{
    buf_str(b, "{");
    if (key != NULL) {
        buf_str(b, "\"key\":");
        buf_json_string(b, key, key_len);
        buf_str(b, ",");
    }
    buf_str(b, "\"errorCode\":\"");
    buf_str(b, code);
    buf_str(b, "\",\"errorDetails\":");
    buf_json_string(b, details, strlen(details));
    /* OFREP's members, and the "error" every error of this API carries. */
    buf_str(b, ",\"error\":");
    buf_json_string(b, details, strlen(details));
    buf_str(b, "}");
}

static void respond_ofrep_error(struct http_request *req, int status, const char *key, size_t key_len,
                                const char *code, const char *details)
{
    struct buf b = {0};

    add_ofrep_error(&b, key, key_len, code, details);
    api_respond_buf(req, status, &b);
}

/* One flag's OFREP answer. Returns the HTTP status it stands for alone
 * (200, or 400 for an evaluation error). */
static int add_ofrep_result(struct buf *b, const struct flag *flag, const struct flagset *set,
                            const struct flag_result *r)
{
    buf_str(b, "{\"key\":");
    buf_add(b, flag->name_json, flag->name_json_len);
    if (r->reason == FLAG_REASON_ERROR) {
        buf_str(b, ",\"errorCode\":\"");
        buf_str(b, flag_error_code(r->error));
        buf_str(b, "\",\"errorDetails\":");
        buf_json_string(b, r->detail, strlen(r->detail));
        buf_str(b, ",\"error\":");
        buf_json_string(b, r->detail, strlen(r->detail));
    } else {
        buf_str(b, ",\"reason\":\"");
        buf_str(b, flag_reason_text(r->reason));
        buf_str(b, "\"");
        if (r->variant != NULL) {   /* else the caller's default applies */
            buf_str(b, ",\"variant\":");
            buf_add(b, r->variant->name_json, r->variant->name_json_len);
            buf_str(b, ",\"value\":");
            buf_add(b, r->variant->value_json, r->variant->value_json_len);
        }
    }
    buf_str(b, ",\"metadata\":");
    add_metadata(b, flag, set);
    buf_str(b, "}");
    return r->reason == FLAG_REASON_ERROR ? 400 : 200;
}

/* The evaluation context of an OFREP body: {"context": {...}}. An empty
 * body is an empty context. NULL with a message when it is not one;
 * *context is NULL (empty) or a new reference. */
static const char *ofrep_context(const struct http_request *req, json_t **root, json_t **context, char *err,
                                 size_t errlen)
{
    json_error_t jerr;

    *root = *context = NULL;
    if (req->body_len == 0)
        return NULL;
    *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (*root == NULL) {
        snprintf(err, errlen, "the body is not JSON (line %d column %d: %s)", jerr.line, jerr.column, jerr.text);
        return err;
    }
    if (!json_is_object(*root)) {
        snprintf(err, errlen, "the body must be a JSON object: {\"context\": {...}}");
        return err;
    }
    *context = json_object_get(*root, "context");
    if (*context != NULL && !json_is_object(*context)) {
        snprintf(err, errlen, "context must be a JSON object");
        return err;
    }
    return NULL;
}

/* The snapshot and this thread's arena for an evaluation, or NULL after
 * answering (503 before the first load, 500 without memory); root is
 * released then. */
static struct snapshot *evaluation_start(struct api_call *call, struct arena **arena, json_t *root)
{
    struct snapshot *snap = NULL;

    *arena = thread_arena();
    if (*arena == NULL)
        http_respond_error(call->req, 500, "internal error: out of memory");
    else
        snap = api_snapshot_or_503(call);
    if (snap == NULL)
        json_decref(root);
    return snap;
}

/* ---- OFREP ---------------------------------------------------------------------- */

void api_ofrep_evaluate(struct api_call *call)
{
    const struct route_param *key = &call->match->params[0];
    struct arena *arena;
    struct flag_result result;
    struct buf b = {0};
    json_t *root, *context;
    struct snapshot *snap;
    const struct flag *flag;
    char err[256];
    int status;

    if (ofrep_context(call->req, &root, &context, err, sizeof err) != NULL) {
        json_decref(root);
        respond_ofrep_error(call->req, 400, key->value, key->len, "INVALID_CONTEXT", err);
        return;
    }
    if ((snap = evaluation_start(call, &arena, root)) == NULL)
        return;
    flag = snapshot_find(snap, key->value, key->len);
    if (flag == NULL) {
        snprintf(err, sizeof err, "flag '%.*s' was not found", (int)(key->len > 100 ? 100 : key->len), key->value);
        respond_ofrep_error(call->req, 404, key->value, key->len, "FLAG_NOT_FOUND", err);
    } else {
        int64_t now = now_seconds();
        flag_evaluate(flag, context, now, arena, &result);
        count_evaluation(call->app, flag, &result, now);
        status = add_ofrep_result(&b, flag, snap->flagset, &result);
        api_respond_buf(call->req, status, &b);
    }
    snapshot_release(snap);
    json_decref(root);
}

void api_ofrep_evaluate_all(struct api_call *call)
{
    struct arena *arena;
    struct snapshot_cursor cursor;
    struct flag_result result;
    struct buf b = {0};
    json_t *root, *context;
    struct snapshot *snap;
    const struct flag *flag;
    bool first = true;
    char err[256], *body;
    size_t len;
    struct usage_table *counts;
    int64_t now;

    if (ofrep_context(call->req, &root, &context, err, sizeof err) != NULL) {
        json_decref(root);
        add_ofrep_error(&b, NULL, 0, "INVALID_CONTEXT", err);
        api_respond_buf(call->req, 400, &b);
        return;
    }
    if ((snap = evaluation_start(call, &arena, root)) == NULL)
        return;
    /* Every flag that is not disabled, as flagd's resolve-all does; an
     * evaluation error is that flag's entry, not the request's failure. */
    buf_str(&b, "{\"flags\":[");
    snapshot_cursor_after(snap, "", 0, &cursor);
    /* One lock of this thread's usage table for the whole walk. */
    counts = call->app->counting ? usage_hold(&call->app->usage) : NULL;
    now = now_seconds();
    while ((flag = snapshot_cursor_next(&cursor)) != NULL) {
        if (!flag->is_enabled)
            continue;
        flag_evaluate(flag, context, now, arena, &result);
        if (counts != NULL)
            usage_count_held(&call->app->usage, counts, flag, &result, now);
        if (!first)
            buf_str(&b, ",");
        first = false;
        add_ofrep_result(&b, flag, snap->flagset, &result);
    }
    if (counts != NULL)
        usage_release(counts);
    buf_str(&b, "],\"metadata\":");
    buf_add(&b, snap->flagset->metadata_json, snap->flagset->metadata_len);
    buf_str(&b, "}");
    snapshot_release(snap);
    json_decref(root);
    body = buf_take(&b, &len);
    if (body == NULL)
        http_respond_error(call->req, 500, "internal error: out of memory");
    else
        api_respond_with_etag(call->req, body, len);
}

/* ---- the native evaluation service ------------------------------------------------ */

/* {flag_name, user_id, result, variant, reason}: result is the variant's
 * value; where the caller's default would apply (disabled, no default), a
 * boolean flag gives false and any other null. */
static void respond_native(struct api_call *call, struct snapshot *snap, const char *name, size_t name_len,
                           const char *user_id, const json_t *context)
{
    const struct flag *flag = snapshot_find(snap, name, name_len);
    struct arena *arena = thread_arena();
    struct flag_result result;
    struct buf b = {0};

    if (flag == NULL) {
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    if (arena == NULL) {
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    int64_t now = now_seconds();
    flag_evaluate(flag, context, now, arena, &result);
    count_evaluation(call->app, flag, &result, now);
    buf_str(&b, "{\"flag_name\":");
    buf_add(&b, flag->name_json, flag->name_json_len);
    buf_str(&b, ",\"user_id\":");
    if (user_id != NULL)
        buf_json_string(&b, user_id, strlen(user_id));
    else
        buf_str(&b, "null");
    buf_str(&b, ",\"result\":");
    if (result.variant != NULL)
        buf_add(&b, result.variant->value_json, result.variant->value_json_len);
    else
        buf_str(&b, flag->type == FLAG_TYPE_BOOLEAN ? "false" : "null");
    buf_str(&b, ",\"variant\":");
    if (result.variant != NULL)
        buf_add(&b, result.variant->name_json, result.variant->name_json_len);
    else
        buf_str(&b, "null");
    buf_str(&b, ",\"reason\":\"");
    buf_str(&b, flag_reason_text(result.reason));
    buf_str(&b, "\"");
    if (result.reason == FLAG_REASON_ERROR) {
        buf_str(&b, ",\"error_code\":\"");
        buf_str(&b, flag_error_code(result.error));
        buf_str(&b, "\",\"error\":");
        buf_json_string(&b, result.detail, strlen(result.detail));
    }
    buf_str(&b, "}");
    api_respond_buf(call->req, 200, &b);
}

/* GET /evaluate?flag_name=&user_id=[&attribute=value...]: every other
 * parameter is a string attribute of the context; user_id is its
 * targetingKey. */
void api_evaluate_get(struct api_call *call)
{
    char name[EVALUATE_PARAM_MAX], value[EVALUATE_PARAM_MAX], flag_name[FLAG_STORED_NAME_MAX + 1];
    size_t name_len, value_len, flag_name_len = 0, pos = 0;
    char user_id[EVALUATE_PARAM_MAX];
    bool has_user = false;
    json_t *context = json_object();
    struct snapshot *snap;
    int rc, has_flag = 0;

    if (context == NULL) {
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    while ((rc = http_query_next(call->req, &pos, name, sizeof name, &name_len, value, sizeof value,
                                 &value_len)) != 0) {
        if (rc < 0 || json_object_size(context) >= EVALUATE_MAX_ATTRIBUTES) {
            json_decref(context);
            http_respond_error(call->req, 400, rc < 0 ? "a query parameter is longer than 1023 bytes"
                                                      : "at most 64 context attributes");
            return;
        }
        if (strcmp(name, "flag_name") == 0) {
            /* Longer than any stored name: no flag has it (404 below).
             * Cutting it short could name a different flag. */
            flag_name_len = value_len <= FLAG_STORED_NAME_MAX ? value_len : 0;
            memcpy(flag_name, value, flag_name_len);
            flag_name[flag_name_len] = '\0';
            has_flag = value_len <= FLAG_STORED_NAME_MAX ? 1 : -1;
            continue;
        }
        if (strcmp(name, "user_id") == 0) {
            memcpy(user_id, value, value_len + 1);
            has_user = true;
            continue;
        }
        /* A name that is not UTF-8 cannot be a JSON key: left out. */
        json_object_set_new(context, name, json_stringn(value, value_len));
    }
    /* user_id is the targeting key, whatever other parameters say. */
    if (has_user)
        json_object_set_new(context, "targetingKey", json_string(user_id));
    if (!has_flag) {
        json_decref(context);
        http_respond_error(call->req, 400, "'flag_name' is required: /evaluate?flag_name=NAME&user_id=ID");
        return;
    }
    if (has_flag < 0) {
        json_decref(context);
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    if ((snap = api_snapshot_or_503(call)) != NULL) {
        respond_native(call, snap, flag_name, flag_name_len,
                       has_user ? json_string_value(json_object_get(context, "targetingKey")) : NULL, context);
        snapshot_release(snap);
    }
    json_decref(context);
}

/* POST /evaluate {"flag_name": ..., "user_id": ..., "context": {...}}: the
 * context keeps its JSON types; user_id, when given, is its targetingKey. */
void api_evaluate_post(struct api_call *call)
{
    json_error_t jerr;
    json_t *root = json_loadb(call->req->body ? call->req->body : "", call->req->body_len, JSON_REJECT_DUPLICATES,
                              &jerr);
    json_t *flag_name, *user_id, *context = NULL;
    struct snapshot *snap;
    char err[256];

    if (root == NULL || !json_is_object(root)) {
        if (root == NULL)
            snprintf(err, sizeof err, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        else
            snprintf(err, sizeof err, "request body must be a JSON object");
        json_decref(root);
        http_respond_error(call->req, 400, err);
        return;
    }
    flag_name = json_object_get(root, "flag_name");
    user_id = json_object_get(root, "user_id");
    if (!json_is_string(flag_name) || (user_id != NULL && !json_is_string(user_id) && !json_is_null(user_id)) ||
        (json_object_get(root, "context") != NULL && !json_is_object(json_object_get(root, "context")))) {
        json_decref(root);
        http_respond_error(call->req, 400, "expected {\"flag_name\": string, \"user_id\": string, \"context\": {...}}");
        return;
    }
    context = json_object_get(root, "context") ? json_copy(json_object_get(root, "context")) : json_object();
    if (context != NULL && json_is_string(user_id))
        json_object_set(context, "targetingKey", user_id);
    if (context == NULL) {
        http_respond_error(call->req, 500, "internal error: out of memory");
    } else if ((snap = api_snapshot_or_503(call)) != NULL) {
        respond_native(call, snap, json_string_value(flag_name), json_string_length(flag_name),
                       json_string_value(json_object_get(context, "targetingKey")), context);
        snapshot_release(snap);
    }
    json_decref(context);
    json_decref(root);
}
