#include "gc.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "gc_lock.h"
#include "manifest.h"
#include "volume.h"

#define GC_CHECK_EVERY 256 /* deletes between checks that the lock is ours */

/* ---- the set of named contents ---- */

struct digest_set {
	unsigned char (*v)[32];
	size_t n, cap, clean; /* v[0..clean) sorted, no duplicates */
};

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void set_compact(struct digest_set *s)
{
	if (s->clean == s->n)
		return;
	qsort(s->v, s->n, 32, cmp_digest);
	size_t w = 0;
	for (size_t i = 0; i < s->n; i++)
		if (!w || memcmp(s->v[w - 1], s->v[i], 32))
			memmove(s->v[w++], s->v[i], 32);
	s->n = s->clean = w;
}

static bool hex_digest(const char *hex, unsigned char out[32])
{
	if (!cairn_is_hex(hex, 64))
		return false;
	for (int i = 0; i < 32; i++) {
		char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
		out[i] = (unsigned char)strtoul(pair, NULL, 16);
	}
	return true;
}

static void set_add(struct digest_set *s, const char *hex)
{
	unsigned char d[32];
	if (!hex_digest(hex, d))
		return;
	if (s->n == s->cap) {
		/* Manifests of many versions name the same contents again and
		 * again: shed the repeats before growing. */
		set_compact(s);
		if (!s->cap || s->n * 2 > s->cap) {
			s->cap = s->cap ? 2 * s->cap : 4096;
			s->v = xrealloc(s->v, s->cap * 32);
		}
	}
	memcpy(s->v[s->n++], d, 32);
}

static bool set_has(const struct digest_set *s, const unsigned char d[32])
{
	return bsearch(d, s->v, s->clean, 32, cmp_digest) != NULL;
}

/* ---- mark: every manifest of every volume ---- */

struct mark {
	struct cairn_store *st;
	const char *ws;
	double deadline; /* reading manifests past it leaves no time to delete */
	struct digest_set named;
	struct cairn_gc_stats *stats;
};

/* The version number a manifests/ or versions/ key is for. */
static unsigned long key_version(const char *key)
{
	const char *base = strrchr(key, '/');
	return base ? strtoul(base + 1, NULL, 10) : 0;
}

static int mark_manifest(struct mark *mk, const char *vol, const char *key, struct cairn_err *err)
{
	autofree char *text = NULL;
	size_t len = 0;
	int r = cairn_store_get_buf(mk->st, key, CAIRN_MANIFEST_MAX, &text, &len, err);
	if (r == CAIRN_STORE_NOTFOUND) {
		memset(err, 0, sizeof(*err));
		return 0; /* removed since it was listed: it names nothing now */
	}
	if (r < 0)
		return -1;
	struct cairn_manifest m;
	struct cairn_err perr = {0};
	if (cairn_manifest_from_json(text, len, &m, &perr) < 0) {
		cairn_seterr(err,
		             "volume %s: %s is unreadable (%s), so what it names is unknown; "
		             "nothing was deleted",
		             vol, key, perr.msg);
		return -1;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct cairn_entry *e = &m.e[i];
		if (e->type != CAIRN_FT_FILE)
			continue;
		set_add(&mk->named, e->pack[0] ? e->pack : e->sha256);
	}
	cairn_manifest_free(&m);
	mk->stats->manifests++;
	return 1;
}

/* The manifests of a volume: manifests/ (committed or not), then versions/
 * (index copies, read only when their manifests/ copy was not), then
 * conflicts/, each listed after the one before was read: a commit refused
 * meanwhile saves its conflict copy before it deletes its manifest, so one of
 * the two is seen. */
static int mark_volume(struct mark *mk, const char *vol, struct cairn_err *err)
{
	static const char *const dirs[] = {"manifests", "versions", "conflicts"};
	autofree char *prefix = cairn_key_volume_prefix(mk->ws, vol);
	unsigned long *done = NULL; /* versions whose manifests/ copy was read */
	size_t ndone = 0;
	int rv = 0;
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]) && rv == 0; d++) {
		autofree char *sub = xasprintf("%s%s/", prefix, dirs[d]);
		char **keys = NULL;
		size_t nkeys = 0;
		if (cairn_store_list_keys(mk->st, sub, &keys, &nkeys, err) < 0) {
			rv = -1;
			break;
		}
		for (size_t i = 0; i < nkeys && rv == 0; i++) {
			const char *key = keys[i];
			unsigned long version = key_version(key);
			bool seen = false;
			for (size_t j = 0; d == 1 && j < ndone && !seen; j++)
				seen = done[j] == version;
			if (seen)
				continue;
			if (boottime_seconds() > mk->deadline) {
				cairn_seterr(
				    err,
				    "workspace %s: reading its manifests took over %d s, which "
				    "leaves no time to delete; nothing was deleted",
				    mk->ws, CAIRN_GC_DELETE_UNTIL);
				rv = -1;
				break;
			}
			int r = mark_manifest(mk, vol, key, err);
			if (r < 0)
				rv = -1;
			else if (r == 1 && d == 0) {
				done = xrealloc(done, (ndone + 1) * sizeof(*done));
				done[ndone++] = version;
			}
		}
		cairn_strv_free(keys, nkeys);
	}
	free(done);
	return rv;
}

