/* Binding volumes into a job's private mount namespace, with the new mount API so
 * that source and target are both held as file descriptors: no path is looked up
 * twice, and no user symlink can redirect a mount. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "job.h"
#include "tree.h"
#include "wire.h"

int cairn_private_mount_ns(int more_namespaces, struct cairn_err *err)
{
	if (unshare(CLONE_NEWNS | more_namespaces) < 0) {
		cairn_seterr(err, "cannot create namespaces: %s", strerror(errno));
		return -1;
	}
	/* Nothing mounted here may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		cairn_seterr(err, "cannot make / a slave mount: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int send_fd(int sock, int fd)
{
	return cairn_sendmsg_fd(sock, "F", 1, fd) == 1 ? 0 : -1;
}

/* One message: a descriptor (payload "F"), or an error text without one. */
static int recv_fd(int sock, char *text, size_t len)
{
	int fd = -1;
	ssize_t n = cairn_recvmsg_fd(sock, text, len - 1, &fd);
	text[n > 0 ? n : 0] = '\0';
	if (n == 1 && fd >= 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* As the user: create path (and its parents) below the working directory and hand
 * the final directory back as a descriptor, so root never looks a user's path up. */
int cairn_open_dir_as_user(const struct cairn_user *u, const char *workdir, const char *path,
                           struct cairn_err *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
		cairn_seterr(err, "socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		cairn_seterr(err, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		struct cairn_err e = {0};
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (cairn_drop_privileges(u, &e) < 0) {
			(void)!write(sv[1], e.msg, strlen(e.msg));
			_exit(1);
		}
		prctl(PR_SET_DUMPABLE, 0);
		int dfd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			snprintf(e.msg, sizeof(e.msg),
			         "cannot enter the working directory %.200s: %s", workdir,
			         strerror(errno));
			(void)!write(sv[1], e.msg, strlen(e.msg));
			_exit(1);
		}
		autofree char *p = xstrdup(path);
		char *save = NULL;
		int failed = 0;
		for (char *c = strtok_r(p, "/", &save); c && !failed;
		     c = strtok_r(NULL, "/", &save)) {
			if (!strcmp(c, "."))
				continue;
			if (mkdirat(dfd, c, 0700) < 0 && errno != EEXIST) {
				failed = errno;
				break;
			}
			int nfd = openat(dfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0) {
				failed = errno == ELOOP ? ENOTDIR : errno;
				break;
			}
			close(dfd);
			dfd = nfd;
		}
		if (failed) {
			snprintf(e.msg, sizeof(e.msg), "%s",
			         failed == ENOTDIR
			             ? "a component is not a directory (symlinks are not followed)"
			             : strerror(failed));
			(void)!write(sv[1], e.msg, strlen(e.msg));
			_exit(1);
		}
		_exit(send_fd(sv[1], dfd) < 0 ? 1 : 0);
	}
	close(sv[1]);
	char msg[CAIRN_ERRLEN] = "";
	int fd = recv_fd(sv[0], msg, sizeof(msg));
	close(sv[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (fd < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		if (fd >= 0)
			close(fd);
		cairn_setuerr(err,
		              "cannot create the mount point %s in %s: %s; create it as a "
		              "directory yourself or choose another path",
		              path, workdir, msg[0] && strcmp(msg, "F") ? msg : "failed");
		return -1;
	}
	return fd;
}

static int bind_one(const struct cairn_job_volume *v, int src, const char *workdir, bool sandboxed,
                    const struct cairn_user *u, struct cairn_err *err)
{
	bool absolute = v->path[0] == '/';
	if (absolute && !sandboxed) {
		cairn_setuerr(err, "volume %s: absolute mount path %s needs --sandbox", v->name,
		              v->path);
		return -1;
	}
	/* In a sandbox, absolute mount points were made by root in the sandbox's own
	 * tmpfs (see sandbox.c); relative ones are made and opened by the user. */
	autoclose int tgt = -1;
	if (absolute) {
		autoclose int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		tgt = cairn_open_beneath(rootfd, v->path + 1, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
	} else {
		tgt = cairn_open_dir_as_user(u, workdir, v->path, err);
		if (tgt < 0)
			return -1;
	}
	struct stat sb;
	if (tgt < 0 || fstat(tgt, &sb) < 0) {
		cairn_setuerr(err,
		              "volume %s: mount path %s is not a plain directory below the working "
		              "directory (symlinks are not followed): %s",
		              v->name, v->path, strerror(errno));
		return -1;
	}
	/* Users may only cover directories of their own. */
	if (sb.st_uid != u->uid) {
		cairn_setuerr(err,
		              "volume %s: mount path %s belongs to uid %u, not to you; choose a "
		              "directory you own",
		              v->name, v->path, (unsigned)sb.st_uid);
		return -1;
	}
	struct mount_attr attr = {
	    .attr_set =
	        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (v->readonly ? MOUNT_ATTR_RDONLY : 0),
	};
	if (mount_setattr(src, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		cairn_seterr(err, "volume %s: cannot set mount flags: %s", v->name,
		             strerror(errno));
		return -1;
	}
	if (move_mount(src, "", tgt, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		cairn_seterr(err, "volume %s: cannot mount at %s: %s", v->name, v->path,
		             strerror(errno));
		return -1;
	}
	return 0;
}

static int clone_source(const struct cairn_job_volume *v, const struct cairn_user *u,
                        struct cairn_err *err)
{
	/* The cache tree must be the user's own; path components above it are root's. */
	autoclose int srcdir = open(v->source, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat ssb;
	if (srcdir < 0 || fstat(srcdir, &ssb) < 0 || ssb.st_uid != u->uid) {
		cairn_seterr(err, "volume %s: the cache tree %s is missing or not owned by %s",
		             v->name, v->source, u->name);
		return -1;
	}
	int src = open_tree(srcdir, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (src < 0)
		cairn_seterr(err, "volume %s: cannot clone the cache tree %s: %s", v->name,
		             v->source, strerror(errno));
	return src;
}

int cairn_job_clone_sources(const struct cairn_job_record *rec, const struct cairn_user *u,
                            int fds[CAIRN_MAX_VOLUMES], struct cairn_err *err)
{
	for (size_t i = 0; i < CAIRN_MAX_VOLUMES; i++)
		fds[i] = -1;
	for (size_t i = 0; i < rec->nvol; i++) {
		fds[i] = clone_source(&rec->vol[i], u, err);
		if (fds[i] < 0) {
			for (size_t k = 0; k < i; k++)
				close(fds[k]);
			return -1;
		}
	}
	return 0;
}

int cairn_job_mount(const struct cairn_job_record *rec, const struct cairn_user *u,
                    const int *sources, struct cairn_err *err)
{
	int fds[CAIRN_MAX_VOLUMES];
	size_t order[CAIRN_MAX_VOLUMES];
	int rv = -1;
	if (sources)
		memcpy(fds, sources, sizeof(fds));
	else if (cairn_job_clone_sources(rec, u, fds, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->nvol; i++)
		order[i] = i;
	/* Parents before nested mount points: shorter paths first. */
	for (size_t i = 1; i < rec->nvol; i++)
		for (size_t k = i;
		     k > 0 && strlen(rec->vol[order[k]].path) < strlen(rec->vol[order[k - 1]].path);
		     k--) {
			size_t t = order[k];
			order[k] = order[k - 1];
			order[k - 1] = t;
		}
	for (size_t i = 0; i < rec->nvol; i++)
		if (bind_one(&rec->vol[order[i]], fds[order[i]], rec->workdir,
		             rec->sandbox != CAIRN_SANDBOX_NONE, u, err) < 0)
			goto out;
	rv = 0;
out:
	for (size_t i = 0; i < rec->nvol; i++)
		close(fds[i]);
	return rv;
}
