/* Single values read from slurm.conf, for the few settings Cairn follows:
 * SlurmUser, AccountingStorageType and ClusterName. */
#ifndef CAIRN_SLURM_CONF_H
#define CAIRN_SLURM_CONF_H

#include <stdbool.h>
#include <stddef.h>

/* The file SLURM_CONF names, else /etc/slurm/slurm.conf, else (a configless
 * node) the copy slurmd keeps in /run/slurm/conf/slurm.conf. */
const char *cairn_slurm_conf_path(void);

/* The last "KEY=value" line's value (keys match case-insensitively, as in
 * Slurm), following Include lines (relative to the including file, with
 * wildcards), into buf; false, and buf set to def, when there is none. */
bool cairn_slurm_conf_get(const char *key, const char *def, char *buf, size_t len);

#endif
