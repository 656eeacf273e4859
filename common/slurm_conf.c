#include "slurm_conf.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

/* Slurm nests Include files; a loop of them stops here. */
#define INCLUDE_DEPTH 8

struct lookup {
	const char *key;
	size_t klen;
	char *buf;
	size_t len;
	bool found;
};

static void scan_file(const char *path, struct lookup *l, int depth);

/* "Include PATTERN": relative to the including file's directory, with
 * wildcards, as Slurm reads it. */
static void scan_include(const char *from, char *arg, struct lookup *l, int depth)
{
	arg[strcspn(arg, "\r\n#")] = '\0';
	size_t n = strlen(arg);
	while (n && (arg[n - 1] == ' ' || arg[n - 1] == '\t'))
		arg[--n] = '\0';
	if (!n || depth >= INCLUDE_DEPTH)
		return;
	autofree char *pattern = NULL;
	if (arg[0] == '/') {
		pattern = xstrdup(arg);
	} else {
		autofree char *dir = xstrdup(from);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		pattern = slash ? xasprintf("%s/%s", dir, arg) : xstrdup(arg);
	}
	glob_t g;
	if (glob(pattern, 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++)
		scan_file(g.gl_pathv[i], l, depth + 1);
	globfree(&g);
}

static void scan_file(const char *path, struct lookup *l, int depth)
{
	autofclose FILE *f = fopen(path, "re");
	char line[1024];
	while (f && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		if (!strncasecmp(p, "include", 7) && (p[7] == ' ' || p[7] == '\t')) {
			scan_include(path, p + 8 + strspn(p + 8, " \t"), l, depth);
			continue;
		}
		if (strncasecmp(p, l->key, l->klen))
			continue;
		p += l->klen;
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		p += strspn(p, " \t");
		p[strcspn(p, " \t\r\n#")] = '\0';
		if (*p) {
			snprintf(l->buf, l->len, "%s", p);
			l->found = true;
		}
	}
}

const char *cairn_slurm_conf_path(void)
{
	const char *env = getenv("SLURM_CONF");
	if (env && *env)
		return env;
	/* A configless node keeps what slurmctld sent it here. */
	if (access("/etc/slurm/slurm.conf", F_OK) != 0 &&
	    access("/run/slurm/conf/slurm.conf", F_OK) == 0)
		return "/run/slurm/conf/slurm.conf";
	return "/etc/slurm/slurm.conf";
}

bool cairn_slurm_conf_get(const char *key, const char *def, char *buf, size_t len)
{
	struct lookup l = {.key = key, .klen = strlen(key), .buf = buf, .len = len};
	snprintf(buf, len, "%s", def);
	scan_file(cairn_slurm_conf_path(), &l, 0);
	return l.found;
}
