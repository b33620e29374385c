/*
 * http/tls — HTTPS with OpenSSL: the server context (certificate, key,
 * TLS 1.2 and 1.3 only), reloading it, and non-blocking TLS I/O for
 * connections (the pattern of Redis 6's tls.c: every call may want to read
 * or write the socket, and says which; the connection then waits for that
 * event and calls again).
 *
 * Reloading (SIGHUP) builds a new SSL_CTX from the files and swaps it in
 * under a lock: new connections get the new certificate; a connection keeps
 * the context it began with (an SSL holds a reference to its SSL_CTX), so
 * nothing is dropped. A reload that fails keeps the old context.
 *
 * Memory: SSL_MODE_RELEASE_BUFFERS gives back OpenSSL's 16 KiB record
 * buffers while a connection is idle.
 */
#include "internal.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls {
    pthread_mutex_t lock;      /* guards ctx (leaf lock) */
    SSL_CTX *ctx;
    char *cert_file, *key_file;
};

/* OpenSSL's error queue as one line, then cleared. */
static void openssl_error(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long code = ERR_get_error();
    char reason[256] = "unknown error";

    if (code != 0)
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    snprintf(err, errlen, "%s %s: %s", what, file, reason);
}

/* Only HTTP/1.1 is spoken: a client that offers ALPN gets it or nothing. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof http11 - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *context_from_files(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        openssl_error(err, errlen, "cannot create a TLS context for", cert_file);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        openssl_error(err, errlen, "TLS_CERT_FILE: cannot use", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        openssl_error(err, errlen, "TLS_KEY_FILE: cannot use", key_file);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        openssl_error(err, errlen, "TLS_KEY_FILE: does not match the certificate in", cert_file);
        goto fail;
    }
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct tls *tls_create(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct tls *tls = calloc(1, sizeof *tls);

    if (tls == NULL || (tls->cert_file = strdup(cert_file)) == NULL || (tls->key_file = strdup(key_file)) == NULL) {
        snprintf(err, errlen, "out of memory");
        tls_destroy(tls);
        return NULL;
    }
    pthread_mutex_init(&tls->lock, NULL);
    tls->ctx = context_from_files(cert_file, key_file, err, errlen);
    if (tls->ctx == NULL) {
        tls_destroy(tls);
        return NULL;
    }
    return tls;
}

int http_tls_check(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = context_from_files(cert_file, key_file, err, errlen);

    if (ctx == NULL)
        return -1;
    SSL_CTX_free(ctx);
    return 0;
}

int tls_reload(struct tls *tls, char *err, size_t errlen)
{
    SSL_CTX *fresh = context_from_files(tls->cert_file, tls->key_file, err, errlen), *old;

    if (fresh == NULL)
        return -1;
    pthread_mutex_lock(&tls->lock);
    old = tls->ctx;
    tls->ctx = fresh;
    pthread_mutex_unlock(&tls->lock);
    SSL_CTX_free(old);   /* connections made with it keep their reference */
    return 0;
}

void tls_destroy(struct tls *tls)
{
    if (tls == NULL)
        return;
    if (tls->ctx != NULL) {
        SSL_CTX_free(tls->ctx);
        pthread_mutex_destroy(&tls->lock);
    }
    free(tls->cert_file);
    free(tls->key_file);
    free(tls);
}

SSL *tls_session_new(struct tls *tls, int fd)
{
    SSL *ssl;

    pthread_mutex_lock(&tls->lock);
    ssl = SSL_new(tls->ctx);
    pthread_mutex_unlock(&tls->lock);
    if (ssl == NULL)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void tls_session_free(SSL *ssl)
{
    if (ssl == NULL)
        return;
    /* A close_notify if the socket takes it at once; no waiting for the
     * client's. */
    SSL_set_quiet_shutdown(ssl, 0);
    (void)SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
}

/* What an SSL call that returned rc wants: -1 and *wants when it would
 * block, -2 on an error, 0 at the end of the stream. */
static long outcome(SSL *ssl, int rc, uint32_t *wants)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        *wants = EPOLLIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *wants = EPOLLOUT;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        return -2;
    }
}

int tls_handshake(SSL *ssl, uint32_t *wants)
{
    int rc = SSL_do_handshake(ssl);

    if (rc == 1)
        return 1;
    return outcome(ssl, rc, wants) == -1 ? 0 : -1;
}

bool tls_pending(SSL *ssl)
{
    return SSL_pending(ssl) > 0;
}

long tls_read(SSL *ssl, void *buf, size_t len, uint32_t *wants)
{
    size_t got = 0;
    int rc = SSL_read_ex(ssl, buf, len, &got);

    return rc == 1 ? (long)got : outcome(ssl, rc, wants);
}

long tls_write(SSL *ssl, const void *buf, size_t len, uint32_t *wants)
{
    size_t done = 0;
    int rc = SSL_write_ex(ssl, buf, len, &done);

    return rc == 1 ? (long)done : outcome(ssl, rc, wants);
}
