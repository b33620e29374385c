/*
 * api/console — the web console's files: "/" (the page) and
 * /assets/<name> (its script and style), from the table the build embeds
 * (console_assets.h). No file is read at run time and nothing is fetched
 * from elsewhere: the binary is the whole console.
 *
 * Headers: a strict Content-Security-Policy (only this origin's script,
 * style and API; no inline script or style, no framing), and caching by
 * content hash: hashed asset names are immutable for a year, the page and
 * the plain names revalidate (ETag, 304). A client that takes gzip gets
 * the compressed bytes the build embedded (a third of app.js's size), with
 * their own ETag ("<hash>-gz") and Vary: Accept-Encoding. The routes are
 * public: the page holds no data; it asks for a key and calls the API
 * with it.
 */
#include <stdio.h>
#include <string.h>

#include "console_assets.h"
#include "routes.h"

#define CONSOLE_CSP                                                                                          \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "   \
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const struct console_asset *find_asset(const char *path, size_t len)
{
    for (size_t i = 0; i < console_asset_count; i++)
        if (strlen(console_assets[i].path) == len && memcmp(console_assets[i].path, path, len) == 0)
            return &console_assets[i];
    return NULL;
}

static void serve_asset(struct http_request *req, const struct console_asset *asset)
{
    bool gzip = asset->gzip_data != NULL && http_accepts_encoding(req, "gzip");
    const unsigned char *body = gzip ? asset->gzip_data : asset->data;
    size_t len = gzip ? asset->gzip_len : asset->len;
    char etag[24];

    snprintf(etag, sizeof etag, gzip ? "\"%s-gz\"" : "\"%s\"", asset->hash);
    http_add_header(req, "Content-Security-Policy", CONSOLE_CSP);
    http_add_header(req, "Cache-Control", asset->immutable ? "public, max-age=31536000, immutable" : "no-cache");
    http_add_header(req, "ETag", etag);
    http_add_header(req, "Referrer-Policy", "no-referrer");
    http_add_header(req, "X-Frame-Options", "DENY");
    if (asset->gzip_data != NULL)
        http_add_header(req, "Vary", "Accept-Encoding");
    if (api_etag_matches(req, etag)) {
        http_respond_empty(req, 304);
        return;
    }
    if (gzip)
        http_add_header(req, "Content-Encoding", "gzip");
    http_set_content_type(req, asset->content_type);
    http_respond_buffer(req, 200, body, len, NULL, NULL);
}

void api_console_page(struct api_call *call)
{
    serve_asset(call->req, find_asset("/", 1));
}

void api_console_asset(struct api_call *call)
{
    const struct console_asset *asset = find_asset(call->req->path, call->req->path_len);

    if (asset == NULL) {
        http_respond_error(call->req, 404, "no such console file");
        return;
    }
    serve_asset(call->req, asset);
}
