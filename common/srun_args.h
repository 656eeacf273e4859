/* What an `srun` started inside a full sandbox may ask of the real srun, which
 * runs outside (see srun_broker.h). srun runs there as the user, with the
 * user's MUNGE identity and the host's view of the files: every option that
 * would open, read or run something on that side, or reach another job, is
 * refused, and so is every option not known to be harmless. */
#ifndef CAIRN_SRUN_ARGS_H
#define CAIRN_SRUN_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* Check srun's argument vector (argv[0] is srun's name) up to the command, the
 * way srun's getopt_long("+...") reads it. Returns 0, or -1 with one line in
 * why naming the option, the cause and what to do instead. */
int cairn_srun_check_args(char *const *argv, size_t argc, char *why, size_t whylen);

/* May this "NAME=VALUE" of the sandbox's environment reach the real srun (and,
 * through it, the step's tasks)? No loader or libc hook, no Slurm input
 * variable but a few that only shape the step. */
bool cairn_srun_env_allowed(const char *entry);

#endif
