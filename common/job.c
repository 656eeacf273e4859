#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <linux/close_range.h>

#include "access.h"
#include "cache.h"
#include "lease.h"
#include "sandbox_request.h"
#include "transfer.h"
#include "volume.h"

void cairn_job_record_free(struct cairn_job_record *r)
{
	free(r->job_id);
	free(r->user);
	free(r->workspace);
	free(r->workdir);
	free(r->error);
	free(r->account);
	free(r->node);
	free(r->deferred);
	cairn_strv_free(r->lines, r->nlines);
	for (size_t i = 0; i < r->nvol; i++) {
		free(r->vol[i].name);
		free(r->vol[i].path);
		free(r->vol[i].source);
		free(r->vol[i].lease);
		free(r->vol[i].activity);
	}
	memset(r, 0, sizeof(*r));
}

void cairn_job_record_line(struct cairn_job_record *r, const char *line)
{
	r->lines = xrealloc(r->lines, (r->nlines + 1) * sizeof(char *));
	r->lines[r->nlines++] = xstrdup(line);
}

static bool job_id_ok(const char *id)
{
	unsigned long long v;
	return id && parse_uint(id, UINT32_MAX, &v) == 0;
}

char *cairn_job_record_path(const struct cairn_config *cfg, const char *job_id)
{
	return xasprintf("%s/job%s.json", cfg->state_dir, job_id);
}

