/* Entering the sandbox: see sandbox.h for the process layout
 *   shim (outside, the pid Slurm knows) -> init (PID 1 inside) -> task (PID 2). */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rcmd.h"
#include "srun_broker.h"
#include "tree.h"

/* Node secrets a job must never read, hidden under an empty tmpfs when present. */
static const char *const secret_dirs[] = {"/etc/munge", "/var/lib/munge", "/etc/ssh", "/root",
                                          /* Host UNIX sockets (munge, dbus, slurmd): the
                                           * network namespace does not cover path sockets. */
                                          "/run", "/var/run"};

/* ---- the shim and init: signal forwarding and exit status ---- */

static void block_all(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, old);
}

/* Exit the way the task did: the same code, or death by the same signal. */
static void __attribute__((noreturn)) exit_like(int status)
{
	_exit(cairn_rcmd_exit_like(status));
}

/* Forward every signal to `to` until `child` exits; return its wait status. */
static int forward_until_exit(pid_t child, pid_t to, bool reap_all)
{
	sigset_t all;
	sigfillset(&all);
	for (;;) {
		int status;
		pid_t w;
		while ((w = waitpid(reap_all ? -1 : child, &status, WNOHANG)) > 0)
			if (w == child)
				return status;
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		/* What the terminal sent (Ctrl-C) reached the task's process group,
		 * the task included: passing it on would deliver it twice. */
		if (sig < 0 || sig == SIGCHLD || si.si_code == SI_KERNEL)
			continue;
		kill(to, sig);
	}
}

static void __attribute__((noreturn)) run_shim(pid_t init, int status_fd, struct cairn_cgroups *cgs)
{
	int status = forward_until_exit(init, init, false);
	/* The namespace is empty once its init is gone: the limits' cgroups go too. */
	cairn_limits_leave(cgs);
	int task_status;
	/* init reports the task's own wait status; fall back to init's. */
	if (read_full(status_fd, &task_status, sizeof(task_status)) == sizeof(task_status))
		status = task_status;
	exit_like(status);
}

static void __attribute__((noreturn))
run_init(pid_t task, int status_fd, const struct cairn_user *u)
{
	struct cairn_err err = {0};
	prctl(PR_SET_NAME, "cairn-init");
	/* Init needs no privilege: it only waits and signals the user's task. */
	if (cairn_drop_privileges(u, &err) < 0) {
		kill(task, SIGKILL);
		_exit(125);
	}
	prctl(PR_SET_DUMPABLE, 0);
	int status = forward_until_exit(task, task, true);
	(void)!write(status_fd, &status, sizeof(status));
	exit_like(status);
}

/* ---- the filesystem view ---- */

