/*
 * store/open — the backend a configuration names: SQLite by default,
 * PostgreSQL for postgres:// URLs and the DB_* variables. See store.h.
 */
#include "backend.h"

struct store *store_open(const struct config *cfg, char *err, size_t errlen)
{
    const struct store_backend *backend =
        cfg->store_kind == STORE_KIND_POSTGRES ? &store_postgres_backend : &store_sqlite_backend;

    return store_open_backend(cfg, backend, err, errlen);
}
