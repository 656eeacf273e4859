/* The subcommands of the cairn command; each takes argv with argv[0] the
 * subcommand name and returns the exit status (0 ok, 1 error, 2 usage). */
#ifndef CAIRN_COMMANDS_H
#define CAIRN_COMMANDS_H

#include <stdbool.h>

#define CAIRN_VERSION "0.1.0"

/* Where `cairn serve` answers users without root (CAIRN_CLI_SOCKET overrides it
 * for the caller). */
#define CAIRN_CLI_SOCKET "/run/cairn/cli.sock"

int cmd_lint(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_share(int argc, char **argv);
int cmd_unshare(int argc, char **argv);
int cmd_versions(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_fork(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_gc(int argc, char **argv);

struct cairn_command {
	const char *name;
	int (*fn)(int, char **);
	bool served; /* run by `cairn serve` for users without root */
};
/* The subcommand called name, or NULL. */
const struct cairn_command *cairn_command_find(const char *name);

/* Run a volume command through `cairn serve` (for users without root): the exit
 * status, or -1 if cmd is not one the server runs. */
int cairn_cli_forward(int argc, char **argv);

#endif
