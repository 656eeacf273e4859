/* The caller's side of `cairn serve`: a user without root runs the volume
 * commands through the server. `cairn get ... DEST` writes DEST here, as the
 * user: the server only ever writes to the standard output it was handed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "commands.h"
#include "rcmd.h"
#include "util.h"
#include "wire.h"

/* get's operands: the index in argv of PATH (the second) and of DEST (the
 * third, 0 if absent), as get's own option parsing reads them. */
static void get_operands(int argc, char **argv, int *path, int *dest)
{
	int operands = 0;
	*path = *dest = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--workspace") || !strcmp(a, "--conflict") || !strcmp(a, "-w") ||
		    !strcmp(a, "-c")) {
			i++;
			continue;
		}
		if (a[0] == '-' && a[1])
			continue;
		operands++;
		if (operands == 2)
			*path = i;
		else if (operands == 3)
			*dest = i;
	}
}

int cairn_cli_forward(int argc, char **argv)
{
	const struct cairn_command *c = cairn_command_find(argv[1]);
	if (!c || !c->served)
		return -1;
	const char *path = getenv("CAIRN_CLI_SOCKET");
	if (!path || !*path)
		path = CAIRN_CLI_SOCKET;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	autoclose int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn < 0 || connect(conn, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
		        "cairn %s: needs root, or the Cairn server for users (cairn serve, at %s), "
		        "which is not running here; ask your admin\n",
		        argv[1], path);
		return 1;
	}
	/* get: the server only writes to the standard output; DEST (by default
	 * PATH's last name, here) is a fresh file made by us, renamed when complete. */
	autofree char *tmp = NULL;
	autoclose int saved = -1;
	char dash[] = "-";
	const char *dest = NULL;
	autofree char **args = xcalloc((size_t)argc + 2, sizeof(char *));
	for (int i = 0; i < argc; i++)
		args[i] = argv[i];
	int nargs = argc;
	if (!strcmp(argv[1], "get")) {
		int pi, di;
		get_operands(argc, argv, &pi, &di);
		if (di && strcmp(argv[di], "-")) {
			dest = argv[di];
			args[di] = dash;
		} else if (pi && !di) {
			dest = strrchr(argv[pi], '/') ? strrchr(argv[pi], '/') + 1 : argv[pi];
			args[nargs++] = dash;
		}
		if (dest && (!*dest || !strcmp(dest, ".") || !strcmp(dest, ".."))) {
			fprintf(stderr, "cairn get: name the destination file\n");
			return 2;
		}
	}
	if (dest) {
		tmp = xasprintf("%s.cairn-get.%d", dest, (int)getpid());
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "cairn get: cannot create %s: %s\n", tmp, strerror(errno));
			return 1;
		}
		saved = dup(1);
		if (saved < 0 || dup2(fd, 1) < 0) {
			close(fd);
			unlink(tmp);
			fprintf(stderr, "cairn get: %s\n", strerror(errno));
			return 1;
		}
		close(fd);
	}
	int code = 1;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	char type = 0;
	if (cairn_rcmd_send(conn, nargs - 1, args + 1, NULL) < 0 ||
	    cairn_wire_recv(conn, &type, &buf, &len, &cap) < 0) {
		fprintf(stderr, "cairn %s: lost the Cairn server at %s\n", argv[1], path);
	} else if (type == RC_ERR) {
		fprintf(stderr, "%s\n", buf);
	} else {
		unsigned long long st;
		if (type == RC_STATUS && parse_uint(buf, 0xffff, &st) == 0)
			code = (int)(st >> 8) & 0xff;
	}
	free(buf);
	if (dest) {
		fflush(stdout);
		dup2(saved, 1);
		if (code == 0 && rename(tmp, dest) < 0) {
			fprintf(stderr, "cairn get: cannot rename %s to %s: %s\n", tmp, dest,
			        strerror(errno));
			code = 1;
		}
		if (code != 0)
			unlink(tmp);
	}
	return code;
}
