/* cairn list / show / ls / get: reading volumes from storage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "session.h"
#include "config.h"
#include "digest.h"
#include "access.h"
#include "job.h"
#include "spec.h"
#include "lease.h"
#include "volume.h"

static int load_conflict(struct session *s, const char *cmd, const char *vol, const char *name,
                         struct cairn_manifest *m)
{
	struct cairn_err err = {0};
	autofree char *text = NULL;
	size_t len = 0;
	if (!*name || strspn(name, "0123456789abcdefghijklmnopqrstuvwxyz-") != strlen(name)) {
		fprintf(stderr,
		        "cairn %s: --conflict %s: not a conflict copy name (see 'cairn show "
		        "%s')\n",
		        cmd, name, vol);
		return -1;
	}
	autofree char *key = xasprintf("%s/volumes/%s/conflicts/%s", s->ws, vol, name);
	int r = cairn_store_get_buf(s->st, key, CAIRN_MANIFEST_MAX, &text, &len, &err);
	if (r == CAIRN_STORE_NOTFOUND)
		fprintf(stderr,
		        "cairn %s: volume %s has no conflict copy %s (see 'cairn show %s')\n", cmd,
		        vol, name, vol);
	else if (r < 0 || cairn_manifest_from_json(text, len, m, &err) < 0)
		fprintf(stderr, "cairn %s: conflict copy %s: %s\n", cmd, name, err.msg);
	else
		return 0;
	return -1;
}

static int load_volume(struct session *s, const struct common_opts *o, const char *cmd,
                       const char *vol, struct cairn_manifest *m)
{
	struct cairn_err err = {0};
	int exists = 0;
	if (cairn_name_check(vol, err.msg, sizeof(err.msg)) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return -1;
	}
	if (o->conflict)
		return load_conflict(s, cmd, vol, o->conflict, m);
	if (cairn_volume_load_head(s->st, s->ws, vol, m, &exists, &err) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return -1;
	}
	struct cairn_vstate state;
	if (!exists && cairn_vstate_load(s->st, s->ws, vol, &state, &err) == 0) {
		/* Created (cairn create) but never written: it exists, empty. */
		exists = state.rev > 0;
		cairn_vstate_free(&state);
	}
	if (!exists) {
		fprintf(stderr,
		        "cairn %s: volume %s does not exist in workspace %s; see 'cairn list "
		        "--workspace %s'\n",
		        cmd, vol, s->ws, s->ws);
		cairn_manifest_free(m);
		return -1;
	}
	return 0;
}

/* Who holds the volume's lease: text for people, an object (or null) for --json. */
static json_t *describe_lease(const struct cairn_vstate *vs, char *text, size_t len)
{
	snprintf(text, len, "-");
	if (!vs->held)
		return json_null();
	char since[32], until[32];
	cairn_cli_fmt_time(since, sizeof(since), vs->holder.since);
	cairn_cli_fmt_time(until, sizeof(until), vs->holder.expires);
	bool expired = cairn_vstate_expired(vs, (int64_t)time(NULL));
	snprintf(text, len, "job %s on %s (%s) since %s, %s %s",
	         vs->holder.job ? vs->holder.job : "?", vs->holder.node ? vs->holder.node : "?",
	         vs->holder.user ? vs->holder.user : "?", since, expired ? "expired at" : "expires",
	         until);
	return json_pack(
	    "{s:s,s:s,s:s,s:I,s:I,s:I,s:b}", "job", vs->holder.job ? vs->holder.job : "", "node",
	    vs->holder.node ? vs->holder.node : "", "user", vs->holder.user ? vs->holder.user : "",
	    "since", (json_int_t)vs->holder.since, "expires", (json_int_t)vs->holder.expires,
	    "epoch", (json_int_t)vs->epoch, "expired", expired);
}

