#include "lease.h"

#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "volume.h"

#define STATE_MAX (64 * 1024)
#define CAIRN_SHARES_MAX 256

void cairn_vstate_free(struct cairn_vstate *s)
{
	free(s->manifest);
	free(s->holder.job);
	free(s->holder.node);
	free(s->holder.user);
	free(s->op);
	free(s->owner);
	free(s->last_job);
	free(s->last_user);
	for (size_t i = 0; i < s->nshares; i++)
		free(s->shares[i].name);
	free(s->shares);
	free(s->activity);
	free(s->last_activity);
	memset(s, 0, sizeof(*s));
}

static void copy_shares(const struct cairn_vstate *from, struct cairn_vstate *to)
{
	to->shares = from->nshares ? xcalloc(from->nshares, sizeof(*to->shares)) : NULL;
	to->nshares = from->nshares;
	for (size_t i = 0; i < from->nshares; i++) {
		to->shares[i] = from->shares[i];
		to->shares[i].name = xstrdup(from->shares[i].name);
	}
}

void cairn_lease_free(struct cairn_lease *l)
{
	free(l->ws);
	free(l->vol);
	free(l->job);
	free(l->node);
	memset(l, 0, sizeof(*l));
}

char *cairn_key_state(const char *ws, const char *vol, uint64_t rev)
{
	return xasprintf("%s/volumes/%s/state/%012llu", ws, vol, (unsigned long long)rev);
}

static char *str_or_null(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    json_string_length(v) > 1024)
		return NULL;
	return xstrdup(json_string_value(v));
}

static int parse_state(const char *text, size_t len, struct cairn_vstate *s, struct cairn_err *err)
{
	json_error_t jerr;
	memset(s, 0, sizeof(*s));
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		cairn_seterr(err, "volume state: invalid JSON: %s", jerr.text);
		return -1;
	}
	json_t *rev = json_object_get(o, "rev"), *epoch = json_object_get(o, "epoch"),
	       *version = json_object_get(o, "version");
	if (!json_is_integer(rev) || json_integer_value(rev) < 1 || !json_is_integer(epoch) ||
	    json_integer_value(epoch) < 0 || !json_is_integer(version) ||
	    json_integer_value(version) < 0 || json_integer_value(version) > UINT32_MAX) {
		json_decref(o);
		cairn_seterr(err, "volume state: rev, epoch or version missing or invalid");
		return -1;
	}
	s->rev = (uint64_t)json_integer_value(rev);
	s->epoch = (uint64_t)json_integer_value(epoch);
	s->version = (unsigned)json_integer_value(version);
	s->manifest = str_or_null(o, "manifest");
	s->op = str_or_null(o, "op");
	s->time = json_integer_value(json_object_get(o, "time"));
	s->commit_epoch = json_integer_value(json_object_get(o, "commit_epoch"));
	s->owner_uid = -1;
	json_t *own = json_object_get(o, "owner");
	if (json_is_object(own)) {
		s->owner = str_or_null(own, "name");
		json_t *uid = json_object_get(own, "uid");
		s->owner_uid = json_is_integer(uid) ? json_integer_value(uid) : -1;
	}
	s->created = json_integer_value(json_object_get(o, "created"));
	json_t *last = json_object_get(o, "last_used");
	if (json_is_object(last)) {
		s->last_job = str_or_null(last, "job");
		s->last_user = str_or_null(last, "user");
		s->last_used = json_integer_value(json_object_get(last, "time"));
	}
	json_t *shares = json_object_get(o, "shares");
	/* Shares that cannot be read grant nothing, and close the volume to all
	 * but its owner and admins rather than open it to everyone. */
	s->shares_invalid =
	    json_is_true(json_object_get(o, "shares_invalid")) ||
	    (shares && (!json_is_array(shares) || json_array_size(shares) > CAIRN_SHARES_MAX));
	if (json_is_array(shares) && json_array_size(shares) <= CAIRN_SHARES_MAX) {
		s->shares = xcalloc(json_array_size(shares) + 1, sizeof(*s->shares));
		size_t i;
		json_t *sh;
		json_array_foreach(shares, i, sh)
		{
			char *name = str_or_null(sh, "name");
			const char *kind = json_string_value(json_object_get(sh, "kind"));
			const char *mode = json_string_value(json_object_get(sh, "mode"));
			if (!name || !kind || !mode ||
			    (strcmp(kind, "user") && strcmp(kind, "group")) ||
			    (strcmp(mode, "ro") && strcmp(mode, "rw"))) {
				free(name);
				s->shares_invalid = true;
				continue;
			}
			s->shares[s->nshares++] =
			    (struct cairn_share){.group = !strcmp(kind, "group"),
			                         .name = name,
			                         .rw = !strcmp(mode, "rw")};
		}
	}
	json_t *act = json_object_get(o, "activity");
	if (json_is_object(act))
		s->activity = json_dumps(act, JSON_COMPACT);
	json_t *lact = json_object_get(o, "last_activity");
	if (json_is_object(lact))
		s->last_activity = json_dumps(lact, JSON_COMPACT);
	json_t *h = json_object_get(o, "holder");
	if (json_is_object(h)) {
		s->held = true;
		s->holder.job = str_or_null(h, "job");
		s->holder.node = str_or_null(h, "node");
		s->holder.user = str_or_null(h, "user");
		s->holder.since = json_integer_value(json_object_get(h, "since"));
		s->holder.expires = json_integer_value(json_object_get(h, "expires"));
		char *nonce = str_or_null(h, "nonce");
		if (nonce && strlen(nonce) == 32)
			memcpy(s->holder.nonce, nonce, 33);
		free(nonce);
	}
	json_decref(o);
	if (s->version && !s->manifest) {
		cairn_seterr(err, "volume state: version %u without a manifest", s->version);
		cairn_vstate_free(s);
		return -1;
	}
	return 0;
}

