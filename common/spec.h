/* What a job asks for: volumes (from --volume options and script annotations)
 * and the sandbox mode. Parsing, name rules, placeholders and mount-path rules.
 * Every error message names the option or the script line, the cause and the fix. */
#ifndef CAIRN_SPEC_H
#define CAIRN_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#define CAIRN_MAX_VOLUMES 10
#define CAIRN_NAME_MIN 2
#define CAIRN_NAME_MAX 255

enum cairn_sandbox {
	CAIRN_SANDBOX_NONE = 0,
	CAIRN_SANDBOX_FULL,
	CAIRN_SANDBOX_PID,
};

struct cairn_volume_spec {
	char *name_template; /* as written, may hold placeholders */
	char *name;          /* resolved; NULL until cairn_spec_resolve() */
	char *path;          /* mount path as written */
	bool readonly;
	char *origin; /* "--volume=agent:.agent" or "job.sh:3", used as message prefix */
};

/* Per-job sandbox limits (0: not asked; the admin's Sandbox* values apply). */
struct cairn_limits {
	unsigned long long memory; /* bytes */
	unsigned long long pids;
	unsigned long long cpus;
};

struct cairn_job_spec {
	struct cairn_volume_spec vol[CAIRN_MAX_VOLUMES];
	size_t nvol;
	enum cairn_sandbox sandbox;
	struct cairn_limits limits; /* with the sandbox's mode, from the same option or line */
};

/* A list of error lines, each complete ("job.sh:3: volume name ... ; fix: ..."). */
struct cairn_errlist {
	char **msg;
	size_t n;
};
void cairn_errlist_add(struct cairn_errlist *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cairn_errlist_free(struct cairn_errlist *l);

/* Context for placeholders, filled at job start. */
struct cairn_placeholder_ctx {
	const char *workspace;
	const char *user;
	const char *account;
	char *const *argv; /* batch script arguments; argv[0] is the script itself */
	int argc;
	char *const *envp; /* job environment, "NAME=value" */
};

/* Parse one --volume value "NAME:PATH[:ro]" (syntax and static rules only;
 * placeholders stay unresolved). Returns 0, or -1 with one message in err. */
int cairn_spec_parse_option(const char *value, struct cairn_volume_spec *out, char *err,
                            size_t errlen);

/* Parse a --sandbox value: [MODE][,memory=SIZE][,pids=N][,cpus=N]; NULL, "" or
 * "full" -> FULL, "pid" -> PID; limits need (and imply) full mode. */
int cairn_spec_parse_sandbox(const char *value, enum cairn_sandbox *out, struct cairn_limits *lim,
                             char *err, size_t errlen);

/* Read the annotations of a batch script: comment lines ("#" or "//") at the top,
 * up to the first line that is neither blank nor a comment. Recognised:
 * "# volume: NAME PATH [ro]", "# sandbox", "# sandbox: [pid|full] [memory=SIZE] [pids=N]
 * [cpus=N]", and the same with "//".
 * Appends volumes to spec (checking limit and duplicates), errors to errs.
 * script_name is used as the "FILE:LINE:" prefix. Returns 0 if no errors were added. */
int cairn_spec_parse_script(const char *text, size_t len, const char *script_name,
                            struct cairn_job_spec *spec, struct cairn_errlist *errs);

/* Append an already-parsed volume, checking the 10-volume limit and duplicate
 * names/paths (as written). Takes ownership of v's strings either way. */
int cairn_spec_add(struct cairn_job_spec *spec, struct cairn_volume_spec *v,
                   struct cairn_errlist *errs);

/* Check a resolved volume name against the rules. */
int cairn_name_check(const char *name, char *err, size_t errlen);

/* Resolve placeholders in a name template; the result is checked with cairn_name_check. */
int cairn_name_resolve(const char *tmpl, const struct cairn_placeholder_ctx *ctx, char **out,
                       char *err, size_t errlen);

/* Check a mount path: relative paths always (no "..", not empty, not "."), absolute
 * ones only with a sandbox and under one of the allowed prefixes. */
int cairn_mount_path_check(const char *path, enum cairn_sandbox sandbox,
                           char *const *allowed_prefixes, size_t nprefixes, char *err,
                           size_t errlen);

/* Resolve every name, check paths, and check duplicates after resolution. */
int cairn_spec_resolve(struct cairn_job_spec *spec, const struct cairn_placeholder_ctx *ctx,
                       char *const *allowed_prefixes, size_t nprefixes, struct cairn_errlist *errs);

/* Serialise / parse the spec to one line (for passing through the environment and
 * per-job state files). Hostile input safe. encode returns a malloc'd compact JSON
 * line, NULL on allocation failure or a string that is not UTF-8 (specs built by the
 * parsers above never have one). decode overwrites *spec (it must not own anything)
 * and re-checks every rule that does not need the job (see cairn_spec_decode in spec.c). */
char *cairn_spec_encode(const struct cairn_job_spec *spec);
int cairn_spec_decode(const char *s, struct cairn_job_spec *spec, char *err, size_t errlen);

void cairn_spec_free(struct cairn_job_spec *spec);

/* A mount path with "//" collapsed, "." components and trailing slashes dropped
 * ("" and "./" give ".", "/" stays "/"); ".." is kept. Used to compare paths. New string. */
char *cairn_path_normalize(const char *path);

/* s with control characters and invalid UTF-8 escaped as \xNN, for use in
 * messages (script names in "SCRIPT:LINE:" prefixes go through it). New string. */
char *cairn_printable(const char *s);

/* "none", "full" or "pid". */
const char *cairn_sandbox_name(enum cairn_sandbox mode);

#endif
