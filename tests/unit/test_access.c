/* Unit tests for who may use a volume (common/access.c): owner, user and group
 * shares, the best grant, admins, and volumes without shares. */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "membership.h"
#include "tap.h"
#include "util.h"

static struct cairn_share share(bool group, const char *name, bool rw)
{
	return (struct cairn_share){.group = group, .name = (char *)name, .rw = rw};
}

int main(void)
{
	struct cairn_config cfg = {0};
	struct group *g = getgrgid(getgid());
	const char *mygroup = g ? g->gr_name : "root";
	gid_t none[1] = {0};
	struct cairn_user alice = {.uid = 5001, .gid = 5001, .name = "alice", .groups = none};
	struct cairn_user bob = {.uid = 5002, .gid = getgid(), .name = "bob", .groups = none};
	struct cairn_user root = {.uid = 0, .gid = 0, .name = "root", .groups = none};
	struct cairn_share sh[3];
	struct cairn_vstate vs = {.rev = 3, .owner = "alice", .owner_uid = 5001};

	CHECK("access: no shares: anyone reads and writes",
	      cairn_access_for(&cfg, "proj", &vs, &bob, NULL) == CAIRN_ACCESS_RW);
	sh[0] = share(false, "alice", true);
	vs.shares = sh;
	vs.nshares = 1;
	CHECK("access: shared with the owner only: others get nothing",
	      cairn_access_for(&cfg, "proj", &vs, &bob, NULL) == CAIRN_ACCESS_NONE);
	CHECK("access: the owner reads and writes",
	      cairn_access_for(&cfg, "proj", &vs, &alice, NULL) == CAIRN_ACCESS_RW);
	vs.owner_uid = 5009;
	sh[0] = share(false, "carol", true);
	CHECK("access: the owner is matched by uid when it is known, not by name",
	      cairn_access_for(&cfg, "proj", &vs, &alice, NULL) == CAIRN_ACCESS_NONE);
	sh[0] = share(false, "alice", true);
	vs.owner_uid = 5001;
	sh[1] = share(false, "bob", false);
	vs.nshares = 2;
	CHECK("access: a read-only user share",
	      cairn_access_for(&cfg, "proj", &vs, &bob, NULL) == CAIRN_ACCESS_RO);
	sh[2] = share(true, mygroup, true);
	vs.nshares = 3;
	CHECK("access: a read-write group share beats a read-only user share",
	      cairn_access_for(&cfg, "proj", &vs, &bob, NULL) == CAIRN_ACCESS_RW);
	sh[2].rw = false;
	sh[1].rw = true;
	CHECK("access: a read-write user share beats a read-only group share",
	      cairn_access_for(&cfg, "proj", &vs, &bob, NULL) == CAIRN_ACCESS_RW);
	vs.nshares = 1;
	CHECK("access: root is an admin",
	      cairn_access_for(&cfg, "proj", &vs, &root, NULL) == CAIRN_ACCESS_RW);
	cfg.admin_group = (char *)mygroup;
	CHECK("access: members of AdminGroup are admins",
	      cairn_is_admin(&cfg, &bob) &&
	          cairn_access_for(&cfg, "proj", &vs, &bob, NULL) == CAIRN_ACCESS_RW);
	cfg.admin_group = "no-such-group-cairn";
	CHECK("access: an AdminGroup that does not exist makes nobody admin",
	      !cairn_is_admin(&cfg, &bob) &&
	          cairn_access_for(&cfg, "proj", &vs, &bob, NULL) == CAIRN_ACCESS_NONE);
	struct cairn_config plain = {0};
	struct cairn_vstate broken = {
	    .rev = 2, .owner = "alice", .owner_uid = 5001, .shares_invalid = true};
	CHECK("access: unreadable shares close the volume to others",
	      cairn_access_for(&plain, "proj", &broken, &bob, NULL) == CAIRN_ACCESS_NONE &&
	          cairn_access_for(&plain, "proj", &broken, &alice, NULL) == CAIRN_ACCESS_RW);
	char conf[] = "/tmp/cairn-test-slurm.conf.XXXXXX";
	int fd = mkstemp(conf);
	if (fd >= 0) {
		dprintf(fd, "ClusterName=x\n  slurmuser = bob   # the daemons' user\n");
		close(fd);
	}
	setenv("SLURM_CONF", conf, 1);
	CHECK("access: slurm.conf's SlurmUser is an admin", cairn_is_admin(&cfg, &bob));
	CHECK("access: ... and nobody else", !cairn_is_admin(&cfg, &alice));
	unlink(conf);
	unsetenv("SLURM_CONF");
	/* Workspace membership: open without Slurm's accounting or with a fixed
	 * workspace; with it, asked of sacctmgr, and a failure to ask refuses. */
	struct cairn_err err = {0};
	struct cairn_config acct = {.workspace = "account"}, fixed = {.workspace = "lab"};
	CHECK("member: without slurmdbd every user is a member",
	      cairn_workspace_member(&acct, "proj", &bob, &err) == CAIRN_MEMBER_OPEN);
	char dbconf[] = "/tmp/cairn-test-slurm.conf.XXXXXX";
	fd = mkstemp(dbconf);
	if (fd >= 0) {
		dprintf(fd, "AccountingStorageType=accounting_storage/slurmdbd\n");
		close(fd);
	}
	setenv("SLURM_CONF", dbconf, 1);
	CHECK("member: slurm.conf with slurmdbd: accounting on", cairn_accounting_enabled());
	CHECK("member: a fixed workspace holds everyone",
	      cairn_workspace_member(&fixed, "lab", &bob, &err) == CAIRN_MEMBER_OPEN);
	const char *path = getenv("PATH");
	char *saved = path ? strdup(path) : NULL;
	setenv("PATH", "/nonexistent", 1);
	err = (struct cairn_err){0};
	CHECK_MSG("member: no sacctmgr: an error naming it, not a member",
	          cairn_workspace_member(&acct, "proj", &bob, &err) == CAIRN_MEMBER_ERROR &&
	              strstr(err.msg, "sacctmgr not found") && err.user,
	          "%s", err.msg);
	struct cairn_vstate open_vs = {.rev = 1, .owner = "alice", .owner_uid = 5001};
	err = (struct cairn_err){0};
	CHECK_MSG("member: ... so a volume without shares is closed to bob, saying why",
	          cairn_access_for(&acct, "proj", &open_vs, &bob, &err) == CAIRN_ACCESS_NONE &&
	              strstr(err.msg, "workspace proj"),
	          "%s", err.msg);
	CHECK("member: ... but open to its owner",
	      cairn_access_for(&acct, "proj", &open_vs, &alice, NULL) == CAIRN_ACCESS_RW);
	err = (struct cairn_err){0};
	CHECK_MSG("member: a workspace name sacctmgr would split is refused",
	          cairn_workspace_member(&acct, "a,b", &bob, &err) == CAIRN_MEMBER_ERROR &&
	              strstr(err.msg, "not a Slurm account name"),
	          "%s", err.msg);
	if (saved)
		setenv("PATH", saved, 1);
	free(saved);
	unlink(dbconf);
	setenv("SLURM_CONF", "/nonexistent/slurm.conf", 1);
	CHECK("member: no slurm.conf: accounting off", !cairn_accounting_enabled());
	unsetenv("SLURM_CONF");

	vs.nshares = 2;
	sh[1].rw = false;
	char *t = cairn_shares_text(&vs);
	CHECK_MSG("access: shares as text", !strcmp(t, "user alice (rw), user bob (ro)"), "%s", t);
	free(t);
	TAP_DONE();
}
