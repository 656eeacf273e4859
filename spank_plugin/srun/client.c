/* cairn-srun: `srun` inside a full sandbox (mounted over the srun binaries).
 * Hands the command line, the environment and the standard streams to the
 * broker outside (see srun_broker.h), forwards signals, and exits the way the
 * real srun did. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rcmd.h"
#include "srun_broker.h"
#include "wire.h"

extern char **environ;

/* The signals a user or Slurm sends srun on purpose. */
static const int forwarded[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
                                SIGUSR2, SIGALRM, SIGCONT, SIGWINCH};

static int fail(const char *what)
{
	fprintf(stderr, "srun: cairn: %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", CAIRN_SRUN_SOCKET);
	if (conn < 0 || connect(conn, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("srun is not available in this sandbox (no broker at " CAIRN_SRUN_SOCKET
		            "); start steps from a job with --sandbox=pid");
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0 || cairn_rcmd_send(conn, argc, argv, environ) < 0)
		return fail("lost the broker outside the sandbox while starting srun");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = conn, .events = POLLIN},
		                      {.fd = sfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll failed");
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				char n[8];
				snprintf(n, sizeof(n), "%u", si.ssi_signo);
				cairn_wire_send_str(conn, RC_SIGNAL, n);
			}
		}
		if (!p[0].revents)
			continue;
		char type;
		if (cairn_wire_recv(conn, &type, &buf, &len, &cap) < 0)
			return fail(
			    "the broker outside the sandbox went away; srun's step may have "
			    "been cancelled");
		if (type == RC_ERR) {
			fprintf(stderr, "%s\n", buf);
			return 1;
		}
		unsigned long long st;
		if (type == RC_STATUS && parse_uint(buf, 0xffff, &st) == 0)
			return cairn_rcmd_exit_like((int)st);
		return fail("unexpected answer from the broker outside the sandbox");
	}
}
