/* Hydrate: the worker, running as the job's user, decides what it needs, creates
 * each new file as an empty temporary file and hands it to root; root's transfer
 * threads fill several at once from storage and check each against its digest;
 * only then does the worker give the file its mode, times and name. */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tree.h"
#include "volume.h"
#include "wire.h"
#include "worker.h"
#include "xfer_pool.h"

#define MAX_OPEN_GROUPS 8

struct fetch_task;

struct hydrate_ctx {
	struct cairn_store *st;
	const char *ws, *vol;
	const struct cairn_manifest *target;
	struct cairn_manifest state; /* what the cache held (root's record) */
	struct cairn_cache_vol *cv;
	struct cairn_manifest newstate; /* filled by the root side from the worker */
	struct cairn_xfer_stats *stats;
	uid_t uid;
	bool same; /* the worker found the tree exactly as the state says */
	/* root side: files of packs waiting to be fetched together */
	struct fetch_task *groups[MAX_OPEN_GROUPS];
	size_t ngroups, waiting;
	/* root side: the target's files sorted by digest, for requests */
	struct cairn_sha_index by_sha;
};

/* ---- worker side (the job's user) ---- */

static bool same_stat(const struct cairn_entry *a, const struct cairn_entry *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ino == b->ino &&
	       a->ctime_ns == b->ctime_ns;
}

static int set_times(int fd, const char *name, int64_t mtime_ns, int flags)
{
	struct timespec ts[2] = {
	    {.tv_nsec = UTIME_OMIT},
	    {.tv_sec = mtime_ns / 1000000000LL, .tv_nsec = mtime_ns % 1000000000LL}};
	if (ts[1].tv_nsec < 0) {
		ts[1].tv_nsec += 1000000000LL;
		ts[1].tv_sec -= 1;
	}
	return name ? utimensat(fd, name, ts, flags) : futimens(fd, ts);
}

/* Small files are latency bound: many must be in flight for root to group
 * them into ranged GETs and still keep every transfer thread busy. Each costs
 * one descriptor here and one in root, well under the usual limit of 1024. */
#define HYDRATE_WINDOW 256
/* Directories the files in flight are in: the target is sorted by path, so
 * neighbours share one and it is opened once, not once per file. One slot per
 * file in flight, so that a tree of many small directories never waits. */
#define DIR_SLOTS HYDRATE_WINDOW

/* Files handed to root and not yet answered. */
struct pending {
	unsigned long id;
	size_t ti, oi; /* index in the target and in the new state */
	int fd;
	unsigned dir; /* slot of its directory */
	char tmp[48];
};

struct dir_slot {
	char *path; /* relative to the volume's root, "" for the root */
	size_t len;
	int fd;
	unsigned refs; /* files in flight in it */
};

struct window {
	int sock, rootfd;
	const struct cairn_manifest *t;
	struct cairn_manifest *out;
	struct pending p[HYDRATE_WINDOW];
	size_t n;
	unsigned long next_id;
	struct dir_slot dirs[DIR_SLOTS];
	unsigned last_dir;
};

/* The slot of path's directory, opened if need be (a slot is always free: there
 * are fewer files in flight than slots). Sets *base to path's last component. */
static int dir_take(struct window *w, const char *path, const char **base, unsigned *slot,
                    struct cairn_err *err)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;
	*base = slash ? slash + 1 : path;
	int free_slot = -1;
	/* The last one first: the target is sorted, neighbours share it. */
	for (unsigned k = 0; k < DIR_SLOTS; k++) {
		unsigned i = (w->last_dir + k) % DIR_SLOTS;
		struct dir_slot *d = &w->dirs[i];
		if (d->path && d->len == len && !memcmp(d->path, path, len)) {
			d->refs++;
			*slot = w->last_dir = i;
			return 0;
		}
		if (!d->refs && (free_slot < 0 || !d->path))
			free_slot = (int)i;
	}
	struct dir_slot *d = &w->dirs[free_slot];
	if (d->path)
		close(d->fd);
	free(d->path);
	d->path = xasprintf("%.*s", (int)len, path);
	d->len = len;
	d->fd = len ? cairn_open_beneath(w->rootfd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)
	            : fcntl(w->rootfd, F_DUPFD_CLOEXEC, 3);
	if (d->fd < 0) {
		cairn_seterr(err, "cannot open the directory of %.200s: %s", path, strerror(errno));
		free(d->path);
		d->path = NULL;
		return -1;
	}
	d->refs = 1;
	*slot = w->last_dir = (unsigned)free_slot;
	return 0;
}

