/* Hydrate: the root side streams objects from storage on request; the worker,
 * running as the job's user, decides what it needs and writes the tree. */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "tree.h"
#include "volume.h"
#include "wire.h"
#include "worker.h"

#define CHUNK (256 * 1024)

struct hydrate_ctx {
	struct cairn_store *st;
	const char *ws, *vol;
	const struct cairn_manifest *target;
	struct cairn_manifest state; /* what the cache held (root's record) */
	struct cairn_cache_vol *cv;
	struct cairn_manifest newstate; /* filled by the root side from the worker */
	struct cairn_xfer_stats *stats;
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

static int fetch_file(int sock, int rootfd, const struct cairn_entry *t, struct stat *out,
                      struct cairn_err *err)
{
	const char *base;
	unsigned char rnd[6];
	char tmp[48];
	autofree char *buf = NULL;
	autoclose int dfd = cairn_open_parent(rootfd, t->path, &base);
	if (dfd < 0) {
		cairn_seterr(err, "cannot open the directory of %.200s: %s", t->path,
		             strerror(errno));
		return -1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(tmp, sizeof(tmp), CAIRN_TMP_PREFIX "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
	         rnd[2], rnd[3], rnd[4], rnd[5]);
	autoclose int fd =
	    openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cairn_setuerr(err, "cannot write into %.200s: %s", t->path, strerror(errno));
		return -1;
	}
	if (cairn_wire_send_str(sock, FR_GET, t->sha256) < 0) {
		cairn_seterr(err, "lost the root side: %s", strerror(errno));
		goto fail;
	}
	struct cairn_digest dg;
	if (cairn_digest_init(&dg) < 0) {
		cairn_seterr(err, "cannot start a digest");
		goto fail;
	}
	size_t len, cap = 0;
	uint64_t got = 0;
	char type;
	for (;;) {
		if (cairn_wire_recv(sock, &type, &buf, &len, &cap) < 0) {
			cairn_seterr(err, "lost the root side while fetching %.200s", t->path);
			cairn_digest_free(&dg);
			goto fail;
		}
		if (type == FR_END)
			break;
		if (type == FR_ERR) {
			cairn_worker_error_frame(buf, err);
			cairn_digest_free(&dg);
			goto fail;
		}
		if (type != FR_DATA || write_all(fd, buf, len) < 0) {
			cairn_setuerr(err, "cannot write %.200s: %s", t->path,
			              type == FR_DATA ? strerror(errno) : "protocol error");
			cairn_digest_free(&dg);
			goto fail;
		}
		cairn_digest_update(&dg, buf, len);
		got += len;
	}
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	cairn_digest_final(&dg, sha, md5);
	if (got != t->size || strcmp(sha, t->sha256)) {
		cairn_seterr(err,
		             "object %s for %.200s is corrupt in storage (got %llu bytes, sha256 "
		             "%.12s...); the file was not changed",
		             t->sha256, t->path, (unsigned long long)got, sha);
		goto fail;
	}
	if (fchmod(fd, t->mode & 0777) < 0 || set_times(fd, NULL, t->mtime_ns, 0) < 0) {
		cairn_seterr(err, "cannot set the mode of %.200s: %s", t->path, strerror(errno));
		goto fail;
	}
	/* A directory or anything else in the way goes first. */
	struct stat sb;
	if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode))
		cairn_remove_at(dfd, base);
	if (renameat(dfd, tmp, dfd, base) < 0) {
		cairn_setuerr(err, "cannot place %.200s: %s", t->path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, out) < 0) {
		cairn_seterr(err, "cannot stat %.200s: %s", t->path, strerror(errno));
		return -1;
	}
	return 0;
fail:
	unlinkat(dfd, tmp, 0);
	return -1;
}

/* Is the local file the target's content? Hash only when stat disagrees with state. */
static bool local_matches(int rootfd, const struct cairn_entry *l, const struct cairn_entry *s,
                          const struct cairn_entry *t)
{
	if (l->size != t->size)
		return false;
	/* A file the user does not own, or with setuid/setgid bits, was planted:
	 * replace it. */
	struct stat sb;
	if (fstatat(rootfd, t->path, &sb, AT_SYMLINK_NOFOLLOW) < 0 || sb.st_uid != geteuid() ||
	    (sb.st_mode & 06000))
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
	unsigned long long fetched = 0, fetched_bytes = 0, cached = 0;
	int rv = -1;

	cairn_manifest_init(&local);
	cairn_manifest_init(&out);
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
		if (l && l->type != te->type)
			l = NULL;
		const char *base;
		autoclose int dfd = cairn_open_parent(rootfd, te->path, &base);
		if (dfd < 0) {
			cairn_seterr(err, "cannot open the directory of %.200s: %s", te->path,
			             strerror(errno));
			goto out;
		}
		struct stat sb;
		struct cairn_entry *oe = cairn_manifest_add(&out, te->path, te->type);
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
			set_times(dfd, base, te->mtime_ns, AT_SYMLINK_NOFOLLOW);
			if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				cairn_entry_set_stat(oe, &sb);
			oe->mode = 0777;
			oe->target = xstrdup(te->target);
			continue;
		}
		if (l && local_matches(rootfd, l, s, te)) {
			cached++;
			if (l->mode != te->mode)
				(void)!fchmodat(dfd, base, te->mode & 0777, 0);
			if (l->mtime_ns != te->mtime_ns)
				set_times(dfd, base, te->mtime_ns, AT_SYMLINK_NOFOLLOW);
			if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
				cairn_seterr(err, "cannot stat %.200s: %s", te->path,
				             strerror(errno));
				goto out;
			}
		} else {
			if (fetch_file(sock, rootfd, te, &sb, err) < 0)
				goto out;
			fetched++;
			fetched_bytes += te->size;
		}
		cairn_entry_set_stat(oe, &sb);
		memcpy(oe->sha256, te->sha256, sizeof(oe->sha256));
		memcpy(oe->md5, te->md5, sizeof(oe->md5));
	}
	for (size_t i = t->n; i-- > 0;) {
		const struct cairn_entry *te = &t->e[i];
		if (te->type != CAIRN_FT_DIR)
			continue;
		const char *base;
		autoclose int dfd = cairn_open_parent(rootfd, te->path, &base);
		struct stat sb;
		if (dfd < 0 || fchmodat(dfd, base, te->mode & 0777, 0) < 0 ||
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
		autofree char *doc = cairn_manifest_to_json(&out, true);
		autofree char *counts = xasprintf("%llu %llu %llu", cached, fetched, fetched_bytes);
		if (cairn_wire_send_doc(sock, doc) < 0 ||
		    cairn_wire_send_str(sock, FR_JSON, counts) < 0) {
			cairn_seterr(err, "lost the root side: %s", strerror(errno));
			goto out;
		}
	}
	rv = 0;
out:
	cairn_manifest_free(&local);
	cairn_manifest_free(&out);
	return rv;
}

