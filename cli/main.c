/* cairn: the command for users and admins. Exit codes: 0 ok, 1 error, 2 usage. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: cairn COMMAND [OPTIONS]\n"
	           "\n"
	           "Commands:\n"
	           "  lint SCRIPT              check a batch script's annotations\n"
	           "  list [--workspace W]     list volumes\n"
	           "  show VOLUME              metadata and versions of a volume\n"
	           "  ls VOLUME [PATH]         list files of a volume\n"
	           "  get VOLUME PATH [DEST]   copy a file out of a volume\n"
	           "  rm VOLUME                remove a volume (refused while a job holds it)\n"
	           "  create VOLUME [--owner U] create an empty volume owned by U\n"
	           "  share VOLUME (--user U | --group G) (--ro | --rw)\n"
	           "                           let U or G use the volume\n"
	           "  unshare VOLUME (--user U | --group G)\n"
	           "                           withdraw that\n"
	           "  versions VOLUME          list a volume's versions\n"
	           "  rollback VOLUME VERSION  make an old version current again (as a new one)\n"
	           "  fork VOLUME NEW          a new volume from VOLUME's current version\n"
	           "  history VOLUME           what each job did with the volume\n"
	           "  run [--volume NAME:PATH[:ro]]... [--user NAME] -- COMMAND...\n"
	           "                           run COMMAND with volumes, without Slurm (as root)\n"
	           "  serve [--socket PATH]    answer the volume commands of users without root\n"
	           "\n"
	           "Most commands take --json for machine-readable output and --workspace W.\n"
	           "Configuration: /etc/slurm/cairn.conf, or the file named by CAIRN_CONF.\n"
	           "See cairn(1).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("cairn %s\n", CAIRN_VERSION);
		return 0;
	}
	/* The store is root's: users go through the server. */
	if (geteuid() != 0) {
		int code = cairn_cli_forward(argc, argv);
		if (code >= 0)
			return code;
	}
	const struct cairn_command *c = cairn_command_find(cmd);
	if (c)
		return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "cairn: unknown command \"%s\"; see 'cairn --help'\n", cmd);
	return 2;
}
