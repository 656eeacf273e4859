#include "config.h"
#include "store.h"
#include "xfer_pool.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void set_defaults(struct cairn_config *c)
{
	c->storage = xstrdup("file:///shared/cairn");
	c->workspace = xstrdup("account");
	c->s3_path_style = true;
	c->cache_dir = xstrdup("/var/cache/cairn");
	c->cache_max = 10ULL * 1000 * 1000 * 1000;
	c->state_dir = xstrdup("/run/cairn");
	c->lease_ttl = 60;
	c->lease_renew = 10;
	c->lease_wait = 300;
	static const char *prefixes[] = {"/tmp/", "/mnt/", "/opt/", "/home/", "/data/"};
	c->nallowed_prefixes = sizeof(prefixes) / sizeof(prefixes[0]);
	c->allowed_prefixes = xcalloc(c->nallowed_prefixes, sizeof(char *));
	for (size_t i = 0; i < c->nallowed_prefixes; i++)
		c->allowed_prefixes[i] = xstrdup(prefixes[i]);
	c->sandbox_force = xstrdup("no");
	c->sandbox_network = xstrdup("loopback");
	c->max_volumes_per_workspace = 1000;
	c->max_file_size = 0; /* no limit */
	c->transfers = 8;
	c->admin_group = NULL;
	c->log_file = NULL;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
	return 0;
}

