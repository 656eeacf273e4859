/* Unit tests for who may use a volume (common/access.c): owner, user and group
 * shares, the best grant, admins, and volumes without shares. */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
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
	      cairn_access_for(&cfg, &vs, &bob) == CAIRN_ACCESS_RW);
	sh[0] = share(false, "alice", true);
	vs.shares = sh;
	vs.nshares = 1;
	CHECK("access: shared with the owner only: others get nothing",
	      cairn_access_for(&cfg, &vs, &bob) == CAIRN_ACCESS_NONE);
	CHECK("access: the owner reads and writes",
	      cairn_access_for(&cfg, &vs, &alice) == CAIRN_ACCESS_RW);
	vs.owner_uid = 5009;
	sh[0] = share(false, "carol", true);
	CHECK("access: the owner is matched by uid when it is known, not by name",
	      cairn_access_for(&cfg, &vs, &alice) == CAIRN_ACCESS_NONE);
	sh[0] = share(false, "alice", true);
	vs.owner_uid = 5001;
	sh[1] = share(false, "bob", false);
	vs.nshares = 2;
	CHECK("access: a read-only user share",
	      cairn_access_for(&cfg, &vs, &bob) == CAIRN_ACCESS_RO);
	sh[2] = share(true, mygroup, true);
	vs.nshares = 3;
	CHECK("access: a read-write group share beats a read-only user share",
	      cairn_access_for(&cfg, &vs, &bob) == CAIRN_ACCESS_RW);
	sh[2].rw = false;
	sh[1].rw = true;
	CHECK("access: a read-write user share beats a read-only group share",
	      cairn_access_for(&cfg, &vs, &bob) == CAIRN_ACCESS_RW);
	vs.nshares = 1;
	CHECK("access: root is an admin", cairn_access_for(&cfg, &vs, &root) == CAIRN_ACCESS_RW);
	cfg.admin_group = (char *)mygroup;
	CHECK("access: members of AdminGroup are admins",
	      cairn_is_admin(&cfg, &bob) && cairn_access_for(&cfg, &vs, &bob) == CAIRN_ACCESS_RW);
	cfg.admin_group = "no-such-group-cairn";
	CHECK("access: an AdminGroup that does not exist makes nobody admin",
	      !cairn_is_admin(&cfg, &bob) &&
	          cairn_access_for(&cfg, &vs, &bob) == CAIRN_ACCESS_NONE);
	struct cairn_config plain = {0};
	struct cairn_vstate broken = {
	    .rev = 2, .owner = "alice", .owner_uid = 5001, .shares_invalid = true};
	CHECK("access: unreadable shares close the volume to others",
	      cairn_access_for(&plain, &broken, &bob) == CAIRN_ACCESS_NONE &&
	          cairn_access_for(&plain, &broken, &alice) == CAIRN_ACCESS_RW);
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
	vs.nshares = 2;
	sh[1].rw = false;
	char *t = cairn_shares_text(&vs);
	CHECK_MSG("access: shares as text", !strcmp(t, "user alice (rw), user bob (ro)"), "%s", t);
	free(t);
	TAP_DONE();
}
