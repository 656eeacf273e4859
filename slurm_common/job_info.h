/* What the Prolog and Epilog learn about a job from slurmctld (libslurm):
 * kept apart from common/ so that library stays free of Slurm. */
#ifndef CAIRN_JOB_INFO_H
#define CAIRN_JOB_INFO_H

#include <stdbool.h>
#include <stddef.h>

struct cairn_slurm_job {
	char *account;
	char *work_dir;
	char *std_out; /* expanded path of the job's output file */
	char *batch_host;
	bool batch;
	char **argv; /* batch script arguments as far as slurmctld tells them */
	int argc;
};

int cairn_slurm_job_load(const char *job_id, struct cairn_slurm_job *j, char *err, size_t errlen);
void cairn_slurm_job_free(struct cairn_slurm_job *j);
/* True once slurmctld reports the job finished (not while it is completing, when
 * the Epilog still has to sync). False when slurmctld cannot be asked. */
bool cairn_slurm_job_over(const char *job_id);
/* The batch script text (malloc'd), or NULL with err. */
char *cairn_slurm_batch_script(const char *job_id, size_t *len, char *err, size_t errlen);

#endif