/* Owner, creation and last use, as kept in the volume's state. */
static void describe_meta(const struct cairn_vstate *vs, json_t *j, char *owner, size_t olen,
                          char *created, size_t clen, char *used, size_t ulen)
{
	snprintf(owner, olen, "-");
	snprintf(created, clen, "-");
	snprintf(used, ulen, "-");
	json_object_set_new(
	    j, "owner",
	    vs->owner ? json_pack("{s:s,s:I}", "name", vs->owner, "uid", (json_int_t)vs->owner_uid)
	              : json_null());
	json_object_set_new(j, "created", vs->created ? json_integer(vs->created) : json_null());
	json_object_set_new(j, "last_used",
	                    vs->last_job ? json_pack("{s:s,s:s,s:I}", "job", vs->last_job, "user",
	                                             vs->last_user ? vs->last_user : "", "time",
	                                             (json_int_t)vs->last_used)
	                                 : json_null());
	json_object_set_new(j, "shares", cairn_shares_json(vs));
	if (vs->owner)
		snprintf(owner, olen, "%s", vs->owner);
	if (vs->created)
		cairn_cli_fmt_time(created, clen, vs->created);
	if (vs->last_job) {
		char when[32];
		cairn_cli_fmt_time(when, sizeof(when), vs->last_used);
		snprintf(used, ulen, "%s by %s (job %s)", when, vs->last_user ? vs->last_user : "-",
		         vs->last_job);
	}
}

struct name_list {
	char **v;
	size_t n;
};

static int collect_basename(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	struct name_list *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->v[l->n++] = xstrdup(strrchr(key, '/') + 1);
	return 0;
}

