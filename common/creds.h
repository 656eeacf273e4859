/* Becoming the job's user, for good, before touching anything the user controls. */
#ifndef CAIRN_CREDS_H
#define CAIRN_CREDS_H

#include <sys/types.h>

#include "util.h"

struct cairn_user {
	uid_t uid;
	gid_t gid;
	char *name;
	char *home;
	gid_t *groups;
	int ngroups;
};

/* Look up by name or by uid (name NULL). */
int cairn_user_lookup(const char *name, uid_t uid, gid_t gid, struct cairn_user *u,
                      struct cairn_err *err);
void cairn_user_free(struct cairn_user *u);

/* setgroups, setresgid, setresuid, then verify with getresuid/getresgid that no way
 * back to root remains. Any failure is fatal to the caller (returns -1 with err). */
int cairn_drop_privileges(const struct cairn_user *u, struct cairn_err *err);

#endif
