/* The srun broker: see srun_broker.h. */
#include "srun_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rcmd.h"
#include "srun_args.h"
#include "wire.h"

#define LISTEN_FRAME 'L'

/* ---- finding srun ---- */

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Every distinct srun executable in slurmstepd's PATH and the usual places. */
static void find_sruns(struct cairn_srun_broker *b)
{
	const char *env_path = getenv("PATH");
	autofree char *path =
	    xasprintf("%s:/usr/local/bin:/usr/bin:/bin", env_path ? env_path : "");
	struct stat seen[CAIRN_SRUN_MAX_TARGETS];
	char *save = NULL;
	for (char *d = strtok_r(path, ":", &save); d && b->ntargets < CAIRN_SRUN_MAX_TARGETS;
	     d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue;
		autofree char *p = xasprintf("%s/srun", d);
		struct stat sb;
		if (stat(p, &sb) < 0 || !S_ISREG(sb.st_mode) || !(sb.st_mode & S_IXOTH))
			continue;
		bool dup = false;
		for (size_t i = 0; i < b->ntargets; i++)
			dup = dup || same_file(&seen[i], &sb);
		if (dup)
			continue;
		seen[b->ntargets] = sb;
		b->targets[b->ntargets++] = steal_ptr(&p);
	}
}

/* ---- the broker, outside, as the user ---- */

static void __attribute__((noreturn)) refuse_and_exit(int conn, const char *line)
{
	cairn_wire_send_str(conn, RC_ERR, line);
	_exit(1);
}

/* Forward SIGNAL frames to srun until it exits; report its status. */
static void __attribute__((noreturn)) relay(int conn, pid_t srun)
{
	autoclose int pfd = pidfd_open(srun, 0);
	autofree char *buf = NULL;
	size_t len = 0, cap = 0;
	bool client = true;
	while (pfd >= 0) {
		struct pollfd p[2] = {{.fd = pfd, .events = POLLIN},
		                      {.fd = conn, .events = POLLIN}};
		if (poll(p, client ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (!p[1].revents)
			continue;
		char type;
		if (cairn_wire_recv(conn, &type, &buf, &len, &cap) < 0) {
			/* The client is gone (killed with the sandbox): so is srun's reason to run.
			 */
			kill(srun, SIGTERM);
			client = false;
			continue;
		}
		unsigned long long sig;
		if (type == RC_SIGNAL && parse_uint(buf, 64, &sig) == 0 && sig > 0)
			kill(srun, (int)sig);
	}
	int status;
	while (waitpid(srun, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	char st[16];
	snprintf(st, sizeof(st), "%d", status);
	if (client)
		cairn_wire_send_str(conn, RC_STATUS, st);
	_exit(0);
}

static void __attribute__((noreturn))
serve(int conn, const char *real, uint32_t job_id, const char *slurm_conf)
{
	struct cairn_rcmd r;
	if (cairn_rcmd_recv(conn, &r, cairn_srun_env_allowed) < 0)
		_exit(1);
	char why[512];
	if (cairn_srun_check_args(r.argv, r.argc, why, sizeof(why)) < 0) {
		char line[600];
		snprintf(line, sizeof(line), "srun: cairn: %s", why);
		refuse_and_exit(conn, line);
	}
	free(r.argv[0]);
	r.argv[0] = xstrdup("srun");
	/* This job's steps only; the job id is not the client's to choose. */
	r.envp[r.envc++] = xasprintf("SLURM_JOB_ID=%u", job_id);
	r.envp[r.envc++] = xasprintf("SLURM_JOBID=%u", job_id);
	if (slurm_conf)
		r.envp[r.envc++] = xasprintf("SLURM_CONF=%s", slurm_conf);
	signal(SIGCHLD, SIG_DFL);
	pid_t pid = fork();
	if (pid < 0)
		refuse_and_exit(conn, "srun: cairn: cannot start srun outside the sandbox (fork "
		                      "failed)");
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int i = 0; i < 3; i++)
			if (dup2(r.fds[i], i) < 0)
				_exit(127);
		close_range(3, ~0U, 0);
		execve(real, r.argv, r.envp);
		dprintf(2, "srun: cairn: cannot run %s: %s\n", real, strerror(errno));
		_exit(127);
	}
	cairn_rcmd_free(&r);
	relay(conn, pid);
}

static void __attribute__((noreturn))
broker_main(int sock, const struct cairn_user *u, const char *real, uint32_t job_id,
            const char *workdir, const char *slurm_conf)
{
	struct cairn_err err = {0};
	pid_t parent = getppid();
	prctl(PR_SET_NAME, "cairn-srun");
	/* Slurm's output pipes must see EOF when the task ends, whatever runs here. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
	    dup2(sock, 3) != 3)
		_exit(1);
	close_range(4, ~0U, 0);
	sock = 3;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || cairn_drop_privileges(u, &err) < 0)
		_exit(1);
	if (chdir(workdir) < 0 && chdir("/") < 0)
		_exit(1);
	char type;
	autofree char *buf = NULL;
	size_t len = 0, cap = 0;
	int lfd = -1;
	if (cairn_wire_recv_fd(sock, &type, &buf, &len, &cap, &lfd) < 0 || type != LISTEN_FRAME ||
	    lfd < 0)
		_exit(0);
	close(sock);
	/* Connections are served by children; nobody waits for them. */
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
		    cred.uid != u->uid) {
			close(conn);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			serve(conn, real, job_id, slurm_conf);
		}
		close(conn);
	}
}

