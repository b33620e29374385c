/*
 * api/evaluators — the shared rule fragments (flagd's $evaluators) that
 * targeting rules include with {"$ref": name}: GET /evaluators,
 * GET/PUT/DELETE /evaluators/{name}. PUT takes {"rule": <JsonLogic>},
 * checked like a flag's targeting (strictly, with its own $refs resolved
 * and cycles refused); DELETE answers 409 while a flag or another
 * evaluator refers to it. Writes go through the catalog on a store worker;
 * every flag that uses the fragment is compiled again when it changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../buf.h"
#include "../catalog.h"
#include "../eval/logic.h"
#include "../log.h"
#include "routes.h"

#define USERS_TEXT_MAX 512

static const struct route_param *path_name(const struct api_call *call)
{
    return &call->match->params[0];
}

struct users_json {
    struct buf *b;
    bool first;
};

static void add_user(void *ctx, const char *user)
{
    struct users_json *u = ctx;

    if (!u->first)
        buf_str(u->b, ",");
    u->first = false;
    buf_json_string(u->b, user, strlen(user));
}

static void add_evaluator(struct buf *b, const struct snapshot *snap, const struct flagset_evaluator *e,
                          bool with_users)
{
    char *rule = json_dumps(e->rule, JSON_COMPACT | JSON_ENCODE_ANY);
    struct users_json users = {b, true};

    buf_str(b, "{\"name\":");
    buf_json_string(b, e->name, strlen(e->name));
    buf_str(b, ",\"rule\":");
    if (rule == NULL)
        b->failed = true;
    else
        buf_str(b, rule);
    free(rule);
    buf_str(b, ",\"version\":");
    {
        char version[24];
        snprintf(version, sizeof version, "%lld", (long long)e->version);
        buf_str(b, version);
    }
    buf_str(b, ",\"updated_at\":");
    if (e->updated_at != NULL)
        buf_json_string(b, e->updated_at, strlen(e->updated_at));
    else
        buf_str(b, "null");
    if (with_users) {
        buf_str(b, ",\"used_by\":[");
        catalog_evaluator_users(snap, e->name, add_user, &users);
        buf_str(b, "]");
    }
    buf_str(b, "}");
}

void api_evaluators_list(struct api_call *call)
{
    struct snapshot *snap = api_snapshot_or_503(call);
    struct buf b = {0};

    if (snap == NULL)
        return;
    buf_str(&b, "{\"evaluators\":[");
    for (size_t i = 0; i < snap->flagset->count; i++) {
        if (i > 0)
            buf_str(&b, ",");
        add_evaluator(&b, snap, &snap->flagset->evaluators[i], false);
    }
    buf_str(&b, "]}");
    snapshot_release(snap);
    api_respond_buf(call->req, 200, &b);
}

void api_evaluator_get(struct api_call *call)
{
    struct snapshot *snap = api_snapshot_or_503(call);
    const struct flagset_evaluator *e;
    struct buf b = {0};

    if (snap == NULL)
        return;
    e = flagset_find(snap->flagset, path_name(call)->value);
    if (e == NULL) {
        snapshot_release(snap);
        http_respond_error(call->req, 404, "Evaluator not found");
        return;
    }
    add_evaluator(&b, snap, e, true);
    snapshot_release(snap);
    api_respond_buf(call->req, 200, &b);
}

/* ---- writes -------------------------------------------------------------------- */

struct evaluator_job {
    struct api_job base;
    bool remove;
    json_t *rule;
    char name[FLAG_NAME_MAX + 1];
};

static void evaluator_job_run(struct api_job *base, struct store_conn *conn, struct api_reply *reply)
{
    struct evaluator_job *job = (struct evaluator_job *)base;
    char users[USERS_TEXT_MAX], message[USERS_TEXT_MAX + 128];
    int64_t version = 0;
    enum store_status st;

    if (job->remove)
        st = catalog_delete_evaluator(base->app, conn, job->name, users, sizeof users);
    else
        st = catalog_put_evaluator(base->app, conn, job->name, job->rule, &version);
    switch (st) {
    case STORE_OK:
        if (job->remove) {
            reply->status = 204;
            return;
        }
        snprintf(message, sizeof message, "Evaluator '%s' %s (version %lld)", job->name,
                 version == 1 ? "created" : "updated", (long long)version);
        api_reply_message(reply, version == 1 ? 201 : 200, message);
        return;
    case STORE_NOT_FOUND:
        api_reply_error(reply, 404, "Evaluator not found");
        return;
    case STORE_CONFLICT:
        snprintf(message, sizeof message, "evaluator '%s' is in use by: %s", job->name, users);
        api_reply_error(reply, 409, message);
        return;
    default:
        /* 503 (the database away) or 500, logged and counted. */
        api_reply_store_failure(base, conn, st, reply);
        return;
    }
}

static void evaluator_job_cleanup(struct api_job *base)
{
    json_decref(((struct evaluator_job *)base)->rule);
}

static void submit(struct api_call *call, bool remove, json_t *rule)
{
    struct evaluator_job *job = calloc(1, sizeof *job);

    if (job == NULL) {
        json_decref(rule);
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    job->base.run = evaluator_job_run;
    job->base.cleanup = evaluator_job_cleanup;
    job->remove = remove;
    job->rule = rule;
    memcpy(job->name, path_name(call)->value, path_name(call)->len + 1);
    api_defer(call, &job->base);
}

/* The fragment being saved, for the check of its own $refs. */
struct candidate {
    const char *name;
    const json_t *rule;
    const struct flagset *set;
};

static const json_t *resolve_with_candidate(void *ctx, const char *name)
{
    const struct candidate *c = ctx;
    return strcmp(name, c->name) == 0 ? c->rule : flagset_resolve((void *)c->set, name);
}

void api_evaluator_put(struct api_call *call)
{
    const struct route_param *name = path_name(call);
    json_error_t jerr;
    json_t *root, *rule;
    struct snapshot *snap;
    struct candidate candidate;
    struct logic_options options = {.strict = true, .resolve_ref = resolve_with_candidate, .path = "rule"};
    struct logic_rule *compiled;
    char err[LOGIC_MESSAGE_MAX + 64];

    if (!flag_name_valid(name->value, name->len)) {
        http_respond_error(call->req, 400, "evaluator names are 1-100 characters of A-Z a-z 0-9 . _ : - "
                                           "starting with a letter or digit");
        return;
    }
    root = json_loadb(call->req->body ? call->req->body : "", call->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    rule = json_object_get(root, "rule");
    if (root == NULL || !json_is_object(root) || rule == NULL) {
        if (root == NULL)
            snprintf(err, sizeof err, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        else
            snprintf(err, sizeof err, "expected {\"rule\": <JsonLogic rule>}");
        json_decref(root);
        http_respond_error(call->req, 400, err);
        return;
    }
    snap = api_snapshot_or_503(call);
    if (snap == NULL) {
        json_decref(root);
        return;
    }
    candidate = (struct candidate){.name = name->value, .rule = rule, .set = snap->flagset};
    options.ref_ctx = &candidate;
    compiled = logic_compile(rule, &options, err, sizeof err);
    snapshot_release(snap);
    if (compiled == NULL) {
        json_decref(root);
        http_respond_error(call->req, 400, err);
        return;
    }
    logic_rule_free(compiled);
    json_incref(rule);
    json_decref(root);
    submit(call, false, rule);
}

void api_evaluator_delete(struct api_call *call)
{
    if (!flag_name_valid(path_name(call)->value, path_name(call)->len)) {
        http_respond_error(call->req, 404, "Evaluator not found");
        return;
    }
    submit(call, true, NULL);
}
