/*
 * migrations — the schema history of each backend. See migrations.h.
 */
#include "migrations.h"

/* Migration 4 is the same on both backends but for the integer type. */
#define USAGE_TABLES(INT)                                                                     \
    "CREATE TABLE IF NOT EXISTS flag_usage_hourly ("                                          \
    " flag_name VARCHAR(100) NOT NULL,"                                                       \
    " hour_start " INT " NOT NULL,"                                                           \
    " variant TEXT NOT NULL,"                                                                 \
    " reason VARCHAR(32) NOT NULL,"                                                           \
    " evaluations " INT " NOT NULL,"                                                          \
    " PRIMARY KEY (flag_name, hour_start, variant, reason));"                                 \
    "CREATE INDEX IF NOT EXISTS flag_usage_hourly_hour ON flag_usage_hourly(hour_start);"     \
    "CREATE TABLE IF NOT EXISTS flag_usage ("                                                 \
    " flag_name VARCHAR(100) PRIMARY KEY,"                                                    \
    " first_evaluated " INT " NOT NULL,"                                                      \
    " last_evaluated " INT " NOT NULL,"                                                       \
    " evaluations " INT " NOT NULL)"

const struct migration postgres_migrations[] = {
    {1, "original flags table",
     /* Exactly what the Python monolith's `flask init-db` created. */
     "CREATE TABLE IF NOT EXISTS flags ("
     " id SERIAL PRIMARY KEY,"
     " name VARCHAR(100) UNIQUE NOT NULL,"
     " is_enabled BOOLEAN NOT NULL DEFAULT false,"
     " created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP)"},
    {2, "flag documents, evaluators, flag-set metadata",
     /* Only additions with defaults: the original monolith keeps working on
      * the table (its INSERT and UPDATE leave the new columns to their
      * defaults). document NULL is the original's boolean flag. A constant
      * default does not rewrite the table (PostgreSQL 11+). */
     "ALTER TABLE flags ADD COLUMN IF NOT EXISTS document TEXT;"
     "ALTER TABLE flags ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 1;"
     "ALTER TABLE flags ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP;"
     "CREATE TABLE IF NOT EXISTS evaluators ("
     " name VARCHAR(100) PRIMARY KEY,"
     " rule TEXT NOT NULL,"
     " version BIGINT NOT NULL DEFAULT 1,"
     " created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,"
     " updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);"
     "CREATE TABLE IF NOT EXISTS catalog_settings ("
     " key VARCHAR(100) PRIMARY KEY,"
     " value TEXT NOT NULL,"
     " updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP)"},
    {3, "api keys, audit trail",
     /* Keys are stored only as the SHA-256 of the key (auth.h). Revoked keys
      * stay, so that revoking the last one never turns authentication off.
      * Audit rows are append-only: the product never updates or deletes
      * them, and the trigger refuses it to anyone else who tries. */
     "CREATE TABLE IF NOT EXISTS api_keys ("
     " id VARCHAR(32) PRIMARY KEY,"
     " name VARCHAR(100) NOT NULL,"
     " role VARCHAR(16) NOT NULL,"
     " hash CHAR(64) NOT NULL,"
     " created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,"
     " revoked_at TIMESTAMPTZ);"
     "CREATE TABLE IF NOT EXISTS audit_log ("
     " id BIGSERIAL PRIMARY KEY,"
     " at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),"
     " actor_id VARCHAR(32) NOT NULL,"
     " actor_name VARCHAR(100) NOT NULL,"
     " action VARCHAR(16) NOT NULL,"
     " object_type VARCHAR(16) NOT NULL,"
     " object_name VARCHAR(400) NOT NULL,"
     " before TEXT,"
     " after TEXT,"
     " request_id VARCHAR(128));"
     "CREATE INDEX IF NOT EXISTS audit_log_object ON audit_log(object_type, object_name, id);"
     "CREATE OR REPLACE FUNCTION togglemaster_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
     " $$BEGIN RAISE EXCEPTION 'audit_log rows cannot be changed or deleted'; END$$;"
     "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;"
     "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
     " FOR EACH ROW EXECUTE FUNCTION togglemaster_audit_append_only()"},
    {4, "flag usage",
     /* Evaluation counts, written by each instance every USAGE_FLUSH_INTERVAL
      * and added up: per hour (hour_start, Unix seconds) for the usage
      * windows, and per flag for when it was first and last evaluated (Unix
      * seconds). No foreign key to flags: the counts of a deleted flag stay
      * with its name, and a flag write never waits on a usage row. */
     USAGE_TABLES("BIGINT")},
};
const int postgres_migration_count = sizeof postgres_migrations / sizeof postgres_migrations[0];

const struct migration sqlite_migrations[] = {
    {1, "original flags table",
     /* The same table in SQLite's dialect. AUTOINCREMENT keeps ids from being
      * reused after a delete, as SERIAL does. */
     "CREATE TABLE IF NOT EXISTS flags ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " name VARCHAR(100) UNIQUE NOT NULL,"
     " is_enabled BOOLEAN NOT NULL DEFAULT 0,"
     " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"},
    {2, "flag documents, evaluators, flag-set metadata",
     /* SQLite cannot add a column whose default is CURRENT_TIMESTAMP:
      * updated_at starts as created_at and every write sets it. */
     "ALTER TABLE flags ADD COLUMN document TEXT;"
     "ALTER TABLE flags ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
     "ALTER TABLE flags ADD COLUMN updated_at TIMESTAMP;"
     "UPDATE flags SET updated_at = created_at;"
     "CREATE TABLE IF NOT EXISTS evaluators ("
     " name VARCHAR(100) PRIMARY KEY,"
     " rule TEXT NOT NULL,"
     " version INTEGER NOT NULL DEFAULT 1,"
     " created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,"
     " updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);"
     "CREATE TABLE IF NOT EXISTS catalog_settings ("
     " key VARCHAR(100) PRIMARY KEY,"
     " value TEXT NOT NULL,"
     " updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"},
    {3, "api keys, audit trail",
     "CREATE TABLE IF NOT EXISTS api_keys ("
     " id VARCHAR(32) PRIMARY KEY,"
     " name VARCHAR(100) NOT NULL,"
     " role VARCHAR(16) NOT NULL,"
     " hash CHAR(64) NOT NULL,"
     " created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
     " revoked_at TIMESTAMP);"
     "CREATE TABLE IF NOT EXISTS audit_log ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),"
     " actor_id VARCHAR(32) NOT NULL,"
     " actor_name VARCHAR(100) NOT NULL,"
     " action VARCHAR(16) NOT NULL,"
     " object_type VARCHAR(16) NOT NULL,"
     " object_name VARCHAR(400) NOT NULL,"
     " before TEXT,"
     " after TEXT,"
     " request_id VARCHAR(128));"
     "CREATE INDEX IF NOT EXISTS audit_log_object ON audit_log(object_type, object_name, id);"
     "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log"
     " BEGIN SELECT RAISE(ABORT, 'audit_log rows cannot be changed or deleted'); END;"
     "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log"
     " BEGIN SELECT RAISE(ABORT, 'audit_log rows cannot be changed or deleted'); END"},
    {4, "flag usage", USAGE_TABLES("INTEGER")},
};
const int sqlite_migration_count = sizeof sqlite_migrations / sizeof sqlite_migrations[0];
