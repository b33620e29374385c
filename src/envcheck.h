/*
 * envcheck — `togglemaster check-config`, and the warnings `serve` logs at
 * start about the environment.
 *
 * Owns: checking the environment the way serve would read it, all of it at
 * once: every bad value (config_read), the names that look like settings
 * but are not (config_check_names; warnings only), and the files serve
 * would open later and fail on: the TLS certificate and key (loaded with
 * OpenSSL exactly as serve loads them) and, for SQLite, the database's
 * directory and file. It never contacts the database: reaching it, the
 * credentials and the schema are what `togglemaster migrate` and GET /ready
 * check.
 *
 * Output of check-config: each error as "error: ..." and each warning as
 * "warning: ..." on stderr, one line each, every one naming its variable;
 * when there is no error, one "configuration ok: ..." line on stdout
 * (backend, database with any password masked, address and port). Exit 0,
 * or 2 on any error; warnings alone do not change it.
 */
#ifndef TM_ENVCHECK_H
#define TM_ENVCHECK_H

/* `togglemaster check-config`: argv[1] is the command. The exit status. */
int envcheck_run(int argc, char **argv);

/* Logs each warning about a name in the environment (config_check_names)
 * as a warn-level event with its "variable"; serve calls it once at start,
 * after log_init(). */
void envcheck_log_warnings(void);

#endif
