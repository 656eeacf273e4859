#include "membership.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slurm_conf.h"

#define SACCTMGR_TIMEOUT_MS 15000
#define SACCTMGR_OUT_MAX 65536
/* slurmd runs the Prolog without PATH: where Slurm's commands usually are. */
#define SLURM_BIN_PATH "/usr/bin:/bin:/usr/local/bin:/opt/slurm/bin:/usr/local/slurm/bin"

bool cairn_accounting_enabled(void)
{
	char type[128];
	cairn_slurm_conf_get("AccountingStorageType", "accounting_storage/none", type,
	                     sizeof(type));
	return !strcasecmp(type, "accounting_storage/slurmdbd");
}

bool cairn_workspace_members_known(const struct cairn_config *cfg)
{
	return cfg->workspace && !strcasecmp(cfg->workspace, "account") &&
	       cairn_accounting_enabled();
}

/* Names go to sacctmgr as one argument each, but its "where" clause splits on
 * commas: refuse anything beyond a Slurm name's characters (and '@' in user
 * names, as sssd gives them). */
static bool plain_name(const char *s, bool at_ok)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.' ||
		      (at_ok && *s == '@')))
			return false;
	return true;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv with stdout and stderr into out (at most SACCTMGR_OUT_MAX bytes, NUL
 * terminated); returns the wait status, or -1 if it could not run or timed out. */
static int run_capture(char *const argv[], char *out, size_t outlen)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	/* Above the standard streams, so that the child's dup2 never finds its
	 * target already there (and close-on-exec). */
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0 && pfd[i] < 3) {
			int moved = fcntl(pfd[i], F_DUPFD_CLOEXEC, 3);
			close(pfd[i]);
			pfd[i] = moved;
		}
	if (pfd[0] < 0 || pfd[1] < 0) {
		if (pfd[0] >= 0)
			close(pfd[0]);
		if (pfd[1] >= 0)
			close(pfd[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(127);
		if (!getenv("PATH"))
			setenv("PATH", SLURM_BIN_PATH, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	long long deadline = now_ms() + SACCTMGR_TIMEOUT_MS;
	bool timed_out = false;
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			timed_out = true; /* (or poll failed: stop it either way) */
			break;
		}
		char buf[4096];
		ssize_t n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t keep = outlen - 1 - got < (size_t)n ? outlen - 1 - got : (size_t)n;
		memcpy(out + got, buf, keep);
		got += keep;
	}
	out[got] = '\0';
	close(pfd[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return timed_out ? -1 : status;
}

enum cairn_member cairn_workspace_member(const struct cairn_config *cfg, const char *ws,
                                         const struct cairn_user *u, struct cairn_err *err)
{
	if (!cairn_workspace_members_known(cfg))
		return CAIRN_MEMBER_OPEN;
	if (!plain_name(ws, false)) {
		cairn_setuerr(err, "workspace %.100s: not a Slurm account name", ws);
		return CAIRN_MEMBER_ERROR;
	}
	if (!u->name || !plain_name(u->name, true)) {
		cairn_setuerr(err, "user %.100s: a name sacctmgr cannot be asked about",
		              u->name ? u->name : "?");
		return CAIRN_MEMBER_ERROR;
	}
	/* One answer per process (a job's Prolog, one CLI request) and pair, a
	 * failure too: `cairn list` asks once, not once per volume, and a slurmdbd
	 * that does not answer costs one timeout, not one per volume. */
	static char last_ws[256], last_user[256];
	static bool have_last;
	static enum cairn_member last;
	static struct cairn_err last_err;
	if (have_last && !strcasecmp(last_ws, ws) && !strcmp(last_user, u->name)) {
		if (last != CAIRN_MEMBER_YES)
			*err = last_err;
		return last;
	}
	snprintf(last_ws, sizeof(last_ws), "%s", ws);
	snprintf(last_user, sizeof(last_user), "%s", u->name);
	have_last = true;
	/* Only this cluster's associations count when one slurmdbd serves several. */
	char cluster[256];
	cairn_slurm_conf_get("ClusterName", "", cluster, sizeof(cluster));
	bool one_cluster = plain_name(cluster, false);
	autofree char *users = xasprintf("users=%s", u->name);
	autofree char *accounts = xasprintf("accounts=%s", ws);
	autofree char *clusters = xasprintf("clusters=%s", cluster);
	char *argv[11] = {"sacctmgr",     "--noheader", "--parsable2", "show",
	                  "associations", "where",      users,         accounts};
	size_t argc = 8;
	if (one_cluster)
		argv[argc++] = clusters;
	argv[argc++] = "format=account";
	argv[argc] = NULL;
	autofree char *out = xcalloc(1, SACCTMGR_OUT_MAX);
	int status = run_capture(argv, out, SACCTMGR_OUT_MAX);
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		out[strcspn(out, "\n")] = '\0';
		const char *what = status < 0 ? "did not answer in time or could not run"
		                   : WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "not found"
		                                                                     : "failed";
		cairn_setuerr(err,
		              "workspace %.100s: cannot ask Slurm's accounting who belongs to it "
		              "(sacctmgr %s%s%.200s); ask an admin to check slurmdbd",
		              ws, what, *out ? ": " : "", out);
		last = CAIRN_MEMBER_ERROR;
		last_err = *err;
		return CAIRN_MEMBER_ERROR;
	}
	char *save = NULL;
	enum cairn_member m = CAIRN_MEMBER_NO;
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strcasecmp(line, ws))
			m = CAIRN_MEMBER_YES;
	if (m == CAIRN_MEMBER_NO)
		cairn_setuerr(err,
		              "user %s is not a member of workspace %s (no association with Slurm "
		              "account %s); ask an admin to add you to it",
		              u->name, ws, ws);
	last = m;
	last_err = *err;
	return m;
}
