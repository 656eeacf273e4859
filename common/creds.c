#include "creds.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>

int cairn_user_lookup(const char *name, uid_t uid, gid_t gid, struct cairn_user *u,
                      struct cairn_err *err)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	memset(u, 0, sizeof(*u));
	int r = name ? getpwnam_r(name, &pw, buf, sizeof(buf), &res)
	             : getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
	if (r || !res) {
		if (name)
			cairn_seterr(err, "unknown user \"%s\"", name);
		else
			cairn_seterr(err, "unknown uid %u", (unsigned)uid);
		return -1;
	}
	u->uid = pw.pw_uid;
	u->gid = (name || gid == (gid_t)-1) ? pw.pw_gid : gid;
	u->name = xstrdup(pw.pw_name);
	u->home = xstrdup(pw.pw_dir);
	int n = 64;
	for (int tries = 0; tries < 4; tries++) {
		u->groups = xrealloc(u->groups, (size_t)n * sizeof(gid_t));
		int want = n;
		if (getgrouplist(u->name, u->gid, u->groups, &want) >= 0) {
			u->ngroups = want;
			return 0;
		}
		n = want > n ? want : n * 2;
	}
	cairn_seterr(err, "cannot read the groups of user %s", u->name);
	cairn_user_free(u);
	return -1;
}

void cairn_user_free(struct cairn_user *u)
{
	free(u->name);
	free(u->home);
	free(u->groups);
	memset(u, 0, sizeof(*u));
}

int cairn_drop_privileges(const struct cairn_user *u, struct cairn_err *err)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	if (u->uid == 0) {
		cairn_seterr(err, "refusing to run a user's part as root");
		return -1;
	}
	/* The kernel forgets the parent-death signal when the uid changes: keep it,
	 * or a killed root parent would leave the user's side running. */
	int deathsig = 0;
	pid_t parent = getppid();
	prctl(PR_GET_PDEATHSIG, &deathsig);
	if (setgroups((size_t)u->ngroups, u->groups) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0) {
		cairn_seterr(err, "cannot become user %s (uid %u): %s", u->name, (unsigned)u->uid,
		             strerror(errno));
		return -1;
	}
	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0 || r != u->uid ||
	    e != u->uid || s != u->uid || rg != u->gid || eg != u->gid || sg != u->gid ||
	    setresuid(0, 0, 0) == 0) {
		cairn_seterr(err, "privilege drop to %s did not hold", u->name);
		return -1;
	}
	/* Nothing run from here on may gain privileges through a setuid program. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (deathsig) {
		prctl(PR_SET_PDEATHSIG, deathsig);
		if (getppid() != parent)
			_exit(1);
	}
	return 0;
}