static int mark_all(struct mark *mk, struct cairn_err *err)
{
	char **names = NULL;
	size_t n = 0;
	if (cairn_volume_list(mk->st, mk->ws, &names, &n, err) < 0)
		return -1;
	mk->stats->volumes = n;
	int rv = 0;
	for (size_t i = 0; i < n && rv == 0; i++)
		rv = mark_volume(mk, names[i], err);
	cairn_strv_free(names, n);
	set_compact(&mk->named);
	return rv;
}

/* ---- sweep: objects and packs nothing names ---- */

struct sweep {
	struct cairn_store *st;
	const struct digest_set *named;
	int64_t before; /* delete only what is older */
	bool dry_run;
	const struct cairn_gc_lock *lock; /* checked every GC_CHECK_EVERY deletes */
	double deadline;                  /* boottime_seconds(): delete nothing after it */
	struct cairn_gc_stats *stats;
	struct cairn_err *err;
};

static int sweep_key(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct sweep *sw = arg;
	const char *base = strrchr(key, '/');
	unsigned char d[32];
	if (!base || !hex_digest(base + 1, d))
		return 0; /* not a content: not ours to judge */
	sw->stats->objects++;
	sw->stats->bytes += size;
	if (set_has(sw->named, d)) {
		sw->stats->kept_named++;
		return 0;
	}
	if (mtime >= sw->before) {
		sw->stats->kept_recent++;
		return 0;
	}
	if (!sw->dry_run) {
		if (boottime_seconds() > sw->deadline) {
			sw->stats->out_of_time = true;
			return 1;
		}
		if (sw->stats->deleted && sw->stats->deleted % GC_CHECK_EVERY == 0 &&
		    cairn_gc_lock_check(sw->st, sw->lock, sw->err) < 0)
			return -1;
		int r = cairn_store_delete(sw->st, key, sw->err);
		if (r < 0 && r != CAIRN_STORE_NOTFOUND)
			return -1;
		memset(sw->err, 0, sizeof(*sw->err));
	}
	sw->stats->deleted++;
	sw->stats->deleted_bytes += size;
	return 0;
}

static int sweep_all(struct sweep *sw, const char *ws)
{
	static const char *const dirs[] = {"objects", "packs"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		autofree char *prefix = xasprintf("%s/%s/", ws, dirs[i]);
		struct cairn_err lerr = {0};
		if (cairn_store_list(sw->st, prefix, sweep_key, sw, &lerr) < 0) {
			if (!sw->err->msg[0])
				cairn_seterr(sw->err, "%s", lerr.msg);
			return -1;
		}
	}
	return 0;
}

/* ---- the whole collection ---- */

int cairn_gc(struct cairn_store *st, const char *ws, const struct cairn_gc_opts *o,
             struct cairn_gc_stats *stats, struct cairn_err *err)
{
	memset(stats, 0, sizeof(*stats));
	double start = boottime_seconds();
	/* An interrupted collector would leave its lock, and every writer of the
	 * workspace would wait for it to go dead: signals wait until it is
	 * dropped. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	struct cairn_gc_lock lk = {.ws = ws, .t0 = INT64_MAX};
	if (!o->dry_run) {
		pthread_sigmask(SIG_BLOCK, &block, &old);
		if (cairn_gc_lock_take(st, ws, o->who, &lk, err) < 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return -1;
		}
	}
	struct mark mk = {.st = st,
	                  .ws = ws,
	                  .deadline = o->dry_run ? INFINITY : start + CAIRN_GC_DELETE_UNTIL,
	                  .stats = stats};
	int rv = mark_all(&mk, err);
	if (rv == 0 && !o->dry_run)
		rv = cairn_gc_lock_check(st, &lk, err);
	if (rv == 0) {
		struct sweep sw = {.st = st,
		                   .named = &mk.named,
		                   .before = o->dry_run ? INT64_MAX : lk.t0 - CAIRN_GC_CLOCK_MARGIN,
		                   .dry_run = o->dry_run,
		                   .lock = o->dry_run ? NULL : &lk,
		                   .deadline = start + CAIRN_GC_DELETE_UNTIL,
		                   .stats = stats,
		                   .err = err};
		rv = sweep_all(&sw, ws);
	}
	free(mk.named.v);
	if (!o->dry_run) {
		cairn_gc_lock_drop(st, &lk);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return rv;
}
