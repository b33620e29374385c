/*
 * api/flagd — GET /flagd.json: the catalogue as one flagd flag-definition
 * document (export.h), with an ETag over its bytes and 304 on a matching
 * If-None-Match, so that a flagd daemon (HTTP sync) or a flagd in-process
 * provider can take ToggleMaster as its flag source. Rendered from the
 * snapshot on each request: O(flags).
 */
#include <stdlib.h>

#include "../export.h"
#include "routes.h"

void api_flagd_document(struct api_call *call)
{
    struct snapshot *snap = api_snapshot_or_503(call);
    size_t len;
    char *body;

    if (snap == NULL)
        return;
    body = export_flagd(snap, &len);
    snapshot_release(snap);
    if (body == NULL)
        http_respond_error(call->req, 500, "internal error: out of memory");
    else
        api_respond_with_etag(call->req, body, len);
}