json_t *cairn_shares_json(const struct cairn_vstate *s)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < s->nshares; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "kind",
		                                     s->shares[i].group ? "group" : "user", "name",
		                                     s->shares[i].name, "mode",
		                                     s->shares[i].rw ? "rw" : "ro"));
	return arr;
}

static char *state_json(const struct cairn_vstate *s)
{
	json_t *o = json_pack("{s:I,s:I,s:i,s:I,s:I}", "rev", (json_int_t)s->rev, "epoch",
	                      (json_int_t)s->epoch, "version", (int)s->version, "time",
	                      (json_int_t)s->time, "commit_epoch", (json_int_t)s->commit_epoch);
	if (s->manifest)
		json_object_set_new(o, "manifest", json_string(s->manifest));
	if (s->op)
		json_object_set_new(o, "op", json_string(s->op));
	if (s->owner)
		json_object_set_new(
		    o, "owner",
		    json_pack("{s:s,s:I}", "name", s->owner, "uid", (json_int_t)s->owner_uid));
	if (s->created)
		json_object_set_new(o, "created", json_integer(s->created));
	if (s->last_job)
		json_object_set_new(o, "last_used",
		                    json_pack("{s:s,s:s,s:I}", "job", s->last_job, "user",
		                              s->last_user ? s->last_user : "", "time",
		                              (json_int_t)s->last_used));
	const char *keys[] = {"activity", "last_activity"};
	const char *vals[] = {s->activity, s->last_activity};
	for (int i = 0; i < 2; i++) {
		json_t *act = vals[i] ? json_loads(vals[i], 0, NULL) : NULL;
		if (json_is_object(act))
			json_object_set_new(o, keys[i], act);
		else
			json_decref(act);
	}
	if (s->shares_invalid)
		json_object_set_new(o, "shares_invalid", json_true());
	if (s->nshares)
		json_object_set_new(o, "shares", cairn_shares_json(s));
	if (s->held)
		json_object_set_new(
		    o, "holder",
		    json_pack(
		        "{s:s,s:s,s:s,s:I,s:I,s:s}", "job", s->holder.job ? s->holder.job : "",
		        "node", s->holder.node ? s->holder.node : "", "user",
		        s->holder.user ? s->holder.user : "", "since", (json_int_t)s->holder.since,
		        "expires", (json_int_t)s->holder.expires, "nonce", s->holder.nonce));
	char *t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return t;
}

