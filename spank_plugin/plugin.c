/* Cairn's SPANK plugin: the dispatch. Each context is handled in its own file. */
#include "plugin.h"

SPANK_PLUGIN(cairn, 1);

static struct plugin_args args;

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	if (cairn_args_parse(ac, av, &args) < 0)
		return -1;
	return cairn_options_register(sp);
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	switch (spank_context()) {
	case S_CTX_LOCAL:
	case S_CTX_ALLOCATOR:
		return cairn_allocator_post_opt(sp);
	case S_CTX_REMOTE:
		return cairn_batch_step_post_opt(sp, &args);
	default:
		return 0;
	}
}

int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	return cairn_task_init_privileged(sp, &args);
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	(void)sp;
	(void)ac;
	(void)av;
	cairn_options_free();
	cairn_args_free(&args);
	return 0;
}
