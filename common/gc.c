#include "gc.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lease.h"
#include "manifest.h"
#include "volume.h"

/* A writer waits this much longer than a collector may run. */
#define GC_MARGIN_S 60

static void new_nonce(char out[33])
{
	unsigned char rnd[16] = {0};
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(rnd, &ts, sizeof(ts) < sizeof(rnd) ? sizeof(ts) : sizeof(rnd));
		rnd[15] ^= (unsigned char)getpid();
	}
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

static double monotonic_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- WS/gc/: the lock and the collections' numbers ---- */

struct gc_dir {
	int64_t lock_t; /* the lock's storage time; -1: no lock */
	uint64_t gen;   /* the newest collection's number (0: none yet) */
	bool has_gen;
};

static int note_gc_key(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	struct gc_dir *d = arg;
	const char *gen = strstr(key, "/gc/gen/");
	const char *base = strrchr(key, '/');
	if (gen) {
		uint64_t n = strtoull(gen + 8, NULL, 10);
		if (!d->has_gen || n > d->gen)
			d->gen = n;
		d->has_gen = true;
	} else if (base && !strcmp(base, "/lock")) {
		d->lock_t = mtime;
	}
	return 0;
}

static int read_gc_dir(struct cairn_store *st, const char *ws, struct gc_dir *d,
                       struct cairn_err *err)
{
	memset(d, 0, sizeof(*d));
	d->lock_t = -1;
	autofree char *prefix = xasprintf("%s/gc/", ws);
	return cairn_store_list(st, prefix, note_gc_key, d, err);
}

struct lock_rec {
	char nonce[33];
	char by[128];
	int64_t time; /* the collector's clock when it took the lock */
};

static int read_lock(struct cairn_store *st, const char *ws, struct lock_rec *out,
                     struct cairn_err *err)
{
	autofree char *key = xasprintf("%s/gc/lock", ws);
	autofree char *text = NULL;
	size_t len = 0;
	int r = cairn_store_get_buf(st, key, 4096, &text, &len, err);
	if (r < 0)
		return r;
	json_t *o = json_loadb(text, len, 0, NULL);
	const char *n = json_string_value(json_object_get(o, "nonce"));
	const char *by = json_string_value(json_object_get(o, "by"));
	json_t *t = json_object_get(o, "time");
	if (!n || strlen(n) != 32 || !json_is_integer(t)) {
		json_decref(o);
		/* Unreadable: as if taken long ago, so that it does not block forever. */
		memset(out, 0, sizeof(*out));
		snprintf(out->by, sizeof(out->by), "?");
		return 0;
	}
	memcpy(out->nonce, n, 33);
	snprintf(out->by, sizeof(out->by), "%s", by ? by : "?");
	out->time = (int64_t)json_integer_value(t);
	json_decref(o);
	return 0;
}

static bool lock_dead(const struct lock_rec *l)
{
	return (int64_t)time(NULL) - l->time > CAIRN_GC_MAX_RUN + GC_MARGIN_S;
}

static int lock_take(struct cairn_store *st, const char *ws, const char *who, char nonce[33],
                     struct cairn_err *err)
{
	new_nonce(nonce);
	autofree char *key = xasprintf("%s/gc/lock", ws);
	json_t *o = json_pack("{s:s, s:s, s:I}", "nonce", nonce, "by", who ? who : "cairn gc",
	                      "time", (json_int_t)time(NULL));
	autofree char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text) {
		cairn_seterr(err, "workspace %s: cannot encode the collector's lock", ws);
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		int r = cairn_store_put_buf(st, key, text, strlen(text), CAIRN_PUT_IF_ABSENT, err);
		if (r == 0)
			return 0;
		if (r != CAIRN_STORE_EXISTS)
			return -1;
		struct lock_rec cur;
		r = read_lock(st, ws, &cur, err);
		if (r == CAIRN_STORE_NOTFOUND) {
			memset(err, 0, sizeof(*err));
			continue;
		}
		if (r < 0)
			return -1;
		if (!lock_dead(&cur)) {
			cairn_setuerr(err,
			              "workspace %s: another collection of unused contents is "
			              "running (%s, for %llds); try again when it has ended",
			              ws, cur.by, (long long)((int64_t)time(NULL) - cur.time));
			return -1;
		}
		/* Its collector died: past CAIRN_GC_MAX_RUN it deletes nothing. */
		struct cairn_err derr = {0};
		(void)cairn_store_delete(st, key, &derr);
	}
	cairn_setuerr(err, "workspace %s: another collection took the lock first; try again", ws);
	return -1;
}

static void lock_drop(struct cairn_store *st, const char *ws, const char nonce[33])
{
	struct lock_rec cur;
	struct cairn_err e = {0};
	if (read_lock(st, ws, &cur, &e) == 0 && !strcmp(cur.nonce, nonce)) {
		autofree char *key = xasprintf("%s/gc/lock", ws);
		(void)cairn_store_delete(st, key, &e);
	}
}

/* Under the lock: WS/gc/gen/N+1, so that writers see a collection ran; its
 * storage time (and the lock's) is the collection's start in *t0. */
