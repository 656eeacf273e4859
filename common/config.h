/* cairn.conf: "key = value" lines, like Slurm's own config files. */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define CAIRN_DEFAULT_CONF "/etc/slurm/cairn.conf"

struct cairn_config {
	char *path;      /* the file read */
	char *storage;   /* URL: file:///shared/cairn or s3://bucket/prefix */
	char *workspace; /* "account" or a fixed name */
	char *cache_dir; /* node-local cache */
	unsigned long long cache_max;
	char *state_dir; /* root-owned per-job state on the node */
	unsigned lease_ttl, lease_renew, lease_wait;
	char **allowed_prefixes;
	size_t nallowed_prefixes;
	char *sandbox_force;   /* "no", "yes" or a partition list */
	char *sandbox_network; /* "loopback" or "host" */
	unsigned long long sandbox_memory, sandbox_pids, sandbox_cpus;
	unsigned long long max_volumes_per_workspace, max_file_size;
	unsigned transfers; /* Transfers = 8: objects moved at once per volume */
	char *admin_group;
	char *log_file; /* optional: where Prolog/Epilog append admin-facing lines */
	/* s3:// stores only; NULL keeps store_s3.c's defaults. */
	char *s3_endpoint;    /* S3Endpoint = http://127.0.0.1:7480 */
	char *s3_region;      /* S3Region = us-east-1 */
	char *s3_credentials; /* S3Credentials = /etc/slurm/cairn-s3.credentials (0600) */
	bool s3_path_style;   /* S3PathStyle = yes (default) | no (virtual-hosted) */
};

/* Load path; when path is NULL: $CAIRN_CONF, else cairn.conf beside $SLURM_CONF if
 * it exists, else /etc/slurm/cairn.conf. A missing file at the default path gives
 * the defaults; a named file that is missing is an error. */
int cairn_config_load(const char *path, struct cairn_config *cfg, struct cairn_err *err);
void cairn_config_free(struct cairn_config *cfg);

/* SandboxForce: "yes" for every job, "no", or a list of partitions. */
bool cairn_sandbox_forced(const struct cairn_config *cfg, const char *partition);

#endif