static int get_rev(struct cairn_store *st, const char *ws, const char *vol, uint64_t rev,
                   struct cairn_vstate *out, struct cairn_err *err)
{
	autofree char *key = cairn_key_state(ws, vol, rev);
	autofree char *text = NULL;
	size_t len = 0;
	int r = cairn_store_get_buf(st, key, STATE_MAX, &text, &len, err);
	if (r < 0)
		return r;
	if (parse_state(text, len, out, err) < 0)
		return -1;
	if (out->rev != rev) {
		cairn_seterr(err, "volume %s: state revision %llu holds revision %llu", vol,
		             (unsigned long long)rev, (unsigned long long)out->rev);
		cairn_vstate_free(out);
		return -1;
	}
	return 0;
}

struct max_rev {
	uint64_t max;
};

static int note_rev(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	struct max_rev *m = arg;
	unsigned long long v;
	if (cairn_key_number(key, UINT64_MAX >> 1, &v) == 0 && v > m->max)
		m->max = v;
	return 0;
}

int cairn_vstate_load(struct cairn_store *st, const char *ws, const char *vol,
                      struct cairn_vstate *out, struct cairn_err *err)
{
	autofree char *hkey = cairn_key_head(ws, vol);
	autofree char *htext = NULL;
	unsigned long long hint = 0;
	memset(out, 0, sizeof(*out));
	int r = cairn_store_get_buf(st, hkey, 64, &htext, NULL, err);
	if (r == 0) {
		htext[strcspn(htext, "\n")] = '\0';
		if (parse_uint(htext, UINT64_MAX >> 1, &hint) < 0)
			hint = 0;
	} else if (r != CAIRN_STORE_NOTFOUND) {
		return -1;
	}
	uint64_t rev = hint;
	if (rev) {
		autofree char *k = cairn_key_state(ws, vol, rev);
		r = cairn_store_exists(st, k, NULL, err);
		if (r < 0 && r != CAIRN_STORE_NOTFOUND)
			return -1;
		if (r == CAIRN_STORE_NOTFOUND)
			rev = 0;
	}
	if (!rev) {
		/* No usable hint: the newest revision is the largest listed. */
		struct max_rev m = {0};
		autofree char *prefix = xasprintf("%s/volumes/%s/state/", ws, vol);
		if (cairn_store_list(st, prefix, note_rev, &m, err) < 0)
			return -1;
		rev = m.max;
		if (!rev)
			return 0;
	}
	/* The hint lags: probe forward to the newest revision. */
	for (;;) {
		autofree char *k = cairn_key_state(ws, vol, rev + 1);
		r = cairn_store_exists(st, k, NULL, err);
		if (r == CAIRN_STORE_NOTFOUND)
			break;
		if (r < 0)
			return -1;
		rev++;
	}
	return get_rev(st, ws, vol, rev, out, err);
}

int cairn_vstate_put(struct cairn_store *st, const char *ws, const char *vol,
                     const struct cairn_vstate *next, struct cairn_err *err)
{
	autofree char *json = state_json(next);
	autofree char *key = cairn_key_state(ws, vol, next->rev);
	int r = cairn_store_put_buf(st, key, json, strlen(json), CAIRN_PUT_IF_ABSENT, err);
	if (r < 0)
		return r;
	char hint[32];
	int hl = snprintf(hint, sizeof(hint), "%llu\n", (unsigned long long)next->rev);
	autofree char *hkey = cairn_key_head(ws, vol);
	struct cairn_err ignore = {0};
	/* Both best effort: readers probe past a stale hint, and old revisions only
	 * serve as history. */
	(void)cairn_store_put_buf(st, hkey, hint, (size_t)hl, 0, &ignore);
	if (next->rev > CAIRN_STATE_KEEP) {
		autofree char *old = cairn_key_state(ws, vol, next->rev - CAIRN_STATE_KEEP);
		(void)cairn_store_delete(st, old, &ignore);
	}
	return 0;
}

