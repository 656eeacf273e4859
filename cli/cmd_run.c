/* cairn run: the job lifecycle on one machine, without Slurm: hydrate, run the
 * command as the user in a private mount namespace with the volumes bound, sync. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "creds.h"
#include "job.h"
#include "sandbox.h"
#include "spec.h"
#include "xfer_pool.h"

static volatile sig_atomic_t child_pid;

/* A signal the terminal sent (Ctrl-C, hang-up) went to the command's whole
 * process group already: passing it on would deliver it twice. */
static void forward(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	if (child_pid > 0 && si->si_code != SI_KERNEL)
		kill(child_pid, sig);
}

/* Wait for the command, renewing the volumes' leases every LeaseRenew seconds. */
static int wait_renewing(const struct cairn_config *cfg, const struct cairn_job_record *rec,
                         pid_t pid)
{
	struct cairn_store *st = NULL;
	struct cairn_err err = {0};
	int status = 0;
	double next = now_seconds() + cfg->lease_renew;
	if (cairn_store_open(cfg->storage, &st, &err) < 0)
		fprintf(stderr, "cairn run: %s; leases will not be renewed\n", err.msg);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		struct timespec ts = {.tv_nsec = 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (st && now_seconds() >= next) {
			memset(&err, 0, sizeof(err));
			int lost = cairn_job_renew(cfg, st, rec, &err);
			if (lost > 0)
				fprintf(stderr,
				        "cairn run: lost the lease of %d volume(s) to another "
				        "holder; changes will be kept as a conflict copy\n",
				        lost);
			else if (lost < 0)
				fprintf(stderr, "cairn run: cannot renew leases: %s\n", err.msg);
			next = now_seconds() + cfg->lease_renew;
		}
	}
	cairn_store_close(st);
	return status;
}

/* Progress of long transfers, on the terminal like the summary lines. */
static void progress_to_stderr(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "%s\n", line);
}

