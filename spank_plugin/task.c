/* slurmstepd, in each task's process before exec (root): fail the job if the
 * Prolog recorded a user error, else bind the volumes in a private mount namespace. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "creds.h"
#include "job.h"
#include "sandbox.h"
#include "plugin.h"
#include "util.h"

/* slurm.h's value for the batch step, without pulling libslurm into the plugin. */
#define CAIRN_BATCH_STEP 0xfffffffbu

static char *srun_client_path(void)
{
	Dl_info info;
	if (!dladdr((void *)cairn_task_init_privileged, &info) || !info.dli_fname ||
	    !strrchr(info.dli_fname, '/'))
		return NULL;
	const char *slash = strrchr(info.dli_fname, '/');
	return xasprintf("%.*s/cairn-srun", (int)(slash - info.dli_fname), info.dli_fname);
}

int cairn_task_init_privileged(spank_t sp, const struct plugin_args *args)
{
	uint32_t job_id = 0, step_id = 0, task_id = 0;
	struct cairn_config cfg;
	struct cairn_err err = {0};
	struct cairn_job_record rec;
	struct cairn_user u = {0};
	char id[16];
	int rv = -1;

	if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS) {
		slurm_error("%s: cannot get the job id", PLUGIN_TAG);
		return -1;
	}
	spank_get_item(sp, S_JOB_STEPID, &step_id);
	spank_get_item(sp, S_TASK_GLOBAL_ID, &task_id);
	snprintf(id, sizeof(id), "%u", job_id);
	if (cairn_config_load(args->conf, &cfg, &err) < 0) {
		slurm_error("%s: %s", PLUGIN_TAG, err.msg);
		return -1;
	}
	int r = cairn_job_record_load(&cfg, id, &rec, &err);
	if (r == CAIRN_JOB_NONE) {
		cairn_config_free(&cfg);
		return 0;
	}
	if (r < 0) {
		slurm_error("%s: %s", PLUGIN_TAG, err.msg);
		cairn_config_free(&cfg);
		return -1;
	}
	if (!rec.error && rec.deferred)
		rec.error = xstrdup("cairn: volumes named with $args[...] are only available in "
		                    "the batch step of the job; start steps from the batch script");
	if (rec.error) {
		/* One line in the job's output; the job fails, the node stays up. */
		fprintf(stderr, "%s\n", rec.error);
		goto out;
	}
	if (step_id == CAIRN_BATCH_STEP && task_id == 0)
		for (size_t i = 0; i < rec.nlines; i++)
			fprintf(stderr, "%s\n", rec.lines[i]);
	if (rec.nvol == 0 && rec.sandbox == CAIRN_SANDBOX_NONE) {
		rv = 0;
		goto out;
	}
	if (cairn_user_lookup(NULL, rec.uid, rec.gid, &u, &err) < 0) {
		fprintf(stderr, "%s: %s\n", PLUGIN_TAG, err.msg);
		goto out;
	}
	if (rec.sandbox != CAIRN_SANDBOX_NONE) {
		/* Returns only in the task, inside; the shim outside never returns. A
		 * required plugin that fails here fails the job: never unsandboxed. */
		/* The program (the batch script sits in Slurm's spool) stays reachable. */
		int argc = 0;
		char **argv = NULL;
		autofree char *keep_dir = NULL;
		/* Only the batch script: a step's program path is the user's to choose. */
		if (step_id == CAIRN_BATCH_STEP &&
		    spank_get_item(sp, S_JOB_ARGV, &argc, &argv) == ESPANK_SUCCESS && argc > 0 &&
		    argv[0][0] == '/' && strrchr(argv[0], '/') != argv[0])
			keep_dir = strndup(argv[0], (size_t)(strrchr(argv[0], '/') - argv[0]));
		/* The lock-down keeps an MPI task's PMI socket: tell it which fd. */
		/* Only a socket: PMI_FD is in the step's environment, which a job can
		 * set, and the descriptor it names is kept open into the sandbox. */
		char pmi[16];
		unsigned long long pfd;
		struct stat psb;
		if (spank_getenv(sp, "PMI_FD", pmi, sizeof(pmi)) == ESPANK_SUCCESS &&
		    parse_uint(pmi, 65535, &pfd) == 0 && fstat((int)pfd, &psb) == 0 &&
		    S_ISSOCK(psb.st_mode))
			setenv("PMI_FD", pmi, 1);
		else
			unsetenv("PMI_FD");
		char cgroup[96];
		snprintf(cgroup, sizeof(cgroup), "cairn/job%s/%u.%u", id, step_id, task_id);
		/* Steps from inside go through cairn-srun, installed beside this plugin. */
		autofree char *client = srun_client_path();
		char conf[4096] = "";
		if (getenv("SLURM_CONF"))
			snprintf(conf, sizeof(conf), "%s", getenv("SLURM_CONF"));
		else if (spank_getenv(sp, "SLURM_CONF", conf, sizeof(conf)) != ESPANK_SUCCESS)
			conf[0] = '\0';
		struct cairn_sandbox_srun srun = {
		    .client = client, .job_id = job_id, .slurm_conf = conf[0] ? conf : NULL};
		if (cairn_sandbox_enter(&cfg, &rec, &u, keep_dir, cgroup, &srun, &err) < 0) {
			fprintf(stderr, "%s%s\n", strncmp(err.msg, "cairn", 5) ? "cairn: " : "",
			        err.msg);
			goto out;
		}
	} else if (cairn_private_mount_ns(0, &err) < 0 ||
	           cairn_job_mount(&rec, &u, NULL, &err) < 0) {
		fprintf(stderr, "%s: %s\n", PLUGIN_TAG, err.msg);
		goto out;
	}
	rv = 0;
out:
	cairn_user_free(&u);
	cairn_job_record_free(&rec);
	cairn_config_free(&cfg);
	return rv;
}
