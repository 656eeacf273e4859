/* sbatch / salloc / srun (new job): hand the --volume options to the Prolog
 * through the job control environment, where it sees them as SPANK_CAIRN_VOLUMES. */
#include <stdlib.h>

#include "plugin.h"
#include "util.h"

int cairn_allocator_post_opt(spank_t sp)
{
	const struct cairn_job_spec *spec = cairn_options_spec();
	if (spec->nvol == 0 && spec->sandbox == CAIRN_SANDBOX_NONE)
		return 0;
	/* srun inside an existing allocation starts a step, not a job: the options it
	 * sees are inherited from the job's environment, and the job's record rules. */
	if (spank_context() == S_CTX_LOCAL && getenv("SLURM_JOB_ID"))
		return 0;
	autofree char *enc = cairn_spec_encode(spec);
	if (spank_job_control_setenv(sp, "CAIRN_VOLUMES", enc, 1) != ESPANK_SUCCESS) {
		slurm_error("%s: cannot pass the --volume options to the job", PLUGIN_TAG);
		return -1;
	}
	return 0;
}
