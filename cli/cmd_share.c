/* cairn create / share / unshare: who owns a volume and who else may use it. */
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "lease.h"
#include "session.h"
#include "spec.h"
#include "volume.h"

struct share_opts {
	struct common_opts common;
	const char *user, *group, *owner;
	int mode; /* 0 unset, 1 ro, 2 rw */
};

static int parse_share_opts(int argc, char **argv, struct share_opts *o, const char *usage)
{
	static const struct option opts[] = {
	    {"user", required_argument, NULL, 'u'},  {"group", required_argument, NULL, 'g'},
	    {"ro", no_argument, NULL, 'r'},          {"rw", no_argument, NULL, 'W'},
	    {"owner", required_argument, NULL, 'o'}, {"workspace", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "u:g:o:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->user = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'r':
			o->mode = 1;
			break;
		case 'W':
			o->mode = 2;
			break;
		case 'o':
			o->owner = optarg;
			break;
		case 'w':
			o->common.workspace = optarg;
			break;
		case 'h':
			printf("Usage: cairn %s\n", usage);
			return 0;
		default:
			fprintf(stderr, "Usage: cairn %s\n", usage);
			return 2;
		}
	}
	o->common.first_arg = optind;
	if (argc - optind != 1) {
		fprintf(stderr, "Usage: cairn %s\n", usage);
		return 2;
	}
	return -1;
}

/* A user or group name must name one on this machine. */
static int check_grantee(const char *cmd, const struct share_opts *o)
{
	if (!!o->user == !!o->group) {
		fprintf(stderr, "cairn %s: give exactly one of --user USER and --group GROUP\n",
		        cmd);
		return 2;
	}
	if (o->user && !getpwnam(o->user)) {
		fprintf(stderr, "cairn %s: --user %s: no such user on this machine\n", cmd,
		        o->user);
		return 1;
	}
	if (o->group && !getgrnam(o->group)) {
		fprintf(stderr, "cairn %s: --group %s: no such group on this machine\n", cmd,
		        o->group);
		return 1;
	}
	return -1;
}

static int change(int argc, char **argv, bool remove)
{
	const char *cmd = remove ? "unshare" : "share";
	const char *usage = remove ? "unshare VOLUME (--user U | --group G) [--workspace W]"
	                           : "share VOLUME (--user U | --group G) (--ro | --rw) "
	                             "[--workspace W]";
	struct share_opts o;
	int r = parse_share_opts(argc, argv, &o, usage);
	if (r >= 0)
		return r;
	if ((r = check_grantee(cmd, &o)) >= 0)
		return r;
	if (!remove && !o.mode) {
		fprintf(stderr, "cairn share: say --ro or --rw\n");
		return 2;
	}
	const char *vol = argv[o.common.first_arg];
	struct session s;
	struct cairn_err err = {0};
	int rv = 1;
	if (cairn_cli_open_session(&s, &o.common, cmd) < 0 ||
	    cairn_cli_authorize(&s, cmd, vol, 0, true) < 0)
		goto out;
	if (cairn_vstate_share(s.st, s.ws, vol, o.group != NULL, o.user ? o.user : o.group,
	                       o.mode == 2, remove, &err) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		goto out;
	}
	if (remove)
		printf("volume %s: no longer shared with %s %s\n", vol, o.user ? "user" : "group",
		       o.user ? o.user : o.group);
	else
		printf("volume %s: shared with %s %s (%s)\n", vol, o.user ? "user" : "group",
		       o.user ? o.user : o.group, o.mode == 2 ? "read-write" : "read-only");
	rv = 0;
out:
	cairn_cli_close_session(&s);
	return rv;
}

int cmd_share(int argc, char **argv)
{
	return change(argc, argv, false);
}

int cmd_unshare(int argc, char **argv)
{
	return change(argc, argv, true);
}

int cmd_create(int argc, char **argv)
{
	struct share_opts o;
	int r = parse_share_opts(argc, argv, &o, "create VOLUME [--owner USER] [--workspace W]");
	if (r >= 0)
		return r;
	const char *vol = argv[o.common.first_arg];
	char why[512];
	if (cairn_name_check(vol, why, sizeof(why)) < 0) {
		fprintf(stderr, "cairn create: %s\n", why);
		return 2;
	}
	const char *owner = o.owner ? o.owner : cairn_cli_invoker();
	if (!owner || !*owner) {
		fprintf(stderr, "cairn create: name the owner with --owner USER\n");
		return 2;
	}
	struct passwd *pw = getpwnam(owner);
	if (!pw) {
		fprintf(stderr, "cairn create: --owner %s: no such user on this machine\n", owner);
		return 1;
	}
	struct session s;
	struct cairn_err err = {0};
	int rv = 1;
	if (cairn_cli_open_session(&s, &o.common, "create") < 0)
		goto out;
	if (!cairn_cli_admin(&s) && strcmp(owner, cairn_cli_invoker())) {
		fprintf(stderr, "cairn create: only an admin may create a volume for another user; "
		                "leave out --owner\n");
		goto out;
	}
	if (cairn_cli_check_member(&s, "create") < 0)
		goto out;
	if (cairn_volume_quota_check(&s.cfg, s.st, s.ws, vol, &err) < 0 ||
	    cairn_vstate_create(s.st, s.ws, vol, owner, (int64_t)pw->pw_uid, &err) < 0) {
		fprintf(stderr, "cairn create: %s\n", err.msg);
		goto out;
	}
	printf("volume %s: created in workspace %s, owned by %s\n", vol, s.ws, owner);
	rv = 0;
out:
	cairn_cli_close_session(&s);
	return rv;
}
