/* Shared state of the SPANK plugin's modules. */
#ifndef CAIRN_PLUGIN_H
#define CAIRN_PLUGIN_H

#include <stdint.h> /* spank.h needs it and does not include it */
#include <slurm/spank.h>

#include "spec.h"

#define PLUGIN_TAG "cairn"

struct plugin_args {
	char *conf; /* conf=PATH from plugstack.conf */
};

/* options.c */
int cairn_options_register(spank_t sp);
const struct cairn_job_spec *cairn_options_spec(void);
void cairn_options_free(void);

/* args.c */
int cairn_args_parse(int ac, char **av, struct plugin_args *args);
void cairn_args_free(struct plugin_args *args);

/* allocator.c: sbatch, salloc, srun before the job exists */
int cairn_allocator_post_opt(spank_t sp);

/* batch_step.c: the batch step before its tasks, as root */
int cairn_batch_step_post_opt(spank_t sp, const struct plugin_args *args);

/* task.c: slurmstepd, in each task before it execs */
int cairn_task_init_privileged(spank_t sp, const struct plugin_args *args);

#endif
