/*
 * migrations — the schema history of each backend. See migrations.h.
 */
#include "migrations.h"

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
};
const int sqlite_migration_count = sizeof sqlite_migrations / sizeof sqlite_migrations[0];
