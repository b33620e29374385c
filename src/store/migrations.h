/*
 * migrations — the versioned schema changes, one list per backend.
 * Private to src/store/. Rules: a migration is never edited once released;
 * version 1 is the original monolith's table exactly (IF NOT EXISTS, so a
 * database the original filled keeps its rows); later versions only add
 * (new tables, columns with defaults), never drop or rewrite.
 */
#ifndef TM_STORE_MIGRATIONS_H
#define TM_STORE_MIGRATIONS_H

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration sqlite_migrations[];
extern const int sqlite_migration_count;
extern const struct migration postgres_migrations[];
extern const int postgres_migration_count;

#endif