static int next_gen(struct cairn_store *st, const char *ws, int64_t *t0, struct cairn_err *err)
{
	struct gc_dir d;
	if (read_gc_dir(st, ws, &d, err) < 0)
		return -1;
	uint64_t n = d.has_gen ? d.gen + 1 : 1;
	for (;; n++) {
		autofree char *key = xasprintf("%s/gc/gen/%020llu", ws, (unsigned long long)n);
		int r = cairn_store_put_buf(st, key, "", 0, CAIRN_PUT_IF_ABSENT, err);
		if (r == 0)
			break;
		if (r != CAIRN_STORE_EXISTS)
			return -1;
		memset(err, 0, sizeof(*err));
	}
	if (read_gc_dir(st, ws, &d, err) < 0)
		return -1;
	if (d.lock_t < 0) {
		cairn_seterr(err, "workspace %s: storage does not list the collector's lock", ws);
		return -1;
	}
	*t0 = d.lock_t;
	if (d.gen != n) {
		cairn_seterr(err, "workspace %s: storage does not list collection %llu just made",
		             ws, (unsigned long long)n);
		return -1;
	}
	if (n > 1) {
		autofree char *old =
		    xasprintf("%s/gc/gen/%020llu", ws, (unsigned long long)(n - 1));
		struct cairn_err e = {0};
		(void)cairn_store_delete(st, old, &e);
	}
	return 0;
}

/* ---- a writer's watch ---- */

void cairn_gc_watch_start(struct cairn_store *st, const char *ws, struct cairn_gc_watch *w)
{
	struct gc_dir d;
	struct cairn_err e = {0};
	if (read_gc_dir(st, ws, &d, &e) < 0) {
		w->busy = true;
		w->gen = 0;
		return;
	}
	w->busy = d.lock_t >= 0;
	w->gen = d.gen;
}

int cairn_gc_watch_check(struct cairn_store *st, const char *ws, const struct cairn_gc_watch *w,
                         struct cairn_err *err)
{
	bool waited = false;
	double first = 0;
	for (;;) {
		struct gc_dir d;
		if (read_gc_dir(st, ws, &d, err) < 0)
			return -1;
		if (d.lock_t < 0)
			return w->busy || waited || d.gen != w->gen;
		struct lock_rec cur;
		int r = read_lock(st, ws, &cur, err);
		if (r == CAIRN_STORE_NOTFOUND) {
			memset(err, 0, sizeof(*err));
			waited = true;
			continue;
		}
		if (r < 0)
			return -1;
		if (lock_dead(&cur))
			return 1;
		if (!waited)
			first = monotonic_now();
		waited = true;
		if (monotonic_now() - first > CAIRN_GC_MAX_RUN + GC_MARGIN_S)
			return 1;
		sleep(1);
	}
}

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
	if (strlen(hex) != 64)
		return false;
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + j];
			unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			                                    : 16u;
			if (d > 15)
				return false;
			v = v * 16 + d;
		}
		out[i] = (unsigned char)v;
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

struct key_list {
	char **v;
	size_t n;
};

static int collect_manifest_key(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	struct key_list *l = arg;
	if (strstr(key, "/manifests/") || strstr(key, "/versions/") || strstr(key, "/conflicts/")) {
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
		l->v[l->n++] = xstrdup(key);
	}
	return 0;
}

struct mark {
	struct cairn_store *st;
	const char *ws;
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

static int mark_volume(struct mark *mk, const char *vol, struct cairn_err *err)
{
	autofree char *prefix = cairn_key_volume_prefix(mk->ws, vol);
	struct key_list keys = {0};
	if (cairn_store_list(mk->st, prefix, collect_manifest_key, &keys, err) < 0)
		return -1;
	/* Versions whose manifests/ copy was read: their versions/ index copy holds
	 * the same manifest. manifests/ sorts before versions/. */
	unsigned long *done = NULL;
	size_t ndone = 0;
	int rv = 0;
	for (size_t i = 0; i < keys.n && rv == 0; i++) {
		const char *key = keys.v[i];
		bool index = strstr(key, "/versions/") != NULL;
		if (index) {
			bool seen = false;
			for (size_t j = 0; j < ndone && !seen; j++)
				seen = done[j] == key_version(key);
			if (seen)
				continue;
		}
		int r = mark_manifest(mk, vol, key, err);
		if (r < 0) {
			rv = -1;
			break;
		}
		if (r == 1 && strstr(key, "/manifests/")) {
			done = xrealloc(done, (ndone + 1) * sizeof(*done));
			done[ndone++] = key_version(key);
		}
	}
	free(done);
	cairn_strv_free(keys.v, keys.n);
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
	double deadline; /* monotonic: delete nothing after it */
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
		if (monotonic_now() > sw->deadline) {
			sw->stats->out_of_time = true;
			return 1;
		}
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
	double start = monotonic_now();
	char nonce[33] = "";
	int64_t t0 = INT64_MAX;
	if (!o->dry_run &&
	    (lock_take(st, ws, o->who, nonce, err) < 0 || next_gen(st, ws, &t0, err) < 0)) {
		if (nonce[0] && !err->user)
			lock_drop(st, ws, nonce);
		return -1;
	}
	struct mark mk = {.st = st, .ws = ws, .stats = stats};
	int rv = mark_all(&mk, err);
	if (rv == 0) {
		struct sweep sw = {.st = st,
		                   .named = &mk.named,
		                   .before =
		                       t0 == INT64_MAX ? INT64_MAX : t0 - CAIRN_GC_CLOCK_MARGIN,
		                   .dry_run = o->dry_run,
		                   .deadline = start + CAIRN_GC_MAX_RUN - GC_MARGIN_S,
		                   .stats = stats,
		                   .err = err};
		rv = sweep_all(&sw, ws);
	}
	free(mk.named.v);
	if (!o->dry_run)
		lock_drop(st, ws, nonce);
	return rv;
}
