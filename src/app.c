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
    pthread_mutex_init(&app->keys_lock, NULL);
    guard_init(&app->auth_guard, app->cfg->auth_failure_limit, app->cfg->auth_failure_window_s);
    guard_init(&app->write_guard, app->cfg->write_limit, 60);
    guard_init(&app->key_guard, app->cfg->key_create_limit, 3600);
}

void app_destroy_locks(struct app *app)
{
    for (int i = 0; i < APP_NAME_LOCKS; i++)
        pthread_mutex_destroy(&app->name_locks[i]);
    pthread_mutex_destroy(&app->flagset_lock);
    pthread_mutex_destroy(&app->keys_lock);
    guard_destroy(&app->auth_guard);
    guard_destroy(&app->write_guard);
    guard_destroy(&app->key_guard);
}

pthread_mutex_t *app_name_lock(struct app *app, const char *name)
{
    return &app->name_locks[flag_name_hash(name, strlen(name)) % APP_NAME_LOCKS];
}

void app_note_keys(struct app *app, const struct keyring *ring)
{
    if (ring != NULL && ring->count > 0)
        atomic_store(&app->keys_seen, true);
}
