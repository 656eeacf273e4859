#include "gc_lock.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

#include "gc.h"

/* A lock this much older than CAIRN_GC_MAX_RUN is dead. */
#define GC_DEAD_MARGIN_S 60

/* ---- what WS/gc/ holds ---- */

struct gc_dir {
	int64_t lock_t, clock_t; /* storage times; -1: absent */
	uint64_t gen;            /* the newest collection's number (0: none yet) */
};

static int note_gc_key(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	struct gc_dir *d = arg;
	const char *rest = strstr(key, "/gc/");
	if (!rest)
		return 0;
	rest += 4;
	if (!strncmp(rest, "gen/", 4)) {
		uint64_t n = strtoull(rest + 4, NULL, 10);
		if (n > d->gen)
			d->gen = n;
	} else if (!strcmp(rest, "lock")) {
		d->lock_t = mtime;
	} else if (!strcmp(rest, "clock")) {
		d->clock_t = mtime;
	}
	return 0;
}

static int read_gc_dir(struct cairn_store *st, const char *ws, struct gc_dir *d,
                       struct cairn_err *err)
{
	memset(d, 0, sizeof(*d));
	d->lock_t = d->clock_t = -1;
	autofree char *prefix = xasprintf("%s/gc/", ws);
	return cairn_store_list(st, prefix, note_gc_key, d, err);
}

/* The listing, with clock_t the storage's time now (a write of WS/gc/clock
 * just before). */
static int read_gc_dir_now(struct cairn_store *st, const char *ws, struct gc_dir *d,
                           struct cairn_err *err)
{
	autofree char *key = xasprintf("%s/gc/clock", ws);
	if (cairn_store_put_buf(st, key, "", 0, 0, err) < 0 || read_gc_dir(st, ws, d, err) < 0)
		return -1;
	return 0;
}

/* Dead by the storage's clock; a time the storage did not give readably
 * (INT64_MAX, see store.h) never makes a lock dead. */
static bool lock_dead(const struct gc_dir *d)
{
	return d->lock_t >= 0 && d->clock_t >= 0 && d->lock_t != INT64_MAX &&
	       d->clock_t != INT64_MAX &&
	       d->clock_t - d->lock_t > CAIRN_GC_MAX_RUN + GC_DEAD_MARGIN_S;
}

struct lock_rec {
	char nonce[33];
	char by[160];
};

/* The lock's record; an unreadable one has nonce "" (never ours). */
static int read_lock(struct cairn_store *st, const char *ws, struct lock_rec *out,
                     struct cairn_err *err)
{
	memset(out, 0, sizeof(*out));
	autofree char *key = xasprintf("%s/gc/lock", ws);
	autofree char *text = NULL;
	size_t len = 0;
	int r = cairn_store_get_buf(st, key, 4096, &text, &len, err);
	if (r < 0)
		return r;
	json_t *o = json_loadb(text, len, 0, NULL);
	const char *n = json_string_value(json_object_get(o, "nonce"));
	const char *by = json_string_value(json_object_get(o, "by"));
	if (n && strlen(n) == 32)
		memcpy(out->nonce, n, 33);
	snprintf(out->by, sizeof(out->by), "%s", by ? by : "?");
	json_decref(o);
	return 0;
}

/* ---- the lock ---- */

/* Once per dead lock: the first to create WS/gc/takeover/ID deletes it. ID is
 * the lock's nonce, or its storage time if the lock is unreadable. The body
 * is the taker's own nonce, so that two takers' bodies differ (a retried put
 * counts as its own when the stored body is its own). */
static int take_over(struct cairn_store *st, const char *ws, const struct lock_rec *dead,
                     int64_t dead_t, const char *mine, struct cairn_err *err)
{
	autofree char *id =
	    dead->nonce[0] ? xstrdup(dead->nonce) : xasprintf("t%lld", (long long)dead_t);
	autofree char *tkey = xasprintf("%s/gc/takeover/%s", ws, id);
	int r = cairn_store_put_buf(st, tkey, mine, strlen(mine), CAIRN_PUT_IF_ABSENT, err);
	if (r == CAIRN_STORE_EXISTS) {
		memset(err, 0, sizeof(*err));
		return 0;
	}
	if (r < 0)
		return -1;
	struct lock_rec now;
	struct gc_dir d;
	struct cairn_err e = {0};
	if (read_lock(st, ws, &now, &e) == 0 && !strcmp(now.nonce, dead->nonce) &&
	    (dead->nonce[0] || (read_gc_dir(st, ws, &d, &e) == 0 && d.lock_t == dead_t))) {
		autofree char *key = xasprintf("%s/gc/lock", ws);
		(void)cairn_store_delete(st, key, &e);
	}
	return 0;
}

