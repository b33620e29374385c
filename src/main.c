/*
 * main — the command line: serve (default), migrate, init-db, import,
 * export, keys, routes, check-config, version, help.
 *
 * Owns: process start-up and shutdown order, and the wiring: `serve`
 * builds the server context (app.h) in dependency order — metrics and
 * usage counters, store, snapshot cell, store workers, sync thread, usage
 * flusher, the API — and hands the API's handler
 * to the HTTP transport, which knows nothing else of the service. It then
 * waits for signals: SIGHUP reloads the flags and re-reads the TLS files;
 * SIGTERM first drains (SHUTDOWN_DRAIN: /ready answers 503 while
 * everything is still served, so load balancers move away); then SIGTERM
 * or SIGINT take everything down in reverse: stop accepting, let in-flight
 * requests finish (up to SHUTDOWN_TIMEOUT), stop the workers (answering
 * what they had queued), HTTP, the usage flusher (which writes the last
 * counts), sync, and close the store.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "config.h"
#include "envcheck.h"
#include "flagfile.h"
#include "events.h"
#include "insights.h"
#include "keycmd.h"
#include "http/http.h"
#include "log.h"
#include "store/store.h"
#include "sync.h"
#include "version.h"

/* `migrate` waits this long for a database that is still starting (a
 * container entrypoint may run it the moment the database container is up). */
#define MIGRATE_ATTEMPTS 10

static int run_migrate(const struct config *cfg)
{
    char err[512];
    struct store *store = store_open(cfg, err, sizeof err);
    struct store_conn *conn;
    enum store_status st = STORE_ERROR;
    int applied = 0;

    if (store == NULL) {
        log_event(LOG_ERROR, "cannot open the store", json_pack("{s:s}", "detail", err));
        return 1;
    }
    conn = store_conn_create(store, "migrate");
    for (int attempt = 1; conn != NULL && attempt <= MIGRATE_ATTEMPTS; attempt++) {
        st = store_migrate(conn, &applied);
        if (st != STORE_UNAVAILABLE || attempt == MIGRATE_ATTEMPTS)
            break;
        log_event(LOG_WARN, "database unavailable; retrying migrate",
                  json_pack("{s:i, s:s}", "attempt", attempt, "detail", store_conn_error(conn)));
        sleep(1);
    }
    if (st == STORE_OK)
        log_event(LOG_INFO, "migrations applied",
                  json_pack("{s:s, s:s, s:i, s:i}", "backend", store_backend_name(store),
                            "database", cfg->database_display, "applied", applied,
                            "schema_version", store_latest_version(store)));
    else
        log_event(LOG_ERROR, "migrate failed",
                  json_pack("{s:s}", "detail", conn ? store_conn_error(conn) : "out of memory"));
    store_conn_destroy(conn);
    store_close(store);
    return st == STORE_OK ? 0 : 1;
}

