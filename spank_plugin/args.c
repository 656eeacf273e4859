/* plugstack.conf arguments: "required spank_cairn.so [conf=/etc/slurm/cairn.conf]". */
#include <string.h>

#include "plugin.h"
#include "util.h"

int cairn_args_parse(int ac, char **av, struct plugin_args *args)
{
	for (int i = 0; i < ac; i++) {
		if (!strncmp(av[i], "conf=", 5) && av[i][5] == '/') {
			free(args->conf);
			args->conf = xstrdup(av[i] + 5);
			continue;
		}
		slurm_error("%s: unknown plugstack.conf argument \"%s\"; the only one is "
		            "conf=/path/to/cairn.conf",
		            PLUGIN_TAG, av[i]);
		return -1;
	}
	return 0;
}

void cairn_args_free(struct plugin_args *args)
{
	free(args->conf);
	args->conf = NULL;
}
