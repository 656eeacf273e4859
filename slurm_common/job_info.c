#include "job_info.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "config.h"
#include "util.h"

static uint32_t job_number(const char *id)
{
	unsigned long long v = 0;
	if (parse_uint(id, UINT32_MAX, &v) < 0)
		return 0;
	return (uint32_t)v;
}

int cairn_slurm_job_load(const char *job_id, struct cairn_slurm_job *j, char *err, size_t errlen)
{
	job_info_msg_t *msg = NULL;
	memset(j, 0, sizeof(*j));
	uint32_t id = job_number(job_id);
	if (!id) {
		snprintf(err, errlen, "invalid SLURM_JOB_ID \"%s\"", job_id ? job_id : "");
		return -1;
	}
	slurm_init(NULL);
	if (slurm_load_job(&msg, id, SHOW_DETAIL) != 0 || !msg || msg->record_count < 1) {
		snprintf(err, errlen, "cannot load job %u from slurmctld: %s", id,
		         slurm_strerror(slurm_get_errno()));
		if (msg)
			slurm_free_job_info_msg(msg);
		return -1;
	}
	job_info_t *ji = &msg->job_array[0];
	j->account = ji->account ? xstrdup(ji->account) : NULL;
	j->work_dir = ji->work_dir ? xstrdup(ji->work_dir) : NULL;
	j->batch_host = ji->batch_host ? xstrdup(ji->batch_host) : NULL;
	j->batch = ji->batch_flag != 0;
	char path[4096] = "";
	if (j->batch) {
		slurm_get_job_stdout(path, sizeof(path), ji);
		j->std_out = path[0] ? xstrdup(path) : NULL;
	}
	/* slurmctld keeps the batch script's argv in "command" only as the script
	 * path; the arguments travel in argv, which job_info does not carry. */
	j->argc = 0;
	j->argv = NULL;
	slurm_free_job_info_msg(msg);
	return 0;
}

void cairn_slurm_job_free(struct cairn_slurm_job *j)
{
	free(j->account);
	free(j->work_dir);
	free(j->std_out);
	free(j->batch_host);
	cairn_strv_free(j->argv, (size_t)j->argc);
	memset(j, 0, sizeof(*j));
}

char *cairn_slurm_batch_script(const char *job_id, size_t *len, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t size = 0;
	uint32_t id = job_number(job_id);
	FILE *f = open_memstream(&buf, &size);
	if (!f) {
		snprintf(err, errlen, "open_memstream: %s", strerror(errno));
		return NULL;
	}
	slurm_init(NULL);
	int r = slurm_job_batch_script(f, id);
	fclose(f);
	if (r != 0) {
		snprintf(err, errlen, "cannot read the batch script of job %u: %s", id,
		         slurm_strerror(slurm_get_errno()));
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

bool cairn_slurm_job_over(const char *job_id)
{
	job_info_msg_t *msg = NULL;
	uint32_t id = job_number(job_id);
	if (!id)
		return false;
	if (slurm_load_job(&msg, id, SHOW_ALL) != 0 || !msg) {
		/* A job slurmctld no longer knows is over; any other failure is not proof. */
		bool gone = slurm_get_errno() == ESLURM_INVALID_JOB_ID;
		if (msg)
			slurm_free_job_info_msg(msg);
		return gone;
	}
	bool over = true;
	if (msg->record_count >= 1) {
		uint32_t st = msg->job_array[0].job_state;
		uint32_t base = st & JOB_STATE_BASE;
		/* Finished states follow JOB_SUSPENDED in the enum; COMPLETING is a flag. */
		over = base > JOB_SUSPENDED && base < JOB_END && !(st & JOB_COMPLETING);
	}
	slurm_free_job_info_msg(msg);
	return over;
}
