/* Who may use a volume: its owner, the users and groups it is shared with,
 * and admins (root, slurm.conf's SlurmUser, members of AdminGroup). A volume
 * with no shares is open to every member of its workspace (membership.h). */
#ifndef CAIRN_ACCESS_H
#define CAIRN_ACCESS_H

#include <stdbool.h>

#include "config.h"
#include "creds.h"
#include "lease.h"

enum cairn_access { CAIRN_ACCESS_NONE = 0, CAIRN_ACCESS_RO, CAIRN_ACCESS_RW };

bool cairn_is_admin(const struct cairn_config *cfg, const struct cairn_user *u);

/* Is u the volume's owner (by uid when the state knows it, else by name)? */
bool cairn_is_owner(const struct cairn_vstate *vs, const struct cairn_user *u);

/* What u may do with the volume of workspace ws whose state is vs (rev 0: not
 * created yet). A volume without shares is open to the workspace's members
 * (membership.h); when that is what refuses u, why (if not NULL) says so. */
enum cairn_access cairn_access_for(const struct cairn_config *cfg, const char *ws,
                                   const struct cairn_vstate *vs, const struct cairn_user *u,
                                   struct cairn_err *why);

/* "shared with user a (rw), group g (ro)", for messages. */
char *cairn_shares_text(const struct cairn_vstate *vs);

#endif
