/* cairn-epilog: Slurm's Epilog, as root on every node of a job. On the batch host
 * it syncs each writable volume back as a new version; everywhere it releases the
 * cache and forgets the job. The summary lines are appended to the job's output
 * file, written as the user. It exits 0 for anything the user caused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "creds.h"
#include "job.h"
#include "job_info.h"
#include "sandbox.h"
#include "xfer_pool.h"

/* As the user: append lines to the job's output file, never following a symlink. */
static void append_lines(const struct cairn_user *u, const char *path, char *const *lines, size_t n)
{
	if (!path || !*path || path[0] != '/' || !n)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		struct cairn_err err = {0};
		if (cairn_drop_privileges(u, &err) < 0)
			_exit(1);
		/* Never block on a FIFO put in its place. */
		int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat sb;
		if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) < 0)
			_exit(1);
		for (size_t i = 0; i < n; i++) {
			autofree char *l = xasprintf("%s\n", lines[i]);
			if (write_all(fd, l, strlen(l)) < 0)
				_exit(1);
		}
		_exit(0);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

struct job_output {
	struct cairn_user u;
	const char *path;
};

/* A long sync reports its progress in the job's output as it goes. */
static void progress_to_output(void *arg, const char *line)
{
	struct job_output *o = arg;
	char *l = (char *)line;
	append_lines(&o->u, o->path, &l, 1);
}

int main(void)
{
	const char *job_id = getenv("SLURM_JOB_ID");
	struct cairn_config cfg;
	struct cairn_err err = {0};
	struct cairn_job_record rec;
	struct cairn_slurm_job sj = {0};
	char msg[CAIRN_ERRLEN];

	if (!job_id) {
		fprintf(stderr, "cairn-epilog: run me as Slurm's Epilog (SLURM_JOB_ID is "
		                "missing)\n");
		return 1;
	}
	if (cairn_config_load(NULL, &cfg, &err) < 0) {
		fprintf(stderr, "cairn-epilog: job %s: %s\n", job_id, err.msg);
		return 0;
	}
	int r = cairn_job_record_load(&cfg, job_id, &rec, &err);
	if (r == CAIRN_JOB_NONE) {
		cairn_config_free(&cfg);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "cairn-epilog: job %s: %s\n", job_id, err.msg);
		cairn_config_free(&cfg);
		return 0;
	}
	/* The prolog's lines were shown at start; start afresh for the sync. */
	cairn_strv_free(rec.lines, rec.nlines);
	rec.lines = NULL;
	rec.nlines = 0;
	struct job_output out = {0};
	struct cairn_err uerr = {0};
	bool have_user = cairn_user_lookup(NULL, rec.uid, rec.gid, &out.u, &uerr) == 0;
	bool have_job = cairn_slurm_job_load(job_id, &sj, msg, sizeof(msg)) == 0;
	if (have_user && have_job) {
		out.path = sj.std_out;
		cairn_progress_set(progress_to_output, &out, 3.0, 10.0);
	}
	if (rec.nvol) {
		/* The keeper renews the leases while we sync, as long as we live. */
		rec.epilog_pid = (int)getpid();
		(void)cairn_job_record_save(&cfg, &rec, &err);
		if (cairn_job_finish(&cfg, &rec, &err) < 0) {
			openlog("cairn-epilog", LOG_PID, LOG_DAEMON);
			syslog(LOG_ERR, "job %s: %s", job_id, err.msg);
			closelog();
			for (size_t i = 0; i < rec.nlines; i++)
				fprintf(stderr, "cairn-epilog: job %s: %s\n", job_id, rec.lines[i]);
		}
		if (have_user && have_job)
			append_lines(&out.u, sj.std_out, rec.lines, rec.nlines);
	}
	cairn_progress_set(NULL, NULL, 0, 0);
	if (have_user)
		cairn_user_free(&out.u);
	if (rec.sandbox != CAIRN_SANDBOX_NONE) {
		autofree char *cg = xasprintf("cairn/job%s", job_id);
		cairn_limits_remove(cg);
	}
	cairn_job_record_remove(&cfg, job_id);
	cairn_slurm_job_free(&sj);
	cairn_job_record_free(&rec);
	cairn_config_free(&cfg);
	return 0;
}
