/* Unit tests for what srun inside a full sandbox may pass to the real srun
 * outside (common/srun_args.c): options read the way srun's getopt_long("+...")
 * reads them, and the environment filter. */
#include <stdio.h>
#include <string.h>

#include "srun_args.h"
#include "tap.h"

/* Check a command line given as one string of space-separated words. */
static int check_line(const char *line, char *why, size_t whylen)
{
	char buf[512], *argv[64];
	size_t argc = 0;
	snprintf(buf, sizeof(buf), "srun %s", line);
	for (char *save = NULL, *w = strtok_r(buf, " ", &save); w && argc < 63;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	why[0] = '\0';
	return cairn_srun_check_args(argv, argc, why, whylen);
}

static void accepted(const char *line)
{
	char why[512], name[600];
	int r = check_line(line, why, sizeof(why));
	snprintf(name, sizeof(name), "srun args: passes: srun %s", line);
	CHECK_MSG(name, r == 0, "refused: %s", why);
}

static void refused(const char *line, const char *needle)
{
	char why[512], name[600];
	int r = check_line(line, why, sizeof(why));
	snprintf(name, sizeof(name), "srun args: refused: srun %s", line);
	CHECK_MSG(name, r < 0 && strstr(why, needle), "r=%d why=%s", r, why);
}

int main(void)
{
	/* Step shapes and srun's own output. */
	accepted("hostname");
	accepted("-n2 ./a.out");
	accepted("-n 2 -N1 --mpi=pmix ./a.out");
	accepted("-ln2 -c 4 ./a.out --output=x");
	accepted("--ntasks 4 --exclusive --overlap --cpu-bind=cores python train.py");
	accepted("-K -l bash -c true");
	accepted("-K1 bash");
	accepted("--kill-on-bad-exit=1 bash");
	accepted("--export=ALL,FOO=1 env");
	accepted("-- --output=x");
	accepted("--version");
	/* A value that looks like an option is the option's value, as for getopt. */
	accepted("-J --output=x true");
	accepted("--job-name --jobid=1 true");
	/* After the command everything is the command's. */
	accepted("bash -c 'x' --chdir=/ --output=/etc/passwd");
	/* Files, programs and other jobs on the host's side. */
	refused("--output=/home/u/.bashrc true", "--output is not available");
	refused("-o /tmp/x true", "-o is not available");
	refused("-lo/tmp/x true", "-o is not available");
	refused("--error=x true", "shell redirection");
	refused("-i /etc/shadow cat", "-i is not available");
	refused("--input=x cat", "--input");
	refused("--chdir=/ true", "working directory");
	refused("-D / true", "-D is not available");
	refused("--jobid=5 true", "belong to this job");
	refused("--task-prolog=/x true", "runs a program outside");
	refused("--task-epilog=/x true", "runs a program outside");
	refused("--prolog=/x true", "runs a program outside");
	refused("--epilog=/x true", "runs a program outside");
	refused("--bcast=/x true", "copies files");
	refused("--multi-prog conf", "configuration file");
	refused("-n1 --uid=0 true", "--uid is not available");
	/* Components of a heterogeneous step would escape the checks. */
	refused("-n1 true : --output=/home/u/.bashrc true", "heterogeneous steps");
	refused("true :", "heterogeneous steps");
	/* Values srun takes for files outside, or variables for the step. */
	refused("-w /home/u/.ssh/id_rsa true", "with a file name");
	refused("--nodelist=./hosts true", "with a file name");
	refused("-x/etc/passwd true", "with a file name");
	accepted("-w node[1-4] -x node5 true");
	refused("--export=ALL,PMI_FD=5 true", "PMI*");
	refused("--export ALL,LD_PRELOAD=/x.so true", "LD_*");
	accepted("--export=ALL,OMP_NUM_THREADS=4 true");
	/* Abbreviations (getopt would take them) and unknown options. */
	refused("--outp=x true", "--outp is not available");
	refused("--ntask=2 true", "--ntask is not available");
	refused("--sandbox true", "--sandbox is not available");
	refused("-Z true", "-Z is not available");
	refused("-A acct true", "-A is not available");
	/* The environment. */
	CHECK("srun env: PATH passes", cairn_srun_env_allowed("PATH=/usr/bin"));
	CHECK("srun env: OMP_NUM_THREADS passes", cairn_srun_env_allowed("OMP_NUM_THREADS=4"));
	CHECK("srun env: SLURM_NTASKS passes", cairn_srun_env_allowed("SLURM_NTASKS=4"));
	CHECK("srun env: SLURM_CPUS_PER_TASK passes",
	      cairn_srun_env_allowed("SLURM_CPUS_PER_TASK=2"));
	CHECK("srun env: LD_PRELOAD is dropped", !cairn_srun_env_allowed("LD_PRELOAD=/x.so"));
	CHECK("srun env: LD_LIBRARY_PATH is dropped",
	      !cairn_srun_env_allowed("LD_LIBRARY_PATH=/x"));
	CHECK("srun env: GCONV_PATH is dropped", !cairn_srun_env_allowed("GCONV_PATH=/x"));
	CHECK("srun env: GLIBC_TUNABLES is dropped", !cairn_srun_env_allowed("GLIBC_TUNABLES=x"));
	CHECK("srun env: SLURM_JOB_ID is dropped", !cairn_srun_env_allowed("SLURM_JOB_ID=1"));
	CHECK("srun env: SLURM_CONF is dropped", !cairn_srun_env_allowed("SLURM_CONF=/x"));
	CHECK("srun env: SLURM_STDOUTMODE is dropped",
	      !cairn_srun_env_allowed("SLURM_STDOUTMODE=/x"));
	CHECK("srun env: SLURM_TASK_PROLOG is dropped",
	      !cairn_srun_env_allowed("SLURM_TASK_PROLOG=/x"));
	CHECK("srun env: SRUN_ and SPANK_ are dropped",
	      !cairn_srun_env_allowed("SRUN_CPUS_PER_TASK=1") &&
	          !cairn_srun_env_allowed("SPANK_X=1"));
	CHECK("srun env: SLURM_NTASKSX is not SLURM_NTASKS",
	      !cairn_srun_env_allowed("SLURM_NTASKSX=1"));
	CHECK("srun env: an entry without = is dropped", !cairn_srun_env_allowed("PATH"));
	CHECK("srun env: LUA_PATH and OPENSSL_CONF are dropped",
	      !cairn_srun_env_allowed("LUA_PATH=/x/?.lua") &&
	          !cairn_srun_env_allowed("OPENSSL_CONF=/x"));
	TAP_DONE();
}