static int tmpfs_at(const char *path, const char *opts, struct cairn_err *err)
{
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		cairn_seterr(err, "sandbox: cannot mount a tmpfs on %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	autofree char *p = xstrdup(path);
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static bool is_dir(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The allowed prefix an absolute mount path lies under, e.g. "/data/". */
static const char *prefix_of(const struct cairn_config *cfg, const char *path)
{
	for (size_t i = 0; i < cfg->nallowed_prefixes; i++)
		if (!strncmp(path, cfg->allowed_prefixes[i], strlen(cfg->allowed_prefixes[i])))
			return cfg->allowed_prefixes[i];
	return NULL;
}

static int cover_path(const char *path, struct cairn_err *err)
{
	/* Only directories are covered; missing paths need nothing. */
	if (!is_dir(path))
		return 0;
	return tmpfs_at(path, "mode=0755,size=1m", err);
}

/* Would a writable directory at `dir` show something the sandbox hides? Other
 * users' homes are only reachable through /home itself, which is refused. */
static bool undoes_hiding(const struct cairn_config *cfg, const char *dir)
{
	const char *covered[] = {"/home",        "/root",        "/etc",          "/run", "/var",
	                         "/usr",         "/proc",        "/sys",          "/dev", "/boot",
	                         cfg->cache_dir, cfg->state_dir, "/var/lib/munge"};
	const char *store = !strncmp(cfg->storage, "file://", 7) ? cfg->storage + 7 : NULL;
	size_t dl = strlen(dir);
	if (dl <= 1 || dir[0] != '/')
		return true;
	for (size_t i = 0; i <= sizeof(covered) / sizeof(covered[0]); i++) {
		const char *c = i < sizeof(covered) / sizeof(covered[0]) ? covered[i] : store;
		if (!c)
			continue;
		size_t cl = strlen(c);
		/* dir contains c, or is c */
		if (cl >= dl && !strncmp(c, dir, dl) && (c[dl] == '/' || !c[dl]))
			return true;
		/* dir lies inside c: fine below /home/USER and /var/tmp-like places only */
		bool inside = !strncmp(dir, c, cl) && (dir[cl] == '/' || !dir[cl]);
		if (inside && strcmp(c, "/home") && strcmp(c, "/var"))
			return true;
		if (inside && !strcmp(c, "/var") &&
		    (!strncmp(dir, "/var/lib/", 9) || !strncmp(dir, "/var/spool/", 11) ||
		     !strncmp(dir, "/var/run/", 9) || !strncmp(dir, "/var/log/", 9)))
			return true;
	}
	return false;
}

static int setup_filesystem(const struct cairn_config *cfg, const struct cairn_job_record *rec,
                            const struct cairn_user *u, const char *keep_dir, struct cairn_err *err)
{
	const char *wd = rec->workdir;
	/* Both directories are opened by the user (their permissions, their symlinks),
	 * never resolved by root: root only clones what the user could open. */
	autoclose int keeptree = -1;
	if (keep_dir && keep_dir[0] == '/') {
		autoclose int kfd = cairn_open_dir_as_user(u, keep_dir, ".", err);
		if (kfd < 0)
			return -1;
		keeptree = open_tree(kfd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (keeptree < 0) {
			cairn_seterr(err, "sandbox: cannot hold %s: %s", keep_dir, strerror(errno));
			return -1;
		}
	}
	autoclose int wdfd = cairn_open_dir_as_user(u, wd, ".", err);
	if (wdfd < 0)
		return -1;
	char real[4096] = "";
	autofree char *fdpath = xasprintf("/proc/self/fd/%d", wdfd);
	ssize_t rl = readlink(fdpath, real, sizeof(real) - 1);
	if (rl <= 0) {
		cairn_seterr(err, "sandbox: cannot resolve the working directory: %s",
		             strerror(errno));
		return -1;
	}
	real[rl] = '\0';
	/* The working directory comes back writable after the covers: neither its
	 * path nor where it really is may bring back what they hide. */
	if (undoes_hiding(cfg, wd) || undoes_hiding(cfg, real)) {
		cairn_setuerr(err,
		              "sandbox: the working directory %s contains or lies in a directory "
		              "the sandbox hides; run the job from a project directory (e.g. "
		              "under your home or /tmp)",
		              wd);
		return -1;
	}
	autoclose int wdtree =
	    open_tree(wdfd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (wdtree < 0) {
		cairn_setuerr(err, "sandbox: cannot hold the working directory %s: %s", wd,
		              strerror(errno));
		return -1;
	}
	/* The whole system read-only and without setuid, recursively. */
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID};
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0) {
		cairn_seterr(err, "sandbox: cannot make the system read-only: %s", strerror(errno));
		return -1;
	}
	/* Other users' homes, the user's own other files, node secrets, Cairn's own
	 * directories: empty. */
	if (cover_path("/home", err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(secret_dirs) / sizeof(secret_dirs[0]); i++)
		if (cover_path(secret_dirs[i], err) < 0)
			return -1;
	const char *cairn_dirs[] = {cfg->cache_dir, cfg->state_dir,
	                            !strncmp(cfg->storage, "file://", 7) ? cfg->storage + 7 : NULL};
	for (size_t i = 0; i < 3; i++)
		if (cairn_dirs[i] && cover_path(cairn_dirs[i], err) < 0)
			return -1;
	/* Private scratch space, bounded like the job's memory (its pages are
	 * charged there too); else the kernel's default, half of RAM. */
	char scratch[64] = "mode=1777";
	if (rec->limits.memory)
		snprintf(scratch, sizeof(scratch), "mode=1777,size=%llu", rec->limits.memory);
	if (tmpfs_at("/tmp", scratch, err) < 0)
		return -1;
	if (is_dir("/var/tmp") && tmpfs_at("/var/tmp", scratch, err) < 0)
		return -1;
	/* Slurm's spool (job scripts, slurmstepd sockets): only this job's script. */
	if (keeptree >= 0) {
		autofree char *spool = xstrdup(keep_dir);
		char *slash = strrchr(spool, '/');
		if (slash && slash != spool) {
			*slash = '\0';
			if (cover_path(spool, err) < 0)
				return -1;
		}
	}
	if (is_dir("/dev/shm") && tmpfs_at("/dev/shm", scratch, err) < 0)
		return -1;
	/* Absolute volume paths live under an allowed prefix, emptied for the sandbox. */
	for (size_t i = 0; i < rec->nvol; i++) {
		const char *p = rec->vol[i].path;
		if (p[0] != '/')
			continue;
		const char *pre = prefix_of(cfg, p);
		if (!pre) {
			cairn_setuerr(err, "volume %s: %s is not under AllowedMountPrefixes",
			              rec->vol[i].name, p);
			return -1;
		}
		autofree char *predir = xstrdup(pre);
		predir[strlen(predir) - 1] = '\0';
		if (strcmp(predir, "/tmp") && strcmp(predir, "/home")) {
			if (mkdir_p(predir, 0755) < 0 && !is_dir(predir)) {
				cairn_setuerr(err, "volume %s: %s does not exist on this node",
				              rec->vol[i].name, predir);
				return -1;
			}
			if (tmpfs_at(predir, "mode=0755", err) < 0)
				return -1;
		}
	}
	for (size_t i = 0; i < rec->nvol; i++) {
		const char *p = rec->vol[i].path;
		if (p[0] != '/')
			continue;
		if (mkdir_p(p, 0755) < 0 || chown(p, u->uid, u->gid) < 0) {
			cairn_seterr(err, "volume %s: cannot create %s in the sandbox: %s",
			             rec->vol[i].name, p, strerror(errno));
			return -1;
		}
	}
	/* The working directory back, writable, at its own path. */
	if (mkdir_p(wd, 0755) < 0) {
		cairn_seterr(err, "sandbox: cannot recreate %s: %s", wd, strerror(errno));
		return -1;
	}
	if (keeptree >= 0) {
		struct mount_attr kro = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
		                                     MOUNT_ATTR_NODEV};
		if (mkdir_p(keep_dir, 0755) < 0 ||
		    mount_setattr(keeptree, "", AT_EMPTY_PATH | AT_RECURSIVE, &kro, sizeof(kro)) <
		        0 ||
		    move_mount(keeptree, "", AT_FDCWD, keep_dir, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
			cairn_seterr(err, "sandbox: cannot show %s: %s", keep_dir, strerror(errno));
			return -1;
		}
	}
	struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY,
	                        .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	if (mount_setattr(wdtree, "", AT_EMPTY_PATH | AT_RECURSIVE, &rw, sizeof(rw)) < 0 ||
	    move_mount(wdtree, "", AT_FDCWD, wd, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		cairn_seterr(err, "sandbox: cannot mount the working directory: %s",
		             strerror(errno));
		return -1;
	}
	return 0;
}

static int loopback_up(struct cairn_err *err)
{
	autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		cairn_seterr(err, "sandbox: cannot find the loopback interface: %s",
		             strerror(errno));
		return -1;
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		cairn_seterr(err, "sandbox: cannot bring up loopback: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* sysfs shows the network devices of the namespace that mounted it: mount one
 * for the new namespace, so the host's interfaces are not listed. */
static int fresh_sysfs(struct cairn_err *err)
{
	if (umount2("/sys", MNT_DETACH) < 0 ||
	    mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
	        0) {
		cairn_seterr(err, "sandbox: cannot mount a fresh /sys: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int drop_bounding_set(struct cairn_err *err)
{
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			cairn_seterr(err, "sandbox: cannot drop capability %d: %s", cap,
			             strerror(errno));
			return -1;
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		cairn_seterr(err, "sandbox: cannot clear ambient capabilities: %s",
		             strerror(errno));
		return -1;
	}
	return 0;
}

/* In the task, before it becomes the user: what makes privileges unreachable. */
static int lock_down(const struct cairn_job_record *rec, struct cairn_err *err)
{
	if (rec->sandbox != CAIRN_SANDBOX_FULL)
		return 0;
	if (drop_bounding_set(err) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		cairn_seterr(err, "sandbox: cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	if (cairn_seccomp_load(err) < 0)
		return -1;
	/* Only 0-2 cross into the task (CVE-2024-21626: a leaked directory fd), and
	 * the PMI socket Slurm hands MPI tasks (PMI_FD), if any. */
	unsigned long long pmi = 0;
	const char *pmi_s = getenv("PMI_FD");
	bool keep = pmi_s && parse_uint(pmi_s, 65535, &pmi) == 0 && pmi >= 3;
	if ((keep && pmi > 3 && close_range(3, (unsigned)pmi - 1, CLOSE_RANGE_CLOEXEC) < 0) ||
	    close_range(keep ? (unsigned)pmi + 1 : 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		cairn_seterr(err, "sandbox: close_range: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int cairn_sandbox_enter(const struct cairn_config *cfg, const struct cairn_job_record *rec,
                        const struct cairn_user *u, const char *keep_dir, const char *cgroup,
                        const struct cairn_sandbox_srun *srun, struct cairn_err *err)
{
	bool full = rec->sandbox == CAIRN_SANDBOX_FULL;
	bool host_net = !strcmp(cfg->sandbox_network, "host");
	/* Forked before the namespaces and the limits: it runs the real srun from
	 * the host's side, and the shim must be able to empty the limits' cgroup. */
	struct cairn_srun_broker broker;
	cairn_srun_broker_init(&broker);
	if (full && srun &&
	    cairn_srun_broker_start(u, srun->client, srun->job_id, rec->workdir, srun->slurm_conf,
	                            &broker, err) < 0)
		return -1;
	/* Limits next: everything forked below inherits the cgroup. */
	struct cairn_cgroups cgs = {0};
	if (full && cgroup && cairn_limits_apply(&rec->limits, cgroup, getpid(), &cgs, err) < 0) {
		cairn_srun_broker_close(&broker);
		return -1;
	}
	int flags = CLONE_NEWPID;
	if (full)
		flags |= CLONE_NEWIPC | CLONE_NEWUTS | (host_net ? 0 : CLONE_NEWNET);
	if (cairn_private_mount_ns(flags, err) < 0) {
		cairn_limits_leave(&cgs);
		cairn_srun_broker_close(&broker);
		return -1;
	}
	int sp[2];
	if (pipe2(sp, O_CLOEXEC) < 0) {
		cairn_limits_leave(&cgs);
		cairn_srun_broker_close(&broker);
		cairn_seterr(err, "sandbox: pipe: %s", strerror(errno));
		return -1;
	}
	sigset_t old;
	block_all(&old);
	fflush(NULL);
	pid_t init = fork();
	if (init < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		cairn_limits_leave(&cgs);
		cairn_srun_broker_close(&broker);
		cairn_seterr(err, "sandbox: fork: %s", strerror(errno));
		return -1;
	}
	if (init > 0) {
		close(sp[1]);
		cairn_srun_broker_close(&broker);
		run_shim(init, sp[0], &cgs);
	}
	/* PID 1 of the new namespace. */
	close(sp[0]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct cairn_err e = {0};
	int sources[CAIRN_MAX_VOLUMES];
	if (cairn_job_clone_sources(rec, u, sources, &e) < 0 ||
	    cairn_srun_broker_prepare(&broker, &e) < 0 ||
	    (full && setup_filesystem(cfg, rec, u, keep_dir, &e) < 0) ||
	    cairn_srun_broker_attach(&broker, u, &e) < 0 ||
	    (full && !host_net && (loopback_up(&e) < 0 || fresh_sysfs(&e) < 0)) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    cairn_job_mount(rec, u, sources, &e) < 0) {
		if (!e.msg[0])
			cairn_seterr(&e, "sandbox: cannot mount /proc: %s", strerror(errno));
		fprintf(stderr, "%s%s\n", strncmp(e.msg, "cairn", 5) ? "cairn: " : "", e.msg);
		int st = 125 << 8;
		(void)!write(sp[1], &st, sizeof(st));
		_exit(125);
	}
	cairn_srun_broker_close(&broker);
	pid_t task = fork();
	if (task < 0) {
		fprintf(stderr, "cairn: sandbox: fork: %s\n", strerror(errno));
		_exit(125);
	}
	if (task > 0)
		run_init(task, sp[1], u);
	/* PID 2: the task. */
	close(sp[1]);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (chdir(rec->workdir) < 0) {
		cairn_setuerr(err, "sandbox: cannot enter %s: %s", rec->workdir, strerror(errno));
		return -2;
	}
	if (lock_down(rec, err) < 0)
		return -2;
	return 0;
}
