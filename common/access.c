#include "access.h"

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membership.h"
#include "slurm_conf.h"
#include "util.h"

static bool in_group(const struct cairn_user *u, const char *group)
{
	struct group gr, *res = NULL;
	char buf[16384];
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	if (u->gid == res->gr_gid)
		return true;
	for (int i = 0; i < u->ngroups; i++)
		if (u->groups[i] == res->gr_gid)
			return true;
	return false;
}

/* slurm.conf's SlurmUser; Slurm's default is root. */
static const char *slurm_user(char *buf, size_t len)
{
	(void)cairn_slurm_conf_get("SlurmUser", "root", buf, len);
	return buf;
}

bool cairn_is_admin(const struct cairn_config *cfg, const struct cairn_user *u)
{
	char su[256];
	return u->uid == 0 ||
	       (cfg->admin_group && *cfg->admin_group && in_group(u, cfg->admin_group)) ||
	       (u->name && !strcmp(u->name, slurm_user(su, sizeof(su))));
}

bool cairn_is_owner(const struct cairn_vstate *vs, const struct cairn_user *u)
{
	if (!vs->owner)
		return false;
	if (vs->owner_uid >= 0)
		return (uid_t)vs->owner_uid == u->uid;
	return !strcmp(vs->owner, u->name);
}

enum cairn_access cairn_access_for(const struct cairn_config *cfg, const char *ws,
                                   const struct cairn_vstate *vs, const struct cairn_user *u,
                                   struct cairn_err *why)
{
	if (cairn_is_admin(cfg, u) || cairn_is_owner(vs, u))
		return CAIRN_ACCESS_RW;
	if (vs->nshares == 0 && !vs->shares_invalid) {
		struct cairn_err e = {0};
		enum cairn_member m = cairn_workspace_member(cfg, ws, u, &e);
		if (m == CAIRN_MEMBER_YES || m == CAIRN_MEMBER_OPEN)
			return CAIRN_ACCESS_RW;
		if (m == CAIRN_MEMBER_NO && vs->owner) {
			char more[CAIRN_ERRLEN];
			snprintf(more, sizeof(more), "%.400s, or %s to share the volume with you",
			         e.msg, vs->owner);
			memcpy(e.msg, more, sizeof(more));
		}
		if (why)
			*why = e;
		return CAIRN_ACCESS_NONE;
	}
	enum cairn_access best = CAIRN_ACCESS_NONE;
	for (size_t i = 0; i < vs->nshares && best != CAIRN_ACCESS_RW; i++) {
		const struct cairn_share *sh = &vs->shares[i];
		bool match = sh->group ? in_group(u, sh->name) : !strcmp(sh->name, u->name);
		if (match)
			best = sh->rw ? CAIRN_ACCESS_RW : CAIRN_ACCESS_RO;
	}
	return best;
}

char *cairn_shares_text(const struct cairn_vstate *vs)
{
	char *out = xstrdup("");
	for (size_t i = 0; i < vs->nshares; i++) {
		char *next = xasprintf("%s%s%s %s (%s)", out, i ? ", " : "",
		                       vs->shares[i].group ? "group" : "user", vs->shares[i].name,
		                       vs->shares[i].rw ? "rw" : "ro");
		free(out);
		out = next;
	}
	return out;
}
