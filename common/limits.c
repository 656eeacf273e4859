/* The sandbox's resource limits, through libcgroup: memory, number of processes
 * and CPU for one job's task, in a cgroup of its own under "cairn/". Works on the
 * cgroup v1 controllers and on the unified (v2) hierarchy. */
#include <errno.h>
#include <libcgroup.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"

static bool v1(const char *controller)
{
	autofree char *p = xasprintf("/sys/fs/cgroup/%s", controller);
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int init_once(struct cairn_err *err)
{
	static int done, rc;
	if (!done) {
		rc = cgroup_init();
		done = 1;
	}
	if (rc) {
		cairn_seterr(err, "sandbox: libcgroup cannot find the cgroup hierarchies: %s",
		             cgroup_strerror(rc));
		return -1;
	}
	return 0;
}

int cairn_limits_apply(const struct cairn_limits *lim, const char *name, pid_t pid,
                       struct cairn_err *err)
{
	if (!lim->memory && !lim->pids && !lim->cpus)
		return 0;
	if (init_once(err) < 0)
		return -1;
	int rc = -1;
	struct cgroup *cg = cgroup_new_cgroup(name);
	if (!cg) {
		cairn_seterr(err, "sandbox: cannot describe cgroup %s", name);
		return -1;
	}
	struct cgroup_controller *c;
	if (lim->memory) {
		c = cgroup_add_controller(cg, "memory");
		if (!c ||
		    cgroup_add_value_uint64(
		        c, v1("memory") ? "memory.limit_in_bytes" : "memory.max", lim->memory))
			goto fail;
	}
	if (lim->pids) {
		c = cgroup_add_controller(cg, "pids");
		if (!c || cgroup_add_value_uint64(c, "pids.max", lim->pids))
			goto fail;
	}
	if (lim->cpus) {
		c = cgroup_add_controller(cg, "cpu");
		if (!c)
			goto fail;
		if (v1("cpu")) {
			if (cgroup_add_value_uint64(c, "cpu.cfs_period_us", 100000) ||
			    cgroup_add_value_uint64(c, "cpu.cfs_quota_us", lim->cpus * 100000))
				goto fail;
		} else {
			char v[64];
			snprintf(v, sizeof(v), "%llu 100000", lim->cpus * 100000);
			if (cgroup_add_value_string(c, "cpu.max", v))
				goto fail;
		}
	}
	int r = cgroup_create_cgroup(cg, 0);
	if (r) {
		cairn_seterr(err, "sandbox: cannot create cgroup %s: %s", name, cgroup_strerror(r));
		goto out;
	}
	r = cgroup_attach_task_pid(cg, pid);
	if (r) {
		cairn_seterr(err, "sandbox: cannot move the task into cgroup %s: %s", name,
		             cgroup_strerror(r));
		goto out;
	}
	rc = 0;
	goto out;
fail:
	cairn_seterr(err, "sandbox: cannot set the limits of cgroup %s", name);
out:
	cgroup_free(&cg);
	return rc;
}

void cairn_limits_remove(const char *name)
{
	struct cairn_err ignore = {0};
	if (init_once(&ignore) < 0)
		return;
	struct cgroup *cg = cgroup_new_cgroup(name);
	if (!cg)
		return;
	static const char *const ctl[] = {"memory", "pids", "cpu"};
	for (size_t i = 0; i < 3; i++)
		cgroup_add_controller(cg, ctl[i]);
	/* Fails while processes remain; the next job's cleanup retries. */
	cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_RECURSIVE | CGFLAG_DELETE_IGNORE_MIGRATION);
	cgroup_free(&cg);
}
