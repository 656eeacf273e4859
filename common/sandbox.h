/* The sandbox around a job's task: namespaces, a read-only system view with the
 * job's working directory and volumes writable, PID 1 of our own, no new
 * privileges, no capabilities, a seccomp filter. Shared by the SPANK plugin
 * (task_init_privileged) and `cairn run --sandbox`. */
#ifndef CAIRN_SANDBOX_H
#define CAIRN_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "creds.h"
#include "job.h"

/* As root, in the process that will become the task. On success returns 0 in a new
 * process inside the sandbox: PID 2 of a new PID namespace, still root, with the
 * filesystem view and volumes in place, the capability bounding set empty, no new
 * privileges and the seccomp filter loaded (full mode); the caller then becomes the
 * user and execs. The calling process never returns: it stays outside as a shim
 * that forwards signals and exits with the task's status, and PID 1 inside is our
 * init that reaps, forwards signals and reports the task's status.
 * keep_dir (may be NULL) is a directory shown read-only at its own path even if the
 * sandbox covers where it lies: the one holding the program to run (Slurm keeps
 * the batch script in its spool directory).
 * cgroup names the cgroup that holds the limits (see cairn_limits_apply).
 * srun (may be NULL: no Slurm job) lets the task start steps of its job in full
 * mode, through a broker outside (srun_broker.h).
 * Returns -1 (with err) before anything was forked, -2 in the task. */
struct cairn_sandbox_srun {
	const char *client;     /* cairn-srun */
	uint32_t job_id;        /* the job whose steps it may start */
	const char *slurm_conf; /* SLURM_CONF for the real srun, or NULL */
};
int cairn_sandbox_enter(const struct cairn_config *cfg, const struct cairn_job_record *rec,
                        const struct cairn_user *u, const char *keep_dir, const char *cgroup,
                        const struct cairn_sandbox_srun *srun, struct cairn_err *err);

/* The cgroups cairn_limits_apply made below the task's own (cgroup v1), which
 * cairn_limits_leave takes the caller out of and removes. */
struct cairn_cgroups {
	size_t n;
	struct {
		const char *controller;
		char *base; /* where the task was */
		char *path; /* where it is now */
	} c[3];
};

/* Put pid into cgroup NAME (e.g. "cairn/job123/4294967291.0") with the job's
 * memory, pids and cpus limits (see cairn_limits_effective); nothing when none
 * is set. On cgroup v1, NAME lies below pid's own cgroup in each hierarchy
 * (recorded in *made); on v2, at the top of the unified hierarchy. */
int cairn_limits_apply(const struct cairn_limits *lim, const char *name, pid_t pid,
                       struct cairn_cgroups *made, struct cairn_err *err);
/* Move the calling process back to where cairn_limits_apply found it and remove
 * the cgroups it made (their other processes must be gone). */
void cairn_limits_leave(struct cairn_cgroups *made);
/* Remove cgroup NAME and what is below it, once its processes are gone. */
void cairn_limits_remove(const char *name);

/* Load the seccomp filter (exported for the tests of the filter itself). */
int cairn_seccomp_load(struct cairn_err *err);

#endif