static void dirs_close(struct window *w)
{
	for (unsigned i = 0; i < DIR_SLOTS; i++)
		if (w->dirs[i].path) {
			free(w->dirs[i].path);
			w->dirs[i].path = NULL;
			close(w->dirs[i].fd);
		}
}

static void pending_drop(struct window *w, struct pending *pd, bool unlink_tmp)
{
	struct dir_slot *d = &w->dirs[pd->dir];
	if (unlink_tmp)
		unlinkat(d->fd, pd->tmp, 0);
	close(pd->fd);
	d->refs--;
}

static void window_abort(struct window *w)
{
	for (size_t i = 0; i < w->n; i++)
		pending_drop(w, &w->p[i], true);
	w->n = 0;
	dirs_close(w);
}

/* Create the temporary file for target entry ti and hand it to root. */
static int fetch_start(struct window *w, size_t ti, size_t oi, struct cairn_err *err)
{
	const struct cairn_entry *te = &w->t->e[ti];
	const char *base;
	unsigned char rnd[6];
	unsigned slot;
	if (dir_take(w, te->path, &base, &slot, err) < 0)
		return -1;
	struct pending *pd = &w->p[w->n];
	pd->dir = slot;
	int dfd = w->dirs[slot].fd;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(pd->tmp, sizeof(pd->tmp), CAIRN_TMP_PREFIX "%02x%02x%02x%02x%02x%02x", rnd[0],
	         rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	pd->fd = openat(dfd, pd->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (pd->fd < 0) {
		cairn_setuerr(err, "cannot write into %.200s: %s", te->path, strerror(errno));
		w->dirs[slot].refs--;
		return -1;
	}
	pd->id = w->next_id++;
	pd->ti = ti;
	pd->oi = oi;
	char req[100];
	snprintf(req, sizeof(req), "%lu %s", pd->id, te->sha256);
	if (cairn_wire_send_fd(w->sock, FR_FETCH, req, pd->fd) < 0) {
		cairn_seterr(err, "lost the root side: %s", strerror(errno));
		pending_drop(w, pd, true);
		return -1;
	}
	w->n++;
	return 0;
}

/* Root filled and checked the file: give it its mode, times and name. */
static int fetch_finish(struct window *w, struct pending *pd, struct cairn_err *err)
{
	const struct cairn_entry *te = &w->t->e[pd->ti];
	const char *base = strrchr(te->path, '/');
	base = base ? base + 1 : te->path;
	int dfd = w->dirs[pd->dir].fd;
	if (fchmod(pd->fd, te->mode & 01777) < 0 || set_times(pd->fd, NULL, te->mtime_ns, 0) < 0) {
		cairn_seterr(err, "cannot set the mode of %.200s: %s", te->path, strerror(errno));
		return -1;
	}
	/* A directory or anything else in the way goes first. */
	struct stat sb;
	if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode))
		cairn_remove_at(dfd, base);
	if (renameat(dfd, pd->tmp, dfd, base) < 0) {
		cairn_setuerr(err, "cannot place %.200s: %s", te->path, strerror(errno));
		return -1;
	}
	if (fstat(pd->fd, &sb) < 0) {
		cairn_seterr(err, "cannot stat %.200s: %s", te->path, strerror(errno));
		return -1;
	}
	struct cairn_entry *oe = &w->out->e[pd->oi];
	cairn_entry_set_stat(oe, &sb);
	memcpy(oe->sha256, te->sha256, sizeof(oe->sha256));
	memcpy(oe->md5, te->md5, sizeof(oe->md5));
	return 0;
}

/* Wait for root's answer on one file in flight. */
static int fetch_wait_one(struct window *w, struct cairn_err *err)
{
	autofree char *buf = NULL;
	size_t len, cap = 0;
	char type;
	unsigned long long id;
	if (cairn_wire_recv(w->sock, &type, &buf, &len, &cap) < 0) {
		cairn_seterr(err, "lost the root side while fetching files");
		return -1;
	}
	if (type == FR_ERR) {
		cairn_worker_error_frame(buf, err);
		return -1;
	}
	if (type != FR_OK || parse_uint(buf, ULONG_MAX, &id) < 0) {
		cairn_seterr(err, "protocol error while fetching files");
		return -1;
	}
	for (size_t i = 0; i < w->n; i++) {
		if (w->p[i].id != id)
			continue;
		struct pending pd = w->p[i];
		w->p[i] = w->p[--w->n];
		int r = fetch_finish(w, &pd, err);
		pending_drop(w, &pd, r < 0);
		return r;
	}
	cairn_seterr(err, "root answered for a file never asked for");
	return -1;
}