int cairn_job_record_save(const struct cairn_config *cfg, const struct cairn_job_record *r,
                          struct cairn_err *err)
{
	if (!job_id_ok(r->job_id)) {
		cairn_seterr(err, "invalid job id");
		return -1;
	}
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		cairn_seterr(err, "cannot create StateDir %s: %s", cfg->state_dir, strerror(errno));
		return -1;
	}
	json_t *o = json_object();
	json_object_set_new(o, "job", json_string(r->job_id));
	json_object_set_new(o, "uid", json_integer(r->uid));
	json_object_set_new(o, "gid", json_integer(r->gid));
	json_object_set_new(o, "user", json_string(r->user ? r->user : ""));
	json_object_set_new(o, "workspace", json_string(r->workspace ? r->workspace : ""));
	json_object_set_new(o, "workdir", json_string(r->workdir ? r->workdir : ""));
	json_object_set_new(o, "sandbox", json_integer(r->sandbox));
	json_object_set_new(o, "limits",
	                    json_pack("{sIsIsI}", "memory", (json_int_t)r->limits.memory, "pids",
	                              (json_int_t)r->limits.pids, "cpus",
	                              (json_int_t)r->limits.cpus));
	json_object_set_new(o, "sync_here", json_boolean(r->sync_here));
	if (r->error)
		json_object_set_new(o, "error", json_string(r->error));
	if (r->account)
		json_object_set_new(o, "account", json_string(r->account));
	if (r->node)
		json_object_set_new(o, "node", json_string(r->node));
	if (r->epilog_pid > 0)
		json_object_set_new(o, "epilog_pid", json_integer(r->epilog_pid));
	if (r->deferred)
		json_object_set_new(o, "deferred", json_string(r->deferred));
	json_t *lines = json_array();
	for (size_t i = 0; i < r->nlines; i++)
		json_array_append_new(lines, json_string(r->lines[i]));
	json_object_set_new(o, "lines", lines);
	json_t *vols = json_array();
	for (size_t i = 0; i < r->nvol; i++) {
		json_t *v = json_object();
		json_object_set_new(v, "name", json_string(r->vol[i].name));
		json_object_set_new(v, "path", json_string(r->vol[i].path));
		json_object_set_new(v, "readonly", json_boolean(r->vol[i].readonly));
		json_object_set_new(v, "source", json_string(r->vol[i].source));
		json_object_set_new(v, "version", json_integer(r->vol[i].version));
		if (r->vol[i].lease)
			json_object_set_new(v, "lease", json_string(r->vol[i].lease));
		if (r->vol[i].activity)
			json_object_set_new(v, "activity", json_string(r->vol[i].activity));
		json_array_append_new(vols, v);
	}
	json_object_set_new(o, "volumes", vols);
	autofree char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	autofree char *path = cairn_job_record_path(cfg, r->job_id);
	autofree char *tmp = xasprintf("%s.tmp", path);
	autoclose int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || rename(tmp, path) < 0) {
		cairn_seterr(err, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

int cairn_job_record_load(const struct cairn_config *cfg, const char *job_id,
                          struct cairn_job_record *r, struct cairn_err *err)
{
	memset(r, 0, sizeof(*r));
	if (!job_id_ok(job_id)) {
		cairn_seterr(err, "invalid job id \"%s\"", job_id ? job_id : "");
		return -1;
	}
	autofree char *path = cairn_job_record_path(cfg, job_id);
	autoclose int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return CAIRN_JOB_NONE;
		cairn_seterr(err, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	/* Only a record root wrote may steer root. */
	if (fstat(fd, &sb) < 0 || sb.st_uid != 0 || (sb.st_mode & 022)) {
		cairn_seterr(err, "%s is not a root-owned record; refusing it", path);
		return -1;
	}
	json_error_t jerr;
	json_t *o = json_loadfd(fd, 0, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		cairn_seterr(err, "%s: invalid record: %s", path, jerr.text);
		return -1;
	}
	r->job_id = jstr(o, "job");
	r->uid = (uid_t)json_integer_value(json_object_get(o, "uid"));
	r->gid = (gid_t)json_integer_value(json_object_get(o, "gid"));
	r->user = jstr(o, "user");
	r->workspace = jstr(o, "workspace");
	r->workdir = jstr(o, "workdir");
	r->sandbox = (enum cairn_sandbox)json_integer_value(json_object_get(o, "sandbox"));
	json_t *lim = json_object_get(o, "limits");
	if (json_is_object(lim)) {
		r->limits.memory =
		    (unsigned long long)json_integer_value(json_object_get(lim, "memory"));
		r->limits.pids =
		    (unsigned long long)json_integer_value(json_object_get(lim, "pids"));
		r->limits.cpus =
		    (unsigned long long)json_integer_value(json_object_get(lim, "cpus"));
	} else {
		/* A record from before per-job limits: the admin's. */
		r->limits = (struct cairn_limits){cfg->sandbox_memory, cfg->sandbox_pids,
		                                  cfg->sandbox_cpus};
	}
	r->sync_here = json_is_true(json_object_get(o, "sync_here"));
	r->error = jstr(o, "error");
	r->account = jstr(o, "account");
	r->node = jstr(o, "node");
	r->epilog_pid = (int)json_integer_value(json_object_get(o, "epilog_pid"));
	r->deferred = jstr(o, "deferred");
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(o, "lines"), i, v)
	{
		if (json_is_string(v))
			cairn_job_record_line(r, json_string_value(v));
	}
	json_array_foreach(json_object_get(o, "volumes"), i, v)
	{
		if (r->nvol >= CAIRN_MAX_VOLUMES)
			break;
		struct cairn_job_volume *jv = &r->vol[r->nvol++];
		jv->name = jstr(v, "name");
		jv->path = jstr(v, "path");
		jv->source = jstr(v, "source");
		jv->lease = jstr(v, "lease");
		jv->activity = jstr(v, "activity");
		jv->readonly = json_is_true(json_object_get(v, "readonly"));
		jv->version = (unsigned)json_integer_value(json_object_get(v, "version"));
		char why[CAIRN_ERRLEN];
		if (!jv->name || !jv->path || !jv->source ||
		    cairn_name_check(jv->name, why, sizeof(why)) < 0) {
			json_decref(o);
			cairn_seterr(err, "%s: incomplete volume entry", path);
			cairn_job_record_free(r);
			return -1;
		}
	}
	json_decref(o);
	char why[CAIRN_ERRLEN];
	if (r->nvol && (!r->workspace || cairn_name_check(r->workspace, why, sizeof(why)) < 0)) {
		cairn_seterr(err, "%s: invalid workspace in the record", path);
		cairn_job_record_free(r);
		return -1;
	}
	return 0;
}

int cairn_job_record_remove(const struct cairn_config *cfg, const char *job_id)
{
	if (!job_id_ok(job_id))
		return -1;
	autofree char *path = cairn_job_record_path(cfg, job_id);
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

char *cairn_workspace_for(const struct cairn_config *cfg, const char *account)
{
	if (strcmp(cfg->workspace, "account"))
		return xstrdup(cfg->workspace);
	return xstrdup(account && *account ? account : "default");
}

/* The cache tree a record's volume lives in: CACHEDIR/WS/VOL/TREE/data. */
static char *tree_of(const char *source)
{
	const char *end = strrchr(source, '/');
	if (!end || strcmp(end, "/data"))
		return NULL;
	const char *start = end;
	while (start > source && start[-1] != '/')
		start--;
	return strndup(start, (size_t)(end - start));
}

struct wait_note {
	struct cairn_job_record *rec;
	bool live;
	unsigned wait_s;
};

static void note_wait(void *arg, const char *vol, const struct cairn_vstate *s)
{
	struct wait_note *w = arg;
	autofree char *line = xasprintf(
	    "cairn: volume %s is in use by job %s on %s; waiting up to %u s (LeaseWait) for it",
	    vol, s->holder.job ? s->holder.job : "?", s->holder.node ? s->holder.node : "?",
	    w->wait_s);
	/* Live (cairn run): say it now; a Slurm job shows it when its task starts. */
	if (w->live)
		fprintf(stderr, "%s\n", line);
	else
		cairn_job_record_line(w->rec, line);
}

/* What a job did with a volume, kept in the state revision that releases its
 * lease (see `cairn history`): the lease wait and the hydrate at the start. */
static char *activity_start(double lease_wait, const struct cairn_xfer_stats *h)
{
	json_t *o = json_pack("{s:f,s:{s:I,s:I,s:I,s:I,s:f}}", "lease_wait_s", lease_wait,
	                      "hydrate", "files", (json_int_t)h->files, "fetched",
	                      (json_int_t)h->moved, "fetched_bytes", (json_int_t)h->moved_bytes,
	                      "cached", (json_int_t)h->cached, "seconds", h->seconds);
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return t;
}

/* ... and the sync at the end (or why there was none). */
static char *activity_end(const struct cairn_job_volume *jv, const struct cairn_job_record *rec,
                          const struct cairn_xfer_stats *s, const char *failure)
{
	json_t *o = jv->activity ? json_loads(jv->activity, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	json_object_set_new(o, "job", json_string(rec->job_id ? rec->job_id : ""));
	json_object_set_new(o, "user", json_string(rec->user ? rec->user : ""));
	if (failure)
		json_object_set_new(o, "sync_error", json_string(failure));
	else if (s)
		json_object_set_new(
		    o, "sync",
		    json_pack("{s:b,s:i,s:I,s:I,s:I,s:I,s:I,s:f}", "committed", s->committed,
		              "version", (int)s->version, "files", (json_int_t)s->files, "uploaded",
		              (json_int_t)s->moved, "uploaded_bytes", (json_int_t)s->moved_bytes,
		              "deleted", (json_int_t)s->deleted, "too_large",
		              (json_int_t)s->too_large, "seconds", s->seconds));
	char *t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return t;
}

/* The user's grant on the volume: CAIRN_ACCESS_RW or _RO, or -1 (a user error
 * in err when there is none, or when a new volume would pass
 * MaxVolumesPerWorkspace). */
static int check_access(const struct cairn_config *cfg, struct cairn_store *st,
                        const struct cairn_job_record *rec, const struct cairn_user *u,
                        const struct cairn_volume_spec *vs, struct cairn_err *err)
{
	struct cairn_vstate state;
	if (cairn_vstate_load(st, rec->workspace, vs->name, &state, err) < 0)
		return -1;
	struct cairn_err why = {0};
	int a = (int)cairn_access_for(cfg, rec->workspace, &state, u, &why);
	if (a == CAIRN_ACCESS_NONE && why.msg[0]) {
		/* Not a member of the workspace, or membership could not be asked. */
		cairn_setuerr(err, "volume %s: %s", vs->name, why.msg);
		a = -1;
	} else if (state.rev == 0 && !vs->readonly &&
	           cairn_volume_quota_check(cfg, st, rec->workspace, vs->name, err) < 0)
		a = -1;
	else if (a == CAIRN_ACCESS_NONE) {
		autofree char *shares = cairn_shares_text(&state);
		const char *owner = state.owner ? state.owner : "its owner";
		cairn_setuerr(
		    err,
		    "volume %s: user %s may not use it: it belongs to %s and is shared "
		    "only with %s; ask %s or an admin to run 'cairn share %s --user %s --rw' "
		    "(or --ro)",
		    vs->name, u->name, owner, shares, owner, vs->name, u->name);
		a = -1;
	}
	cairn_vstate_free(&state);
	return a;
}

static int prepare_volume(const struct cairn_config *cfg, struct cairn_store *st,
                          const struct cairn_job_start *js, struct cairn_job_record *rec,
                          const struct cairn_volume_spec *vs, struct cairn_err *err)
{
	struct cairn_cache_vol cv;
	struct cairn_manifest head;
	struct cairn_xfer_stats stats;
	struct cairn_lease lease = {0};
	int exists = 0, rv = -1;
	bool readonly = vs->readonly;
	autofree char *line = NULL;
	/* Declared before the first goto: a jump past it would free garbage. */
	autofree char *cached_key = NULL;
	int granted = check_access(cfg, st, rec, js->user, vs, err);
	if (granted < 0)
		return -1;
	if (granted == CAIRN_ACCESS_RO && !readonly) {
		readonly = true;
		autofree char *note = xasprintf("cairn: volume %s: mounted read-only: %s has a "
		                                "read-only share of it (nothing is synced back)",
		                                vs->name, js->user->name);
		cairn_job_record_line(rec, note);
	}
	bool writable = !readonly && js->sync_here;
	cairn_manifest_init(&head);
	if (cairn_cache_open(cfg, rec->workspace, vs->name, js->user, js->job_id, NULL, &cv, err) <
	    0)
		return -1;
	/* Writers hold the volume exclusively; readers see the last committed version. */
	double t_lease = now_seconds();
	if (writable) {
		struct wait_note w = {.rec = rec, .live = js->live, .wait_s = cfg->lease_wait};
		int r = cairn_lease_acquire(
		    st, rec->workspace, vs->name, js->job_id, js->node ? js->node : "localhost",
		    js->user->name, cfg->lease_ttl, cfg->lease_wait, note_wait, &w, &lease, err);
		if (r < 0)
			goto out_cache;
		/* The grant again, as of the state the lease was taken on: a share
		 * withdrawn meanwhile (possibly while this job waited) counts. */
		if (check_access(cfg, st, rec, js->user, vs, err) != CAIRN_ACCESS_RW) {
			if (!err->msg[0])
				cairn_setuerr(
				    err,
				    "volume %s: its shares changed while the job started, and "
				    "%s may now only read it; resubmit the job, or mount it :ro",
				    vs->name, js->user->name);
			goto out;
		}
	}
	if (writable) {
		struct cairn_err ignore = {0};
		(void)cairn_volume_index_current(st, rec->workspace, vs->name, &ignore);
	}
	double t_hydrate = now_seconds();
	/* A cache already holding the head version is its own target: no manifest
	 * to fetch (the worker still checks every file against the state). */
	unsigned cached = 0;
	if (cairn_cache_state_version(&cv, &cached, &cached_key) < 0)
		cached = 0;
	int same = cairn_volume_load_head_unless(st, rec->workspace, vs->name, cached, cached_key,
	                                         &head, &exists, err);
	if (same < 0)
		goto out;
	if (readonly && !exists) {
		cairn_setuerr(err,
		              "%s: volume %s does not exist and cannot be created read-only; drop "
		              ":ro or create it first (e.g. run a job that writes it)",
		              vs->origin ? vs->origin : "--volume", vs->name);
		goto out;
	}

	int h = same ? cairn_hydrate_from_state(st, rec->workspace, vs->name, head.version, &cv,
	                                        js->user, &stats, err)
	             : 1;
	if (h == 1 && same) {
		/* The state was unreadable after all: fetch the manifest. */
		cairn_manifest_free(&head);
		if (cairn_volume_load_head(st, rec->workspace, vs->name, &head, &exists, err) < 0)
			goto out;
	}
	if (h == 1)
		h = cairn_hydrate(st, rec->workspace, vs->name, &head, &cv, js->user, &stats, err);
	if (h < 0)
		goto out;
	struct cairn_job_volume *jv = &rec->vol[rec->nvol++];
	jv->name = xstrdup(vs->name);
	jv->path = xstrdup(vs->path);
	jv->readonly = !writable;
	jv->source = xstrdup(cv.data_path);
	jv->version = head.version;
	jv->lease = writable ? cairn_lease_encode(&lease) : NULL;
	jv->activity = activity_start(writable ? t_hydrate - t_lease : 0, &stats);
	/* A read-only use is noted now, by the batch host only (every node of a
	 * multi-node job mounts the volume). Best effort. */
	if (!writable && js->sync_here && exists) {
		autofree char *note = activity_end(jv, rec, NULL, "read-only");
		struct cairn_err nerr = {0};
		(void)cairn_vstate_note(st, rec->workspace, vs->name, note, &nerr);
	}
	line = cairn_hydrate_summary(vs->name, &stats);
	cairn_job_record_line(rec, line);
	rv = 0;
out:
	if (rv < 0 && writable && lease.ws) {
		struct cairn_err ignore = {0};
		(void)cairn_lease_release(st, &lease, &ignore);
	}
	cairn_manifest_free(&head);
out_cache:
	if (rv < 0)
		cairn_cache_release(&cv, js->job_id);
	cairn_lease_free(&lease);
	cairn_cache_close(&cv);
	return rv;
}

/* Give back the leases a failed preparation already took. */
static void release_leases(struct cairn_store *st, const struct cairn_job_record *rec)
{
	for (size_t i = 0; i < rec->nvol; i++) {
		struct cairn_lease l;
		struct cairn_err ignore = {0};
		if (rec->vol[i].lease && cairn_lease_decode(rec->vol[i].lease, &l) == 0) {
			(void)cairn_lease_release(st, &l, &ignore);
			cairn_lease_free(&l);
		}
	}
}

/* Move the volumes whose names need the script's arguments or environment out
 * of spec into rec->deferred. */
static int defer_args_volumes(struct cairn_job_spec *spec, struct cairn_job_record *rec)
{
	struct cairn_job_spec later = {.sandbox = spec->sandbox, .limits = spec->limits};
	size_t keep = 0;
	for (size_t i = 0; i < spec->nvol; i++) {
		if (strstr(spec->vol[i].name_template, "$args["))
			later.vol[later.nvol++] = spec->vol[i];
		else
			spec->vol[keep++] = spec->vol[i];
	}
	spec->nvol = keep;
	if (later.nvol)
		rec->deferred = cairn_spec_encode(&later);
	cairn_spec_free(&later);
	return 0;
}

int cairn_job_prepare(const struct cairn_config *cfg, struct cairn_job_spec *spec,
                      const struct cairn_job_start *js, struct cairn_job_record *rec,
                      struct cairn_err *err)
{
	struct cairn_errlist errs = {0};
	autostore struct cairn_store *st = NULL;
	rec->job_id = xstrdup(js->job_id);
	rec->uid = js->user->uid;
	rec->gid = js->user->gid;
	rec->user = xstrdup(js->user->name);
	rec->workspace = cairn_workspace_for(cfg, js->account);
	rec->workdir = xstrdup(js->workdir ? js->workdir : "/");
	rec->account = js->account ? xstrdup(js->account) : NULL;
	rec->node = xstrdup(js->node ? js->node : "localhost");
	rec->sandbox = spec->sandbox;
	rec->sync_here = js->sync_here;

	char why[CAIRN_ERRLEN];
	if (spec->sandbox == CAIRN_SANDBOX_FULL &&
	    cairn_limits_effective(cfg, &spec->limits, &rec->limits, why, sizeof(why)) < 0) {
		rec->error = xasprintf("cairn: %s", why);
		return 0;
	}
	/* The workspace becomes a directory name in the cache and the store. */
	if (cairn_name_check(rec->workspace, why, sizeof(why)) < 0) {
		rec->error =
		    xasprintf("cairn: the job's workspace (its account) \"%s\" cannot name "
		              "volumes: %s; use an account made of a-z A-Z 0-9 . _ -",
		              rec->workspace, why);
		return 0;
	}
	struct cairn_placeholder_ctx ctx = {
	    .workspace = rec->workspace,
	    .user = js->user->name,
	    .account = js->account,
	    .argv = js->argv,
	    .argc = js->argc,
	    .envp = js->envp,
	};
	if (js->defer_args && defer_args_volumes(spec, rec) < 0)
		return 0;
	if (cairn_spec_resolve(spec, &ctx, cfg->allowed_prefixes, cfg->nallowed_prefixes, &errs) <
	    0) {
		rec->error =
		    xasprintf("cairn: %s", errs.n ? errs.msg[0] : "invalid volume request");
		cairn_errlist_free(&errs);
		return 0;
	}
	cairn_errlist_free(&errs);
	if (spec->nvol == 0)
		return 0;
	if (cairn_store_open(cfg->storage, &st, err) < 0)
		return -1;
	for (size_t i = 0; i < spec->nvol; i++) {
		struct cairn_err verr = {0};
		if (prepare_volume(cfg, st, js, rec, &spec->vol[i], &verr) < 0) {
			release_leases(st, rec);
			if (!verr.user) {
				cairn_seterr(err, "%s", verr.msg);
				return -1;
			}
			rec->error = xasprintf("cairn: %s", verr.msg);
			return 0;
		}
	}
	const char **keep = xcalloc(rec->nvol + 1, sizeof(char *));
	for (size_t i = 0; i < rec->nvol; i++)
		keep[i] = rec->vol[i].source;
	struct cairn_err eerr = {0};
	/* Eviction trouble never fails a job: the cache only grows a little. */
	(void)cairn_cache_evict(cfg, keep, rec->nvol, &eerr);
	free(keep);
	return 0;
}

int cairn_job_prepare_deferred(const struct cairn_config *cfg, struct cairn_job_record *rec,
                               const struct cairn_user *u, char *const *argv, int argc,
                               char *const *envp, struct cairn_err *err)
{
	struct cairn_job_spec spec = {0};
	struct cairn_job_record more = {0};
	char msg[CAIRN_ERRLEN];
	int rv = -1;
	if (!rec->deferred)
		return 0;
	if (cairn_spec_decode(rec->deferred, &spec, msg, sizeof(msg)) < 0) {
		cairn_seterr(err, "invalid deferred volumes in the job record: %s", msg);
		return -1;
	}
	struct cairn_job_start js = {
	    .job_id = rec->job_id,
	    .user = u,
	    .account = rec->account,
	    .workdir = rec->workdir,
	    .sync_here = rec->sync_here,
	    .node = rec->node,
	    .argv = argv,
	    .argc = argc,
	    .envp = envp,
	};
	if (cairn_job_prepare(cfg, &spec, &js, &more, err) < 0)
		goto out;
	free(rec->deferred);
	rec->deferred = NULL;
	for (size_t i = 0; !more.error && i < more.nvol; i++)
		for (size_t k = 0; k < rec->nvol; k++)
			if (!strcmp(more.vol[i].name, rec->vol[k].name))
				more.error =
				    xasprintf("cairn: volume %s is named twice (once "
				              "through $args[...]); mount each volume once",
				              more.vol[i].name);
	if (more.error) {
		rec->error = steal_ptr(&more.error);
	} else {
		for (size_t i = 0; i < more.nvol && rec->nvol < CAIRN_MAX_VOLUMES; i++) {
			rec->vol[rec->nvol++] = more.vol[i];
			memset(&more.vol[i], 0, sizeof(more.vol[i]));
		}
		more.nvol = 0;
		for (size_t i = 0; i < more.nlines; i++)
			cairn_job_record_line(rec, more.lines[i]);
	}
	rv = 0;
out:
	cairn_job_record_free(&more);
	cairn_spec_free(&spec);
	return rv;
}

int cairn_job_finish(const struct cairn_config *cfg, struct cairn_job_record *rec,
                     struct cairn_err *err)
{
	struct cairn_user u;
	autostore struct cairn_store *st = NULL;
	int rv = 0;
	bool any_lease = false;
	for (size_t i = 0; i < rec->nvol; i++)
		any_lease |= rec->vol[i].lease != NULL;
	if (cairn_user_lookup(NULL, rec->uid, rec->gid, &u, err) < 0)
		return -1;
	if (any_lease && cairn_store_open(cfg->storage, &st, err) < 0) {
		/* Say so in the job's output too, per volume that will not be synced. */
		for (size_t i = 0; i < rec->nvol; i++) {
			if (!rec->vol[i].lease)
				continue;
			autofree char *l =
			    xasprintf("cairn: volume %s: sync failed, this job's changes "
			              "were not committed: %s",
			              rec->vol[i].name, err->msg);
			cairn_job_record_line(rec, l);
		}
		cairn_user_free(&u);
		return -1;
	}
	for (size_t i = 0; i < rec->nvol; i++) {
		struct cairn_job_volume *jv = &rec->vol[i];
		struct cairn_cache_vol cv;
		struct cairn_lease lease = {0};
		struct cairn_err verr = {0};
		bool leased = jv->lease && cairn_lease_decode(jv->lease, &lease) == 0;
		autofree char *tree = tree_of(jv->source);
		autofree char *activity = NULL;
		if (!tree || cairn_cache_open(cfg, rec->workspace, jv->name, &u, rec->job_id, tree,
		                              &cv, &verr) < 0) {
			autofree char *l = xasprintf("cairn: volume %s: %s", jv->name, verr.msg);
			cairn_job_record_line(rec, l);
			rv = -1;
		} else {
			if (leased && !rec->error) {
				struct cairn_xfer_stats stats;
				if (cairn_sync(st, rec->workspace, jv->name, &cv, &lease, &u,
				               rec->job_id, cfg->max_file_size, &stats,
				               &verr) < 0) {
					autofree char *l = xasprintf(
					    "cairn: volume %s: sync failed, this job's changes "
					    "were not committed: %s",
					    jv->name, verr.msg);
					cairn_job_record_line(rec, l);
					activity = activity_end(jv, rec, NULL, verr.msg);
					rv = -1;
				} else {
					activity = activity_end(jv, rec, &stats, NULL);
					autofree char *l = cairn_sync_summary(jv->name, &stats);
					cairn_job_record_line(rec, l);
					if (stats.too_large) {
						autofree char *big = cairn_sync_too_large(
						    jv->name, cfg->max_file_size, &stats);
						cairn_job_record_line(rec, big);
						rv = -1;
					}
				}
			}
			cairn_cache_release(&cv, rec->job_id);
			cairn_cache_close(&cv);
		}
		/* Released after the commit, so the next holder starts from it. */
		if (leased) {
			struct cairn_err lerr = {0};
			if (!activity)
				activity =
				    activity_end(jv, rec, NULL,
				                 rec->error ? "the job failed before it ran"
				                            : "the cache tree could not be opened");
			int r = cairn_lease_release_noting(st, &lease, activity, &lerr);
			if (r < 0 && r != CAIRN_LEASE_LOST) {
				autofree char *l = xasprintf("cairn: volume %s: cannot release the "
				                             "lease (it expires by itself): %s",
				                             jv->name, lerr.msg);
				cairn_job_record_line(rec, l);
			}
		}
		cairn_lease_free(&lease);
	}
	if (rv < 0)
		cairn_seterr(err, "some volumes failed to sync");
	cairn_user_free(&u);
	return rv;
}

int cairn_job_renew(const struct cairn_config *cfg, struct cairn_store *st,
                    const struct cairn_job_record *rec, struct cairn_err *err)
{
	int lost = 0;
	for (size_t i = 0; i < rec->nvol; i++) {
		struct cairn_lease l;
		if (!rec->vol[i].lease || cairn_lease_decode(rec->vol[i].lease, &l) < 0)
			continue;
		int r = cairn_lease_renew(st, &l, cfg->lease_ttl, err);
		cairn_lease_free(&l);
		if (r == CAIRN_LEASE_LOST)
			lost++;
		else if (r < 0)
			return -1;
	}
	return lost;
}

int cairn_job_start_keeper(const struct cairn_config *cfg, const struct cairn_job_record *rec,
                           cairn_job_over_fn job_over, struct cairn_err *err)
{
	bool any = rec->deferred != NULL;
	for (size_t i = 0; i < rec->nvol; i++)
		any |= rec->vol[i].lease != NULL;
	if (!any)
		return 0;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		cairn_seterr(err, "cannot start the lease keeper: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return 0;
	}
	/* Own session, so slurmd's kill of the Prolog's process group spares it; the
	 * double fork makes init its parent. */
	if (setsid() < 0 || fork() != 0)
		_exit(0);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
	}
	close_range(3, ~0U, 0);
	autofree char *path = cairn_job_record_path(cfg, rec->job_id);
	struct cairn_store *st = NULL;
	struct cairn_err e = {0};
	if (cairn_store_open(cfg->storage, &st, &e) < 0)
		_exit(1);
	double next_check = now_seconds() + 60;
	for (;;) {
		sleep(cfg->lease_renew);
		if (job_over && now_seconds() >= next_check) {
			next_check = now_seconds() + 60;
			if (job_over(rec->job_id))
				break;
		}
		struct stat sb;
		/* The Epilog removes the record once the leases are released. */
		if (stat(path, &sb) < 0)
			break;
		memset(&e, 0, sizeof(e));
		/* Reread it: the batch step may have added leases ($args[...] volumes). */
		struct cairn_job_record now;
		if (cairn_job_record_load(cfg, rec->job_id, &now, &e) != 0)
			break;
		/* An Epilog that died mid-sync will not release: let the leases expire. */
		if (now.epilog_pid > 0 && kill(now.epilog_pid, 0) < 0 && errno == ESRCH) {
			cairn_job_record_free(&now);
			break;
		}
		int lost = cairn_job_renew(cfg, st, &now, &e);
		cairn_job_record_free(&now);
		if (lost > 0) {
			openlog("cairn-keeper", LOG_PID, LOG_DAEMON);
			syslog(LOG_WARNING, "job %s: %d volume lease(s) lost to another holder",
			       rec->job_id, lost);
			closelog();
		}
	}
	cairn_store_close(st);
	_exit(0);
}