struct hist {
	struct cairn_store *st;
	const char *ws, *vol;
	struct cairn_vstate *v;
	size_t n;
	struct cairn_err *err;
	int failed;
};

static int add_hist(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	struct hist *h = arg;
	unsigned long long rev;
	if (cairn_key_number(key, UINT64_MAX >> 1, &rev) < 0)
		return 0;
	struct cairn_vstate s;
	if (get_rev(h->st, h->ws, h->vol, rev, &s, h->err) < 0) {
		h->failed = 1;
		return 1;
	}
	h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
	h->v[h->n++] = s;
	return 0;
}

int cairn_vstate_history(struct cairn_store *st, const char *ws, const char *vol,
                         struct cairn_vstate **out, size_t *n, struct cairn_err *err)
{
	struct hist h = {.st = st, .ws = ws, .vol = vol, .err = err};
	autofree char *prefix = xasprintf("%s/volumes/%s/state/", ws, vol);
	if (cairn_store_list(st, prefix, add_hist, &h, err) < 0 || h.failed) {
		for (size_t i = 0; i < h.n; i++)
			cairn_vstate_free(&h.v[i]);
		free(h.v);
		return -1;
	}
	*out = h.v;
	*n = h.n;
	return 0;
}

bool cairn_lease_is_ours(const struct cairn_vstate *s, const struct cairn_lease *l)
{
	return s->held && s->epoch == l->epoch && !strcmp(s->holder.nonce, l->nonce);
}

bool cairn_vstate_expired(const struct cairn_vstate *s, int64_t now)
{
	return s->held && now > s->holder.expires;
}

/* The next revision: the same state, one revision on, stamped now. */
static void next_of(const struct cairn_vstate *cur, struct cairn_vstate *n, const char *op)
{
	memset(n, 0, sizeof(*n));
	n->rev = cur->rev + 1;
	n->epoch = cur->epoch;
	n->version = cur->version;
	n->manifest = cur->manifest ? xstrdup(cur->manifest) : NULL;
	n->commit_epoch = cur->commit_epoch;
	n->held = cur->held;
	if (cur->held) {
		n->holder = cur->holder;
		n->holder.job = xstrdup(cur->holder.job);
		n->holder.node = xstrdup(cur->holder.node);
		n->holder.user = xstrdup(cur->holder.user);
	}
	n->op = xstrdup(op);
	n->time = (int64_t)time(NULL);
	n->owner = cur->owner ? xstrdup(cur->owner) : NULL;
	n->owner_uid = cur->owner_uid;
	n->created = cur->created;
	n->last_job = cur->last_job ? xstrdup(cur->last_job) : NULL;
	n->last_user = cur->last_user ? xstrdup(cur->last_user) : NULL;
	n->last_used = cur->last_used;
	copy_shares(cur, n);
	n->shares_invalid = cur->shares_invalid;
	n->last_activity = cur->last_activity ? xstrdup(cur->last_activity) : NULL;
}

/* The job that takes the lease is the volume's latest user; the first one
 * creates it and owns it. */
