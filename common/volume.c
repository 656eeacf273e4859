#include "volume.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "gc.h"
#include "lease.h"

char *cairn_key_object(const char *ws, const char *sha256)
{
	return xasprintf("%s/objects/%.2s/%s", ws, sha256, sha256);
}

char *cairn_key_pack(const char *ws, const char *sha256)
{
	return xasprintf("%s/packs/%.2s/%s", ws, sha256, sha256);
}

char *cairn_key_version(const char *ws, const char *vol, unsigned version)
{
	return xasprintf("%s/volumes/%s/versions/%010u", ws, vol, version);
}

char *cairn_key_head(const char *ws, const char *vol)
{
	return xasprintf("%s/volumes/%s/head", ws, vol);
}

char *cairn_key_volume_prefix(const char *ws, const char *vol)
{
	return xasprintf("%s/volumes/%s/", ws, vol);
}

static int load_manifest(struct cairn_store *st, const char *vol, const char *key, unsigned version,
                         struct cairn_manifest *out, struct cairn_err *err)
{
	autofree char *text = NULL;
	size_t len = 0;
	int r = cairn_store_get_buf(st, key, CAIRN_MANIFEST_MAX, &text, &len, err);
	if (r == CAIRN_STORE_NOTFOUND) {
		cairn_setuerr(err, "volume %s: version %u does not exist; see 'cairn show %s'", vol,
		              version, vol);
		return r;
	}
	if (r < 0)
		return r;
	struct cairn_err perr = {0};
	if (cairn_manifest_from_json(text, len, out, &perr) < 0) {
		cairn_seterr(err, "volume %s: version %u is unreadable (%s)", vol, version,
		             perr.msg);
		return -1;
	}
	if (out->version != version) {
		cairn_seterr(err, "volume %s: version %u holds version %u", vol, version,
		             out->version);
		cairn_manifest_free(out);
		return -1;
	}
	out->key = xstrdup(key);
	return 0;
}

int cairn_volume_load_version(struct cairn_store *st, const char *ws, const char *vol,
                              unsigned version, struct cairn_manifest *out, struct cairn_err *err)
{
	autofree char *key = cairn_key_version(ws, vol, version);
	struct cairn_err e = {0};
	int r = load_manifest(st, vol, key, version, out, &e);
	if (r != CAIRN_STORE_NOTFOUND) {
		if (r < 0)
			cairn_seterr(err, "%s", e.msg);
		return r;
	}
	/* The index entry is written after the commit: the newest version may lack it. */
	struct cairn_vstate s;
	if (cairn_vstate_load(st, ws, vol, &s, err) < 0)
		return -1;
	if (s.version == version && s.manifest)
		r = load_manifest(st, vol, s.manifest, version, out, err);
	else
		cairn_setuerr(err, "%s", e.msg);
	cairn_vstate_free(&s);
	return r;
}

int cairn_volume_load_head(struct cairn_store *st, const char *ws, const char *vol,
                           struct cairn_manifest *out, int *exists, struct cairn_err *err)
{
	return cairn_volume_load_head_unless(st, ws, vol, 0, NULL, out, exists, err) < 0 ? -1 : 0;
}

int cairn_volume_load_head_unless(struct cairn_store *st, const char *ws, const char *vol,
                                  unsigned have, const char *have_key, struct cairn_manifest *out,
                                  int *exists, struct cairn_err *err)
{
	struct cairn_vstate s;
	if (cairn_vstate_load(st, ws, vol, &s, err) < 0)
		return -1;
	if (have && s.version == have && have_key && s.manifest && !strcmp(s.manifest, have_key)) {
		cairn_manifest_init(out);
		out->version = have;
		out->key = steal_ptr(&s.manifest);
		cairn_vstate_free(&s);
		*exists = 1;
		return 1;
	}
	if (s.version == 0) {
		cairn_vstate_free(&s);
		cairn_manifest_init(out);
		out->workspace = xstrdup(ws);
		out->volume = xstrdup(vol);
		*exists = 0;
		return 0;
	}
	*exists = 1;
	int r = load_manifest(st, vol, s.manifest, s.version, out, err);
	cairn_vstate_free(&s);
	return r;
}

static void save_conflict(struct cairn_store *st, const char *ws, const char *vol,
                          const struct cairn_manifest *m, const char *json, const char *why,
                          struct cairn_err *err)
{
	autofree char *ckey =
	    xasprintf("%s/volumes/%s/conflicts/%010u-job%s-%lld", ws, vol, m->version,
	              m->job ? m->job : "none", (long long)time(NULL));
	struct cairn_err cerr = {0};
	if (cairn_store_put_buf(st, ckey, json, strlen(json), 0, &cerr) < 0)
		cairn_seterr(err, "volume %s: %s, and the conflict copy could not be saved: %s",
		             vol, why, cerr.msg);
	else
		cairn_seterr(err,
		             "volume %s: %s; this job's changes are kept as conflict copy %s "
		             "(see 'cairn show %s')",
		             vol, why, strrchr(ckey, '/') + 1, vol);
}

