#include "srun_args.h"

#include <stdio.h>
#include <string.h>

enum arg_kind { ARG_NONE, ARG_REQUIRED, ARG_OPTIONAL };

struct srun_opt {
	const char *name; /* long name, exactly: an abbreviation is refused */
	char letter;      /* short letter, or 0 */
	enum arg_kind arg;
};

/* Options that only shape a step of this job, its tasks and srun's own output. */
static const struct srun_opt allowed[] = {
    {"ntasks", 'n', ARG_REQUIRED},
    {"nodes", 'N', ARG_REQUIRED},
    {"cpus-per-task", 'c', ARG_REQUIRED},
    {"label", 'l', ARG_NONE},
    {"unbuffered", 'u', ARG_NONE},
    {"kill-on-bad-exit", 'K', ARG_OPTIONAL},
    {"wait", 'W', ARG_REQUIRED},
    {"distribution", 'm', ARG_REQUIRED},
    {"job-name", 'J', ARG_REQUIRED},
    {"time", 't', ARG_REQUIRED},
    {"quiet", 'Q', ARG_NONE},
    {"verbose", 'v', ARG_NONE},
    {"disable-status", 'X', ARG_NONE},
    {"nodelist", 'w', ARG_REQUIRED},
    {"exclude", 'x', ARG_REQUIRED},
    {"relative", 'r', ARG_REQUIRED},
    {"overcommit", 'O', ARG_NONE},
    {"oversubscribe", 's', ARG_NONE},
    {"immediate", 'I', ARG_OPTIONAL},
    {"gpus", 'G', ARG_REQUIRED},
    {"help", 'h', ARG_NONE},
    {"version", 'V', ARG_NONE},
    {"usage", 0, ARG_NONE},
    {"ntasks-per-node", 0, ARG_REQUIRED},
    {"ntasks-per-core", 0, ARG_REQUIRED},
    {"ntasks-per-socket", 0, ARG_REQUIRED},
    {"ntasks-per-gpu", 0, ARG_REQUIRED},
    {"mpi", 0, ARG_REQUIRED},
    {"exclusive", 0, ARG_OPTIONAL},
    {"overlap", 0, ARG_NONE},
    {"exact", 0, ARG_NONE},
    {"whole", 0, ARG_NONE},
    {"mem", 0, ARG_REQUIRED},
    {"mem-per-cpu", 0, ARG_REQUIRED},
    {"mem-per-gpu", 0, ARG_REQUIRED},
    {"gpus-per-node", 0, ARG_REQUIRED},
    {"gpus-per-task", 0, ARG_REQUIRED},
    {"gpus-per-socket", 0, ARG_REQUIRED},
    {"cpus-per-gpu", 0, ARG_REQUIRED},
    {"gres", 0, ARG_REQUIRED},
    {"gres-flags", 0, ARG_REQUIRED},
    {"gpu-bind", 0, ARG_REQUIRED},
    {"cpu-bind", 0, ARG_REQUIRED},
    {"mem-bind", 0, ARG_REQUIRED},
    {"hint", 0, ARG_REQUIRED},
    {"threads-per-core", 0, ARG_REQUIRED},
    {"cores-per-socket", 0, ARG_REQUIRED},
    {"sockets-per-node", 0, ARG_REQUIRED},
    {"cpu-freq", 0, ARG_REQUIRED},
    {"export", 0, ARG_REQUIRED},
    {"propagate", 0, ARG_OPTIONAL},
    {"pty", 0, ARG_NONE},
    {"quit-on-interrupt", 0, ARG_NONE},
    {"spread-job", 0, ARG_NONE},
    {"use-min-nodes", 0, ARG_NONE},
};

/* Refused for a reason worth telling; anything else unknown gets the general line. */
static const struct {
	const char *name;
	char letter;
	const char *why;
} refused[] = {
    {"input", 'i', "srun would open that file outside the sandbox; use a shell redirection"},
    {"output", 'o', "srun would open that file outside the sandbox; use a shell redirection"},
    {"error", 'e', "srun would open that file outside the sandbox; use a shell redirection"},
    {"open-mode", 0, "it goes with --output/--error; use a shell redirection"},
    {"chdir", 'D', "steps run in the job's working directory; cd in the command instead"},
    {"jobid", 0, "steps started in the sandbox belong to this job"},
    {"task-prolog", 0, "it runs a program outside the sandbox"},
    {"task-epilog", 0, "it runs a program outside the sandbox"},
    {"prolog", 0, "it runs a program outside the sandbox"},
    {"epilog", 0, "it runs a program outside the sandbox"},
    {"bcast", 0, "it copies files from outside the sandbox"},
    {"bcast-exclude", 0, "it copies files from outside the sandbox"},
    {"send-libs", 0, "it copies files from outside the sandbox"},
    {"multi-prog", 0, "srun would read the configuration file outside the sandbox"},
};

static const char *refusal(const char *name, char letter)
{
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if ((name && !strcmp(name, refused[i].name)) ||
		    (letter && letter == refused[i].letter))
			return refused[i].why;
	return "only options that shape a step of this job are available there (see cairn's "
	       "README, \"Multi-step jobs\")";
}

static void refuse(char *why, size_t whylen, const char *name, char letter)
{
	if (name)
		snprintf(why, whylen, "srun option --%s is not available inside the sandbox: %s",
		         name, refusal(name, 0));
	else
		snprintf(why, whylen, "srun option -%c is not available inside the sandbox: %s",
		         letter, refusal(NULL, letter));
}

