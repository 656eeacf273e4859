#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "wire.h"

void cairn_worker_error_frame(const char *payload, struct cairn_err *err)
{
	/* First byte: 'U' for the user's mistake, 'S' for a system failure. */
	if (payload[0] == 'U')
		cairn_setuerr(err, "%s", payload + 1);
	else
		cairn_seterr(err, "%s", payload[0] ? payload + 1 : "worker failed");
}

int cairn_worker_run(const struct cairn_user *u, cairn_worker_fn child_fn, cairn_worker_fn serve_fn,
                     void *arg, struct cairn_err *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		cairn_seterr(err, "socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		cairn_seterr(err, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		struct cairn_err cerr = {0};
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int r = cairn_drop_privileges(u, &cerr);
		if (r == 0)
			r = child_fn(sv[1], arg, &cerr);
		if (r < 0) {
			autofree char *m = xasprintf("%c%s", cerr.user ? 'U' : 'S',
			                             cerr.msg[0] ? cerr.msg : "worker failed");
			cairn_wire_send_str(sv[1], FR_ERR, m);
		} else {
			cairn_wire_send(sv[1], FR_DONE, NULL, 0);
		}
		_exit(r < 0 ? 1 : 0);
	}
	close(sv[1]);
	int r = serve_fn(sv[0], arg, err);
	close(sv[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		cairn_seterr(err, "worker for user %s ended abnormally (status %d)", u->name,
		             status);
		r = -1;
	}
	return r;
}
