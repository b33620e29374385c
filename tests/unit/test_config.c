/* Unit tests for config.c: defaults, validation, database selection. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

static const char *vars[] = {"PORT", "BIND", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT",
                             "THREADS", "DB_POOL_SIZE", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT",
                             "RESYNC_INTERVAL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"};

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
    return CHECK_DONE("unit[config]");
}
