/*
 * api — what the service answers: the route table and its handlers.
 *
 * Owns: the table of routes (api/api.c), each with its methods, path
 * pattern, handler, the role it will require (API keys arrive later; the
 * slot is here so that the check has one place to live) and whether it
 * takes a JSON body; the answers of 404, 405 (with Allow) and 415; and the
 * handlers themselves: the original monolith's /flags routes
 * (api/flags.c) and the probes /health and /ready (api/probes.c).
 *
 * Handlers run on an HTTP event-loop thread and never block: reads answer
 * from the snapshot; writes and the readiness probe go to the store
 * workers (api_defer) and answer from there. Handlers never see SQL.
 */
#ifndef TM_API_H
#define TM_API_H

#include <stdio.h>

#include "../app.h"
#include "../http/http.h"

struct api;

struct api *api_create(struct app *app);
void api_destroy(struct api *api);
/* The route table as JSON lines, one {"methods":[...],"pattern":...,
 * "role":...} per route (`togglemaster routes`): what the access tests
 * are generated from, so a new route cannot ship untested. */
void api_print_routes(FILE *out);
/* The transport's handler (http_handler_fn); ctx is the struct api. */
void api_handle(void *ctx, struct http_request *req);
/* The transport's completion callback (http_complete_fn): counts the
 * request under its route (METRICS_ENABLED). */
void api_request_done(void *ctx, const struct http_request *req, int status, long long duration_ns);
/* The route table's labels for metrics_init(): fills out[0..n), returns n. */
size_t api_metrics_routes(struct metrics_route *out, size_t max);

#endif
