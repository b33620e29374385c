/*
 * app — the server context. See app.h.
 */
#include "app.h"

#include <string.h>

pthread_mutex_t *app_name_lock(struct app *app, const char *name)
{
    /* FNV-1a over the name picks the lock. */
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &app->name_locks[h % APP_NAME_LOCKS];
}