int cairn_volume_commit(struct cairn_store *st, const char *ws, const char *vol,
                        struct cairn_manifest *m, unsigned base, const struct cairn_lease *lease,
                        struct cairn_err *err)
{
	return cairn_volume_commit_checked(st, ws, vol, m, base, lease, NULL, NULL, err);
}

/* Test hook: CAIRN_TEST_PAUSE_BEFORE_COMMIT=FILE makes a commit create
 * FILE.waiting and wait (up to a minute) until FILE exists, so that a test can
 * run a collection while a writer is between what it read and its commit. */
static void test_pause(void)
{
	const char *f = getenv("CAIRN_TEST_PAUSE_BEFORE_COMMIT");
	if (!f || !*f || access(f, F_OK) == 0)
		return;
	autofree char *waiting = xasprintf("%s.waiting", f);
	autoclose int fd = open(waiting, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	for (int i = 0; i < 600 && access(f, F_OK) < 0; i++)
		usleep(100000);
}

int cairn_volume_commit_checked(struct cairn_store *st, const char *ws, const char *vol,
                                struct cairn_manifest *m, unsigned base,
                                const struct cairn_lease *lease, cairn_commit_check_fn check,
                                void *arg, struct cairn_err *err)
{
	test_pause();
	char nonce[17];
	unsigned char rnd[8] = {0};
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memcpy(rnd, &m, sizeof(rnd) < sizeof(m) ? sizeof(rnd) : sizeof(m));
	for (int i = 0; i < 8; i++)
		snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
	m->version = base + 1;
	m->parent = base;
	free(m->workspace);
	free(m->volume);
	m->workspace = xstrdup(ws);
	m->volume = xstrdup(vol);
	if (!m->created)
		m->created = (int64_t)time(NULL);
	autofree char *json = cairn_manifest_to_json(m, false);
	/* Data first, the manifest next, the state last: a commit killed at any point
	 * leaves the current version as it was. */
	autofree char *mkey =
	    xasprintf("%s/volumes/%s/manifests/%010u-%s", ws, vol, m->version, nonce);
	/* The name holds a fresh random nonce: if it exists, only this job can
	 * have written it (an earlier attempt whose answer was lost). */
	int pr = cairn_store_put_buf(st, mkey, json, strlen(json), CAIRN_PUT_IF_ABSENT, err);
	if (pr < 0 && pr != CAIRN_STORE_EXISTS)
		return -1;
	if (check && check(arg, err) < 0) {
		struct cairn_err ignore = {0};
		(void)cairn_store_delete(st, mkey, &ignore);
		return -1;
	}
	for (;;) {
		struct cairn_vstate cur, next;
		if (cairn_vstate_load(st, ws, vol, &cur, err) < 0)
			return -1;
		/* A state revision whose answer was lost may have been written after
		 * all (the server stored it, the retry was told it exists): the
		 * current state naming this job's manifest is this job's commit. */
		if (cur.version == base + 1 && cur.manifest && !strcmp(cur.manifest, mkey)) {
			cairn_vstate_free(&cur);
			break;
		}
		const char *why = NULL;
		char whybuf[256];
		if (lease && !cairn_lease_is_ours(&cur, lease)) {
			snprintf(
			    whybuf, sizeof(whybuf),
			    "this job lost its lease (epoch %llu) to %s%s%s while it ran, so it "
			    "may not commit",
			    (unsigned long long)lease->epoch, cur.held ? "job " : "a release",
			    cur.held && cur.holder.job ? cur.holder.job : "", cur.held ? "" : "");
			why = whybuf;
		} else if (!lease && cur.held && !cairn_vstate_expired(&cur, (int64_t)time(NULL))) {
			snprintf(whybuf, sizeof(whybuf), "volume is leased by job %s",
			         cur.holder.job ? cur.holder.job : "?");
			why = whybuf;
		} else if (cur.version != base) {
			snprintf(whybuf, sizeof(whybuf),
			         "version %u was committed since this job started from version %u",
			         cur.version, base);
			why = whybuf;
		}
		if (why) {
			save_conflict(st, ws, vol, m, json, why, err);
			cairn_vstate_free(&cur);
			struct cairn_err ignore = {0};
			(void)cairn_store_delete(st, mkey, &ignore);
			return CAIRN_STORE_EXISTS;
		}
		next = cur;
		memset(&cur, 0, sizeof(cur));
		free(next.activity); /* the previous revision's */
		next.activity = NULL;
		next.rev++;
		next.version = base + 1;
		free(next.manifest);
		next.manifest = xstrdup(mkey);
		free(next.op);
		next.op = xstrdup("commit");
		next.time = (int64_t)time(NULL);
		next.commit_epoch = (int64_t)(lease ? lease->epoch : next.epoch);
		int r = cairn_vstate_put(st, ws, vol, &next, err);
		cairn_vstate_free(&next);
		if (r == 0)
			break;
		if (r != CAIRN_STORE_EXISTS)
			return -1;
	}
	/* An index by version number for `cairn show` and rollback; the state above
	 * is what made the version current. */
	autofree char *vkey = cairn_key_version(ws, vol, m->version);
	struct cairn_err ignore = {0};
	(void)cairn_store_put_buf(st, vkey, json, strlen(json), CAIRN_PUT_IF_ABSENT, &ignore);
	free(m->key);
	m->key = xstrdup(mkey);
	return 0;
}

int cairn_volume_index_current(struct cairn_store *st, const char *ws, const char *vol,
                               struct cairn_err *err)
{
	struct cairn_vstate s;
	autofree char *text = NULL;
	size_t len = 0;
	int rv = 0;
	if (cairn_vstate_load(st, ws, vol, &s, err) < 0)
		return -1;
	if (s.version && s.manifest) {
		autofree char *vkey = cairn_key_version(ws, vol, s.version);
		if (cairn_store_exists(st, vkey, NULL, err) == CAIRN_STORE_NOTFOUND &&
		    cairn_store_get_buf(st, s.manifest, CAIRN_MANIFEST_MAX, &text, &len, err) ==
		        0) {
			int r = cairn_store_put_buf(st, vkey, text, len, CAIRN_PUT_IF_ABSENT, err);
			rv = r == CAIRN_STORE_EXISTS ? 0 : r;
		}
	}
	cairn_vstate_free(&s);
	return rv;
}

struct name_acc {
	char **v;
	size_t n;
	size_t skip;
};

static int collect_volume(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	struct name_acc *a = arg;
	const char *rest = key + a->skip;
	const char *slash = strchr(rest, '/');
	if (!slash || (strncmp(slash, "/versions/", 10) && strncmp(slash, "/state/", 7)))
		return 0;
	size_t len = (size_t)(slash - rest);
	if (a->n && strlen(a->v[a->n - 1]) == len && !strncmp(a->v[a->n - 1], rest, len))
		return 0;
	a->v = xrealloc(a->v, (a->n + 1) * sizeof(char *));
	a->v[a->n++] = strndup(rest, len);
	return 0;
}

int cairn_volume_list(struct cairn_store *st, const char *ws, char ***names, size_t *n,
                      struct cairn_err *err)
{
	autofree char *prefix = xasprintf("%s/volumes/", ws);
	struct name_acc a = {.skip = strlen(prefix)};
	if (cairn_store_list(st, prefix, collect_volume, &a, err) < 0) {
		cairn_strv_free(a.v, a.n);
		return -1;
	}
	*names = a.v;
	*n = a.n;
	return 0;
}

/* The lease of a volume for an admin command, refused (a user error naming the
 * holder) while a job holds it. */
static int lease_for_command(struct cairn_store *st, const char *ws, const char *vol,
                             const char *who, const char *node, const char *user,
                             const char *action, struct cairn_lease *l, struct cairn_err *err)
{
	int r = cairn_lease_acquire(st, ws, vol, who, node, user, 60, 0, NULL, NULL, l, err);
	if (r != CAIRN_LEASE_TIMEOUT)
		return r < 0 ? -1 : 0;
	memset(err, 0, sizeof(*err));
	struct cairn_vstate s;
	struct cairn_err e2 = {0};
	if (cairn_vstate_load(st, ws, vol, &s, &e2) == 0) {
		cairn_setuerr(err,
		              "volume %s is in use by job %s on %s; it cannot be %s while leased, "
		              "try again when the job has ended",
		              vol, s.holder.job ? s.holder.job : "?",
		              s.holder.node ? s.holder.node : "?", action);
		cairn_vstate_free(&s);
	}
	return -1;
}

int cairn_volume_quota_check(const struct cairn_config *cfg, struct cairn_store *st, const char *ws,
                             const char *vol, struct cairn_err *err)
{
	if (!cfg->max_volumes_per_workspace)
		return 0;
	char **names = NULL;
	size_t n = 0;
	if (cairn_volume_list(st, ws, &names, &n, err) < 0)
		return -1;
	cairn_strv_free(names, n);
	if (n < cfg->max_volumes_per_workspace)
		return 0;
	cairn_setuerr(err,
	              "volume %s: workspace %s has %zu volumes, the most this cluster allows "
	              "(MaxVolumesPerWorkspace = %llu); remove one with 'cairn rm' or use an "
	              "existing one",
	              vol, ws, n, cfg->max_volumes_per_workspace);
	return -1;
}

struct copy_check {
	struct cairn_store *st;
	const char *ws;
	const struct cairn_gc_watch *watch;
	char *source; /* the key the copied manifest was read from */
	/* What tells that manifest from another under the same key (a versions/
	 * index entry of a volume removed and made again). */
	int64_t created;
	char *job;
	size_t n;
};

/* The copy names the source's contents without a copy of its own: if a
 * collection ran since the source was read, the source must still exist, so
 * that the collection saw it name those contents. */
static int copy_source_kept(void *arg, struct cairn_err *err)
{
	struct copy_check *cc = arg;
	if (!cc->source)
		return 0;
	int r = cairn_gc_watch_check(cc->st, cc->ws, cc->watch, err);
	if (r <= 0)
		return r;
	autofree char *text = NULL;
	size_t len = 0;
	r = cairn_store_get_buf(cc->st, cc->source, CAIRN_MANIFEST_MAX, &text, &len, err);
	if (r < 0 && r != CAIRN_STORE_NOTFOUND)
		return -1;
	struct cairn_manifest now;
	struct cairn_err perr = {0};
	bool same = r == 0 && cairn_manifest_from_json(text, len, &now, &perr) == 0;
	if (same) {
		same = now.created == cc->created && now.n == cc->n &&
		       !strcmp(now.job ? now.job : "", cc->job ? cc->job : "");
		cairn_manifest_free(&now);
	}
	if (!same) {
		memset(err, 0, sizeof(*err));
		cairn_setuerr(err,
		              "the version being copied (%s) was removed while it was copied, and "
		              "its contents may be gone; nothing was committed",
		              cc->source);
		return -1;
	}
	return 0;
}

int cairn_volume_commit_copy(struct cairn_store *st, const char *ws, const char *vol,
                             struct cairn_manifest *m, const struct cairn_gc_watch *watch,
                             const char *who, const char *node, const char *user, unsigned *version,
                             struct cairn_err *err)
{
	struct cairn_lease l;
	if (lease_for_command(st, ws, vol, who, node, user, "changed", &l, err) < 0)
		return -1;
	struct cairn_vstate cur;
	int rv = -1;
	if (cairn_vstate_load(st, ws, vol, &cur, err) == 0) {
		struct copy_check cc = {.st = st,
		                        .ws = ws,
		                        .watch = watch,
		                        .source = m->key ? xstrdup(m->key) : NULL,
		                        .created = m->created,
		                        .job = m->job ? xstrdup(m->job) : NULL,
		                        .n = m->n};
		free(m->job);
		free(m->user);
		free(m->host);
		m->job = xstrdup(who);
		m->user = xstrdup(user);
		m->host = xstrdup(node);
		m->created = 0;
		rv = cairn_volume_commit_checked(st, ws, vol, m, cur.version, &l, copy_source_kept,
		                                 &cc, err) == 0
		         ? 0
		         : -1;
		free(cc.source);
		free(cc.job);
		*version = m->version;
		cairn_vstate_free(&cur);
	}
	struct cairn_err ignore = {0};
	(void)cairn_lease_release(st, &l, &ignore);
	cairn_lease_free(&l);
	return rv;
}

int cairn_volume_remove(struct cairn_store *st, const char *ws, const char *vol, const char *who,
                        const char *node, struct cairn_err *err)
{
	struct cairn_lease l;
	/* Holding the lease ourselves keeps jobs out while the keys go. */
	if (lease_for_command(st, ws, vol, who, node, "cairn-rm", "removed", &l, err) < 0)
		return -1;
	cairn_lease_free(&l);
	autofree char *prefix = cairn_key_volume_prefix(ws, vol);
	char **keys = NULL;
	size_t n = 0;
	int rv = cairn_store_list_keys(st, prefix, &keys, &n, err);
	/* State revisions last: until they go, the volume stays leased by us. */
	for (int pass = 0; rv == 0 && pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			bool state = !strncmp(keys[i] + strlen(prefix), "state/", 6);
			if (state != (pass == 1))
				continue;
			if (cairn_store_delete(st, keys[i], err) < 0 &&
			    err->msg[0]) { /* a key already gone is fine */
				rv = -1;
				break;
			}
		}
	cairn_strv_free(keys, n);
	return rv;
}
