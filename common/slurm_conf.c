#include "slurm_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

bool cairn_slurm_conf_get(const char *key, const char *def, char *buf, size_t len)
{
	const char *path = getenv("SLURM_CONF");
	autofclose FILE *f = fopen(path && *path ? path : "/etc/slurm/slurm.conf", "re");
	size_t klen = strlen(key);
	bool found = false;
	char line[1024];
	snprintf(buf, len, "%s", def);
	while (f && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		if (strncasecmp(p, key, klen))
			continue;
		p += klen;
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		p += strspn(p, " \t");
		p[strcspn(p, " \t\r\n#")] = '\0';
		if (*p) {
			snprintf(buf, len, "%s", p);
			found = true;
		}
	}
	return found;
}
