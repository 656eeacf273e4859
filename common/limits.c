/* The sandbox's resource limits, through libcgroup: memory, number of processes
 * and CPU for one job's task, in a cgroup of its own named "cairn/...": on the
 * cgroup v1 controllers below the task's own cgroup in each hierarchy, on the
 * unified (v2) hierarchy at its top. */
#include <dirent.h>
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

/* The values of one controller's limits. */
static int set_values(struct cgroup_controller *c, const char *ctl, const struct cairn_limits *lim)
{
	if (!strcmp(ctl, "memory"))
		return cgroup_add_value_uint64(
		    c, v1("memory") ? "memory.limit_in_bytes" : "memory.max", lim->memory);
	if (!strcmp(ctl, "pids"))
		return cgroup_add_value_uint64(c, "pids.max", lim->pids);
	if (v1("cpu"))
		return cgroup_add_value_uint64(c, "cpu.cfs_period_us", 100000) ||
		       cgroup_add_value_uint64(c, "cpu.cfs_quota_us", lim->cpus * 100000);
	char v[64];
	snprintf(v, sizeof(v), "%llu 100000", lim->cpus * 100000);
	return cgroup_add_value_string(c, "cpu.max", v);
}

/* Make cgroup `path` with the given controllers' limits and put pid in it. */
static int make_and_join(const char *path, const char *const *ctl, size_t n,
                         const struct cairn_limits *lim, pid_t pid, struct cairn_err *err)
{
	int rc = -1;
	struct cgroup *cg = cgroup_new_cgroup(path);
	if (!cg) {
		cairn_seterr(err, "sandbox: cannot describe cgroup %s", path);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct cgroup_controller *c = cgroup_add_controller(cg, ctl[i]);
		if (!c || set_values(c, ctl[i], lim)) {
			cairn_seterr(err, "sandbox: cannot set the limits of cgroup %s", path);
			goto out;
		}
	}
	int r = cgroup_create_cgroup(cg, 0);
	if (r) {
		cairn_seterr(err, "sandbox: cannot create cgroup %s: %s", path, cgroup_strerror(r));
		goto out;
	}
	r = cgroup_attach_task_pid(cg, pid);
	if (r) {
		cairn_seterr(err, "sandbox: cannot move the task into cgroup %s: %s", path,
		             cgroup_strerror(r));
		goto out;
	}
	rc = 0;
out:
	cgroup_free(&cg);
	return rc;
}

int cairn_limits_apply(const struct cairn_limits *lim, const char *name, pid_t pid,
                       struct cairn_cgroups *made, struct cairn_err *err)
{
	memset(made, 0, sizeof(*made));
	const char *ctl[3];
	size_t n = 0;
	if (lim->memory)
		ctl[n++] = "memory";
	if (lim->pids)
		ctl[n++] = "pids";
	if (lim->cpus)
		ctl[n++] = "cpu";
	if (n == 0)
		return 0;
	if (init_once(err) < 0)
		return -1;
	bool all_v1 = true;
	for (size_t i = 0; i < n; i++)
		all_v1 = all_v1 && v1(ctl[i]);
	/* The unified hierarchy: one cgroup at the top (see cairn.conf(5)). */
	if (!all_v1)
		return make_and_join(name, ctl, n, lim, pid, err);
	/* cgroup v1: below the task's own cgroup in each hierarchy, so that the limits
	 * of Slurm (task/cgroup) or of a container above still hold. */
	for (size_t i = 0; i < n; i++) {
		char *base = NULL;
		if (cgroup_get_current_controller_path(pid, ctl[i], &base) || !base) {
			cairn_seterr(err, "sandbox: cannot tell the task's %s cgroup", ctl[i]);
			goto fail;
		}
		const char *rel = base + strspn(base, "/");
		char *path = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		made->c[made->n].controller = ctl[i];
		made->c[made->n].base = base;
		made->c[made->n].path = path;
		made->n++;
		if (make_and_join(path, ctl + i, 1, lim, pid, err) < 0)
			goto fail;
	}
	return 0;
fail:
	cairn_limits_leave(made);
	return -1;
}

void cairn_limits_leave(struct cairn_cgroups *made)
{
	for (size_t i = 0; i < made->n; i++) {
		const char *ctl = made->c[i].controller;
		/* Back to where it came from, then the emptied cgroup goes. */
		struct cgroup *back = cgroup_new_cgroup(made->c[i].base);
		if (back && cgroup_add_controller(back, ctl))
			cgroup_attach_task(back);
		cgroup_free(&back);
		struct cgroup *gone = cgroup_new_cgroup(made->c[i].path);
		if (gone && cgroup_add_controller(gone, ctl))
			cgroup_delete_cgroup_ext(gone, CGFLAG_DELETE_RECURSIVE |
			                                   CGFLAG_DELETE_IGNORE_MIGRATION);
		cgroup_free(&gone);
		free(made->c[i].base);
		free(made->c[i].path);
	}
	made->n = 0;
}

/* Remove cgroup rel (relative to the hierarchy of ctl) and what is below it. */
static void delete_cgroup(const char *rel, const char *ctl)
{
	struct cgroup *cg = cgroup_new_cgroup(rel);
	if (cg && cgroup_add_controller(cg, ctl))
		/* Fails while processes remain; the next job's cleanup retries. */
		cgroup_delete_cgroup_ext(cg,
		                         CGFLAG_DELETE_RECURSIVE | CGFLAG_DELETE_IGNORE_MIGRATION);
	cgroup_free(&cg);
}

/* Every cgroup whose path ends in /name below dir (a v1 hierarchy's directory
 * rel, depth levels down), removed: what a killed shim left below a task's own. */
static void sweep(const char *root, const char *rel, const char *name, const char *ctl, int depth)
{
	autofree char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	autofree char *here = *rel ? xasprintf("%s/%s", dir, name) : xasprintf("%s/%s", root, name);
	struct stat sb;
	if (stat(here, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		autofree char *r = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		delete_cgroup(r, ctl);
	}
	if (depth == 0)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.' || !strcmp(de->d_name, "cairn"))
			continue;
		autofree char *sub =
		    *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		sweep(root, sub, name, ctl, depth - 1);
	}
	closedir(d);
}

void cairn_limits_remove(const char *name)
{
	struct cairn_err ignore = {0};
	if (init_once(&ignore) < 0)
		return;
	static const char *const ctl[] = {"memory", "pids", "cpu"};
	for (size_t i = 0; i < 3; i++) {
		if (!v1(ctl[i])) {
			delete_cgroup(name, ctl[i]);
			continue;
		}
		/* Slurm's task cgroups sit some six levels down (slurm/uid/job/step/task). */
		autofree char *root = xasprintf("/sys/fs/cgroup/%s", ctl[i]);
		sweep(root, "", name, ctl[i], 8);
	}
}
