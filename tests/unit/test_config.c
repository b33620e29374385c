/* Unit tests for config.c: defaults, validation, database selection. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

static const char *vars[] = {"PORT", "BIND", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT",
                             "THREADS", "DB_POOL_SIZE", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT",
                             "RESYNC_INTERVAL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
                             "MAX_CONNECTIONS", "KEEPALIVE_TIMEOUT", "HEADER_TIMEOUT", "BODY_TIMEOUT",
                             "SEND_TIMEOUT", "MAX_HEADER_BYTES", "MAX_BODY_BYTES", "MAX_UNSENT_MB",
                             "TLS_CERT_FILE", "TLS_KEY_FILE"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

/* Loads with one variable set; returns config_load's result. */
static int load_with(const char *name, const char *value, struct config *cfg, char *err)
{
    int rc;
    clear_env();
    if (name != NULL)
        setenv(name, value, 1);
    rc = config_load(cfg, err, 256);
    return rc;
}

/* The display form of a postgres URL: masked password, whatever its shape
 * (the first shape overflowed the masking buffer). */
static void expect_display(const char *url, const char *display)
{
    struct config cfg;
    char err[256];

    CHECK(load_with("DATABASE_URL", url, &cfg, err) == 0);
    if (cfg.database_display != NULL && strcmp(cfg.database_display, display) != 0)
        fprintf(stderr, "display of %s: got %s, want %s\n", url, cfg.database_display, display);
    CHECK(cfg.database_display != NULL && strcmp(cfg.database_display, display) == 0);
    CHECK(cfg.database != NULL && strcmp(cfg.database, url) == 0);
    config_free(&cfg);
}

static void test_masking(void)
{
    expect_display("postgres://db.internal/flags?password=pw", "postgres://db.internal/flags?(parameters hidden)");
    expect_display("postgres://h?password=x", "postgres://h?(parameters hidden)");
    expect_display("postgresql://a:b@h/d?password=x&sslmode=require", "postgresql://a:***@h/d?(parameters hidden)");
    expect_display("postgres://app:s3cret@db:5432/flags", "postgres://app:***@db:5432/flags");
    expect_display("postgres://app:p@ss@db/flags", "postgres://app:***@db/flags");
    expect_display("postgres://app@db/flags?sslmode=require", "postgres://app@db/flags?sslmode=require");
    expect_display("postgres://db/x?user=a@b", "postgres://db/x?user=a@b");
    expect_display("postgres://", "postgres://");
    expect_display("postgres://@", "postgres://@");
    expect_display("postgres://:@/?password", "postgres://:***@/?(parameters hidden)");
}

/* Any variable may be long: configuration is sized from the input (the
 * DB_HOST case overflowed a fixed display buffer). */
static void test_long_values(void)
{
    static char big[20000];
    struct config cfg;
    char err[256];

    memset(big, 'h', sizeof big - 1);
    clear_env();
    setenv("DB_HOST", big, 1);
    setenv("DB_NAME", big, 1);
    setenv("DB_USER", big, 1);
    setenv("DB_PASSWORD", "pw'\\", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0);
    CHECK(cfg.database != NULL && strlen(cfg.database) > 3 * (sizeof big - 1));
    CHECK(cfg.database_display != NULL && strstr(cfg.database_display, "pw") == NULL);
    CHECK(cfg.database != NULL && strstr(cfg.database, "password='pw\\'\\\\'") != NULL);
    config_free(&cfg);
    clear_env();
    CHECK(load_with("DATABASE_URL", big, &cfg, err) == 0 && strlen(cfg.database) == sizeof big - 1);
    config_free(&cfg);
    memcpy(big, "postgres://", 11);
    CHECK(load_with("DATABASE_URL", big, &cfg, err) == 0 && strlen(cfg.database_display) == sizeof big - 1);
    config_free(&cfg);
    memcpy(big, "mysql://", 8);
    CHECK(load_with("DATABASE_URL", big, &cfg, err) == -1 && strncmp(err, "DATABASE_URL:", 13) == 0);
    CHECK(load_with("PORT", big, &cfg, err) == -1 && strlen(err) < 200 && strchr(err, '\n') == NULL);
    CHECK(load_with("BIND", big, &cfg, err) == -1 && strlen(err) < 200);
    CHECK(load_with("LOG_LEVEL", "de\nbug", &cfg, err) == -1 && strchr(err, '\n') == NULL);
}