/* Before waiting, tell root so (it then sends what it grouped), and wait in
 * bursts: down to `until` files in flight, so that root gets requests in
 * batches it can group by pack. */
static int fetch_wait(struct window *w, size_t until, struct cairn_err *err)
{
	if (w->n > until && cairn_wire_send(w->sock, FR_FLUSH, NULL, 0) < 0) {
		cairn_seterr(err, "lost the root side: %s", strerror(errno));
		return -1;
	}
	while (w->n > until)
		if (fetch_wait_one(w, err) < 0)
			return -1;
	return 0;
}

/* What the scan saw of an entry that needs no change. */
static void copy_stat(struct cairn_entry *oe, const struct cairn_entry *l)
{
	oe->mode = l->mode;
	oe->size = l->size;
	oe->mtime_ns = l->mtime_ns;
	oe->ctime_ns = l->ctime_ns;
	oe->ino = l->ino;
}

/* Is the local file the target's content? Hash only when stat disagrees with state. */
static bool local_matches(int rootfd, const struct cairn_entry *l, const struct cairn_entry *s,
                          const struct cairn_entry *t)
{
	if (l->size != t->size)
		return false;
	/* A file the user does not own, or with setuid/setgid bits, was planted:
	 * replace it. */
	if (l->uid != geteuid() || l->setid)
		return false;
	if (s && s->type == CAIRN_FT_FILE && same_stat(l, s))
		return !strcmp(s->sha256, t->sha256);
	autoclose int fd = cairn_open_beneath(rootfd, t->path, O_RDONLY | O_NOFOLLOW, 0);
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	if (fd < 0 || cairn_digest_fd(fd, sha, md5, NULL) < 0)
		return false;
	return !strcmp(sha, t->sha256) && !strcmp(md5, t->md5);
}