/* ---- root side ---- */

struct frame_sink {
	int sock;
};

static int send_chunk(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	struct frame_sink *fsink = arg;
	if (cairn_wire_send(fsink->sock, FR_DATA, buf, len) < 0) {
		cairn_seterr(err, "worker went away: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int cmp_sha(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The digests of a manifest's files, sorted for lookups. */
static const char **sorted_digests(const struct cairn_manifest *t, size_t *n)
{
	const char **v = xcalloc(t->n + 1, sizeof(char *));
	*n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].type == CAIRN_FT_FILE)
			v[(*n)++] = t->e[i].sha256;
	qsort(v, *n, sizeof(char *), cmp_sha);
	return v;
}

static int hydrate_serve(int sock, void *arg, struct cairn_err *err)
{
	struct hydrate_ctx *c = arg;
	autofree char *buf = NULL;
	size_t len, cap = 0;
	char type;
	bool have_state = false;
	size_t nwanted;
	autofree const char **wanted = sorted_digests(c->target, &nwanted);
	for (;;) {
		if (cairn_wire_recv(sock, &type, &buf, &len, &cap) < 0) {
			cairn_seterr(err, "volume %s: the hydrate worker died", c->vol);
			return -1;
		}
		switch (type) {
		case FR_GET: {
			/* Only objects of the version being hydrated may be asked for. */
			const char *key0 = buf;
			if (!cairn_is_hex(buf, 64) ||
			    !bsearch(&key0, wanted, nwanted, sizeof(char *), cmp_sha)) {
				cairn_seterr(err, "volume %s: worker asked for a foreign object",
				             c->vol);
				return -1;
			}
			autofree char *key = cairn_key_object(c->ws, buf);
			struct frame_sink fsink = {sock};
			struct cairn_err gerr = {0};
			int r = cairn_store_get(c->st, key, send_chunk, &fsink, &gerr);
			if (r == 0) {
				cairn_wire_send(sock, FR_END, NULL, 0);
			} else {
				autofree char *m = xasprintf(
				    "Svolume %s: object %s is %s", c->vol, buf,
				    r == CAIRN_STORE_NOTFOUND ? "missing from storage" : gerr.msg);
				cairn_wire_send_str(sock, FR_ERR, m);
			}
			break;
		}
		case FR_JSON: {
			/* The new state arrives as a document: this is its first chunk. */
			autofree char *rest = NULL;
			size_t rlen = 0;
			if (cairn_wire_recv_doc(sock, CAIRN_MANIFEST_MAX, &rest, &rlen) < 0) {
				cairn_seterr(err, "volume %s: bad state from worker", c->vol);
				return -1;
			}
			autofree char *doc = xasprintf("%s%s", buf, rest);
			struct cairn_err perr = {0};
			cairn_manifest_free(&c->newstate);
			if (cairn_manifest_from_json(doc, strlen(doc), &c->newstate, &perr) < 0) {
				cairn_seterr(err, "volume %s: bad state from worker: %s", c->vol,
				             perr.msg);
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

int cairn_hydrate(struct cairn_store *st, const char *ws, const char *vol,
                  const struct cairn_manifest *target, struct cairn_cache_vol *cv,
                  const struct cairn_user *u, struct cairn_xfer_stats *stats, struct cairn_err *err)
{
	double t0 = now_seconds();
	struct hydrate_ctx c = {
	    .st = st, .ws = ws, .vol = vol, .target = target, .cv = cv, .stats = stats};
	memset(stats, 0, sizeof(*stats));
	cairn_manifest_init(&c.newstate);
	cairn_cache_load_state(cv, &c.state);
	int rv = cairn_worker_run(u, &cv->datafd, hydrate_worker, hydrate_serve, &c, err);
	if (rv == 0) {
		/* Keep only what matches the target: the state decides what a later sync
		 * may skip, so it must not carry anything the worker made up. */
		size_t keep = 0;
		for (size_t i = 0; i < c.newstate.n; i++) {
			struct cairn_entry *e = &c.newstate.e[i];
			const struct cairn_entry *te = cairn_manifest_find(target, e->path);
			bool ok = te && te->type == e->type &&
			          (e->type != CAIRN_FT_FILE ||
			           (!strcmp(te->sha256, e->sha256) && te->size == e->size &&
			            !strcmp(te->md5, e->md5)));
			if (ok) {
				c.newstate.e[keep++] = *e;
			} else {
				free(e->path);
				free(e->target);
			}
		}
		c.newstate.n = keep;
		c.newstate.version = target->version;
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
