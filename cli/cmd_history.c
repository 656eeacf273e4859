/* cairn versions / rollback / fork: a volume's versions, and new versions made
 * from old ones without copying data (file contents are shared by the
 * workspace's object store; a version is only a manifest). */
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "gc.h"
#include "lease.h"
#include "session.h"
#include "spec.h"
#include "volume.h"

/* Open the session and vol's current version, if the caller may (need: 1 read,
 * 2 read and write). watch: if set, started (gc.h) before head is read, for a
 * copy of it. */
static int open_volume(struct session *s, const struct common_opts *o, const char *cmd,
                       const char *vol, int need, struct cairn_manifest *head,
                       struct cairn_gc_watch *watch)
{
	struct cairn_err err = {0};
	int exists = 0;
	memset(s, 0, sizeof(*s)); /* closed by the caller whatever happens */
	cairn_manifest_init(head);
	if (cairn_name_check(vol, err.msg, sizeof(err.msg)) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return -1;
	}
	if (cairn_cli_open_session(s, o, cmd) < 0 ||
	    cairn_cli_authorize(s, cmd, vol, need, false) < 0)
		return -1;
	if (watch)
		cairn_gc_watch_start(s->st, s->ws, watch);
	if (cairn_volume_load_head(s->st, s->ws, vol, head, &exists, &err) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return -1;
	}
	if (!exists) {
		fprintf(stderr,
		        "cairn %s: volume %s has no version in workspace %s; see 'cairn list'\n",
		        cmd, vol, s->ws);
		cairn_manifest_free(head);
		return -1;
	}
	return 0;
}

/* The common options and exactly one operand, the volume: -1 to go on, else
 * the exit status. */
static int one_volume(int argc, char **argv, const char *usage, struct common_opts *o,
                      const char **vol)
{
	int r = cairn_cli_parse_common(argc, argv, o, usage);
	if (r >= 0)
		return r;
	if (argc - o->first_arg != 1) {
		fprintf(stderr, "Usage: cairn %s\n", usage);
		return 2;
	}
	*vol = argv[o->first_arg];
	return -1;
}

