/* cairn-prolog: Slurm's Prolog, as root on every node of a job. It reads what the
 * job asked for (--volume options passed by the SPANK plugin, annotations in the
 * batch script), hydrates each volume into the node cache and records the result
 * for the plugin. It exits 0 for every user mistake (the plugin then fails the job
 * with the message) so that no typo ever drains a node. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "creds.h"
#include "job.h"
#include "job_info.h"
#include "spec.h"

static void admin_log(const char *job, const char *msg)
{
	openlog("cairn-prolog", LOG_PID, LOG_DAEMON);
	syslog(LOG_ERR, "job %s: %s", job, msg);
	closelog();
	fprintf(stderr, "cairn-prolog: job %s: %s\n", job, msg);
}

/* Volumes asked for with --volume reach us through the job control environment. */
static int options_spec(struct cairn_job_spec *spec, struct cairn_errlist *errs)
{
	const char *enc = getenv("SPANK_CAIRN_VOLUMES");
	char msg[CAIRN_ERRLEN];
	if (!enc || !*enc)
		return 0;
	if (cairn_spec_decode(enc, spec, msg, sizeof(msg)) < 0) {
		cairn_errlist_add(errs, "invalid --volume options: %s", msg);
		return -1;
	}
	return 0;
}

static int script_spec(const char *job_id, struct cairn_job_spec *spec, struct cairn_errlist *errs,
                       struct cairn_err *err)
{
	size_t len = 0;
	char msg[CAIRN_ERRLEN];
	autofree char *text = cairn_slurm_batch_script(job_id, &len, msg, sizeof(msg));
	if (!text) {
		cairn_seterr(err, "%s", msg);
		return -1;
	}
	struct cairn_job_spec ann = {0};
	cairn_spec_parse_script(text, len, "batch script", &ann, errs);
	/* An option wins over the annotation, limits included. */
	if (ann.sandbox != CAIRN_SANDBOX_NONE && spec->sandbox == CAIRN_SANDBOX_NONE) {
		spec->sandbox = ann.sandbox;
		spec->limits = ann.limits;
	}
	for (size_t i = 0; i < ann.nvol; i++) {
		cairn_spec_add(spec, &ann.vol[i], errs);
		memset(&ann.vol[i], 0, sizeof(ann.vol[i]));
	}
	ann.nvol = 0;
	cairn_spec_free(&ann);
	return 0;
}

int main(void)
{
	const char *job_id = getenv("SLURM_JOB_ID");
	const char *uid_s = getenv("SLURM_JOB_UID"), *gid_s = getenv("SLURM_JOB_GID");
	const char *node = getenv("SLURMD_NODENAME");
	struct cairn_config cfg;
	struct cairn_err err = {0};
	struct cairn_job_spec spec = {0};
	struct cairn_errlist errs = {0};
	struct cairn_job_record rec = {0};
	struct cairn_slurm_job sj = {0};
	struct cairn_user u = {0};
	unsigned long long uid, gid;
	char msg[CAIRN_ERRLEN];
	int rv = 0;

	if (!job_id || !uid_s || parse_uint(uid_s, UINT32_MAX, &uid) < 0 || !gid_s ||
	    parse_uint(gid_s, UINT32_MAX, &gid) < 0) {
		fprintf(stderr, "cairn-prolog: run me as Slurm's Prolog (SLURM_JOB_ID, "
		                "SLURM_JOB_UID and SLURM_JOB_GID are missing)\n");
		return 1;
	}
	if (cairn_config_load(NULL, &cfg, &err) < 0) {
		/* The admin's mistake: log it and fail the job, not the node. */
		admin_log(job_id, err.msg);
		rec.job_id = xstrdup(job_id);
		rec.error = xasprintf("cairn: the node's Cairn configuration is broken (%s); "
		                      "tell your administrator",
		                      err.msg);
		struct cairn_config dflt;
		struct cairn_err e2 = {0};
		if (cairn_config_load("/dev/null", &dflt, &e2) == 0) {
			cairn_job_record_save(&dflt, &rec, &e2);
			cairn_config_free(&dflt);
		}
		cairn_job_record_free(&rec);
		return 0;
	}
	options_spec(&spec, &errs);
	if (cairn_slurm_job_load(job_id, &sj, msg, sizeof(msg)) < 0) {
		cairn_seterr(&err, "%s", msg);
		goto system_error;
	}
	if (sj.batch && script_spec(job_id, &spec, &errs, &err) < 0)
		goto system_error;
	/* The admin's SandboxForce wins over whatever the job asked for. */
	if (cairn_sandbox_forced(&cfg, getenv("SLURM_JOB_PARTITION")))
		spec.sandbox = CAIRN_SANDBOX_FULL;
	if (errs.n) {
		rec.job_id = xstrdup(job_id);
		rec.uid = (uid_t)uid;
		rec.gid = (gid_t)gid;
		/* The first problem, as the user sees it; lint shows them all. */
		rec.error =
		    xasprintf("cairn: %s%s", errs.msg[0],
		              errs.n > 1 ? " (and more: run 'cairn lint' on the script)" : "");
		goto save;
	}
	if (spec.nvol == 0 && spec.sandbox == CAIRN_SANDBOX_NONE)
		goto out;
	if (cairn_user_lookup(NULL, (uid_t)uid, (gid_t)gid, &u, &err) < 0)
		goto system_error;
	struct cairn_job_start js = {
	    .job_id = job_id,
	    .user = &u,
	    .account = sj.account,
	    .workdir = sj.work_dir,
	    /* Only the batch host's copy is synced back; other nodes mount read-only. */
	    .sync_here = !sj.batch_host || !node || !strcmp(sj.batch_host, node),
	    .defer_args = true,
	    .node = node,
	};
	if (cairn_job_prepare(&cfg, &spec, &js, &rec, &err) < 0)
		goto system_error;
	goto save;

system_error:
	admin_log(job_id, err.msg);
	cairn_job_record_free(&rec);
	memset(&rec, 0, sizeof(rec));
	rec.job_id = xstrdup(job_id);
	rec.uid = (uid_t)uid;
	rec.gid = (gid_t)gid;
	rec.error = xasprintf("cairn: could not prepare the job's volumes: %s", err.msg);
save:
	if (cairn_job_record_save(&cfg, &rec, &err) == 0) {
		if (!rec.error &&
		    cairn_job_start_keeper(&cfg, &rec, cairn_slurm_job_over, &err) < 0)
			admin_log(job_id, err.msg);
	} else {
		/* Without a record the plugin could not stop the job: this is the node's
		 * problem, and Slurm should hold the job and drain the node. */
		admin_log(job_id, err.msg);
		rv = 1;
	}
out:
	cairn_errlist_free(&errs);
	cairn_spec_free(&spec);
	cairn_job_record_free(&rec);
	cairn_slurm_job_free(&sj);
	cairn_user_free(&u);
	cairn_config_free(&cfg);
	return rv;
}
