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
};
const int sqlite_migration_count = sizeof sqlite_migrations / sizeof sqlite_migrations[0];
