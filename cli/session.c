#include "session.h"

#include <getopt.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "membership.h"
#include "creds.h"
#include "job.h"
#include "lease.h"
#include "spec.h"

int cairn_cli_parse_common(int argc, char **argv, struct common_opts *o, const char *usage)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},           {"workspace", required_argument, NULL, 'w'},
	    {"conflict", required_argument, NULL, 'c'}, {"owner", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "jw:c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->conflict = optarg;
			break;
		case 'o':
			/* Only list filters by owner. */
			if (strncmp(usage, "list", 4)) {
				fprintf(stderr, "Usage: cairn %s\n", usage);
				return 2;
			}
			o->owner = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'w':
			o->workspace = optarg;
			break;
		case 'h':
			printf("Usage: cairn %s\n", usage);
			return 0;
		default:
			fprintf(stderr, "Usage: cairn %s\n", usage);
			return 2;
		}
	}
	o->first_arg = optind;
	return -1;
}

int cairn_cli_open_session(struct session *s, const struct common_opts *o, const char *cmd)
{
	struct cairn_err err = {0};
	memset(s, 0, sizeof(*s));
	if (cairn_config_load(NULL, &s->cfg, &err) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return -1;
	}
	s->ws = o->workspace ? xstrdup(o->workspace) : cairn_workspace_for(&s->cfg, NULL);
	if (cairn_name_check(s->ws, err.msg, sizeof(err.msg)) < 0) {
		fprintf(stderr, "cairn %s: --workspace %s: %s\n", cmd, s->ws, err.msg);
		return -1;
	}
	if (cairn_store_open(s->cfg.storage, &s->st, &err) < 0) {
		fprintf(stderr, "cairn %s: %s%s\n", cmd, err.msg,
		        geteuid() ? " (reading the store needs root in this version: use sudo)"
		                  : "");
		return -1;
	}
	return 0;
}

void cairn_cli_close_session(struct session *s)
{
	cairn_store_close(s->st);
	free(s->ws);
	cairn_config_free(&s->cfg);
}

