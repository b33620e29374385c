/*
 * config — the process configuration.
 *
 * Owns: reading every setting from the environment (twelve-factor: no config
 * files, no flags), validating it, and the `--help` text that lists each
 * setting with its default and range. The result is one immutable struct,
 * built once in main() and passed by const pointer to the modules that need
 * it; nothing reads getenv() anywhere else.
 *
 * Every numeric limit lives in the table in config.c (name, default, range,
 * meaning), from which both loading and `--help` are made, so a limit cannot
 * be documented differently from how it is enforced.
 */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Hard limits, documented in --help and the README. */
#define AUTH_TOKEN_MIN_BYTES 16
#define CONFIG_MAX_THREADS 256
#define CONFIG_MAX_POOL_SIZE 256

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT };
enum store_kind { STORE_KIND_SQLITE = 0, STORE_KIND_POSTGRES };

struct config {
    int port;                  /* PORT */
    char bind[64];             /* BIND: an IPv4 or IPv6 literal */
    enum store_kind store_kind;
    /* For SQLite: a filesystem path. For PostgreSQL: a libpq connection
     * string (URL or key=value) that may hold a password: never log it, use
     * database_display instead. */
    char *database;
    char *database_display;    /* same target with any password masked */
    enum log_level log_level;  /* LOG_LEVEL */
    enum log_format log_format;/* LOG_FORMAT */
    int shutdown_timeout_s;    /* SHUTDOWN_TIMEOUT */
    int shutdown_drain_s;      /* SHUTDOWN_DRAIN: /ready 503 before stopping */
    int usage_flush_interval_s;/* USAGE_FLUSH_INTERVAL */
    int threads;               /* THREADS: HTTP event-loop threads */
    int db_pool_size;          /* DB_POOL_SIZE: store connections/workers */
    int db_connect_timeout_s;  /* DB_CONNECT_TIMEOUT */
    int db_statement_timeout_ms; /* DB_STATEMENT_TIMEOUT */
    int resync_interval_s;     /* RESYNC_INTERVAL */

    /* HTTP transport limits (see src/http/http.h for what each bounds). */
    int max_connections;       /* MAX_CONNECTIONS */
    int max_client_connections;/* MAX_CLIENT_CONNECTIONS */
    int keepalive_timeout_s;   /* KEEPALIVE_TIMEOUT */
    int header_timeout_s;      /* HEADER_TIMEOUT */
    int body_timeout_s;        /* BODY_TIMEOUT */
    int send_timeout_s;        /* SEND_TIMEOUT */
    int max_header_bytes;      /* MAX_HEADER_BYTES */
    int max_body_bytes;        /* MAX_BODY_BYTES */
    int max_unsent_mb;         /* MAX_UNSENT_MB */
    char *tls_cert_file;       /* TLS_CERT_FILE, NULL: plain HTTP */
    char *tls_key_file;        /* TLS_KEY_FILE */
    /* Access (auth.h). admin_token may be a secret: never log it. */
    char *admin_token;         /* ADMIN_TOKEN, NULL: unset */
    bool auth_required;        /* AUTH_REQUIRED: refuse to start without a key */
    bool public_evaluation;    /* PUBLIC_EVALUATION: reads and evaluations need no key */
    bool metrics_public;       /* METRICS_PUBLIC: /metrics needs no key */
    bool metrics_enabled;      /* METRICS_ENABLED: count requests and evaluations */
    int json_max_depth;        /* JSON_MAX_DEPTH */
    int json_max_elements;     /* JSON_MAX_ELEMENTS */
    int auth_failure_limit;    /* AUTH_FAILURE_LIMIT */
    int auth_failure_window_s; /* AUTH_FAILURE_WINDOW */
    int write_limit;           /* WRITE_LIMIT: writes per key per minute */
    int key_create_limit;      /* KEY_CREATE_LIMIT: keys one key makes per hour */
    char *cors_origins;        /* CORS_ORIGINS: comma-separated origins, NULL: none */
};

/* Reads the environment into *cfg. On a bad value returns -1 and writes one
 * line naming the variable into err (nothing to free then). */
int config_load(struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
void config_print_help(FILE *out);

/* Parses a decimal integer in [min,max]; the whole string must be used. */
int config_parse_int(const char *text, long min, long max, long *out);

#endif
