/* Single values read from slurm.conf (the file SLURM_CONF names, else
 * /etc/slurm/slurm.conf), for the few settings Cairn follows: SlurmUser and
 * AccountingStorageType. */
#ifndef CAIRN_SLURM_CONF_H
#define CAIRN_SLURM_CONF_H

#include <stdbool.h>
#include <stddef.h>

/* The last "KEY=value" line's value (keys match case-insensitively, as in
 * Slurm) into buf; false, and buf set to def, when there is none. */
bool cairn_slurm_conf_get(const char *key, const char *def, char *buf, size_t len);

#endif
