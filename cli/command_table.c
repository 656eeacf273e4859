/* The subcommands, and which of them `cairn serve` runs for users. */
#include <string.h>

#include "commands.h"

static const struct cairn_command table[] = {
    {"lint", cmd_lint, false},
    {"list", cmd_list, true},
    {"show", cmd_show, true},
    {"ls", cmd_ls, true},
    {"get", cmd_get, true},
    {"run", cmd_run, false},
    {"rm", cmd_rm, true},
    {"create", cmd_create, true},
    {"share", cmd_share, true},
    {"unshare", cmd_unshare, true},
    {"versions", cmd_versions, true},
    {"rollback", cmd_rollback, true},
    {"fork", cmd_fork, true},
    {"history", cmd_history, true},
    {"serve", cmd_serve, false},
    {"gc", cmd_gc, true},
};

const struct cairn_command *cairn_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(name, table[i].name))
			return &table[i];
	return NULL;
}