void cairn_srun_broker_init(struct cairn_srun_broker *b)
{
	memset(b, 0, sizeof(*b));
	b->sock = -1;
	for (size_t i = 0; i < CAIRN_SRUN_MAX_TARGETS; i++)
		b->clones[i] = -1;
}

int cairn_srun_broker_start(const struct cairn_user *u, const char *client, uint32_t job_id,
                            const char *workdir, const char *slurm_conf,
                            struct cairn_srun_broker *b, struct cairn_err *err)
{
	cairn_srun_broker_init(b);
	struct stat sb;
	if (!client || stat(client, &sb) < 0 || !S_ISREG(sb.st_mode))
		return 0;
	find_sruns(b);
	if (b->ntargets == 0)
		return 0;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		cairn_seterr(err, "sandbox: socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(sp[0]);
		close(sp[1]);
		cairn_seterr(err, "sandbox: cannot start the srun broker: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		broker_main(sp[1], u, b->targets[0], job_id, workdir, slurm_conf);
	close(sp[1]);
	b->pid = pid;
	b->sock = sp[0];
	b->client = xstrdup(client);
	return 0;
}

int cairn_srun_broker_prepare(struct cairn_srun_broker *b, struct cairn_err *err)
{
	for (size_t i = 0; b->pid && i < b->ntargets; i++) {
		b->clones[i] = open_tree(AT_FDCWD, b->client, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (b->clones[i] < 0) {
			cairn_seterr(err, "sandbox: cannot hold %s: %s", b->client,
			             strerror(errno));
			return -1;
		}
	}
	return 0;
}

int cairn_srun_broker_attach(struct cairn_srun_broker *b, const struct cairn_user *u,
                             struct cairn_err *err)
{
	if (!b->pid)
		return 0;
	struct mount_attr ro = {.attr_set =
	                            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	for (size_t i = 0; i < b->ntargets; i++)
		if (mount_setattr(b->clones[i], "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0 ||
		    move_mount(b->clones[i], "", AT_FDCWD, b->targets[i], MOVE_MOUNT_F_EMPTY_PATH) <
		        0) {
			cairn_seterr(err, "sandbox: cannot mount Cairn's srun over %s: %s",
			             b->targets[i], strerror(errno));
			return -1;
		}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", CAIRN_SRUN_SOCKET);
	autofree char *dir = xstrdup(CAIRN_SRUN_SOCKET);
	*strrchr(dir, '/') = '\0';
	autoclose int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || (mkdir(dir, 0755) < 0 && errno != EEXIST) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chown(CAIRN_SRUN_SOCKET, u->uid, u->gid) < 0 || chmod(CAIRN_SRUN_SOCKET, 0600) < 0 ||
	    listen(lfd, 64) < 0 || cairn_wire_send_fd(b->sock, LISTEN_FRAME, "", lfd) < 0) {
		cairn_seterr(err, "sandbox: cannot set up srun's socket %s: %s", CAIRN_SRUN_SOCKET,
		             strerror(errno));
		return -1;
	}
	return 0;
}

void cairn_srun_broker_close(struct cairn_srun_broker *b)
{
	if (b->sock >= 0)
		close(steal_fd(&b->sock));
	for (size_t i = 0; i < CAIRN_SRUN_MAX_TARGETS; i++)
		if (b->clones[i] >= 0)
			close(steal_fd(&b->clones[i]));
	for (size_t i = 0; i < b->ntargets; i++)
		free(steal_ptr(&b->targets[i]));
	free(steal_ptr(&b->client));
	b->ntargets = 0;
}
