/* The options the plugin adds to sbatch, salloc and srun. */
#include <string.h>

#include "plugin.h"
#include "util.h"

static struct cairn_job_spec spec;

static int volume_cb(int val, const char *optarg, int remote)
{
	(void)val;
	char msg[CAIRN_ERRLEN];
	struct cairn_volume_spec v = {0};
	struct cairn_errlist errs = {0};
	/* Remote callbacks repeat what sbatch already checked; the job record rules there. */
	if (remote)
		return 0;
	if (cairn_spec_parse_option(optarg, &v, msg, sizeof(msg)) < 0) {
		slurm_error("%s: %s", PLUGIN_TAG, msg);
		return -1;
	}
	/* Callbacks may fire more than once for one option: keep them idempotent. */
	for (size_t i = 0; i < spec.nvol; i++)
		if (!strcmp(spec.vol[i].origin, v.origin)) {
			free(v.name_template);
			free(v.path);
			free(v.origin);
			free(v.name);
			return 0;
		}
	if (cairn_spec_add(&spec, &v, &errs) < 0) {
		slurm_error("%s: %s", PLUGIN_TAG, errs.msg[0]);
		cairn_errlist_free(&errs);
		return -1;
	}
	return 0;
}

static struct spank_option volume_opt = {
    .name = "volume",
    .arginfo = "NAME:PATH[:ro]",
    .usage = "Mount the persistent Cairn volume NAME at PATH (relative to the working "
             "directory); ':ro' mounts it read-only. Repeat for several volumes.",
    .has_arg = 1,
    .val = 0,
    .cb = volume_cb,
};

static int sandbox_cb(int val, const char *optarg, int remote)
{
	(void)val;
	char msg[CAIRN_ERRLEN];
	if (remote)
		return 0;
	/* Inherited through the environment, an absent value reads "(null)". */
	if (optarg && !strcmp(optarg, "(null)"))
		optarg = NULL;
	if (cairn_spec_parse_sandbox(optarg, &spec.sandbox, &spec.limits, msg, sizeof(msg)) < 0) {
		slurm_error("%s: %s", PLUGIN_TAG, msg);
		return -1;
	}
	return 0;
}

static struct spank_option sandbox_opt = {
    .name = "sandbox",
    .arginfo = "[full|pid][,memory=SIZE][,pids=N][,cpus=N]",
    .usage = "Run the job's tasks in a Cairn sandbox: own PID, mount, network, IPC and UTS "
             "namespaces, read-only system, no privileges (full, the default), or only a PID "
             "namespace (pid). memory=, pids= and cpus= lower the site's limits per task.",
    .has_arg = 2,
    .val = 0,
    .cb = sandbox_cb,
};

int cairn_options_register(spank_t sp)
{
	if (spank_option_register(sp, &volume_opt) != ESPANK_SUCCESS ||
	    spank_option_register(sp, &sandbox_opt) != ESPANK_SUCCESS) {
		slurm_error("%s: cannot register --volume and --sandbox", PLUGIN_TAG);
		return -1;
	}
	return 0;
}

const struct cairn_job_spec *cairn_options_spec(void)
{
	return &spec;
}

void cairn_options_free(void)
{
	cairn_spec_free(&spec);
	memset(&spec, 0, sizeof(spec));
}
