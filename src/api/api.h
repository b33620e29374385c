/*
 * api — HTTP handlers.
 *
 * Owns: what each route does: the original monolith's /flags routes
 * (api/flags.c) and the probes /health and /ready (api/probes.c). Handlers
 * read from the snapshot and never block; writes and the readiness probe go
 * to the store workers. Handlers never see SQL.
 */
#ifndef TM_API_H
#define TM_API_H

#include "../http.h"

/* Dispatches a routed request whose method is allowed. */
enum MHD_Result api_handle(struct http_request *req);

enum MHD_Result api_flags_list(struct http_request *req);
enum MHD_Result api_flag_get(struct http_request *req);
enum MHD_Result api_flag_create(struct http_request *req);
enum MHD_Result api_flag_update(struct http_request *req);
enum MHD_Result api_flag_delete(struct http_request *req);
enum MHD_Result api_health(struct http_request *req);
enum MHD_Result api_ready(struct http_request *req);

/* Shared by handlers: a counted reference to the current snapshot, or NULL
 * after answering 503 because none is loaded yet. */
struct snapshot *api_snapshot_or_503(struct http_request *req, enum MHD_Result *result);
/* Hands a job to the store workers with the request suspended, or answers
 * 503 (through job->cancel, which must fill req->reply and resume the
 * request) when the queue is full. */
enum MHD_Result api_submit(struct http_request *req, struct worker_job *job);

#endif