static int hydrate_worker(int sock, void *arg, struct cairn_err *err)
{
	struct hydrate_ctx *c = arg;
	const struct cairn_manifest *t = c->target;
	int rootfd = c->cv->datafd;
	struct cairn_manifest local, out;
	size_t skipped;
	unsigned long long fetched = 0, fetched_bytes = 0, cached = 0, removed = 0;
	int rv = -1;

	cairn_manifest_init(&local);
	cairn_manifest_init(&out);
	struct window w = {.sock = sock, .rootfd = rootfd, .t = t, .out = &out};
	if (cairn_tree_scan(rootfd, true, &local, &skipped, err) < 0)
		goto out;
	/* Remove what the target does not have (children before parents). */
	for (size_t i = local.n; i-- > 0;) {
		const struct cairn_entry *l = &local.e[i];
		const struct cairn_entry *te = cairn_manifest_find(t, l->path);
		bool keep = te && te->type == l->type &&
		            (l->type != CAIRN_FT_SYMLINK || !strcmp(l->target, te->target));
		if (keep)
			continue;
		const char *base;
		autoclose int dfd = cairn_open_parent(rootfd, l->path, &base);
		removed++;
		if (dfd < 0 || cairn_remove_at(dfd, base) < 0) {
			cairn_setuerr(err, "cannot remove %.200s from the cache: %s", l->path,
			              strerror(errno));
			goto out;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct cairn_entry *te = &t->e[i];
		const struct cairn_entry *l = cairn_manifest_find(&local, te->path);
		const struct cairn_entry *s = cairn_manifest_find(&c->state, te->path);
		/* (A symlink with another target was removed above.) */
		if (l && (l->type != te->type ||
		          (l->type == CAIRN_FT_SYMLINK && strcmp(l->target, te->target))))
			l = NULL;
		/* The parent is opened only for what needs changing: most entries of
		 * a warm cache need nothing. */
		const char *base = NULL;
		autoclose int dfd = -1;
		struct stat sb;
		struct cairn_entry *oe = cairn_manifest_add(&out, te->path, te->type);
		if (te->type == CAIRN_FT_FILE && !(l && local_matches(rootfd, l, s, te))) {
			if (w.n == HYDRATE_WINDOW && fetch_wait(&w, HYDRATE_WINDOW / 2, err) < 0)
				goto out;
			if (fetch_start(&w, i, out.n - 1, err) < 0)
				goto out;
			fetched++;
			fetched_bytes += te->size;
			continue;
		}
		bool fix = !l || (te->type != CAIRN_FT_DIR && l->mtime_ns != te->mtime_ns) ||
		           (te->type == CAIRN_FT_FILE && l->mode != te->mode);
		if (fix && (dfd = cairn_open_parent(rootfd, te->path, &base)) < 0) {
			cairn_seterr(err, "cannot open the directory of %.200s: %s", te->path,
			             strerror(errno));
			goto out;
		}
		if (te->type == CAIRN_FT_DIR) {
			if (!l && mkdirat(dfd, base, 0700) < 0 && errno != EEXIST) {
				cairn_setuerr(err, "cannot create directory %.200s: %s", te->path,
				              strerror(errno));
				goto out;
			}
			/* Modes and times of directories are set last, deepest first. */
			continue;
		}
		if (te->type == CAIRN_FT_SYMLINK) {
			if (!l && symlinkat(te->target, dfd, base) < 0) {
				cairn_setuerr(err, "cannot create symlink %.200s: %s", te->path,
				              strerror(errno));
				goto out;
			}
			if (fix) {
				set_times(dfd, base, te->mtime_ns, AT_SYMLINK_NOFOLLOW);
				if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0)
					cairn_entry_set_stat(oe, &sb);
			} else {
				copy_stat(oe, l);
			}
			oe->mode = 0777;
			oe->target = xstrdup(te->target);
			continue;
		}
		cached++;
		if (fix) {
			if (l->mode != te->mode)
				(void)!fchmodat(dfd, base, te->mode & 01777, 0);
			if (l->mtime_ns != te->mtime_ns)
				set_times(dfd, base, te->mtime_ns, AT_SYMLINK_NOFOLLOW);
			if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
				cairn_seterr(err, "cannot stat %.200s: %s", te->path,
				             strerror(errno));
				goto out;
			}
			cairn_entry_set_stat(oe, &sb);
		} else {
			copy_stat(oe, l);
		}
		memcpy(oe->sha256, te->sha256, sizeof(oe->sha256));
		memcpy(oe->md5, te->md5, sizeof(oe->md5));
	}
	if (fetch_wait(&w, 0, err) < 0)
		goto out;
	for (size_t i = t->n; i-- > 0;) {
		const struct cairn_entry *te = &t->e[i];
		if (te->type != CAIRN_FT_DIR)
			continue;
		const char *base;
		autoclose int dfd = cairn_open_parent(rootfd, te->path, &base);
		struct stat sb;
		if (dfd < 0 || fchmodat(dfd, base, te->mode & 01777, 0) < 0 ||
		    set_times(dfd, base, te->mtime_ns, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			cairn_setuerr(err, "cannot set the mode of directory %.200s: %s", te->path,
			              strerror(errno));
			goto out;
		}
		/* out was built in the target's (sorted) order. */
		struct cairn_entry *oe = cairn_manifest_find(&out, te->path);
		if (oe)
			cairn_entry_set_stat(oe, &sb);
	}
	out.version = t->version;
	{
		autofree char *counts = xasprintf("%llu %llu %llu", cached, fetched, fetched_bytes);
		/* Nothing moved and the tree is what the state says: root keeps it. */
		if (!fetched && !removed && cairn_manifest_unchanged(&out, &c->state)) {
			if (cairn_wire_send_str(sock, FR_SAME, counts) < 0) {
				cairn_seterr(err, "lost the root side: %s", strerror(errno));
				goto out;
			}
		} else {
			if (cairn_worker_send_tree(sock, &out) < 0 ||
			    cairn_wire_send_str(sock, FR_JSON, counts) < 0) {
				cairn_seterr(err, "lost the root side: %s", strerror(errno));
				goto out;
			}
		}
	}
	rv = 0;
out:
	window_abort(&w);
	cairn_manifest_free(&local);
	cairn_manifest_free(&out);
	return rv;
}

/* ---- root side ---- */

/* One file, or several files of one pack fetched with one ranged GET. */
#define GROUP_MAX 32