static void stamp_use(struct cairn_vstate *n, uint64_t cur_rev, const char *job, const char *user)
{
	free(n->last_job);
	free(n->last_user);
	n->last_job = xstrdup(job);
	n->last_user = xstrdup(user);
	n->last_used = n->time;
	if (cur_rev == 0 && !n->owner) {
		n->owner = xstrdup(user);
		struct passwd pw, *res = NULL;
		char buf[4096];
		n->owner_uid = getpwnam_r(user, &pw, buf, sizeof(buf), &res) == 0 && res
		                   ? (int64_t)res->pw_uid
		                   : -1;
		n->created = n->time;
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static unsigned jitter_ms(unsigned base)
{
	unsigned r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned)getpid();
	return base / 2 + r % (base + 1);
}

int cairn_lease_acquire(struct cairn_store *st, const char *ws, const char *vol, const char *job,
                        const char *node, const char *user, unsigned ttl_s, unsigned wait_s,
                        cairn_wait_fn waiting, void *arg, struct cairn_lease *out,
                        struct cairn_err *err)
{
	time_t deadline = time(NULL) + (time_t)wait_s;
	bool reported = false;
	memset(out, 0, sizeof(*out));
	for (;;) {
		struct cairn_vstate cur, next;
		if (cairn_vstate_load(st, ws, vol, &cur, err) < 0)
			return -1;
		int64_t now = (int64_t)time(NULL);
		bool mine = cur.held && cur.holder.job && cur.holder.node &&
		            !strcmp(cur.holder.job, job) && !strcmp(cur.holder.node, node);
		if (!cur.held || cairn_vstate_expired(&cur, now) || mine) {
			next_of(&cur, &next, cur.held ? "takeover" : "acquire");
			stamp_use(&next, cur.rev, job, user);
			next.epoch = cur.epoch + 1;
			next.held = true;
			free(next.holder.job);
			free(next.holder.node);
			free(next.holder.user);
			next.holder.job = xstrdup(job);
			next.holder.node = xstrdup(node);
			next.holder.user = xstrdup(user);
			next.holder.since = now;
			next.holder.expires = now + ttl_s;
			cairn_random_hex(next.holder.nonce);
			int r = cairn_vstate_put(st, ws, vol, &next, err);
			if (r == 0) {
				out->ws = xstrdup(ws);
				out->vol = xstrdup(vol);
				out->epoch = next.epoch;
				memcpy(out->nonce, next.holder.nonce, sizeof(out->nonce));
				out->job = xstrdup(job);
				out->node = xstrdup(node);
			}
			cairn_vstate_free(&cur);
			cairn_vstate_free(&next);
			if (r == 0)
				return 0;
			if (r != CAIRN_STORE_EXISTS)
				return -1;
			continue; /* someone else changed the state first: look again */
		}
		if (!reported && waiting)
			waiting(arg, vol, &cur);
		reported = true;
		if (time(NULL) >= deadline) {
			char since[32] = "";
			time_t t = (time_t)cur.holder.since;
			struct tm tm;
			localtime_r(&t, &tm);
			strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
			cairn_setuerr(err,
			              "volume %s is held by job %s on %s since %s; gave up after "
			              "waiting %u s (LeaseWait). Try again when that job ends, or "
			              "use the volume read-only (NAME:PATH:ro)",
			              vol, cur.holder.job ? cur.holder.job : "?",
			              cur.holder.node ? cur.holder.node : "?", since, wait_s);
			cairn_vstate_free(&cur);
			return CAIRN_LEASE_TIMEOUT;
		}
		cairn_vstate_free(&cur);
		sleep_ms(jitter_ms(500));
	}
}

/* Write the next revision of a lease we hold, as `op` changes it; retry when
 * someone else wrote a revision first, give up (LOST) once the lease is not ours. */
/* What a job did, on the revision it writes (and as the newest of all). */
static void record_activity(struct cairn_vstate *next, const char *activity)
{
	next->activity = xstrdup(activity);
	free(next->last_activity);
	next->last_activity = xstrdup(activity);
}

static int update_own_lease(struct cairn_store *st, const struct cairn_lease *l, const char *op,
                            unsigned ttl_s, const char *activity, struct cairn_err *err)
{
	bool release = !strcmp(op, "release");
	for (;;) {
		struct cairn_vstate cur, next;
		if (cairn_vstate_load(st, l->ws, l->vol, &cur, err) < 0)
			return -1;
		if (!cairn_lease_is_ours(&cur, l)) {
			cairn_vstate_free(&cur);
			return CAIRN_LEASE_LOST;
		}
		next_of(&cur, &next, op);
		if (activity)
			record_activity(&next, activity);
		if (release) {
			free(next.holder.job);
			free(next.holder.node);
			free(next.holder.user);
			memset(&next.holder, 0, sizeof(next.holder));
			next.held = false;
		} else {
			next.holder.expires = next.time + ttl_s;
		}
		int r = cairn_vstate_put(st, l->ws, l->vol, &next, err);
		cairn_vstate_free(&cur);
		cairn_vstate_free(&next);
		if (r != CAIRN_STORE_EXISTS)
			return r;
	}
}

int cairn_lease_renew(struct cairn_store *st, const struct cairn_lease *l, unsigned ttl_s,
                      struct cairn_err *err)
{
	return update_own_lease(st, l, "renew", ttl_s, NULL, err);
}

int cairn_lease_release(struct cairn_store *st, const struct cairn_lease *l, struct cairn_err *err)
{
	return update_own_lease(st, l, "release", 0, NULL, err);
}

int cairn_lease_release_noting(struct cairn_store *st, const struct cairn_lease *l,
                               const char *activity, struct cairn_err *err)
{
	return update_own_lease(st, l, "release", 0, activity, err);
}

/* An edit of the volume's state as a new revision: 0 to write next, 1 when
 * there is nothing to write (return 0), or -1 with err set. */
typedef int (*state_edit_fn)(const struct cairn_vstate *cur, struct cairn_vstate *next, void *arg,
                             struct cairn_err *err);

/* Load, edit, write as the next revision; again while someone else wrote
 * first (up to `attempts` times). */
static int edit_state(struct cairn_store *st, const char *ws, const char *vol, const char *op,
                      unsigned attempts, state_edit_fn edit, void *arg, struct cairn_err *err)
{
	for (unsigned attempt = 0; attempt < attempts; attempt++) {
		struct cairn_vstate cur, next;
		if (cairn_vstate_load(st, ws, vol, &cur, err) < 0)
			return -1;
		next_of(&cur, &next, op);
		int e = edit(&cur, &next, arg, err);
		cairn_vstate_free(&cur);
		if (e != 0) {
			cairn_vstate_free(&next);
			return e < 0 ? e : 0;
		}
		int r = cairn_vstate_put(st, ws, vol, &next, err);
		cairn_vstate_free(&next);
		if (r != CAIRN_STORE_EXISTS)
			return r;
		sleep_ms(jitter_ms(20));
	}
	cairn_seterr(err, "volume %s: its state kept changing; try again", vol);
	return -1;
}

static int note_edit(const struct cairn_vstate *cur, struct cairn_vstate *next, void *arg,
                     struct cairn_err *err)
{
	(void)err;
	if (!cur->rev)
		return 1; /* removed meanwhile: nothing to note on */
	record_activity(next, arg);
	return 0;
}

int cairn_vstate_note(struct cairn_store *st, const char *ws, const char *vol, const char *activity,
                      struct cairn_err *err)
{
	return edit_state(st, ws, vol, "read", 20, note_edit, (void *)activity, err);
}

int cairn_vstate_create(struct cairn_store *st, const char *ws, const char *vol, const char *owner,
                        int64_t owner_uid, struct cairn_err *err)
{
	struct cairn_vstate cur, next;
	if (cairn_vstate_load(st, ws, vol, &cur, err) < 0)
		return -1;
	if (cur.rev) {
		cairn_vstate_free(&cur);
		cairn_setuerr(err, "volume %s exists already in workspace %s", vol, ws);
		return CAIRN_STORE_EXISTS;
	}
	next_of(&cur, &next, "create");
	next.owner = xstrdup(owner);
	next.owner_uid = owner_uid;
	next.created = next.time;
	int r = cairn_vstate_put(st, ws, vol, &next, err);
	if (r == CAIRN_STORE_EXISTS)
		cairn_setuerr(err, "volume %s was just created by someone else", vol);
	cairn_vstate_free(&next);
	return r;
}

/* Apply one grant or withdrawal to n's shares; false if there was nothing to withdraw. */
static bool change_share(struct cairn_vstate *n, bool group, const char *name, bool rw, bool remove)
{
	for (size_t i = 0; i < n->nshares; i++) {
		if (n->shares[i].group != group || strcmp(n->shares[i].name, name))
			continue;
		if (remove) {
			free(n->shares[i].name);
			n->shares[i] = n->shares[--n->nshares];
		} else {
			n->shares[i].rw = rw;
		}
		return true;
	}
	if (remove)
		return false;
	n->shares = xrealloc(n->shares, (n->nshares + 1) * sizeof(*n->shares));
	n->shares[n->nshares++] =
	    (struct cairn_share){.group = group, .name = xstrdup(name), .rw = rw};
	return true;
}

struct share_change {
	const char *ws, *vol, *name;
	bool group, rw, remove;
};

static int share_edit(const struct cairn_vstate *cur, struct cairn_vstate *next, void *arg,
                      struct cairn_err *err)
{
	const struct share_change *c = arg;
	if (!cur->rev) {
		cairn_setuerr(err, "volume %s does not exist in workspace %s", c->vol, c->ws);
		return CAIRN_STORE_NOTFOUND;
	}
	if (!c->remove && cur->nshares >= CAIRN_SHARES_MAX) {
		cairn_setuerr(err,
		              "volume %s has %d shares, the most it can have; share with a group "
		              "instead",
		              c->vol, CAIRN_SHARES_MAX);
		return -1;
	}
	next->shares_invalid = false; /* the owner or an admin sets them anew */
	if (!change_share(next, c->group, c->name, c->rw, c->remove)) {
		cairn_setuerr(err, "volume %s is not shared with %s %s", c->vol,
		              c->group ? "group" : "user", c->name);
		return -1;
	}
	return 0;
}

int cairn_vstate_share(struct cairn_store *st, const char *ws, const char *vol, bool group,
                       const char *name, bool rw, bool remove, struct cairn_err *err)
{
	struct share_change c = {
	    .ws = ws, .vol = vol, .name = name, .group = group, .rw = rw, .remove = remove};
	return edit_state(st, ws, vol, remove ? "unshare" : "share", 100, share_edit, &c, err);
}

char *cairn_lease_encode(const struct cairn_lease *l)
{
	json_t *o =
	    json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "ws", l->ws, "vol", l->vol, "epoch",
	              (json_int_t)l->epoch, "nonce", l->nonce, "job", l->job, "node", l->node);
	char *t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return t;
}

int cairn_lease_decode(const char *s, struct cairn_lease *l)
{
	json_error_t jerr;
	memset(l, 0, sizeof(*l));
	json_t *o = json_loads(s, 0, &jerr);
	json_t *epoch = json_object_get(o, "epoch");
	char *nonce = str_or_null(o, "nonce");
	l->ws = str_or_null(o, "ws");
	l->vol = str_or_null(o, "vol");
	l->job = str_or_null(o, "job");
	l->node = str_or_null(o, "node");
	bool ok = json_is_integer(epoch) && nonce && strlen(nonce) == 32 && l->ws && l->vol &&
	          l->job && l->node;
	if (ok) {
		l->epoch = (uint64_t)json_integer_value(epoch);
		memcpy(l->nonce, nonce, 33);
	}
	free(nonce);
	json_decref(o);
	if (!ok) {
		cairn_lease_free(l);
		return -1;
	}
	return 0;
}
