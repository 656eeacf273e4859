#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
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

int cairn_worker_send_tree(int sock, const struct cairn_manifest *m)
{
	size_t len;
	autofree char *doc = cairn_manifest_to_bin(m, &len);
	return cairn_wire_send_doc_len(sock, doc, len);
}

int cairn_worker_recv_tree(int sock, const char *first, size_t first_len, struct cairn_manifest *m,
                           struct cairn_err *perr)
{
	autofree char *doc = NULL;
	size_t len = 0;
	if (cairn_wire_recv_doc_rest(sock, first, first_len, CAIRN_MANIFEST_MAX, &doc, &len) < 0)
		return -1;
	cairn_manifest_free(m);
	return cairn_manifest_from_bin(doc, len, m, perr);
}

/* In the child: the socket becomes fd 3, the tree fd 4, and nothing else stays. */
static int keep_only(int *sock, int *tree_fd)
{
	/* Move both out of the way first so neither overwrites the other. */
	int s = fcntl(*sock, F_DUPFD, 100), t = fcntl(*tree_fd, F_DUPFD, 100);
	if (s < 0 || t < 0 || dup2(s, 3) < 0 || dup2(t, 4) < 0)
		return -1;
	*sock = 3;
	*tree_fd = 4;
	if (close_range(5, ~0U, 0) < 0)
		return -1;
	return fcntl(3, F_SETFD, FD_CLOEXEC) < 0 || fcntl(4, F_SETFD, FD_CLOEXEC) < 0 ? -1 : 0;
}

int cairn_worker_run(const struct cairn_user *u, int *tree_fd, cairn_worker_fn child_fn,
                     cairn_worker_fn serve_fn, void *arg, struct cairn_err *err)
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
		int sock = sv[1];
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Stdio stays, for messages. */
		if (keep_only(&sock, tree_fd) < 0)
			_exit(2);
		sv[1] = sock;
		int r = cairn_drop_privileges(u, &cerr);
		/* Not ptraceable by the user it now runs as. */
		prctl(PR_SET_DUMPABLE, 0);
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
	/* The worker runs as the user, who can stop it: a silent worker must not
	 * hang root (and with it the Prolog or Epilog) for ever. */
	struct timeval tv = {.tv_sec = CAIRN_WORKER_STALL_S};
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int r = serve_fn(sv[0], arg, err);
	close(sv[0]);
	if (r < 0)
		kill(pid, SIGKILL);
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