static const struct srun_opt *by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strlen(allowed[i].name) == len && !strncmp(allowed[i].name, name, len))
			return &allowed[i];
	return NULL;
}

static const struct srun_opt *by_letter(char c)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i].letter == c)
			return &allowed[i];
	return NULL;
}

/* An option's value that srun would take for something outside the sandbox. */
static bool bad_value(const struct srun_opt *o, const char *v, char *why, size_t whylen)
{
	if (!v)
		return false;
	/* A node list with a '/' is a file srun reads (as the user, outside). */
	if ((!strcmp(o->name, "nodelist") || !strcmp(o->name, "exclude")) && strchr(v, '/')) {
		snprintf(why, whylen,
		         "srun option --%s with a file name is not available inside the sandbox: "
		         "srun would read that file outside it; list the nodes instead",
		         o->name);
		return true;
	}
	/* Variables the step's processes must not get from inside (the sandbox keeps
	 * the descriptor PMI_FD names, for instance). */
	if (!strcmp(o->name, "export") &&
	    (strstr(v, "PMI") || strstr(v, "SLURM_") || strstr(v, "LD_") || strstr(v, "SPANK"))) {
		snprintf(why, whylen,
		         "srun option --export with PMI*, SLURM_*, LD_* or SPANK* variables is not "
		         "available inside the sandbox; set them in the command instead");
		return true;
	}
	return false;
}

int cairn_srun_check_args(char *const *argv, size_t argc, char *why, size_t whylen)
{
	/* srun splits its arguments at every ":" into the components of a
	 * heterogeneous step, each with options of its own: none is checked, so none
	 * is allowed, wherever it stands. */
	for (size_t i = 1; i < argc; i++)
		if (!strcmp(argv[i], ":")) {
			snprintf(why, whylen,
			         "srun's ':' (heterogeneous steps) is not available inside the "
			         "sandbox; start one srun per component");
			return -1;
		}
	for (size_t i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			return 0;
		/* The command: srun stops reading options here ("+" in its optstring). */
		if (a[0] != '-' || !a[1])
			return 0;
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct srun_opt *o = by_name(name, len);
			if (!o) {
				char copy[64];
				snprintf(copy, sizeof(copy), "%.*s", (int)(len < 63 ? len : 63),
				         name);
				refuse(why, whylen, copy, 0);
				return -1;
			}
			const char *v = eq ? eq + 1 : NULL;
			if (o->arg == ARG_REQUIRED && !eq)
				v = ++i < argc ? argv[i] : NULL; /* the next word, whatever it is */
			if (bad_value(o, v, why, whylen))
				return -1;
			continue;
		}
		/* A cluster of short options: "-l", "-n2", "-ln", "2". */
		for (const char *p = a + 1; *p; p++) {
			const struct srun_opt *o = by_letter(*p);
			if (!o) {
				refuse(why, whylen, NULL, *p);
				return -1;
			}
			if (o->arg == ARG_NONE)
				continue;
			/* The rest of the word is the value; a required one may be the next
			 * word. */
			const char *v = p[1] ? p + 1 : NULL;
			if (!p[1] && o->arg == ARG_REQUIRED)
				v = ++i < argc ? argv[i] : NULL;
			if (bad_value(o, v, why, whylen))
				return -1;
			break;
		}
	}
	return 0;
}

bool cairn_srun_env_allowed(const char *entry)
{
	/* What srun, libc, the loader or libraries of srun's plugins would read. */
	static const char *const denied_prefix[] = {
	    "LD_",     "SLURM_", "SRUN_",  "SALLOC_", "SBATCH_", "SPANK_",   "_SLURM",
	    "MALLOC_", "PMI_",   "PMIX_",  "GLIBC_",  "LUA_",    "OPENSSL_", "HWLOC_",
	    "SSL_",    "CURL_",  "MUNGE_", "UCX_",    "PRTE_"};
	/* glibc's own list of what a setuid program must not trust, and the like. */
	static const char *const denied[] = {
	    "GCONV_PATH",  "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN",
	    "LOCPATH",     "NIS_PATH",    "NLSPATH",     "RESOLV_HOST_CONF",
	    "RES_OPTIONS", "TMPDIR",      "TZDIR",       "MUNGE_SOCKET"};
	/* Slurm input variables that only shape the step, as sbatch set them. */
	static const char *const shape[] = {
	    "SLURM_NTASKS",        "SLURM_NPROCS",           "SLURM_NNODES",
	    "SLURM_JOB_NUM_NODES", "SLURM_NTASKS_PER_NODE",  "SLURM_CPUS_PER_TASK",
	    "SLURM_MEM_PER_CPU",   "SLURM_MEM_PER_NODE",     "SLURM_MEM_PER_GPU",
	    "SLURM_GPUS",          "SLURM_GPUS_PER_TASK",    "SLURM_GPUS_PER_NODE",
	    "SLURM_DISTRIBUTION",  "SLURM_THREADS_PER_CORE", "SLURM_HINT"};
	const char *eq = strchr(entry, '=');
	if (!eq || eq == entry)
		return false;
	size_t len = (size_t)(eq - entry);
	for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++)
		if (strlen(shape[i]) == len && !strncmp(entry, shape[i], len))
			return true;
	for (size_t i = 0; i < sizeof(denied_prefix) / sizeof(denied_prefix[0]); i++)
		if (!strncmp(entry, denied_prefix[i], strlen(denied_prefix[i])))
			return false;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (strlen(denied[i]) == len && !strncmp(entry, denied[i], len))
			return false;
	return true;
}