static void run_usage(FILE *f)
{
	fprintf(f, "Usage: cairn run [--volume NAME:PATH[:ro]]... [--user NAME] [--account A] "
	           "-- COMMAND [ARG]...\n"
	           "Runs COMMAND as the user with the volumes mounted, then syncs them back.\n"
	           "Must run as root (e.g. with sudo); the user defaults to $SUDO_USER.\n");
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"volume", required_argument, NULL, 'v'},  {"user", required_argument, NULL, 'u'},
	    {"account", required_argument, NULL, 'a'}, {"sandbox", optional_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	struct cairn_job_spec spec = {0};
	struct cairn_errlist errs = {0};
	const char *user = NULL, *account = NULL;
	int c, rv = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+v:u:a:h", opts, NULL)) != -1) {
		char msg[CAIRN_ERRLEN];
		switch (c) {
		case 'v': {
			struct cairn_volume_spec v = {0};
			if (cairn_spec_parse_option(optarg, &v, msg, sizeof(msg)) < 0) {
				fprintf(stderr, "cairn run: %s\n", msg);
				cairn_spec_free(&spec);
				return 2;
			}
			if (cairn_spec_add(&spec, &v, &errs) < 0) {
				fprintf(stderr, "cairn run: %s\n", errs.msg[0]);
				cairn_errlist_free(&errs);
				cairn_spec_free(&spec);
				return 2;
			}
			break;
		}
		case 's':
			if (cairn_spec_parse_sandbox(optarg, &spec.sandbox, &spec.limits, msg,
			                             sizeof(msg)) < 0) {
				fprintf(stderr, "cairn run: %s\n", msg);
				cairn_spec_free(&spec);
				return 2;
			}
			break;
		case 'u':
			user = optarg;
			break;
		case 'a':
			account = optarg;
			break;
		case 'h':
			run_usage(stdout);
			cairn_spec_free(&spec);
			return 0;
		default:
			run_usage(stderr);
			cairn_spec_free(&spec);
			return 2;
		}
	}
	if (optind >= argc) {
		run_usage(stderr);
		cairn_spec_free(&spec);
		return 2;
	}
	char **command = argv + optind;
	struct cairn_config cfg;
	struct cairn_err err = {0};
	struct cairn_user u = {0};
	struct cairn_job_record rec = {0};
	autofree char *cwd = getcwd(NULL, 0);
	autofree char *job_id = xasprintf("run%d", (int)getpid());
	autofree char *cgroup = xasprintf("cairn/%s", job_id);
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	if (geteuid() != 0) {
		fprintf(stderr, "cairn run: must run as root (try: sudo cairn run ...), since it "
		                "mounts volumes and reads the store\n");
		cairn_spec_free(&spec);
		return 1;
	}
	cairn_progress_set(progress_to_stderr, NULL, 2.0, 5.0);
	if (cairn_config_load(NULL, &cfg, &err) < 0) {
		fprintf(stderr, "cairn run: %s\n", err.msg);
		cairn_spec_free(&spec);
		return 1;
	}
	if (!user)
		user = getenv("SUDO_USER");
	if (cairn_user_lookup(user, getuid(), (gid_t)-1, &u, &err) < 0 || u.uid == 0) {
		fprintf(stderr, "cairn run: %s\n",
		        err.msg[0] ? err.msg
		                   : "refusing to run COMMAND as root; name a user with --user");
		goto out;
	}
	if (cairn_sandbox_forced(&cfg, NULL))
		spec.sandbox = CAIRN_SANDBOX_FULL;
	struct cairn_job_start js = {
	    .job_id = job_id,
	    .user = &u,
	    .account = account,
	    .workdir = cwd,
	    .sync_here = true,
	    .node = host,
	    .live = true,
	    /* $args[N] is COMMAND's N-th argument, as for a batch script. */
	    .argv = command,
	    .argc = argc - optind,
	    .envp = environ,
	};
	if (cairn_job_prepare(&cfg, &spec, &js, &rec, &err) < 0) {
		fprintf(stderr, "cairn run: %s\n", err.msg);
		goto out;
	}
	if (rec.error) {
		/* Still finish: it gives back the cache trees the job already held. */
		fprintf(stderr, "%s\n", rec.error);
		rv = 1;
		goto finish;
	}
	for (size_t i = 0; i < rec.nlines; i++)
		fprintf(stderr, "%s\n", rec.lines[i]);
	cairn_strv_free(rec.lines, rec.nlines);
	rec.lines = NULL;
	rec.nlines = 0;

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "cairn run: fork: %s\n", strerror(errno));
		goto finish;
	}
	if (pid == 0) {
		struct cairn_err cerr = {0};
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* A program named by path stays reachable inside the sandbox. */
		autofree char *keep_dir = NULL;
		if (command[0][0] == '/' && strrchr(command[0], '/') != command[0])
			keep_dir =
			    strndup(command[0], (size_t)(strrchr(command[0], '/') - command[0]));
		int r = rec.sandbox != CAIRN_SANDBOX_NONE
		            ? cairn_sandbox_enter(&cfg, &rec, &u, keep_dir, cgroup, NULL, &cerr)
		            : (cairn_private_mount_ns(0, &cerr) < 0
		                   ? -1
		                   : cairn_job_mount(&rec, &u, NULL, &cerr));
		if (r < 0 || cairn_drop_privileges(&u, &cerr) < 0) {
			fprintf(stderr, "cairn: %s\n", cerr.msg);
			_exit(125);
		}
		if (chdir(cwd) < 0) {
			fprintf(stderr, "cairn run: cannot enter %s: %s\n", cwd, strerror(errno));
			_exit(125);
		}
		execvp(command[0], command);
		fprintf(stderr, "cairn run: cannot run %s: %s\n", command[0], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	int status = wait_renewing(&cfg, &rec, pid);
	if (rec.sandbox != CAIRN_SANDBOX_NONE)
		cairn_limits_remove(cgroup);
	rv = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
finish:;
	struct cairn_err ferr = {0};
	int fr = cairn_job_finish(&cfg, &rec, &ferr);
	for (size_t i = 0; i < rec.nlines; i++)
		fprintf(stderr, "%s\n", rec.lines[i]);
	if (fr < 0 && rv == 0)
		rv = 1;
out:
	cairn_job_record_free(&rec);
	cairn_user_free(&u);
	cairn_config_free(&cfg);
	cairn_spec_free(&spec);
	return rv;
}