static int collect_version(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	struct cairn_cli_versions *a = arg;
	unsigned long long v;
	if (cairn_key_number(key, UINT32_MAX, &v) < 0)
		return 0;
	a->v = xrealloc(a->v, (a->n + 1) * sizeof(unsigned));
	a->v[a->n++] = (unsigned)v;
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

void cairn_cli_list_versions(struct session *s, const char *vol, unsigned head,
                             struct cairn_cli_versions *out)
{
	struct cairn_err err = {0};
	memset(out, 0, sizeof(*out));
	autofree char *prefix = xasprintf("%s/volumes/%s/versions/", s->ws, vol);
	cairn_store_list(s->st, prefix, collect_version, out, &err);
	qsort(out->v, out->n, sizeof(unsigned), cmp_unsigned);
	if (head && (!out->n || out->v[out->n - 1] < head)) {
		out->v = xrealloc(out->v, (out->n + 1) * sizeof(unsigned));
		out->v[out->n++] = head;
	}
}

void cairn_cli_fmt_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

const struct cairn_user *cairn_cli_caller;

const char *cairn_cli_invoker(void)
{
	if (cairn_cli_caller)
		return cairn_cli_caller->name;
	const char *u = getenv("SUDO_USER");
	if (u && *u)
		return u;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "root";
}

bool cairn_cli_admin(const struct session *s)
{
	return !cairn_cli_caller || cairn_is_admin(&s->cfg, cairn_cli_caller);
}

int cairn_cli_check_member(struct session *s, const char *cmd)
{
	if (cairn_cli_admin(s))
		return 0;
	struct cairn_err err = {0};
	enum cairn_member m = cairn_workspace_member(&s->cfg, s->ws, cairn_cli_caller, &err);
	if (m == CAIRN_MEMBER_YES || m == CAIRN_MEMBER_OPEN)
		return 0;
	fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
	return -1;
}

int cairn_cli_authorize(struct session *s, const char *cmd, const char *vol, int need,
                        bool owner_only)
{
	if (cairn_cli_admin(s))
		return 0;
	struct cairn_vstate state;
	struct cairn_err err = {0};
	if (cairn_vstate_load(s->st, s->ws, vol, &state, &err) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return -1;
	}
	const struct cairn_user *u = cairn_cli_caller;
	bool owner = cairn_is_owner(&state, u);
	struct cairn_err why = {0};
	int have = (int)cairn_access_for(&s->cfg, s->ws, &state, u, &why);
	int rv = 0;
	if (owner_only && !owner) {
		fprintf(stderr,
		        "cairn %s: volume %s belongs to %s: only its owner or an admin may change "
		        "who may use it\n",
		        cmd, vol, state.owner ? state.owner : "nobody on record");
		rv = -1;
	} else if (have == CAIRN_ACCESS_NONE && why.msg[0]) {
		fprintf(stderr, "cairn %s: volume %s: %s\n", cmd, vol, why.msg);
		rv = -1;
	} else if (need > 1 && !owner && state.nshares == 0 &&
	           !cairn_workspace_members_known(&s->cfg)) {
		/* Without shares every member of the workspace may write the volume;
		 * without Slurm's accounting nobody can tell who is one, so removing or
		 * rolling it back from the CLI needs a grant of one's own. */
		fprintf(stderr,
		        "cairn %s: volume %s is not shared: only its owner (%s) or an admin may "
		        "change it from the command line\n",
		        cmd, vol, state.owner ? state.owner : "unknown");
		rv = -1;
	} else if (have < need) {
		fprintf(
		    stderr,
		    "cairn %s: volume %s: user %s may not %s it; ask its owner (%s) or an admin "
		    "to share it with you%s\n",
		    cmd, vol, u->name, need > 1 ? "change" : "read",
		    state.owner ? state.owner : "unknown", need > 1 ? " read-write" : "");
		rv = -1;
	}
	cairn_vstate_free(&state);
	return rv;
}

void cairn_cli_print_activity(int64_t time, json_t *a)
{
	char when[32], fetched[32], uploaded[32];
	cairn_cli_fmt_time(when, sizeof(when), time);
	json_t *h = json_object_get(a, "hydrate"), *sy = json_object_get(a, "sync");
	fmt_bytes(fetched, sizeof(fetched),
	          (uint64_t)json_integer_value(json_object_get(h, "fetched_bytes")));
	fmt_bytes(uploaded, sizeof(uploaded),
	          (uint64_t)json_integer_value(json_object_get(sy, "uploaded_bytes")));
	printf("%s  job %s (%s): waited %.1f s for the lease; fetched %lld files (%s, %lld "
	       "from cache) in %.2f s; ",
	       when, json_string_value(json_object_get(a, "job")),
	       json_string_value(json_object_get(a, "user")),
	       json_real_value(json_object_get(a, "lease_wait_s")),
	       (long long)json_integer_value(json_object_get(h, "fetched")), fetched,
	       (long long)json_integer_value(json_object_get(h, "cached")),
	       json_real_value(json_object_get(h, "seconds")));
	if (json_is_object(sy) && json_is_true(json_object_get(sy, "committed")))
		printf("synced version %lld: %lld files uploaded (%s), %lld deleted in %.2f s\n",
		       (long long)json_integer_value(json_object_get(sy, "version")),
		       (long long)json_integer_value(json_object_get(sy, "uploaded")), uploaded,
		       (long long)json_integer_value(json_object_get(sy, "deleted")),
		       json_real_value(json_object_get(sy, "seconds")));
	else if (json_is_object(sy))
		printf("no changes\n");
	else {
		const char *why = json_string_value(json_object_get(a, "sync_error"));
		if (why && !strcmp(why, "read-only"))
			printf("mounted read-only\n");
		else
			printf("not synced: %s\n", why ? why : "?");
	}
}