struct fetch_item {
	unsigned long long id;
	int fd;
	const struct cairn_entry *te;
	struct cairn_digest dg;
	uint64_t got;
};

struct fetch_task {
	struct hydrate_ctx *c;
	size_t n;
	struct fetch_item it[GROUP_MAX];
};

/* Root writes only into files the worker just made: the user's, new, empty
 * and with no other name. */
static int check_new_file(const struct hydrate_ctx *c, int fd, struct cairn_err *err)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != c->uid || sb.st_size != 0 ||
	    sb.st_nlink != 1) {
		cairn_seterr(err,
		             "volume %s: the worker passed a file that is not its new "
		             "temporary file",
		             c->vol);
		return -1;
	}
	return 0;
}

static int fetch_object(struct hydrate_ctx *c, struct cairn_store *st, struct fetch_item *it,
                        struct cairn_err *err)
{
	const struct cairn_entry *te = it->te;
	autofree char *key = cairn_key_object(c->ws, te->sha256);
	char sha[CAIRN_SHA256_HEX] = "";
	int r = cairn_store_get_fd(st, key, it->fd, te->size, sha, err);
	if (r == CAIRN_STORE_NOTFOUND) {
		cairn_seterr(err, "volume %s: object %s of %.200s is missing from storage", c->vol,
		             te->sha256, te->path);
		return -1;
	}
	if (r < 0) {
		char m[CAIRN_ERRLEN];
		snprintf(m, sizeof(m), "volume %.100s: cannot fetch %.100s: %.280s", c->vol,
		         te->path, err->msg);
		memcpy(err->msg, m, sizeof(m));
		return -1;
	}
	if (strcmp(sha, te->sha256)) {
		cairn_seterr(err,
		             "volume %s: object %s for %.200s is corrupt in storage (its sha256 "
		             "is %.12s...); the file was not changed",
		             c->vol, te->sha256, te->path, sha);
		return -1;
	}
	return 0;
}

/* Bytes of a pack range, handed to the files they belong to (items sorted by
 * offset); bytes between them (files the cache has) are passed over. */
struct pack_sink {
	struct fetch_task *t;
	uint64_t pos; /* pack offset of the next byte */
	size_t cur;
};

