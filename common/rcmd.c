#include "rcmd.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "wire.h"

#define MAX_REQUEST (4u * 1024 * 1024)

int cairn_rcmd_send(int sock, int argc, char *const *argv, char *const *envp)
{
	for (int i = 0; i < argc; i++)
		if (cairn_wire_send_str(sock, RC_ARG, argv[i]) < 0)
			return -1;
	for (char *const *e = envp; e && *e; e++)
		if (cairn_wire_send_str(sock, RC_ENV, *e) < 0)
			return -1;
	for (int fd = 0; fd < 3; fd++)
		if (cairn_wire_send_fd(sock, (char)(RC_STDIN + fd), "", fd) < 0)
			return -1;
	return cairn_wire_send(sock, RC_RUN, "", 0);
}

void cairn_rcmd_free(struct cairn_rcmd *r)
{
	for (size_t i = 0; i < r->argc; i++)
		free(r->argv[i]);
	for (size_t i = 0; i < r->envc; i++)
		free(r->envp[i]);
	for (int i = 0; i < 3; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	r->argc = r->envc = 0;
	r->fds[0] = r->fds[1] = r->fds[2] = -1;
}

int cairn_rcmd_recv(int sock, struct cairn_rcmd *r, bool (*keep_env)(const char *entry))
{
	autofree char *buf = NULL;
	size_t len = 0, cap = 0, bytes = 0;
	memset(r, 0, sizeof(*r));
	r->fds[0] = r->fds[1] = r->fds[2] = -1;
	for (;;) {
		char type;
		int fd = -1;
		if (cairn_wire_recv_fd(sock, &type, &buf, &len, &cap, &fd) < 0)
			return -1;
		bytes += len;
		if (type >= RC_STDIN && type <= RC_STDERR && fd >= 0 &&
		    r->fds[type - RC_STDIN] < 0) {
			r->fds[type - RC_STDIN] = fd;
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (bytes > MAX_REQUEST || memchr(buf, '\0', len))
			return -1;
		if (type == RC_RUN)
			return r->argc > 0 && r->fds[0] >= 0 && r->fds[1] >= 0 && r->fds[2] >= 0
			           ? 0
			           : -1;
		if (type == RC_ARG && r->argc < CAIRN_RCMD_MAX_ARGS)
			r->argv[r->argc++] = xstrdup(buf);
		else if (type == RC_ENV && r->envc < CAIRN_RCMD_MAX_ENV) {
			if (keep_env && keep_env(buf))
				r->envp[r->envc++] = xstrdup(buf);
		} else
			return -1;
	}
}

int cairn_rcmd_exit_like(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		signal(sig, SIG_DFL);
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, sig);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		raise(sig);
		return 128 + sig;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
