/*
 * app — the server context. See app.h.
 */
#include "app.h"

#include <string.h>

void app_init_locks(struct app *app)
{
    for (int i = 0; i < APP_NAME_LOCKS; i++)
        pthread_mutex_init(&app->name_locks[i], NULL);
    pthread_mutex_init(&app->flagset_lock, NULL);
}

void app_destroy_locks(struct app *app)
{
    for (int i = 0; i < APP_NAME_LOCKS; i++)
        pthread_mutex_destroy(&app->name_locks[i]);
    pthread_mutex_destroy(&app->flagset_lock);
}

pthread_mutex_t *app_name_lock(struct app *app, const char *name)
{
    return &app->name_locks[flag_name_hash(name, strlen(name)) % APP_NAME_LOCKS];
}
