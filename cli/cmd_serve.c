/* cairn serve: the volume commands for users without root. The store is
 * root-only (and S3 credentials with it), so a root process answers on a UNIX
 * socket: it learns who calls from the kernel (SO_PEERCRED), never from the
 * caller's words, runs the command with the caller's standard streams and
 * checks each volume against the caller's grants (cairn_cli_authorize). It
 * reads no environment, file or configuration of the caller's. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "creds.h"
#include "rcmd.h"
#include "session.h"
#include "wire.h"

#define MAX_RUNNING 64        /* commands at once, in all */
#define MAX_RUNNING_PER_UID 8 /* ... and per user */
#define REQUEST_TIMEOUT_S 30  /* to send the request */
#define COMMAND_TIMEOUT_S 3600

static void __attribute__((noreturn)) serve_one(int conn)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct cairn_user u = {0};
	struct cairn_err err = {0};
	struct cairn_rcmd r;
	signal(SIGCHLD, SIG_DFL);
	/* A caller that stalls holds one slot, not forever. */
	struct timeval tv = {.tv_sec = REQUEST_TIMEOUT_S};
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	alarm(COMMAND_TIMEOUT_S);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    cairn_user_lookup(NULL, cred.uid, cred.gid, &u, &err) < 0) {
		cairn_wire_send_str(conn, RC_ERR, "cairn: the server cannot tell who you are");
		_exit(1);
	}
	if (cairn_rcmd_recv(conn, &r, NULL) < 0)
		_exit(1);
	/* The volume commands only (lint and run are not for the server). */
	const struct cairn_command *cmd = cairn_command_find(r.argv[0]);
	if (!cmd || !cmd->served) {
		autofree char *line =
		    xasprintf("cairn: '%s' is not available through the Cairn server", r.argv[0]);
		cairn_wire_send_str(conn, RC_ERR, line);
		_exit(1);
	}
	/* Streams only: files, pipes, sockets, terminals (never a directory). */
	for (int i = 0; i < 3; i++) {
		struct stat sb;
		if (fstat(r.fds[i], &sb) < 0 || !(S_ISREG(sb.st_mode) || S_ISFIFO(sb.st_mode) ||
		                                  S_ISSOCK(sb.st_mode) || S_ISCHR(sb.st_mode))) {
			cairn_wire_send_str(conn, RC_ERR,
			                    "cairn: the server takes files, pipes, sockets or "
			                    "terminals as standard streams");
			_exit(1);
		}
	}
	for (int i = 0; i < 3; i++)
		if (dup2(r.fds[i], i) < 0)
			_exit(1);
	if (u.uid != 0)
		cairn_cli_caller = &u;
	int code = cmd->fn((int)r.argc, r.argv);
	fflush(NULL);
	char st[16];
	snprintf(st, sizeof(st), "%d", (code & 0xff) << 8);
	cairn_wire_send_str(conn, RC_STATUS, st);
	_exit(0);
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *path = CAIRN_CLI_SOCKET;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 's') {
			path = optarg;
		} else {
			fprintf(c == 'h' ? stdout : stderr, "Usage: cairn serve [--socket PATH]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "cairn serve: must run as root (it reads the store for users)\n");
		return 1;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "cairn serve: --socket %s: the path is too long\n", path);
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	autofree char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "cairn serve: cannot create %s: %s\n", dir,
			        strerror(errno));
			return 1;
		}
	}
	autoclose int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(path);
	/* Anyone may connect: who they are comes from the kernel. */
	mode_t old = umask(0111);
	int b = lfd < 0 ? -1 : bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (b < 0 || listen(lfd, 64) < 0) {
		fprintf(stderr, "cairn serve: cannot listen on %s: %s\n", path, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct {
		pid_t pid;
		uid_t uid;
	} running[MAX_RUNNING];
	size_t nrunning = 0;
	for (;;) {
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "cairn serve: accept: %s\n", strerror(errno));
			return 1;
		}
		/* Forget the commands that ended. */
		pid_t done;
		while ((done = waitpid(-1, NULL, WNOHANG)) > 0)
			for (size_t i = 0; i < nrunning; i++)
				if (running[i].pid == done)
					running[i] = running[--nrunning];
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		size_t mine = 0;
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			close(conn);
			continue;
		}
		for (size_t i = 0; i < nrunning; i++)
			mine += running[i].uid == cred.uid;
		if (nrunning == MAX_RUNNING || mine >= MAX_RUNNING_PER_UID) {
			cairn_wire_send_str(conn, RC_ERR,
			                    "cairn: the Cairn server is busy (too many commands at "
			                    "once); try again in a moment");
			close(conn);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			serve_one(conn);
		}
		if (pid > 0) {
			running[nrunning].pid = pid;
			running[nrunning++].uid = cred.uid;
		}
		close(conn);
	}
}