static int set_prefixes(struct cairn_config *c, char *v, const char *key, int line,
                        struct cairn_err *err)
{
	for (size_t i = 0; i < c->nallowed_prefixes; i++)
		free(c->allowed_prefixes[i]);
	free(c->allowed_prefixes);
	c->allowed_prefixes = NULL;
	c->nallowed_prefixes = 0;
	char *save = NULL;
	for (char *tok = strtok_r(v, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		size_t n = strlen(tok);
		bool dots = strstr(tok, "/../") || strstr(tok, "/./") ||
		            (n >= 3 && !strcmp(tok + n - 3, "/..")) ||
		            (n >= 2 && !strcmp(tok + n - 2, "/."));
		if (tok[0] != '/' || n < 2 || dots) {
			cairn_seterr(err,
			             "%s:%d: %s: \"%s\" is not an absolute directory prefix; "
			             "write prefixes like /data/",
			             c->path, line, key, tok);
			return -1;
		}
		c->allowed_prefixes =
		    xrealloc(c->allowed_prefixes, (c->nallowed_prefixes + 1) * sizeof(char *));
		c->allowed_prefixes[c->nallowed_prefixes++] =
		    tok[n - 1] == '/' ? xstrdup(tok) : xasprintf("%s/", tok);
	}
	return 0;
}

static int set_seconds(unsigned *dst, const char *v, const char *key, const char *path, int line,
                       struct cairn_err *err)
{
	unsigned long long n;
	if (parse_uint(v, 86400 * 7, &n) < 0) {
		cairn_seterr(err, "%s:%d: %s = %s: expected a number of seconds", path, line, key,
		             v);
		return -1;
	}
	*dst = (unsigned)n;
	return 0;
}

static int set_size(unsigned long long *dst, const char *v, const char *key, const char *path,
                    int line, struct cairn_err *err)
{
	if (parse_size(v, dst) < 0) {
		cairn_seterr(err, "%s:%d: %s = %s: expected a size such as 10G, 512M or 4096", path,
		             line, key, v);
		return -1;
	}
	return 0;
}

static int set_count(unsigned long long *dst, const char *v, const char *key, const char *path,
                     int line, struct cairn_err *err)
{
	if (parse_uint(v, 1ULL << 40, dst) < 0) {
		cairn_seterr(err, "%s:%d: %s = %s: expected a whole number", path, line, key, v);
		return -1;
	}
	return 0;
}

static int apply(struct cairn_config *c, const char *key, char *v, int line, struct cairn_err *err)
{
	const char *p = c->path;
	if (!strcasecmp(key, "Storage")) {
		if (strncmp(v, "file:///", 8) && strncmp(v, "s3://", 5)) {
			cairn_seterr(err,
			             "%s:%d: Storage = %s: unsupported URL; use file:///path or "
			             "s3://bucket/prefix",
			             p, line, v);
			return -1;
		}
		return set_str(&c->storage, v);
	}
	if (!strcasecmp(key, "Workspace"))
		return set_str(&c->workspace, v);
	if (!strcasecmp(key, "S3Endpoint")) {
		if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
			cairn_seterr(err,
			             "%s:%d: S3Endpoint = %s: expected http://HOST[:PORT] or "
			             "https://HOST[:PORT]",
			             p, line, v);
			return -1;
		}
		return set_str(&c->s3_endpoint, v);
	}
	if (!strcasecmp(key, "S3Region"))
		return set_str(&c->s3_region, v);
	if (!strcasecmp(key, "S3Credentials")) {
		if (v[0] != '/') {
			cairn_seterr(err, "%s:%d: S3Credentials = %s: must be an absolute path", p,
			             line, v);
			return -1;
		}
		return set_str(&c->s3_credentials, v);
	}
	if (!strcasecmp(key, "S3PathStyle")) {
		if (strcasecmp(v, "yes") && strcasecmp(v, "no")) {
			cairn_seterr(err, "%s:%d: S3PathStyle = %s: use yes or no", p, line, v);
			return -1;
		}
		c->s3_path_style = !strcasecmp(v, "yes");
		return 0;
	}
	if (!strcasecmp(key, "CacheDir") || !strcasecmp(key, "StateDir")) {
		if (v[0] != '/') {
			cairn_seterr(err, "%s:%d: %s = %s: must be an absolute path", p, line, key,
			             v);
			return -1;
		}
		return set_str(!strcasecmp(key, "CacheDir") ? &c->cache_dir : &c->state_dir, v);
	}
	if (!strcasecmp(key, "CacheMax"))
		return set_size(&c->cache_max, v, key, p, line, err);
	if (!strcasecmp(key, "LeaseTTL"))
		return set_seconds(&c->lease_ttl, v, key, p, line, err);
	if (!strcasecmp(key, "LeaseRenew"))
		return set_seconds(&c->lease_renew, v, key, p, line, err);
	if (!strcasecmp(key, "LeaseWait"))
		return set_seconds(&c->lease_wait, v, key, p, line, err);
	if (!strcasecmp(key, "AllowedMountPrefixes"))
		return set_prefixes(c, v, key, line, err);
	if (!strcasecmp(key, "SandboxForce"))
		return set_str(&c->sandbox_force, v);
	if (!strcasecmp(key, "SandboxNetwork")) {
		if (strcmp(v, "loopback") && strcmp(v, "host")) {
			cairn_seterr(err, "%s:%d: SandboxNetwork = %s: use loopback or host", p,
			             line, v);
			return -1;
		}
		return set_str(&c->sandbox_network, v);
	}
	if (!strcasecmp(key, "SandboxMemory"))
		return set_size(&c->sandbox_memory, v, key, p, line, err);
	if (!strcasecmp(key, "SandboxPids"))
		return set_count(&c->sandbox_pids, v, key, p, line, err);
	if (!strcasecmp(key, "SandboxCPUs"))
		return set_count(&c->sandbox_cpus, v, key, p, line, err);
	if (!strcasecmp(key, "MaxVolumesPerWorkspace"))
		return set_count(&c->max_volumes_per_workspace, v, key, p, line, err);
	if (!strcasecmp(key, "MaxFileSize"))
		return set_size(&c->max_file_size, v, key, p, line, err);
	if (!strcasecmp(key, "Transfers")) {
		unsigned long long n;
		if (parse_uint(v, CAIRN_TRANSFERS_MAX, &n) < 0 || n == 0) {
			cairn_seterr(err, "%s:%d: Transfers = %s: expected a number from 1 to %d",
			             p, line, v, CAIRN_TRANSFERS_MAX);
			return -1;
		}
		c->transfers = (unsigned)n;
		return 0;
	}
	if (!strcasecmp(key, "AdminGroup"))
		return set_str(&c->admin_group, v);
	if (!strcasecmp(key, "LogFile"))
		return set_str(&c->log_file, v);
	cairn_seterr(err, "%s:%d: unknown key \"%s\"; see cairn.conf(5) for the valid keys", p,
	             line, key);
	return -1;
}