static int pack_write(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	struct pack_sink *ps = arg;
	const char *p = buf;
	while (len > 0 && ps->cur < ps->t->n) {
		struct fetch_item *it = &ps->t->it[ps->cur];
		uint64_t start = it->te->offset, end = start + it->te->size;
		if (ps->pos >= end) {
			ps->cur++;
			continue;
		}
		size_t n;
		if (ps->pos < start) {
			n = start - ps->pos < len ? (size_t)(start - ps->pos) : len;
		} else {
			n = end - ps->pos < len ? (size_t)(end - ps->pos) : len;
			/* Files with the same content share one place in the pack: the
			 * same bytes go to each (they sort next to each other). */
			for (size_t k = ps->cur; k < ps->t->n; k++) {
				struct fetch_item *x = &ps->t->it[k];
				if (x->te->offset != start || x->te->size != it->te->size)
					break;
				if (pwrite_all(x->fd, p, n, ps->pos - start) < 0) {
					cairn_setuerr(err, "cannot write into the cache: %s",
					              strerror(errno));
					return -1;
				}
				cairn_digest_update(&x->dg, p, n);
				x->got += n;
			}
		}
		ps->pos += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int cmp_item_offset(const void *a, const void *b)
{
	const struct fetch_item *x = a, *y = b;
	/* By offset, then size: files sharing a place end up side by side. */
	if (x->te->offset != y->te->offset)
		return x->te->offset < y->te->offset ? -1 : 1;
	return x->te->size < y->te->size ? -1 : x->te->size > y->te->size;
}

static int fetch_pack(struct hydrate_ctx *c, struct cairn_store *st, struct fetch_task *t,
                      struct cairn_err *err)
{
	qsort(t->it, t->n, sizeof(t->it[0]), cmp_item_offset);
	const struct cairn_entry *first = t->it[0].te, *last = t->it[t->n - 1].te;
	uint64_t from = first->offset, to = last->offset + last->size;
	autofree char *key = cairn_key_pack(c->ws, first->pack);
	size_t ready = 0;
	for (; ready < t->n; ready++)
		if (cairn_digest_init_sha256(&t->it[ready].dg) < 0)
			break;
	int rv = -1;
	if (ready < t->n) {
		cairn_seterr(err, "cannot start a digest");
		goto out;
	}
	struct pack_sink ps = {.t = t, .pos = from};
	int r = cairn_store_get_range(st, key, from, to - from, pack_write, &ps, err);
	if (r < 0) {
		char m[CAIRN_ERRLEN];
		snprintf(m, sizeof(m),
		         "volume %.60s: cannot fetch %zu files (%.60s...) from pack %.12s: %.280s",
		         c->vol, t->n, first->path, first->pack,
		         r == CAIRN_STORE_NOTFOUND ? "it is missing from storage" : err->msg);
		memcpy(err->msg, m, sizeof(m));
		goto out;
	}
	rv = 0;
out:
	for (size_t i = 0; i < ready; i++) {
		char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
		cairn_digest_final(&t->it[i].dg, sha, md5);
		if (rv == 0 &&
		    (t->it[i].got != t->it[i].te->size || strcmp(sha, t->it[i].te->sha256))) {
			cairn_seterr(
			    err,
			    "volume %s: %.200s is corrupt in pack %.12s (sha256 %.12s...); "
			    "the file was not changed",
			    c->vol, t->it[i].te->path, t->it[i].te->pack, sha);
			rv = -1;
		}
	}
	return rv;
}

/* On a transfer thread: fill the worker's temporary files and check their
 * digests. */
static int fetch_run(struct cairn_pool *p, struct cairn_store *st, void *task,
                     struct cairn_err *err)
{
	(void)p;
	struct fetch_task *t = task;
	for (size_t i = 0; i < t->n; i++)
		if (check_new_file(t->c, t->it[i].fd, err) < 0)
			return -1;
	if (!t->it[0].te->pack[0])
		return fetch_object(t->c, st, &t->it[0], err);
	return fetch_pack(t->c, st, t, err);
}

static void fetch_drop(void *task)
{
	struct fetch_task *t = task;
	for (size_t i = 0; i < t->n; i++)
		close(t->it[i].fd);
	free(t);
}

static void fetch_done(struct cairn_pool *p, void *task, int rv, const struct cairn_err *err)
{
	struct fetch_task *t = task;
	if (rv == 0) {
		for (size_t i = 0; i < t->n; i++) {
			char ok[32];
			cairn_pool_count(p, t->it[i].te->size);
			snprintf(ok, sizeof(ok), "%llu", t->it[i].id);
			cairn_pool_reply(p, FR_OK, ok);
		}
	} else {
		cairn_pool_fail(p, err);
		autofree char *m = xasprintf("%c%s", err->user ? 'U' : 'S', err->msg);
		cairn_pool_reply(p, FR_ERR, m);
	}
	fetch_drop(t);
}

/* "ID SHA256" with the temporary file: queue its download. */
/* Files of packs wait here until the worker pauses or enough have come, so
 * that neighbours in a pack go in one ranged GET. */
static void flush_groups(struct cairn_pool *pool, struct hydrate_ctx *c)
{
	for (size_t i = 0; i < c->ngroups; i++)
		cairn_pool_submit(pool, c->groups[i]);
	c->ngroups = 0;
	c->waiting = 0;
}

static void drop_groups(struct hydrate_ctx *c)
{
	for (size_t i = 0; i < c->ngroups; i++)
		fetch_drop(c->groups[i]);
	c->ngroups = 0;
	c->waiting = 0;
}

static void add_to_group(struct cairn_pool *pool, struct hydrate_ctx *c, struct fetch_item it)
{
	struct fetch_task *g = NULL;
	for (size_t i = 0; i < c->ngroups && !g; i++)
		if (!strcmp(c->groups[i]->it[0].te->pack, it.te->pack))
			g = c->groups[i];
	if (!g && c->ngroups == MAX_OPEN_GROUPS)
		flush_groups(pool, c);
	if (!g) {
		g = xcalloc(1, sizeof(*g));
		g->c = c;
		c->groups[c->ngroups++] = g;
	}
	g->it[g->n++] = it;
	c->waiting++;
	if (g->n == GROUP_MAX || c->waiting >= HYDRATE_WINDOW / 2)
		flush_groups(pool, c);
}

/* "ID SHA256" with the temporary file: queue its download. */
static int fetch_request(struct cairn_pool *pool, struct hydrate_ctx *c, char *req, int *fd,
                         struct cairn_err *err)
{
	char *sp = strchr(req, ' ');
	unsigned long long id;
	const struct cairn_entry *te = NULL;
	if (sp) {
		*sp = '\0';
		if (parse_uint(req, ULONG_MAX, &id) == 0 && cairn_is_hex(sp + 1, 64))
			te = cairn_sha_index_find(&c->by_sha, sp + 1);
	}
	if (!te || *fd < 0) {
		cairn_seterr(err, "volume %s: worker asked for a foreign object", c->vol);
		return -1;
	}
	struct fetch_item it = {.id = id, .fd = *fd, .te = te};
	*fd = -1;
	if (te->pack[0]) {
		add_to_group(pool, c, it);
		return 0;
	}
	struct fetch_task *t = xcalloc(1, sizeof(*t));
	t->c = c;
	t->n = 1;
	t->it[0] = it;
	cairn_pool_submit(pool, t);
	return 0;
}

static int hydrate_serve_loop(struct cairn_pool *pool, int sock, struct hydrate_ctx *c,
                              struct cairn_err *err)
{
	autofree char *buf = NULL;
	size_t len, cap = 0;
	char type;
	bool have_state = false;
	for (;;) {
		autoclose int fd = -1;
		if (cairn_pool_wait_worker(pool) < 0 ||
		    cairn_wire_recv_fd(sock, &type, &buf, &len, &cap, &fd) < 0) {
			cairn_seterr(err, "volume %s: the hydrate worker died or stalled", c->vol);
			return -1;
		}
		switch (type) {
		case FR_FETCH:
			if (fetch_request(pool, c, buf, &fd, err) < 0)
				return -1;
			break;
		case FR_FLUSH:
			flush_groups(pool, c);
			break;
		case FR_JSON: {
			/* The new state arrives as a document: this is its first chunk. */
			struct cairn_err perr = {0};
			if (cairn_worker_recv_tree(sock, buf, len, &c->newstate, &perr) < 0) {
				cairn_seterr(err, "volume %s: bad state from worker%s%s", c->vol,
				             perr.msg[0] ? ": " : "", perr.msg);
				return -1;
			}
			have_state = true;
			if (cairn_wire_recv(sock, &type, &buf, &len, &cap) < 0 || type != FR_JSON ||
			    sscanf(buf, "%llu %llu %llu", &c->stats->cached, &c->stats->moved,
			           &c->stats->moved_bytes) != 3) {
				cairn_seterr(err, "volume %s: bad counters from worker", c->vol);
				return -1;
			}
			break;
		}
		case FR_SAME:
			if (sscanf(buf, "%llu %llu %llu", &c->stats->cached, &c->stats->moved,
			           &c->stats->moved_bytes) != 3) {
				cairn_seterr(err, "volume %s: bad counters from worker", c->vol);
				return -1;
			}
			c->same = true;
			have_state = true;
			break;
		case FR_DONE:
			if (!have_state) {
				cairn_seterr(err, "volume %s: worker ended without a state",
				             c->vol);
				return -1;
			}
			return 0;
		case FR_ERR:
			cairn_worker_error_frame(buf, err);
			return -1;
		default:
			cairn_seterr(err, "volume %s: protocol error from the worker", c->vol);
			return -1;
		}
	}
}

static int hydrate_serve(int sock, void *arg, struct cairn_err *err)
{
	struct hydrate_ctx *c = arg;
	/* Only the target's files may be asked for. */
	cairn_sha_index_build(&c->by_sha, c->target);
	struct cairn_pool *pool =
	    cairn_pool_start(c->st, cairn_transfers(), sock, fetch_run, fetch_done, c);
	cairn_pool_label(pool, c->vol, "fetching");
	int rv = hydrate_serve_loop(pool, sock, c, err);
	drop_groups(c);
	cairn_pool_stop(pool, rv < 0, fetch_drop);
	cairn_sha_index_free(&c->by_sha);
	return rv;
}

/* Make state the target's: keep only the entries that match it (the state
 * decides what a later sync may skip, so it must not carry anything the worker
 * made up), with the target's pack places (a later sync takes them for what
 * it does not upload), version and manifest key. */
static void as_target(struct cairn_manifest *state, const struct cairn_manifest *target)
{
	size_t keep = 0;
	for (size_t i = 0; i < state->n; i++) {
		struct cairn_entry *e = &state->e[i];
		const struct cairn_entry *te = cairn_manifest_find(target, e->path);
		bool ok =
		    te && te->type == e->type &&
		    (e->type != CAIRN_FT_FILE || (!strcmp(te->sha256, e->sha256) &&
		                                  te->size == e->size && !strcmp(te->md5, e->md5)));
		if (!ok) {
			free(e->path);
			free(e->target);
			continue;
		}
		if (e->type == CAIRN_FT_FILE) {
			memcpy(e->pack, te->pack, sizeof(e->pack));
			e->offset = te->offset;
		}
		state->e[keep++] = *e;
	}
	state->n = keep;
	state->version = target->version;
	free(state->key);
	state->key = target->key ? xstrdup(target->key) : NULL;
}

/* target NULL: the cache state is the target, if it holds version state_version
 * (else 1, nothing done). */
static int hydrate_run(struct cairn_store *st, const char *ws, const char *vol,
                       const struct cairn_manifest *target, unsigned state_version,
                       struct cairn_cache_vol *cv, const struct cairn_user *u,
                       struct cairn_xfer_stats *stats, struct cairn_err *err)
{
	double t0 = now_seconds();
	struct hydrate_ctx c = {
	    .st = st, .ws = ws, .vol = vol, .cv = cv, .stats = stats, .uid = u->uid};
	memset(stats, 0, sizeof(*stats));
	cairn_manifest_init(&c.newstate);
	cairn_cache_load_state(cv, &c.state);
	if (!target) {
		if (c.state.version != state_version || state_version == 0) {
			cairn_manifest_free(&c.state);
			return 1;
		}
		target = &c.state;
	}
	c.target = target;
	int rv = cairn_worker_run(u, &cv->datafd, hydrate_worker, hydrate_serve, &c, err);
	if (rv == 0 && c.same) {
		/* The tree is the state, and the state is the target's content; but
		 * the target may keep it elsewhere (a volume removed and made again
		 * packs it anew). */
		if (target != &c.state) {
			as_target(&c.state, target);
			rv = cairn_cache_save_state(cv, &c.state, err);
		}
		cairn_cache_touch(cv);
	} else if (rv == 0) {
		as_target(&c.newstate, target);
		rv = cairn_cache_save_state(cv, &c.newstate, err);
		cairn_cache_touch(cv);
	} else if (err->msg[0] && strncmp(err->msg, "volume ", 7)) {
		char m[CAIRN_ERRLEN];
		snprintf(m, sizeof(m), "volume %.200s: %.300s", vol, err->msg);
		memcpy(err->msg, m, sizeof(m));
	}
	stats->files = cairn_manifest_files(target);
	stats->bytes = cairn_manifest_bytes(target);
	stats->version = target->version;
	stats->seconds = now_seconds() - t0;
	cairn_manifest_free(&c.state);
	cairn_manifest_free(&c.newstate);
	return rv;
}

int cairn_hydrate(struct cairn_store *st, const char *ws, const char *vol,
                  const struct cairn_manifest *target, struct cairn_cache_vol *cv,
                  const struct cairn_user *u, struct cairn_xfer_stats *stats, struct cairn_err *err)
{
	return hydrate_run(st, ws, vol, target, 0, cv, u, stats, err);
}

int cairn_hydrate_from_state(struct cairn_store *st, const char *ws, const char *vol,
                             unsigned version, struct cairn_cache_vol *cv,
                             const struct cairn_user *u, struct cairn_xfer_stats *stats,
                             struct cairn_err *err)
{
	return hydrate_run(st, ws, vol, NULL, version, cv, u, stats, err);
}

char *cairn_hydrate_summary(const char *vol, const struct cairn_xfer_stats *s)
{
	char files[32], bytes[32], cached[32], moved[32], mb[32];
	fmt_count(files, sizeof(files), s->files);
	fmt_bytes(bytes, sizeof(bytes), s->bytes);
	fmt_count(cached, sizeof(cached), s->cached);
	fmt_count(moved, sizeof(moved), s->moved);
	fmt_bytes(mb, sizeof(mb), s->moved_bytes);
	if (s->version == 0)
		return xasprintf("cairn: volume %s: new and empty, created at the end of the job",
		                 vol);
	return xasprintf("cairn: volume %s: version %u, %s files, %s, %s from cache, %s fetched "
	                 "(%s) in %.2f s",
	                 vol, s->version, files, bytes, cached, moved, mb, s->seconds);
}
