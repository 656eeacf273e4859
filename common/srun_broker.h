/* srun inside a full sandbox. The sandbox has no route to slurmctld and no MUNGE
 * socket, and must not get them: with the user's MUNGE identity a fooled task
 * could submit a job that is not sandboxed. Instead, `srun` inside is Cairn's
 * client (cairn-srun, mounted over the srun binaries), which hands its
 * arguments, environment and standard streams to a broker outside: a process
 * of the user, forked before the sandbox's namespaces, that runs the real srun
 * for steps of this job only, with the options srun_args.h allows. The steps'
 * tasks are sandboxed by the plugin like every task of the job.
 *
 * The two speak rcmd.h: the client sends its arguments, environment and
 * standard streams; the broker checks them, forks srun, passes signals on and
 * answers with srun's wait status. */
#ifndef CAIRN_SRUN_BROKER_H
#define CAIRN_SRUN_BROKER_H

#include <stdint.h>
#include <sys/types.h>

#include "creds.h"
#include "util.h"

/* Where the client finds the broker, inside the sandbox. */
#define CAIRN_SRUN_SOCKET "/run/cairn/srun.sock"

#define CAIRN_SRUN_MAX_TARGETS 8

struct cairn_srun_broker {
	pid_t pid;                             /* the broker, or 0 when there is none */
	int sock;                              /* to hand it the listening socket made inside */
	char *client;                          /* cairn-srun, mounted over each target inside */
	char *targets[CAIRN_SRUN_MAX_TARGETS]; /* the node's srun binaries */
	int clones[CAIRN_SRUN_MAX_TARGETS];    /* detached mounts of the client */
	size_t ntargets;
};

/* No broker (yet): what prepare, attach and close then leave alone. */
void cairn_srun_broker_init(struct cairn_srun_broker *b);

/* Before the sandbox's namespaces (as root): find the real srun, fork the
 * broker as the user, keep what attach needs. client: path of cairn-srun. A
 * node without srun, or without the client, gets no broker (b->pid 0; srun
 * inside fails as it would without Cairn). Returns -1 only when a broker was
 * due and could not be started. */
int cairn_srun_broker_start(const struct cairn_user *u, const char *client, uint32_t job_id,
                            const char *workdir, const char *slurm_conf,
                            struct cairn_srun_broker *b, struct cairn_err *err);

/* Inside the sandbox's new mount namespace, as root, before the filesystem view
 * covers where the client lies: one detached copy of it per srun binary. */
int cairn_srun_broker_prepare(struct cairn_srun_broker *b, struct cairn_err *err);

/* After the filesystem view is built: mount the copies over the srun binaries,
 * make the socket at CAIRN_SRUN_SOCKET for the user and hand it to the broker. */
int cairn_srun_broker_attach(struct cairn_srun_broker *b, const struct cairn_user *u,
                             struct cairn_err *err);

/* Release what this process holds of the broker (not the broker itself). */
void cairn_srun_broker_close(struct cairn_srun_broker *b);

#endif
