/* One job's volumes from start to end, shared by the Prolog/Epilog, the SPANK
 * plugin and `cairn run`. The Prolog writes a root-owned job record in StateDir;
 * the plugin mounts from it and fails the job if it holds a user error; the
 * Epilog syncs from it. */
#ifndef CAIRN_JOB_H
#define CAIRN_JOB_H

#include <stdbool.h>

#include "config.h"
#include "creds.h"
#include "spec.h"
#include "store.h"

struct cairn_job_volume {
	char *name, *path; /* resolved name, mount path as written */
	bool readonly;
	char *source; /* the cache tree to bind-mount */
	char *lease;  /* the exclusive lease held for a writable volume (encoded), or NULL */
	unsigned version;
	char *activity; /* JSON: the lease wait and the hydrate, for the volume's history */
};

struct cairn_job_record {
	char *job_id;
	uid_t uid;
	gid_t gid;
	char *user, *workspace, *workdir;
	enum cairn_sandbox sandbox;
	struct cairn_limits limits; /* full sandbox: the job's, else the admin's (0: none) */
	bool sync_here;             /* this node syncs back (the batch host) */
	char *error;                /* a user error: the plugin fails the job with it */
	char *account;
	char *node;     /* where the Prolog ran: the leases' holder node */
	int epilog_pid; /* set while the Epilog syncs: the keeper stops if it dies */
	/* Volumes whose names use $args[...]: the Prolog cannot see the script's
	 * arguments and environment, so the batch step resolves and hydrates them
	 * (encoded spec, see cairn_spec_encode). */
	char *deferred;
	char **lines; /* summary lines for the job's output */
	size_t nlines;
	struct cairn_job_volume vol[CAIRN_MAX_VOLUMES];
	size_t nvol;
};

/* What the caller knows about the job when it starts. */
struct cairn_job_start {
	const char *job_id;
	const struct cairn_user *user;
	const char *account; /* may be NULL */
	const char *workdir; /* the job's working directory */
	bool sync_here;
	char *const *argv; /* batch script and its arguments, may be NULL */
	int argc;
	char *const *envp; /* job environment, may be NULL */
	bool defer_args;   /* no argv/env here: leave $args[...] volumes to the batch step */
	const char *node;  /* this node's name, for leases */
	bool live;         /* print lease waits on stderr as they happen (cairn run) */
};

void cairn_job_record_free(struct cairn_job_record *r);
void cairn_job_record_line(struct cairn_job_record *r, const char *line);
char *cairn_job_record_path(const struct cairn_config *cfg, const char *job_id);
int cairn_job_record_save(const struct cairn_config *cfg, const struct cairn_job_record *r,
                          struct cairn_err *err);
/* Returns CAIRN_JOB_NONE when the job has no record (it asked for nothing). */
#define CAIRN_JOB_NONE (-2)
int cairn_job_record_load(const struct cairn_config *cfg, const char *job_id,
                          struct cairn_job_record *r, struct cairn_err *err);
int cairn_job_record_remove(const struct cairn_config *cfg, const char *job_id);

/* The workspace of a job: the account, or the configured fixed name. */
char *cairn_workspace_for(const struct cairn_config *cfg, const char *account);

/* Resolve the spec, hydrate every volume into the cache. A user's mistake lands in
 * rec->error (return 0); a system failure returns -1 with err. */
int cairn_job_prepare(const struct cairn_config *cfg, struct cairn_job_spec *spec,
                      const struct cairn_job_start *js, struct cairn_job_record *rec,
                      struct cairn_err *err);

/* In the batch step: resolve and hydrate the record's deferred volumes with the
 * script's arguments and environment, and add them to the record. */
int cairn_job_prepare_deferred(const struct cairn_config *cfg, struct cairn_job_record *rec,
                               const struct cairn_user *u, char *const *argv, int argc,
                               char *const *envp, struct cairn_err *err);

/* Sync every writable volume of the record back (on the syncing node), adding
 * summary lines to rec, then release the leases. With rec->error set, only the
 * leases are released. Returns -1 if any volume failed (messages in lines). */
int cairn_job_finish(const struct cairn_config *cfg, struct cairn_job_record *rec,
                     struct cairn_err *err);

/* Renew every lease of the record once. Returns how many are lost (another holder
 * took over after this one failed to renew in time), or -1 on storage errors. */
int cairn_job_renew(const struct cairn_config *cfg, struct cairn_store *st,
                    const struct cairn_job_record *rec, struct cairn_err *err);

/* Prolog: a process that renews the record's leases every LeaseRenew seconds for
 * as long as the job record exists (the Epilog removes it after releasing them). */
/* job_over (may be NULL) is asked about once a minute whether the job has ended;
 * if it has while its record is still there (slurmd died before the Epilog), the
 * keeper stops and the leases expire instead of being renewed for ever. */
typedef bool (*cairn_job_over_fn)(const char *job_id);
int cairn_job_start_keeper(const struct cairn_config *cfg, const struct cairn_job_record *rec,
                           cairn_job_over_fn job_over, struct cairn_err *err);

/* In the caller's (already private) mount namespace: bind each volume's cache tree
 * at its mount path, nosuid,nodev (ro if asked). Mount points under the working
 * directory are created as the user, resolved without following symlinks, and
 * must be owned by the user. */
/* As the user: open workdir, create path below it (each component a real
 * directory, symlinks not followed) and return the final directory's fd. */
int cairn_open_dir_as_user(const struct cairn_user *u, const char *workdir, const char *path,
                           struct cairn_err *err);

/* unshare(CLONE_NEWNS and more_namespaces) and make every mount a slave of the host's. */
int cairn_private_mount_ns(int more_namespaces, struct cairn_err *err);

int cairn_job_mount(const struct cairn_job_record *rec, const struct cairn_user *u,
                    const int *sources, struct cairn_err *err);
/* Clone each volume's cache tree (index-aligned with rec->vol) while it is still
 * reachable: a sandbox covers the cache directory before it mounts volumes. */
int cairn_job_clone_sources(const struct cairn_job_record *rec, const struct cairn_user *u,
                            int fds[CAIRN_MAX_VOLUMES], struct cairn_err *err);

#endif