int cairn_config_load(const char *path, struct cairn_config *cfg, struct cairn_err *err)
{
	int rv = -1;
	bool named = true;
	autofclose FILE *f = NULL;
	autofree char *line = NULL;
	size_t cap = 0;
	int lineno = 0;

	char beside[4096];
	memset(cfg, 0, sizeof(*cfg));
	if (!path)
		path = getenv("CAIRN_CONF");
	if (!path || !*path) {
		/* Like Slurm's own extra config files: next to slurm.conf. slurmd hands
		 * SLURM_CONF to the Prolog, Epilog and slurmstepd, but not CAIRN_CONF. */
		const char *sc = getenv("SLURM_CONF");
		const char *slash = sc ? strrchr(sc, '/') : NULL;
		path = CAIRN_DEFAULT_CONF;
		if (slash && (size_t)(slash - sc) < sizeof(beside) - 12) {
			snprintf(beside, sizeof(beside), "%.*s/cairn.conf", (int)(slash - sc), sc);
			if (access(beside, F_OK) == 0)
				path = beside;
		}
		named = false;
	}
	cfg->path = xstrdup(path);
	set_defaults(cfg);

	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !named)
			return 0;
		cairn_seterr(err, "cannot read %s: %s; create it or set CAIRN_CONF", path,
		             strerror(errno));
		goto fail;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			cairn_seterr(err, "%s:%d: expected \"key = value\"", path, lineno);
			goto fail;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		if (!*key || !*val) {
			cairn_seterr(err, "%s:%d: expected \"key = value\" with a non-empty value",
			             path, lineno);
			goto fail;
		}
		if (apply(cfg, key, val, lineno, err) < 0)
			goto fail;
	}
	if (ferror(f)) {
		cairn_seterr(err, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (cfg->lease_renew == 0 || cfg->lease_renew >= cfg->lease_ttl) {
		cairn_seterr(err, "%s: LeaseRenew (%u) must be positive and below LeaseTTL (%u)",
		             path, cfg->lease_renew, cfg->lease_ttl);
		goto fail;
	}
	cairn_store_s3_configure(cfg->s3_endpoint, cfg->s3_region, cfg->s3_path_style,
	                         cfg->s3_credentials);
	cairn_transfers_set(cfg->transfers);
	rv = 0;
fail:
	if (rv < 0)
		cairn_config_free(cfg);
	return rv;
}

void cairn_config_free(struct cairn_config *c)
{
	free(c->path);
	free(c->storage);
	free(c->s3_endpoint);
	free(c->s3_region);
	free(c->s3_credentials);
	free(c->workspace);
	free(c->cache_dir);
	free(c->state_dir);
	for (size_t i = 0; i < c->nallowed_prefixes; i++)
		free(c->allowed_prefixes[i]);
	free(c->allowed_prefixes);
	free(c->sandbox_force);
	free(c->sandbox_network);
	free(c->admin_group);
	free(c->log_file);
	memset(c, 0, sizeof(*c));
}

bool cairn_sandbox_forced(const struct cairn_config *cfg, const char *partition)
{
	const char *f = cfg->sandbox_force;
	if (!f || !strcasecmp(f, "no"))
		return false;
	if (!strcasecmp(f, "yes"))
		return true;
	if (!partition)
		return false;
	autofree char *list = xstrdup(f);
	char *save = NULL;
	for (char *p = strtok_r(list, " ,", &save); p; p = strtok_r(NULL, " ,", &save))
		if (!strcmp(p, partition))
			return true;
	return false;
}
