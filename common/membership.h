/* Who belongs to a workspace. With `Workspace = account` a workspace is a Slurm
 * account, and its members are the users with an association to it in Slurm's
 * accounting (slurmdbd): asked of sacctmgr. A cluster without slurmdbd has no
 * such list (Slurm takes any account name then), and a fixed workspace holds
 * everyone: in both cases every user counts as a member. */
#ifndef CAIRN_MEMBERSHIP_H
#define CAIRN_MEMBERSHIP_H

#include "config.h"
#include "creds.h"
#include "util.h"

enum cairn_member {
	CAIRN_MEMBER_ERROR = -1, /* sacctmgr could not say: err tells why */
	CAIRN_MEMBER_NO = 0,     /* err says so, and what to do */
	CAIRN_MEMBER_YES = 1,
	CAIRN_MEMBER_OPEN = 2, /* no accounting, or one fixed workspace: everyone */
};

enum cairn_member cairn_workspace_member(const struct cairn_config *cfg, const char *ws,
                                         const struct cairn_user *u, struct cairn_err *err);

/* Does this node's slurm.conf use slurmdbd (so that accounts have members)? */
bool cairn_accounting_enabled(void);
/* Are workspaces Slurm accounts whose members Slurm knows? */
bool cairn_workspace_members_known(const struct cairn_config *cfg);

#endif