static void test_transport_limits(void)
{
    struct config cfg;
    char err[256];

    CHECK(load_with(NULL, NULL, &cfg, err) == 0);
    CHECK(cfg.max_connections == 10000 && cfg.max_header_bytes == 8192 && cfg.max_body_bytes == 65536);
    CHECK(cfg.keepalive_timeout_s == 75 && cfg.header_timeout_s == 10 && cfg.tls_cert_file == NULL);
    config_free(&cfg);
    CHECK(load_with("MAX_CONNECTIONS", "5", &cfg, err) == -1 && strncmp(err, "MAX_CONNECTIONS:", 16) == 0);
    CHECK(load_with("MAX_HEADER_BYTES", "100000", &cfg, err) == -1);
    CHECK(load_with("MAX_BODY_BYTES", "1024", &cfg, err) == 0 && cfg.max_body_bytes == 1024);
    config_free(&cfg);
    CHECK(load_with("TLS_CERT_FILE", "/tmp/cert.pem", &cfg, err) == -1 && strncmp(err, "TLS_KEY_FILE:", 13) == 0);
    CHECK(load_with("TLS_KEY_FILE", "/tmp/key.pem", &cfg, err) == -1 && strncmp(err, "TLS_CERT_FILE:", 14) == 0);
    clear_env();
    setenv("TLS_CERT_FILE", "/tmp/cert.pem", 1);
    setenv("TLS_KEY_FILE", "/tmp/key.pem", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && strcmp(cfg.tls_key_file, "/tmp/key.pem") == 0);
    config_free(&cfg);
    clear_env();
    setenv("THREADS", "3", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && cfg.threads == 3 && cfg.db_pool_size == 6);
    config_free(&cfg);
}

int main(void)
{
    struct config cfg;
    char err[256];

    CHECK(load_with(NULL, NULL, &cfg, err) == 0);
    CHECK(cfg.port == 5000 && strcmp(cfg.bind, "0.0.0.0") == 0);
    CHECK(cfg.store_kind == STORE_KIND_SQLITE && strcmp(cfg.database, "./data/togglemaster.db") == 0);
    CHECK(cfg.log_level == LOG_INFO && cfg.log_format == LOG_FORMAT_JSON && cfg.shutdown_timeout_s == 10);
    CHECK(cfg.threads >= 1 && cfg.db_pool_size == 2 * cfg.threads);
    config_free(&cfg);

    CHECK(load_with("PORT", "8080", &cfg, err) == 0 && cfg.port == 8080);
    config_free(&cfg);
    CHECK(load_with("PORT", "abc", &cfg, err) == -1 && strncmp(err, "PORT:", 5) == 0);
    CHECK(load_with("PORT", "70000", &cfg, err) == -1 && strncmp(err, "PORT:", 5) == 0);
    CHECK(load_with("PORT", "80x", &cfg, err) == -1);
    CHECK(load_with("THREADS", "0", &cfg, err) == -1 && strncmp(err, "THREADS:", 8) == 0);
    CHECK(load_with("BIND", "localhost", &cfg, err) == -1 && strncmp(err, "BIND:", 5) == 0);
    CHECK(load_with("BIND", "::1", &cfg, err) == 0 && strcmp(cfg.bind, "::1") == 0);
    config_free(&cfg);
    CHECK(load_with("LOG_LEVEL", "loud", &cfg, err) == -1 && strncmp(err, "LOG_LEVEL:", 10) == 0);
    CHECK(load_with("LOG_FORMAT", "xml", &cfg, err) == -1 && strncmp(err, "LOG_FORMAT:", 11) == 0);
    CHECK(load_with("SHUTDOWN_TIMEOUT", "-1", &cfg, err) == -1);

    CHECK(load_with("DATABASE_URL", "mysql://x", &cfg, err) == -1 && strncmp(err, "DATABASE_URL:", 13) == 0);
    CHECK(load_with("DATABASE_URL", "/tmp/x.db", &cfg, err) == 0 && cfg.store_kind == STORE_KIND_SQLITE &&
          strcmp(cfg.database, "/tmp/x.db") == 0);
    config_free(&cfg);
    CHECK(load_with("DATABASE_URL", "sqlite:///var/lib/tm.db", &cfg, err) == 0 &&
          strcmp(cfg.database, "/var/lib/tm.db") == 0);
    config_free(&cfg);
    CHECK(load_with("DATABASE_URL", "postgres://app:s3cret@db:5432/flags?sslmode=require", &cfg, err) == 0);
    CHECK(cfg.store_kind == STORE_KIND_POSTGRES && strstr(cfg.database, "s3cret") != NULL);
    CHECK(strstr(cfg.database_display, "s3cret") == NULL && strstr(cfg.database_display, "db:5432") != NULL);
    config_free(&cfg);

    /* The original's variables, used when DATABASE_URL is unset. */
    clear_env();
    setenv("DB_HOST", "db.internal", 1);
    setenv("DB_NAME", "togglemaster", 1);
    setenv("DB_USER", "app", 1);
    setenv("DB_PASSWORD", "it's\\secret", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && cfg.store_kind == STORE_KIND_POSTGRES);
    CHECK(strstr(cfg.database, "host='db.internal'") != NULL && strstr(cfg.database, "port='5432'") != NULL);
    CHECK(strstr(cfg.database, "password='it\\'s\\\\secret'") != NULL);
    CHECK(strstr(cfg.database_display, "secret") == NULL);
    config_free(&cfg);
    /* DATABASE_URL wins over DB_*. */
    setenv("DATABASE_URL", "sqlite://./x.db", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && cfg.store_kind == STORE_KIND_SQLITE);
    config_free(&cfg);
    unsetenv("DATABASE_URL");
    setenv("DB_PORT", "five", 1);
    CHECK(config_load(&cfg, err, sizeof err) == -1 && strncmp(err, "DB_PORT:", 8) == 0);
    clear_env();

    test_masking();
    test_long_values();
    test_transport_limits();
    clear_env();
    return CHECK_DONE("unit[config]");
}
