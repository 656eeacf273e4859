/* slurmstepd of the batch step, as root before any task: volumes named with
 * $args[...] need the script's arguments and environment, which only the batch
 * step has. Resolve and hydrate them here. Never fail here (a batch step that
 * fails this early drains the node): record the error, task_init_privileged
 * fails the job with it. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "creds.h"
#include "job.h"
#include "plugin.h"
#include "util.h"

#define CAIRN_BATCH_STEP 0xfffffffbu

int cairn_batch_step_post_opt(spank_t sp, const struct plugin_args *args)
{
	uint32_t job_id = 0, step_id = 0;
	int argc = 0;
	char **argv = NULL, **envp = NULL;
	struct cairn_config cfg;
	struct cairn_err err = {0};
	struct cairn_job_record rec;
	struct cairn_user u = {0};
	char id[16];

	if (spank_get_item(sp, S_JOB_ID, &job_id) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_STEPID, &step_id) != ESPANK_SUCCESS ||
	    step_id != CAIRN_BATCH_STEP)
		return 0;
	snprintf(id, sizeof(id), "%u", job_id);
	if (cairn_config_load(args->conf, &cfg, &err) < 0)
		return 0; /* task_init_privileged reports it */
	if (cairn_job_record_load(&cfg, id, &rec, &err) < 0) {
		cairn_config_free(&cfg);
		return 0;
	}
	if (!rec.deferred || rec.error)
		goto out;
	if (spank_get_item(sp, S_JOB_ARGV, &argc, &argv) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_ENV, &envp) != ESPANK_SUCCESS) {
		rec.error = xstrdup("cairn: cannot read the batch script's arguments and "
		                    "environment to resolve $args[...] in volume names");
	} else if (cairn_user_lookup(NULL, rec.uid, rec.gid, &u, &err) < 0 ||
	           cairn_job_prepare_deferred(&cfg, &rec, &u, argv, argc, envp, &err) < 0) {
		slurm_error("%s: job %s: %s", PLUGIN_TAG, id, err.msg);
		if (!rec.error)
			rec.error =
			    xasprintf("cairn: could not prepare the job's volumes: %s", err.msg);
	}
	free(rec.deferred);
	rec.deferred = NULL;
	if (cairn_job_record_save(&cfg, &rec, &err) < 0)
		slurm_error("%s: job %s: %s", PLUGIN_TAG, id, err.msg);
out:
	cairn_user_free(&u);
	cairn_job_record_free(&rec);
	cairn_config_free(&cfg);
	return 0;
}