/* Under the lock: WS/gc/gen/N+1, so that writers see a collection ran. */
static int next_gen(struct cairn_store *st, const char *ws, struct cairn_err *err)
{
	struct gc_dir d;
	if (read_gc_dir(st, ws, &d, err) < 0)
		return -1;
	for (uint64_t n = d.gen + 1;; n++) {
		autofree char *key = xasprintf("%s/gc/gen/%020llu", ws, (unsigned long long)n);
		int r = cairn_store_put_buf(st, key, "", 0, CAIRN_PUT_IF_ABSENT, err);
		if (r == CAIRN_STORE_EXISTS) {
			memset(err, 0, sizeof(*err));
			continue;
		}
		if (r < 0)
			return -1;
		if (d.gen) {
			autofree char *old =
			    xasprintf("%s/gc/gen/%020llu", ws, (unsigned long long)d.gen);
			struct cairn_err e = {0};
			(void)cairn_store_delete(st, old, &e);
		}
		return 0;
	}
}

int cairn_gc_lock_take(struct cairn_store *st, const char *ws, const char *who,
                       struct cairn_gc_lock *lk, struct cairn_err *err)
{
	memset(lk, 0, sizeof(*lk));
	lk->ws = ws;
	cairn_random_hex(lk->nonce);
	autofree char *key = xasprintf("%s/gc/lock", ws);
	json_t *o = json_pack("{s:s, s:s, s:I}", "nonce", lk->nonce, "by", who ? who : "cairn gc",
	                      "time", (json_int_t)time(NULL));
	autofree char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text) {
		cairn_seterr(err, "workspace %s: cannot encode the collector's lock", ws);
		return -1;
	}
	struct lock_rec cur;
	memset(&cur, 0, sizeof(cur));
	struct gc_dir d;
	bool taken = false;
	for (int attempt = 0; attempt < 2 && !taken; attempt++) {
		int r = cairn_store_put_buf(st, key, text, strlen(text), CAIRN_PUT_IF_ABSENT, err);
		if (r == 0) {
			taken = true;
			break;
		}
		if (r != CAIRN_STORE_EXISTS)
			return -1;
		memset(err, 0, sizeof(*err));
		r = read_lock(st, ws, &cur, err);
		if (r == CAIRN_STORE_NOTFOUND) {
			memset(err, 0, sizeof(*err));
			continue;
		}
		if (r < 0 || read_gc_dir_now(st, ws, &d, err) < 0)
			return -1;
		if (attempt || !lock_dead(&d) ||
		    take_over(st, ws, &cur, d.lock_t, lk->nonce, err) < 0)
			break;
	}
	if (!taken) {
		if (!err->msg[0])
			cairn_setuerr(
			    err,
			    "workspace %s: another collection of unused contents is running "
			    "(%s); try again when it has ended",
			    ws, cur.by);
		return -1;
	}
	if (read_gc_dir(st, ws, &d, err) < 0 || next_gen(st, ws, err) < 0) {
		cairn_gc_lock_drop(st, lk);
		return -1;
	}
	if (d.lock_t < 0 || d.lock_t == INT64_MAX) {
		cairn_gc_lock_drop(st, lk);
		cairn_seterr(err,
		             "workspace %s: storage gives no usable time for %s, so what is older "
		             "than this collection is unknown; nothing was deleted",
		             ws, key);
		return -1;
	}
	lk->t0 = d.lock_t;
	return 0;
}

int cairn_gc_lock_check(struct cairn_store *st, const struct cairn_gc_lock *lk,
                        struct cairn_err *err)
{
	struct lock_rec cur;
	int r = read_lock(st, lk->ws, &cur, err);
	if (r == 0 && !strcmp(cur.nonce, lk->nonce))
		return 0;
	if (r == CAIRN_STORE_NOTFOUND || r == 0) {
		memset(err, 0, sizeof(*err));
		cairn_seterr(err,
		             "workspace %s: this collection lost its lock (it ran too long and was "
		             "taken for dead); it stopped deleting, run it again",
		             lk->ws);
	}
	return -1;
}

void cairn_gc_lock_drop(struct cairn_store *st, const struct cairn_gc_lock *lk)
{
	/* A lock left behind makes every writer wait for it: try again after a
	 * failure the store's own retries did not get over. */
	autofree char *key = xasprintf("%s/gc/lock", lk->ws);
	for (int attempt = 0; attempt < 3; attempt++) {
		struct lock_rec cur;
		struct cairn_err e = {0};
		int r = read_lock(st, lk->ws, &cur, &e);
		if (r == CAIRN_STORE_NOTFOUND || (r == 0 && strcmp(cur.nonce, lk->nonce)))
			return;
		if (r == 0) {
			r = cairn_store_delete(st, key, &e);
			if (r == 0 || r == CAIRN_STORE_NOTFOUND)
				return;
		}
		sleep(1);
	}
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
		if (!waited)
			first = boottime_seconds();
		waited = true;
		/* A running collection may not have seen this writer's manifest:
		 * wait until it ends, or until it can delete nothing more. */
		if (read_gc_dir_now(st, ws, &d, err) < 0)
			return -1;
		if (d.lock_t < 0 || lock_dead(&d) ||
		    boottime_seconds() - first > CAIRN_GC_MAX_RUN + GC_DEAD_MARGIN_S)
			return 1;
		sleep(1);
	}
}