/* import FILE [--dry-run] [--prune], export [FILE]. */
static int run_flagfile(const struct config *cfg, int argc, char **argv)
{
    struct flagfile_options options = {0};
    const char *path = NULL;
    char err[512];
    struct store *store;
    FILE *out = stdout;
    bool import = strcmp(argv[1], "import") == 0;
    int rc;

    for (int i = 2; i < argc; i++) {
        if (import && strcmp(argv[i], "--dry-run") == 0)
            options.dry_run = true;
        else if (import && strcmp(argv[i], "--prune") == 0)
            options.prune = true;
        else if (path == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
            path = argv[i];
        else {
            fprintf(stderr, "togglemaster: %s: unexpected argument '%s' (try: togglemaster --help)\n", argv[1],
                    argv[i]);
            return 2;
        }
    }
    if (import && path == NULL) {
        fprintf(stderr, "togglemaster: import needs a file: togglemaster import FILE [--dry-run] [--prune]\n");
        return 2;
    }
    store = store_open(cfg, err, sizeof err);
    if (store == NULL) {
        fprintf(stderr, "togglemaster: cannot open the store: %s\n", err);
        return 1;
    }
    if (import) {
        rc = flagfile_import(store, path, &options, stdout);
    } else {
        if (path != NULL && strcmp(path, "-") != 0 && (out = fopen(path, "w")) == NULL) {
            fprintf(stderr, "togglemaster: cannot write %s\n", path);
            store_close(store);
            return 1;
        }
        rc = flagfile_export(store, out, stderr);
        if (out != stdout && fclose(out) != 0)
            rc = 1;
    }
    store_close(store);
    return rc;
}

static struct http_settings http_settings_from(const struct config *cfg)
{
    struct http_settings s = {
        .bind = cfg->bind,
        .port = cfg->port,
        .threads = cfg->threads,
        .max_connections = cfg->max_connections,
        .max_client_connections = cfg->max_client_connections,
        .keepalive_timeout_s = cfg->keepalive_timeout_s,
        .header_timeout_s = cfg->header_timeout_s,
        .body_timeout_s = cfg->body_timeout_s,
        .send_timeout_s = cfg->send_timeout_s,
        .max_header_bytes = cfg->max_header_bytes,
        .max_body_bytes = cfg->max_body_bytes,
        .max_unsent_bytes = (long long)cfg->max_unsent_mb * 1024 * 1024,
        .tls_cert_file = cfg->tls_cert_file,
        .tls_key_file = cfg->tls_key_file,
        .on_complete = cfg->metrics_enabled ? api_request_done : NULL,
    };
    return s;
}

static void reload_on_sighup(struct http_server *http, struct sync *sync, bool tls_configured)
{
    char err[512];

    sync_request_reload(sync);
    log_msg(LOG_INFO, "SIGHUP: reloading the flags from the database");
    if (!tls_configured)
        log_msg(LOG_INFO, "SIGHUP: nothing to reload (TLS is off)");
    else if (http_server_reload_tls(http, err, sizeof err) == 0)
        log_msg(LOG_INFO, "SIGHUP: TLS certificate and key reloaded");
    else
        log_event(LOG_ERROR, "SIGHUP: TLS reload failed; the previous certificate stays in use",
                  json_pack("{s:s}", "detail", err));
}

/* Waits for SIGTERM or SIGINT; on each SIGHUP reloads the flags from the
 * database and re-reads the TLS files. */
static int wait_for_stop(const sigset_t *signals, struct http_server *http, struct sync *sync, bool tls_configured)
{
    for (;;) {
        int sig = 0;

        if (sigwait(signals, &sig) != 0)
            return SIGTERM;
        if (sig != SIGHUP)
            return sig;
        reload_on_sighup(http, sync, tls_configured);
    }
}

/* SIGTERM's first phase: /ready turns 503 while everything else is still
 * served, for SHUTDOWN_DRAIN seconds, so that a load balancer checking
 * /ready stops sending new requests here before this instance stops
 * accepting them. A second SIGTERM or a SIGINT cuts it short. */
static void drain(struct app *app, const sigset_t *signals, struct http_server *http, bool tls_configured)
{
    struct timespec now, end;

    if (app->cfg->shutdown_drain_s <= 0)
        return;
    atomic_store(&app->draining, true);
    log_event(LOG_INFO, "draining: /ready answers 503, requests are still served",
              json_pack("{s:i}", "drain_s", app->cfg->shutdown_drain_s));
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += app->cfg->shutdown_drain_s;
    for (;;) {
        struct timespec left;
        int sig;

        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = end.tv_sec - now.tv_sec;
        left.tv_nsec = end.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        if (left.tv_sec < 0)
            return;
        sig = sigtimedwait(signals, NULL, &left);
        if (sig == SIGHUP) {
            reload_on_sighup(http, app->sync, tls_configured);
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_msg(LOG_INFO, "second stop signal: ending the drain early");
            return;
        } else if (sig < 0 && errno != EINTR) {
            return;   /* EAGAIN: the drain is over */
        }
    }
}

/* AUTH_REQUIRED: ADMIN_TOKEN, or an active key in the store. 0 when
 * satisfied, else the exit code (2: no key; 1: the keys cannot be read). */
static int check_auth_required(const struct config *cfg, struct store *store)
{
    struct store_conn *conn;
    struct keyring *ring = NULL;
    enum store_status st;
    int rc;

    if (!cfg->auth_required || cfg->admin_token != NULL)
        return 0;
    if ((conn = store_conn_create(store, "auth-check")) == NULL)
        return 1;
    st = store_keys_load(conn, &ring);
    if (st != STORE_OK) {
        log_event(LOG_ERROR, "AUTH_REQUIRED: cannot read the API keys, so cannot start",
                  json_pack("{s:s}", "detail", store_conn_error(conn)));
        rc = 1;
    } else if (ring->active == 0) {
        log_msg(LOG_ERROR, "AUTH_REQUIRED is set but there is no ADMIN_TOKEN and no active API key: "
                           "set ADMIN_TOKEN or run 'togglemaster keys create --role admin --name NAME'");
        rc = 2;
    } else {
        rc = 0;
    }
    keyring_unref(ring);
    store_conn_destroy(conn);
    return rc;
}

static int run_serve(const struct config *cfg)
{
    struct app app = {.cfg = cfg};
    struct http_settings http_settings = http_settings_from(cfg);
    struct http_server *http = NULL;
    struct api *api = NULL;
    sigset_t signals;
    char err[512];
    int sig, rc = 1;

    /* Every thread started below inherits this mask, so these signals are
     * only ever taken by sigwait() here. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    app_init_locks(&app);
    {
        struct metrics_route labels[METRICS_MAX_ROUTES];
        metrics_init(&app.metrics, labels, api_metrics_routes(labels, METRICS_MAX_ROUTES));
    }
    usage_init(&app.usage);
    app.counting = cfg->metrics_enabled;
    if (cfg->admin_token != NULL) {
        app.has_admin_token = true;
        auth_hash(cfg->admin_token, strlen(cfg->admin_token), app.admin_token_hash);
    }
    if (log_start_async() != 0)
        log_msg(LOG_WARN, "cannot start the log writer thread; logging synchronously");
    app.store = store_open(cfg, err, sizeof err);
    if (app.store == NULL)
        goto out;
    if ((rc = check_auth_required(cfg, app.store)) != 0) {
        snprintf(err, sizeof err, "AUTH_REQUIRED is not met");
        goto out;
    }
    rc = 1;
    app.snapshots = snapshot_cell_create();
    api = api_create(&app);
    if (app.snapshots == NULL || api == NULL) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    app.workers = workers_start(app.store, store_max_connections(app.store), err, sizeof err);
    if (app.workers == NULL)
        goto out;
    {
        struct events_settings es = {.history = cfg->events_history, .max_subscribers = cfg->events_max_subscribers,
                                     .heartbeat_s = cfg->events_heartbeat_s};
        if ((app.events = events_create(&es)) == NULL) {
            snprintf(err, sizeof err, "cannot start the change journal");
            goto out;
        }
    }
    app.sync = sync_start(&app, err, sizeof err);
    if (app.sync == NULL)
        goto out;
    if (app.counting && (app.insights = insights_start(&app, err, sizeof err)) == NULL)
        goto out;
    http = http_server_start(&http_settings, api_handle, api, err, sizeof err);
    if (http == NULL)
        goto out;
    app.http = http;

    log_event(LOG_INFO, "listening",
              json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:i, s:i}", "address", cfg->bind, "port", cfg->port,
                        "scheme", cfg->tls_cert_file ? "https" : "http",
                        "backend", store_backend_name(app.store), "database", cfg->database_display,
                        "threads", cfg->threads, "store_workers", store_max_connections(app.store),
                        "max_connections", cfg->max_connections));

    sig = wait_for_stop(&signals, http, app.sync, cfg->tls_cert_file != NULL);
    log_event(LOG_INFO, "shutting down", json_pack("{s:s, s:i, s:i}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM",
                                                  "drain_s", sig == SIGINT ? 0 : cfg->shutdown_drain_s,
                                                  "timeout_s", cfg->shutdown_timeout_s));
    /* SIGINT is a person at a terminal: no load balancer to tell. */
    if (sig == SIGTERM)
        drain(&app, &signals, http, cfg->tls_cert_file != NULL);
    http_server_quiesce(http);
    if (!http_server_wait_idle(http, cfg->shutdown_timeout_s * 1000))
        log_msg(LOG_WARN, "shutdown timeout reached with requests still in flight; closing them");
    rc = 0;
    err[0] = '\0';

out:
    if (rc != 0)
        log_event(LOG_ERROR, "cannot start", json_pack("{s:s}", "detail", err));
    /* Workers before HTTP: a request waiting on a queued job is answered
     * (503) while its connection is still served. */
    workers_stop(app.workers);
    /* Its subscribers are the server's streams. */
    events_stop(app.events);
    http_server_stop(http);
    workers_destroy(app.workers);
    /* Nothing evaluates any more: the last counts are written now. */
    insights_stop(app.insights);
    sync_stop(app.sync);
    events_destroy(app.events);
    api_destroy(api);
    snapshot_cell_destroy(app.snapshots);
    store_close(app.store);
    usage_destroy(&app.usage);
    metrics_destroy(&app.metrics);
    app_destroy_locks(&app);
    if (rc == 0)
        log_msg(LOG_INFO, "stopped");
    log_stop_async();
    return rc;
}

int main(int argc, char **argv)
{
    const char *command = argc > 1 ? argv[1] : "serve";
    struct config cfg;
    char err[512];
    int rc;

    if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
        config_print_help(stdout);
        return 0;
    }
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        printf("togglemaster %s (git %s)\n", TM_VERSION, TM_GIT_REVISION);
        return 0;
    }
    bool flagfile = strcmp(command, "import") == 0 || strcmp(command, "export") == 0;
    bool keys = strcmp(command, "keys") == 0;
    if (strcmp(command, "routes") == 0) {
        api_print_routes(stdout);
        return 0;
    }
    if (strcmp(command, "check-config") == 0)
        return envcheck_run(argc, argv);
    if ((argc > 2 && !flagfile && !keys) || (strcmp(command, "serve") != 0 && strcmp(command, "migrate") != 0 &&
                                             strcmp(command, "init-db") != 0 && !flagfile && !keys)) {
        fprintf(stderr, "togglemaster: unknown command '%s' (try: togglemaster --help)\n", command);
        return 2;
    }
    if (config_load(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "togglemaster: %s\n", err);
        return 2;
    }
    log_init(cfg.log_level, cfg.log_format);
    if (strcmp(command, "serve") == 0)
        envcheck_log_warnings();
    if (strcmp(command, "serve") == 0)
        rc = run_serve(&cfg);
    else if (flagfile)
        rc = run_flagfile(&cfg, argc, argv);
    else if (keys)
        rc = keycmd_run(&cfg, argc - 1, argv + 1);
    else
        rc = run_migrate(&cfg);
    config_free(&cfg);
    return rc;
}