int cmd_versions(int argc, char **argv)
{
	struct common_opts o;
	const char *vol;
	int r = one_volume(argc, argv, "versions VOLUME [--workspace W] [--json]", &o, &vol);
	if (r >= 0)
		return r;
	struct session s;
	struct cairn_manifest head;
	if (open_volume(&s, &o, "versions", vol, 1, &head, NULL) < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	struct cairn_cli_versions va;
	cairn_cli_list_versions(&s, vol, head.version, &va);
	json_t *arr = json_array();
	if (!o.json)
		printf("%7s  %-19s  %-12s %-16s %8s %10s\n", "VERSION", "COMMITTED", "BY", "JOB",
		       "FILES", "SIZE");
	for (size_t i = 0; i < va.n; i++) {
		struct cairn_manifest m;
		struct cairn_err err = {0};
		if (cairn_volume_load_version(s.st, s.ws, vol, va.v[i], &m, &err) < 0) {
			fprintf(stderr, "cairn versions: version %u: %s\n", va.v[i], err.msg);
			continue;
		}
		char t[32], size[32];
		cairn_cli_fmt_time(t, sizeof(t), m.created);
		fmt_bytes(size, sizeof(size), cairn_manifest_bytes(&m));
		if (o.json)
			json_array_append_new(
			    arr, json_pack("{s:i,s:I,s:s,s:s,s:I,s:I,s:b}", "version", m.version,
			                   "committed", (json_int_t)m.created, "user",
			                   m.user ? m.user : "", "job", m.job ? m.job : "", "files",
			                   (json_int_t)cairn_manifest_files(&m), "bytes",
			                   (json_int_t)cairn_manifest_bytes(&m), "current",
			                   m.version == head.version));
		else
			printf("%7u  %-19s  %-12s %-16s %8zu %10s%s\n", m.version, t,
			       m.user ? m.user : "-", m.job ? m.job : "-", cairn_manifest_files(&m),
			       size, m.version == head.version ? "  (current)" : "");
		cairn_manifest_free(&m);
	}
	if (o.json) {
		char *t = json_dumps(arr, JSON_INDENT(2));
		printf("%s\n", t);
		free(t);
	}
	json_decref(arr);
	free(va.v);
	cairn_manifest_free(&head);
	cairn_cli_close_session(&s);
	return 0;
}

int cmd_rollback(int argc, char **argv)
{
	struct common_opts o;
	const char *usage = "rollback VOLUME VERSION [--workspace W]";
	int r = cairn_cli_parse_common(argc, argv, &o, usage);
	if (r >= 0)
		return r;
	unsigned long long want;
	if (argc - o.first_arg != 2 || parse_uint(argv[o.first_arg + 1], UINT32_MAX, &want) < 0 ||
	    want == 0) {
		fprintf(stderr, "Usage: cairn %s (VERSION: a number from 'cairn versions')\n",
		        usage);
		return 2;
	}
	const char *vol = argv[o.first_arg];
	struct session s;
	struct cairn_manifest head, old;
	struct cairn_err err = {0};
	autofree char *who = xasprintf("rollback%d", (int)getpid());
	int rv = 1;
	cairn_manifest_init(&old);
	if (open_volume(&s, &o, "rollback", vol, 2, &head, NULL) < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	if (want >= head.version) {
		fprintf(
		    stderr,
		    "cairn rollback: volume %s is at version %u; roll back to an older one (see "
		    "'cairn versions %s')\n",
		    vol, head.version, vol);
		goto out;
	}
	struct cairn_gc_watch watch;
	cairn_gc_watch_start(s.st, s.ws, &watch);
	if (cairn_volume_load_version(s.st, s.ws, vol, (unsigned)want, &old, &err) < 0) {
		fprintf(stderr, "cairn rollback: version %llu: %s\n", want, err.msg);
		goto out;
	}
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	unsigned now = 0;
	if (cairn_volume_commit_copy(s.st, s.ws, vol, &old, &watch, who, host, cairn_cli_invoker(),
	                             &now, &err) < 0) {
		fprintf(stderr, "cairn rollback: %s\n", err.msg);
		goto out;
	}
	printf("volume %s: version %u has the contents of version %llu (versions %llu to %u are "
	       "kept)\n",
	       vol, now, want, want + 1, head.version);
	rv = 0;
out:
	cairn_manifest_free(&old);
	cairn_manifest_free(&head);
	cairn_cli_close_session(&s);
	return rv;
}

int cmd_fork(int argc, char **argv)
{
	static const struct option opts[] = {{"owner", required_argument, NULL, 'o'},
	                                     {"workspace", required_argument, NULL, 'w'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *usage = "fork VOLUME NEW [--owner USER] [--workspace W]";
	struct common_opts o = {0};
	const char *owner = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:w:h", opts, NULL)) != -1) {
		if (c == 'o')
			owner = optarg;
		else if (c == 'w')
			o.workspace = optarg;
		else {
			fprintf(c == 'h' ? stdout : stderr, "Usage: cairn %s\n", usage);
			return c == 'h' ? 0 : 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "Usage: cairn %s\n", usage);
		return 2;
	}
	const char *vol = argv[optind], *copy = argv[optind + 1];
	char why[512];
	if (cairn_name_check(copy, why, sizeof(why)) < 0) {
		fprintf(stderr, "cairn fork: %s\n", why);
		return 2;
	}
	if (!owner)
		owner = cairn_cli_invoker();
	if (!getpwnam(owner)) {
		fprintf(stderr, "cairn fork: --owner %s: no such user on this machine\n", owner);
		return 1;
	}
	struct session s;
	struct cairn_manifest head;
	struct cairn_err err = {0};
	autofree char *who = xasprintf("fork%d", (int)getpid());
	int rv = 1;
	struct cairn_gc_watch watch;
	if (open_volume(&s, &o, "fork", vol, 1, &head, &watch) < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	struct cairn_vstate st;
	if (cairn_vstate_load(s.st, s.ws, copy, &st, &err) < 0) {
		fprintf(stderr, "cairn fork: %s\n", err.msg);
		goto out;
	}
	bool taken = st.rev > 0;
	if (!cairn_cli_admin(&s) && strcmp(owner, cairn_cli_invoker())) {
		cairn_vstate_free(&st);
		fprintf(stderr, "cairn fork: only an admin may fork a volume for another user; "
		                "leave out --owner\n");
		goto out;
	}
	cairn_vstate_free(&st);
	if (cairn_cli_check_member(&s, "fork") < 0)
		goto out;
	if (taken) {
		fprintf(stderr,
		        "cairn fork: volume %s exists already in workspace %s; pick a new name\n",
		        copy, s.ws);
		goto out;
	}
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	unsigned v = head.version, now = 0;
	if (cairn_volume_quota_check(&s.cfg, s.st, s.ws, copy, &err) < 0) {
		fprintf(stderr, "cairn fork: %s\n", err.msg);
		goto out;
	}
	if (cairn_volume_commit_copy(s.st, s.ws, copy, &head, &watch, who, host, owner, &now,
	                             &err) < 0) {
		fprintf(stderr, "cairn fork: %s\n", err.msg);
		/* Its lease made the new volume's state: leave no empty volume
		 * behind (unless someone committed to it meanwhile). */
		struct cairn_err ignore = {0};
		if (cairn_vstate_load(s.st, s.ws, copy, &st, &ignore) == 0) {
			if (st.rev && st.version == 0 && !st.held)
				(void)cairn_volume_remove(s.st, s.ws, copy, who, host, &ignore);
			cairn_vstate_free(&st);
		}
		goto out;
	}
	printf("volume %s: created from version %u of %s, owned by %s (no data copied)\n", copy, v,
	       vol, owner);
	rv = 0;
out:
	cairn_manifest_free(&head);
	cairn_cli_close_session(&s);
	return rv;
}

int cmd_history(int argc, char **argv)
{
	struct common_opts o;
	const char *vol;
	int r = one_volume(argc, argv, "history VOLUME [--workspace W] [--json]", &o, &vol);
	if (r >= 0)
		return r;
	struct session s;
	struct cairn_manifest head;
	struct cairn_err err = {0};
	struct cairn_vstate *revs = NULL;
	size_t n = 0;
	int rv = 1;
	cairn_manifest_init(&head);
	if (open_volume(&s, &o, "history", vol, 1, &head, NULL) < 0)
		goto out;
	if (cairn_vstate_history(s.st, s.ws, vol, &revs, &n, &err) < 0) {
		fprintf(stderr, "cairn history: %s\n", err.msg);
		goto out;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *a = revs[i].activity ? json_loads(revs[i].activity, 0, NULL) : NULL;
		if (!json_is_object(a)) {
			json_decref(a);
			continue;
		}
		if (o.json) {
			json_object_set_new(a, "time", json_integer(revs[i].time));
			json_array_append(arr, a);
		} else {
			cairn_cli_print_activity(revs[i].time, a);
		}
		json_decref(a);
	}
	if (o.json) {
		char *t = json_dumps(arr, JSON_INDENT(2));
		printf("%s\n", t);
		free(t);
	}
	json_decref(arr);
	rv = 0;
out:
	for (size_t i = 0; i < n; i++)
		cairn_vstate_free(&revs[i]);
	free(revs);
	cairn_manifest_free(&head);
	cairn_cli_close_session(&s);
	return rv;
}