int cmd_list(int argc, char **argv)
{
	struct common_opts o;
	int r =
	    cairn_cli_parse_common(argc, argv, &o, "list [--workspace W] [--owner USER] [--json]");
	if (r >= 0)
		return r;
	struct session s;
	if (cairn_cli_open_session(&s, &o, "list") < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	char **names = NULL;
	size_t n = 0;
	struct cairn_err err = {0};
	int rv = 1;
	json_t *arr = json_array();
	if (cairn_volume_list(s.st, s.ws, &names, &n, &err) < 0) {
		fprintf(stderr, "cairn list: %s\n", err.msg);
		goto out;
	}
	if (!o.json)
		printf("%-24s %-12s %7s %8s %10s  %-19s  %-22s %s\n", "VOLUME", "OWNER", "VERSION",
		       "FILES", "SIZE", "UPDATED", "BY", "LEASED BY");
	for (size_t i = 0; i < n; i++) {
		struct cairn_manifest m;
		int exists;
		struct cairn_err verr = {0};
		struct cairn_vstate vs;
		if (cairn_vstate_load(s.st, s.ws, names[i], &vs, &verr) < 0)
			memset(&vs, 0, sizeof(vs));
		/* Users see the volumes they may read. */
		if ((!cairn_cli_admin(&s) && cairn_access_for(&s.cfg, s.ws, &vs, cairn_cli_caller,
		                                              NULL) == CAIRN_ACCESS_NONE) ||
		    (o.owner && (!vs.owner || strcmp(vs.owner, o.owner)))) {
			cairn_vstate_free(&vs);
			continue;
		}
		if (cairn_volume_load_head(s.st, s.ws, names[i], &m, &exists, &verr) < 0) {
			fprintf(stderr, "cairn list: %s\n", verr.msg);
			cairn_vstate_free(&vs);
			continue;
		}
		char size[32], when[32], lease_text[512], by[64], owner[64], created[32], used[128];
		fmt_bytes(size, sizeof(size), cairn_manifest_bytes(&m));
		cairn_cli_fmt_time(when, sizeof(when), m.created);
		json_t *lease = describe_lease(&vs, lease_text, sizeof(lease_text));
		json_t *j = json_pack(
		    "{s:s,s:s,s:i,s:I,s:I,s:I,s:s,s:s}", "name", names[i], "workspace", s.ws,
		    "version", m.version, "files", (json_int_t)cairn_manifest_files(&m), "bytes",
		    (json_int_t)cairn_manifest_bytes(&m), "updated", (json_int_t)m.created, "user",
		    m.user ? m.user : "", "job", m.job ? m.job : "");
		describe_meta(&vs, j, owner, sizeof(owner), created, sizeof(created), used,
		              sizeof(used));
		cairn_vstate_free(&vs);
		if (o.json) {
			json_object_set_new(j, "lease", lease);
			json_array_append_new(arr, j);
		} else {
			snprintf(by, sizeof(by), "%s (job %s)", m.user ? m.user : "-",
			         m.job ? m.job : "-");
			printf("%-24s %-12s %7u %8zu %10s  %-19s  %-22s %s\n", names[i], owner,
			       m.version, cairn_manifest_files(&m), size, m.version ? when : "-",
			       by, lease_text);
			json_decref(lease);
			json_decref(j);
		}
		cairn_manifest_free(&m);
	}
	if (o.json) {
		char *t = json_dumps(arr, JSON_INDENT(2));
		printf("%s\n", t);
		free(t);
	}
	rv = 0;
out:
	json_decref(arr);
	cairn_strv_free(names, n);
	cairn_cli_close_session(&s);
	return rv;
}

int cmd_show(int argc, char **argv)
{
	struct common_opts o;
	int r = cairn_cli_parse_common(argc, argv, &o, "show VOLUME [--workspace W] [--json]");
	if (r >= 0)
		return r;
	if (argc - o.first_arg != 1) {
		fprintf(stderr, "Usage: cairn show VOLUME [--workspace W] [--json]\n");
		return 2;
	}
	const char *vol = argv[o.first_arg];
	struct session s;
	struct cairn_manifest m;
	if (cairn_cli_open_session(&s, &o, "show") < 0 ||
	    cairn_cli_authorize(&s, "show", vol, 1, false) < 0 ||
	    load_volume(&s, &o, "show", vol, &m) < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	struct cairn_cli_versions va = {0};
	struct cairn_err err = {0};
	cairn_cli_list_versions(&s, vol, m.version, &va);
	char lease_text[512], owner[64], created[32], used[128];
	autofree char *shares = NULL;
	struct cairn_vstate state;
	if (cairn_vstate_load(s.st, s.ws, vol, &state, &err) < 0)
		memset(&state, 0, sizeof(state));
	json_t *lease = describe_lease(&state, lease_text, sizeof(lease_text));
	json_t *meta = json_object();
	describe_meta(&state, meta, owner, sizeof(owner), created, sizeof(created), used,
	              sizeof(used));
	shares = state.nshares ? cairn_shares_text(&state)
	                       : xstrdup("none: every member of the workspace may use it");
	json_t *last = state.last_activity ? json_loads(state.last_activity, 0, NULL) : NULL;
	int64_t last_time = state.last_used;
	cairn_vstate_free(&state);
	struct name_list conflicts = {0};
	autofree char *cprefix = xasprintf("%s/volumes/%s/conflicts/", s.ws, vol);
	cairn_store_list(s.st, cprefix, collect_basename, &conflicts, &err);
	if (o.json) {
		json_t *vs = json_array();
		for (size_t i = 0; i < va.n; i++)
			json_array_append_new(vs, json_integer(va.v[i]));
		json_t *cs = json_array();
		for (size_t i = 0; i < conflicts.n; i++)
			json_array_append_new(cs, json_string(conflicts.v[i]));
		json_t *j = json_pack(
		    "{s:s,s:s,s:i,s:I,s:I,s:I,s:s,s:s,s:s,s:o}", "name", vol, "workspace", s.ws,
		    "version", m.version, "files", (json_int_t)cairn_manifest_files(&m), "bytes",
		    (json_int_t)cairn_manifest_bytes(&m), "updated", (json_int_t)m.created, "user",
		    m.user ? m.user : "", "job", m.job ? m.job : "", "host", m.host ? m.host : "",
		    "versions", vs);
		json_object_set_new(j, "lease", lease);
		json_object_set_new(j, "conflicts", cs);
		json_object_update(j, meta);
		json_object_set(j, "last_activity", last ? last : json_null());
		lease = NULL;
		char *t = json_dumps(j, JSON_INDENT(2));
		printf("%s\n", t);
		free(t);
		json_decref(j);
	} else {
		char size[32], when[32];
		fmt_bytes(size, sizeof(size), cairn_manifest_bytes(&m));
		cairn_cli_fmt_time(when, sizeof(when), m.created);
		printf("Volume:     %s\nWorkspace:  %s\nOwner:      %s\nShares:     %s\n"
		       "Created:    %s\nLast used:  %s\n"
		       "Version:    %u\nFiles:      %zu\nSize:       "
		       "%s\nUpdated:    %s by %s (job %s on %s)\nVersions:  ",
		       vol, s.ws, owner, shares, created, used, m.version, cairn_manifest_files(&m),
		       size, when, m.user ? m.user : "-", m.job ? m.job : "-",
		       m.host ? m.host : "-");
		for (size_t i = 0; i < va.n; i++)
			printf(" %u", va.v[i]);
		printf("\nLease:      %s\n", lease && !json_is_null(lease) ? lease_text : "free");
		if (json_is_object(last)) {
			printf("Last job:   ");
			cairn_cli_print_activity(last_time, last);
		}
		for (size_t i = 0; i < conflicts.n; i++)
			printf("%s %s  (refused commit; read it with: cairn ls %s --conflict %s)\n",
			       i ? "           " : "Conflicts: ", conflicts.v[i], vol,
			       conflicts.v[i]);
	}
	json_decref(lease);
	json_decref(meta);
	json_decref(last);
	cairn_strv_free(conflicts.v, conflicts.n);
	free(va.v);
	cairn_manifest_free(&m);
	cairn_cli_close_session(&s);
	return 0;
}

static const char *type_char(enum cairn_ftype t)
{
	return t == CAIRN_FT_DIR ? "d" : t == CAIRN_FT_SYMLINK ? "l" : "-";
}

int cmd_ls(int argc, char **argv)
{
	struct common_opts o;
	int r = cairn_cli_parse_common(argc, argv, &o, "ls VOLUME [PATH] [--workspace W] [--json]");
	if (r >= 0)
		return r;
	int npos = argc - o.first_arg;
	if (npos < 1 || npos > 2) {
		fprintf(stderr, "Usage: cairn ls VOLUME [PATH] [--workspace W] [--json]\n");
		return 2;
	}
	const char *vol = argv[o.first_arg];
	autofree char *dir = xstrdup(npos == 2 ? argv[o.first_arg + 1] : "");
	size_t dl = strlen(dir);
	while (dl && dir[dl - 1] == '/')
		dir[--dl] = '\0';
	if (!strcmp(dir, "."))
		dir[0] = '\0', dl = 0;
	struct session s;
	struct cairn_manifest m;
	if (cairn_cli_open_session(&s, &o, "ls") < 0 ||
	    cairn_cli_authorize(&s, "ls", vol, 1, false) < 0 ||
	    load_volume(&s, &o, "ls", vol, &m) < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	if (dl) {
		const struct cairn_entry *d = cairn_manifest_find(&m, dir);
		if (!d || d->type != CAIRN_FT_DIR) {
			fprintf(stderr, "cairn ls: %s: no such directory in volume %s\n", dir, vol);
			cairn_manifest_free(&m);
			cairn_cli_close_session(&s);
			return 1;
		}
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < m.n; i++) {
		const struct cairn_entry *e = &m.e[i];
		const char *rest = e->path;
		if (dl) {
			if (strncmp(e->path, dir, dl) || e->path[dl] != '/')
				continue;
			rest = e->path + dl + 1;
		}
		if (strchr(rest, '/'))
			continue;
		if (o.json) {
			json_t *j = json_pack("{s:s,s:s,s:i,s:I,s:I}", "name", rest, "type",
			                      e->type == CAIRN_FT_DIR    ? "dir"
			                      : e->type == CAIRN_FT_FILE ? "file"
			                                                 : "symlink",
			                      "mode", e->mode, "size", (json_int_t)e->size, "mtime",
			                      (json_int_t)(e->mtime_ns / 1000000000LL));
			if (e->target)
				json_object_set_new(j, "target", json_string(e->target));
			json_array_append_new(arr, j);
		} else {
			char when[32];
			cairn_cli_fmt_time(when, sizeof(when), e->mtime_ns / 1000000000LL);
			printf("%s%04o %12llu  %s  %s%s%s\n", type_char(e->type), e->mode,
			       (unsigned long long)e->size, when, rest, e->target ? " -> " : "",
			       e->target ? e->target : "");
		}
	}
	if (o.json) {
		char *t = json_dumps(arr, JSON_INDENT(2));
		printf("%s\n", t);
		free(t);
	}
	json_decref(arr);
	cairn_manifest_free(&m);
	cairn_cli_close_session(&s);
	return 0;
}

struct get_sink {
	int fd;
	struct cairn_digest dg;
};

static int get_write(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	struct get_sink *g = arg;
	cairn_digest_update(&g->dg, buf, len);
	if (write_all(g->fd, buf, len) < 0) {
		cairn_seterr(err, "write: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int cmd_get(int argc, char **argv)
{
	struct common_opts o;
	int r = cairn_cli_parse_common(argc, argv, &o, "get VOLUME PATH [DEST|-] [--workspace W]");
	if (r >= 0)
		return r;
	int npos = argc - o.first_arg;
	if (npos < 2 || npos > 3) {
		fprintf(stderr, "Usage: cairn get VOLUME PATH [DEST|-] [--workspace W]\n");
		return 2;
	}
	const char *vol = argv[o.first_arg], *path = argv[o.first_arg + 1];
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const char *dest = npos == 3 ? argv[o.first_arg + 2] : base;
	/* Serving a user, root writes nowhere but the standard output handed over:
	 * the user's own cairn writes DEST (cli/forward.c). */
	if (cairn_cli_caller && strcmp(dest, "-")) {
		fprintf(stderr, "cairn get: through the server DEST must be '-'\n");
		return 2;
	}
	struct session s;
	struct cairn_manifest m;
	int rv = 1;
	autofree char *tmp = NULL, *key = NULL;
	if (cairn_cli_open_session(&s, &o, "get") < 0 ||
	    cairn_cli_authorize(&s, "get", vol, 1, false) < 0 ||
	    load_volume(&s, &o, "get", vol, &m) < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	const struct cairn_entry *e = cairn_manifest_find(&m, path);
	if (!e || e->type != CAIRN_FT_FILE) {
		fprintf(stderr, "cairn get: %s: no such file in volume %s (see 'cairn ls %s')\n",
		        path, vol, vol);
		goto out;
	}
	struct get_sink g = {.fd = 1};
	if (strcmp(dest, "-")) {
		/* A fresh name, created exclusively: never an existing file or link. */
		tmp = xasprintf("%s.cairn-part.%d", dest, (int)getpid());
		g.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (g.fd < 0) {
			fprintf(stderr, "cairn get: cannot create %s: %s\n", tmp, strerror(errno));
			goto out;
		}
	}
	cairn_digest_init(&g.dg);
	struct cairn_err err = {0};
	if (e->pack[0]) { /* a small file, in a pack with others */
		key = cairn_key_pack(s.ws, e->pack);
		r = cairn_store_get_range(s.st, key, e->offset, e->size, get_write, &g, &err);
	} else {
		key = cairn_key_object(s.ws, e->sha256);
		r = cairn_store_get(s.st, key, get_write, &g, &err);
	}
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	cairn_digest_final(&g.dg, sha, md5);
	if (r < 0 || strcmp(sha, e->sha256)) {
		fprintf(stderr, "cairn get: %s: %s\n", path,
		        r < 0 ? (err.msg[0] ? err.msg : "object missing from storage")
		              : "content does not match its digest");
		if (tmp) {
			close(g.fd);
			unlink(tmp);
		}
		goto out;
	}
	if (tmp) {
		if (fchmod(g.fd, e->mode & 0777) < 0 || close(g.fd) < 0 || rename(tmp, dest) < 0) {
			fprintf(stderr, "cairn get: cannot write %s: %s\n", dest, strerror(errno));
			unlink(tmp);
			goto out;
		}
	}
	rv = 0;
out:
	cairn_manifest_free(&m);
	cairn_cli_close_session(&s);
	return rv;
}

int cmd_rm(int argc, char **argv)
{
	struct common_opts o;
	int r = cairn_cli_parse_common(argc, argv, &o, "rm VOLUME [--workspace W]");
	if (r >= 0)
		return r;
	if (argc - o.first_arg != 1) {
		fprintf(stderr, "Usage: cairn rm VOLUME [--workspace W]\n");
		return 2;
	}
	const char *vol = argv[o.first_arg];
	struct session s;
	struct cairn_manifest m;
	if (cairn_cli_open_session(&s, &o, "rm") < 0 ||
	    cairn_cli_authorize(&s, "rm", vol, 2, false) < 0 ||
	    load_volume(&s, &o, "rm", vol, &m) < 0) {
		cairn_cli_close_session(&s);
		return 1;
	}
	struct cairn_err err = {0};
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	autofree char *who = xasprintf("rm%d", (int)getpid());
	int rv = 0;
	if (cairn_volume_remove(s.st, s.ws, vol, who, host, &err) < 0) {
		fprintf(stderr, "cairn rm: %s\n", err.msg);
		rv = 1;
	} else {
		printf("removed volume %s from workspace %s (it was at version %u)\n", vol, s.ws,
		       m.version);
		fflush(stdout);
		/* Its contents, unless other volumes share them. */
		rv = cairn_cli_collect(&s, "rm", false, false);
	}
	cairn_manifest_free(&m);
	cairn_cli_close_session(&s);
	return rv;
}
