/* Sync: the worker (the job's user) walks the tree and hands root each changed
 * file opened for reading; root's transfer threads hash and store several at
 * once as content-addressed objects; the new manifest is committed last, so a
 * sync killed at any point leaves the old version intact. */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gc.h"
#include "tree.h"
#include "volume.h"
#include "wire.h"
#include "worker.h"
#include "xfer_pool.h"

/* Files up to PACK_FILE_MAX bytes that storage does not have yet go into packs
 * of about PACK_TARGET bytes: one request moves hundreds of them, where a
 * request per file would leave the server's per-request cost in charge. */
#define PACK_FILE_MAX (256 * 1024)
#define PACK_TARGET (8 * 1024 * 1024)

/* Where a file's content is in storage, as root established it. */
struct stored {
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	uint64_t size;
	bool packed;                 /* in a pack: pack[] is set once the pack is stored */
	char pack[CAIRN_SHA256_HEX]; /* "" for an object of its own */
	uint64_t offset;
	bool from_base; /* where the base version has it: safe from collections */
};

/* A pack being filled: a spool file in the cache's root-only directory. */
struct pack_build {
	int fd; /* -1: none yet */
	uint64_t len;
	struct cairn_digest dg;
	size_t *members; /* indices into stored */
	size_t nmembers;
};

struct sync_ctx {
	struct cairn_store *st;
	const char *ws, *vol;
	struct cairn_cache_vol *cv;
	struct cairn_manifest state;
	struct cairn_manifest newm;
	pthread_mutex_t lock; /* stored, up_bytes, pack: transfer threads share them */
	struct stored *stored;
	size_t nstored, capstored;
	unsigned long long up_bytes;
	struct pack_build pack;      /* the pack being filled */
	struct cairn_sha_index base; /* the base's files, by digest */
	unsigned long long skipped;
	unsigned long long max_file_size; /* 0: no limit */
	unsigned long long too_large;
	char too_large_example[256];
	bool same;                   /* the worker found the tree exactly as the state says */
	struct cairn_gc_watch watch; /* started before storage was asked what it has */
	bool lost; /* a collection removed contents this sync re-used: sync again */
};

/* ---- worker side ---- */

/* Files handed to root and not yet answered: their index in the local scan. */
struct send_window {
	int sock, rootfd;
	struct cairn_manifest *local;
	struct {
		unsigned long id;
		size_t li;
	} p[CAIRN_XFER_WINDOW];
	size_t n;
	unsigned long next_id;
};

static int send_start(struct send_window *w, size_t li, struct cairn_err *err)
{
	const struct cairn_entry *e = &w->local->e[li];
	autoclose int fd = cairn_open_beneath(w->rootfd, e->path, O_RDONLY | O_NOFOLLOW, 0);
	if (fd < 0) {
		cairn_setuerr(err,
		              "cannot read %.200s: %s; make it readable (chmod u+r) or delete it",
		              e->path, strerror(errno));
		return -1;
	}
	autofree char *req = xasprintf("%lu %s", w->next_id, e->path);
	if (cairn_wire_send_fd(w->sock, FR_SEND, req, fd) < 0) {
		cairn_seterr(err, "lost the root side while uploading %.200s", e->path);
		return -1;
	}
	w->p[w->n].id = w->next_id++;
	w->p[w->n].li = li;
	w->n++;
	return 0;
}

/* Root's answer for one file: what it stored, "ID SHA256 MD5 SIZE". */
static int send_wait_one(struct send_window *w, struct cairn_err *err)
{
	autofree char *buf = NULL;
	size_t len, cap = 0;
	char type;
	unsigned long id;
	unsigned long long size;
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	if (cairn_wire_recv(w->sock, &type, &buf, &len, &cap) < 0) {
		cairn_seterr(err, "lost the root side while uploading");
		return -1;
	}
	if (type == FR_ERR) {
		cairn_worker_error_frame(buf, err);
		return -1;
	}
	if (type != FR_HASH || sscanf(buf, "%lu %64s %32s %llu", &id, sha, md5, &size) != 4) {
		cairn_seterr(err, "protocol error while uploading");
		return -1;
	}
	for (size_t i = 0; i < w->n; i++) {
		if (w->p[i].id != id)
			continue;
		struct cairn_entry *e = &w->local->e[w->p[i].li];
		memcpy(e->sha256, sha, sizeof(sha));
		memcpy(e->md5, md5, sizeof(md5));
		e->size = size;
		w->p[i] = w->p[--w->n];
		return 0;
	}
	cairn_seterr(err, "root answered for a file never sent");
	return -1;
}

static int sync_worker(int sock, void *arg, struct cairn_err *err)
{
	struct sync_ctx *c = arg;
	int rootfd = c->cv->datafd;
	struct cairn_manifest local;
	size_t skipped;
	int rv = -1;
	autofree char *cnt = NULL, *big_name = NULL;
	cairn_manifest_init(&local);
	struct send_window w = {.sock = sock, .rootfd = rootfd, .local = &local};
	if (cairn_tree_scan(rootfd, false, &local, &skipped, err) < 0)
		goto out;
	/* Files over MaxFileSize stay out of the version (and are named). */
	size_t big = 0, keep = 0;
	for (size_t i = 0; i < local.n; i++) {
		struct cairn_entry *e = &local.e[i];
		if (c->max_file_size && e->type == CAIRN_FT_FILE && e->size > c->max_file_size) {
			if (!big++)
				big_name = xstrdup(e->path);
			free(e->path);
			free(e->target);
			continue;
		}
		local.e[keep++] = *e;
	}
	local.n = keep;
	for (size_t i = 0; i < local.n; i++) {
		struct cairn_entry *e = &local.e[i];
		if (e->type != CAIRN_FT_FILE)
			continue;
		const struct cairn_entry *s = cairn_manifest_find(&c->state, e->path);
		if (s && s->type == CAIRN_FT_FILE && s->size == e->size &&
		    s->mtime_ns == e->mtime_ns && s->ino == e->ino && s->ctime_ns == e->ctime_ns) {
			memcpy(e->sha256, s->sha256, sizeof(e->sha256));
			memcpy(e->md5, s->md5, sizeof(e->md5));
			continue;
		}
		if (w.n == CAIRN_XFER_WINDOW && send_wait_one(&w, err) < 0)
			goto out;
		if (send_start(&w, i, err) < 0)
			goto out;
	}
	while (w.n > 0)
		if (send_wait_one(&w, err) < 0)
			goto out;
	/* Counters: "SKIPPED TOO_LARGE<TAB>FIRST_TOO_LARGE_PATH". */
	cnt = xasprintf("%zu %zu\t%s", skipped, big, big_name ? big_name : "");
	/* Nothing to send and the tree is what the state recorded: no new version,
	 * and no need to ship the whole manifest to say so. */
	if (w.next_id == 0 && c->state.version != 0 &&
	    cairn_manifest_unchanged(&local, &c->state)) {
		if (cairn_wire_send_str(sock, FR_SAME, cnt) < 0) {
			cairn_seterr(err, "lost the root side: %s", strerror(errno));
			goto out;
		}
		rv = 0;
		goto out;
	}
	if (cairn_worker_send_tree(sock, &local) < 0 ||
	    cairn_wire_send_str(sock, FR_JSON, cnt) < 0) {
		cairn_seterr(err, "lost the root side: %s", strerror(errno));
		goto out;
	}
	rv = 0;
out:
	cairn_manifest_free(&local);
	return rv;
}

/* ---- root side ---- */

struct send_task {
	struct sync_ctx *c;
	unsigned long long id;
	int fd;
	char *path;
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	uint64_t size;
	char (*part_md5)[CAIRN_MD5_HEX]; /* large files: each part's MD5 */
};

/* Hash the file as it is now (pread: the worker shares the file offset). A file
 * large enough to go up in parts gets each part's MD5 in the same pass, so the
 * upload need not read it a third time. */
static int hash_file(struct send_task *t, uint64_t planned, struct cairn_err *err)
{
	enum { CHUNK = 256 * 1024 };
	autofree char *buf = xcalloc(1, CHUNK);
	struct cairn_digest dg, pdg = {0};
	uint64_t part = planned >= CAIRN_MULTIPART_MIN ? cairn_part_size(planned) : 0;
	size_t nparts = part ? (size_t)((planned + part - 1) / part) : 0;
	if (part)
		t->part_md5 = xcalloc(nparts, sizeof(*t->part_md5));
	if (cairn_digest_init(&dg) < 0 || (part && cairn_digest_init_md5(&pdg) < 0)) {
		cairn_digest_free(&dg);
		cairn_seterr(err, "cannot start a digest");
		return -1;
	}
	uint64_t off = 0;
	int rv = 0;
	for (;;) {
		size_t want = CHUNK;
		if (part && off < planned && part - off % part < want)
			want = (size_t)(part - off % part); /* never across a part's end */
		ssize_t n = pread(t->fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cairn_setuerr(err, "volume %s: cannot read %.200s: %s", t->c->vol, t->path,
			              strerror(errno));
			rv = -1;
			break;
		}
		if (n == 0)
			break;
		cairn_digest_update(&dg, buf, (size_t)n);
		if (part && off < planned) {
			cairn_digest_update(&pdg, buf, (size_t)n);
			size_t i = (size_t)(off / part);
			uint64_t end = (i + 1) * part < planned ? (i + 1) * part : planned;
			if (off + (uint64_t)n >= end && i < nparts) {
				char none[CAIRN_SHA256_HEX];
				cairn_digest_final(&pdg, none, t->part_md5[i]);
				if (i + 1 < nparts && cairn_digest_init_md5(&pdg) < 0) {
					cairn_seterr(err, "cannot start a digest");
					rv = -1;
					break;
				}
			}
		}
		off += (uint64_t)n;
	}
	cairn_digest_final(&dg, t->sha, t->md5);
	cairn_digest_free(&pdg);
	if (rv < 0)
		return -1;
	t->size = off;
	if (off != planned) {
		/* It changed under us: let the upload find out and refuse. */
		free(t->part_md5);
		t->part_md5 = NULL;
	}
	return 0;
}

/* With c->lock held: a new record; returns its index. */
static size_t add_stored(struct sync_ctx *c, const struct send_task *t)
{
	if (c->nstored == c->capstored) {
		c->capstored = c->capstored ? 2 * c->capstored : 256;
		c->stored = xrealloc(c->stored, c->capstored * sizeof(*c->stored));
	}
	struct stored *r = &c->stored[c->nstored];
	memset(r, 0, sizeof(*r));
	memcpy(r->sha, t->sha, sizeof(r->sha));
	memcpy(r->md5, t->md5, sizeof(r->md5));
	r->size = t->size;
	return c->nstored++;
}

/* Store a full pack and tell its members where they are. */
static int pack_store(struct sync_ctx *c, struct cairn_store *st, struct pack_build *pb,
                      struct cairn_err *err)
{
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	cairn_digest_final(&pb->dg, sha, md5);
	autofree char *key = cairn_key_pack(c->ws, sha);
	int r =
	    cairn_store_put_fd(st, key, pb->fd, pb->len, sha, md5, NULL, CAIRN_PUT_IF_ABSENT, err);
	if (r == 0 || r == CAIRN_STORE_EXISTS) {
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < pb->nmembers; i++)
			memcpy(c->stored[pb->members[i]].pack, sha, sizeof(sha));
		pthread_mutex_unlock(&c->lock);
		r = 0;
	} else {
		char m[CAIRN_ERRLEN];
		snprintf(m, sizeof(m),
		         "volume %.100s: cannot upload a pack of %zu small files: %.300s", c->vol,
		         pb->nmembers, err->msg);
		memcpy(err->msg, m, sizeof(m));
	}
	close(pb->fd);
	free(pb->members);
	*pb = (struct pack_build){.fd = -1};
	return r < 0 ? -1 : 0;
}

/* Append a small file's bytes to the pack being filled; the thread that fills
 * it up stores it. */
static int pack_add(struct sync_ctx *c, struct cairn_store *st, const struct send_task *t,
                    const char *buf, struct cairn_err *err)
{
	struct pack_build full = {.fd = -1};
	pthread_mutex_lock(&c->lock);
	struct pack_build *pb = &c->pack;
	if (pb->fd < 0) {
		pb->fd = openat(c->cv->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (pb->fd < 0 || cairn_digest_init(&pb->dg) < 0) {
			pthread_mutex_unlock(&c->lock);
			cairn_seterr(err, "volume %s: cannot create a pack spool file in %s: %s",
			             c->vol, c->cv->dir, strerror(errno));
			return -1;
		}
	}
	if (pwrite_all(pb->fd, buf, (size_t)t->size, pb->len) < 0) {
		pthread_mutex_unlock(&c->lock);
		cairn_seterr(err, "volume %s: cannot write the pack spool file: %s", c->vol,
		             strerror(errno));
		return -1;
	}
	cairn_digest_update(&pb->dg, buf, (size_t)t->size);
	size_t idx = add_stored(c, t);
	c->stored[idx].packed = true;
	c->stored[idx].offset = pb->len;
	pb->members = xrealloc(pb->members, (pb->nmembers + 1) * sizeof(size_t));
	pb->members[pb->nmembers++] = idx;
	pb->len += t->size;
	c->up_bytes += t->size;
	if (pb->len >= PACK_TARGET) {
		full = *pb;
		*pb = (struct pack_build){.fd = -1};
	}
	pthread_mutex_unlock(&c->lock);
	return full.fd >= 0 ? pack_store(c, st, &full, err) : 0;
}

/* A small file: read once into memory, hashed there; reused from the base if
 * the base has that content, else packed. */
static int send_small(struct sync_ctx *c, struct cairn_store *st, struct send_task *t,
                      uint64_t planned, struct cairn_err *err)
{
	autofree char *buf = xcalloc(1, (size_t)planned + 1);
	uint64_t got = 0;
	for (;;) {
		ssize_t n = pread(t->fd, buf + got, (size_t)(planned + 1 - got), (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cairn_setuerr(err, "volume %s: cannot read %.200s: %s", c->vol, t->path,
			              strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
		if (got > planned) {
			cairn_setuerr(err,
			              "volume %s: %.200s grew while it was read; make sure no "
			              "process still writes it and run the sync again",
			              c->vol, t->path);
			return -1;
		}
	}
	struct cairn_digest dg;
	if (cairn_digest_init(&dg) < 0) {
		cairn_seterr(err, "cannot start a digest");
		return -1;
	}
	cairn_digest_update(&dg, buf, (size_t)got);
	cairn_digest_final(&dg, t->sha, t->md5);
	t->size = got;
	const struct cairn_entry *b = cairn_sha_index_find(&c->base, t->sha);
	if (b) {
		pthread_mutex_lock(&c->lock);
		size_t idx = add_stored(c, t);
		memcpy(c->stored[idx].pack, b->pack, sizeof(b->pack));
		c->stored[idx].packed = b->pack[0] != '\0';
		c->stored[idx].offset = b->offset;
		c->stored[idx].from_base = true;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	return pack_add(c, st, t, buf, err);
}

/* On a transfer thread: hash the worker's file and store it by digest, unless
 * storage has that object already. */
static int send_run(struct cairn_pool *p, struct cairn_store *st, void *task, struct cairn_err *err)
{
	(void)p;
	struct send_task *t = task;
	struct sync_ctx *c = t->c;
	struct stat sb;
	if (fstat(t->fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		cairn_seterr(err,
		             "volume %s: the worker passed something other than a file for "
		             "%.200s",
		             c->vol, t->path);
		return -1;
	}
	if (sb.st_size <= PACK_FILE_MAX)
		return send_small(c, st, t, (uint64_t)sb.st_size, err);
	if (hash_file(t, (uint64_t)sb.st_size, err) < 0)
		return -1;
	autofree char *key = cairn_key_object(c->ws, t->sha);
	bool created = false;
	int r = cairn_store_exists(st, key, NULL, err);
	if (r == CAIRN_STORE_NOTFOUND) {
		r = cairn_store_put_fd(st, key, t->fd, t->size, t->sha, t->md5, t->part_md5,
		                       CAIRN_PUT_IF_ABSENT, err);
		created = r == 0;
		if (r == CAIRN_STORE_EXISTS)
			r = 0;
	}
	/* Written to between the hash and the upload (only possible while some
	 * process of the user still has it open): the digest may not name these
	 * bytes. A single PUT was checked against it by the server; a multipart
	 * one was not, so an object made now goes again. */
	struct stat after;
	if (r == 0 && (fstat(t->fd, &after) < 0 || after.st_size != sb.st_size ||
	               after.st_ctim.tv_sec != sb.st_ctim.tv_sec ||
	               after.st_ctim.tv_nsec != sb.st_ctim.tv_nsec)) {
		if (created) {
			struct cairn_err ignore = {0};
			(void)cairn_store_delete(st, key, &ignore);
		}
		cairn_setuerr(err,
		              "volume %s: %.200s changed while it was uploaded; make sure no "
		              "process still writes it and run the sync again",
		              c->vol, t->path);
		return -1;
	}
	if (r < 0) {
		char m[CAIRN_ERRLEN];
		snprintf(m, sizeof(m), "volume %.100s: cannot upload %.100s: %.280s", c->vol,
		         t->path, err->msg);
		memcpy(err->msg, m, sizeof(m));
		return -1;
	}
	pthread_mutex_lock(&c->lock);
	add_stored(c, t);
	c->up_bytes += t->size;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void send_drop(void *task)
{
	struct send_task *t = task;
	close(t->fd);
	free(t->path);
	free(t->part_md5);
	free(t);
}

static void send_done(struct cairn_pool *p, void *task, int rv, const struct cairn_err *err)
{
	struct send_task *t = task;
	if (rv == 0) {
		cairn_pool_count(p, t->size);
		autofree char *reply = xasprintf("%llu %s %s %llu", t->id, t->sha, t->md5,
		                                 (unsigned long long)t->size);
		cairn_pool_reply(p, FR_HASH, reply);
	} else {
		cairn_pool_fail(p, err);
		autofree char *m = xasprintf("%c%s", err->user ? 'U' : 'S', err->msg);
		cairn_pool_reply(p, FR_ERR, m);
	}
	send_drop(t);
}

/* "ID PATH" with the file opened for reading: queue its upload. */
static int send_request(struct cairn_pool *pool, struct sync_ctx *c, char *req, int *fd,
                        struct cairn_err *err)
{
	char *sp = strchr(req, ' ');
	unsigned long long id;
	char why[256];
	if (!sp || *fd < 0 || (*sp = '\0', parse_uint(req, ULONG_MAX, &id) < 0)) {
		cairn_seterr(err, "volume %s: protocol error from the worker", c->vol);
		return -1;
	}
	if (cairn_relpath_check(sp + 1, why, sizeof(why)) < 0) {
		cairn_seterr(err, "volume %s: worker sent a bad path: %s", c->vol, why);
		return -1;
	}
	/* Built on the first file to store, so that a sync with nothing to send
	 * never pays for it; the threads read it only after this. */
	if (!c->base.e)
		cairn_sha_index_build(&c->base, &c->state);
	struct send_task *t = xcalloc(1, sizeof(*t));
	t->c = c;
	t->id = id;
	t->fd = *fd;
	t->path = xstrdup(sp + 1);
	*fd = -1;
	cairn_pool_submit(pool, t);
	return 0;
}

/* "SKIPPED TOO_LARGE<TAB>PATH" from the worker. */
static int parse_counters(struct sync_ctx *c, const char *buf)
{
	char *end;
	unsigned long long sk = strtoull(buf, &end, 10);
	if (end == buf || *end != ' ')
		return -1;
	const char *p = end + 1;
	unsigned long long big = strtoull(p, &end, 10);
	if (end == p || *end != '\t')
		return -1;
	c->skipped = sk;
	c->too_large = big;
	snprintf(c->too_large_example, sizeof(c->too_large_example), "%s", end + 1);
	return 0;
}

static int sync_serve_loop(struct cairn_pool *pool, int sock, struct sync_ctx *c,
                           struct cairn_err *err)
{
	autofree char *buf = NULL;
	size_t len, cap = 0;
	char type;
	bool have = false;
	for (;;) {
		autoclose int fd = -1;
		if (cairn_pool_wait_worker(pool) < 0 ||
		    cairn_wire_recv_fd(sock, &type, &buf, &len, &cap, &fd) < 0) {
			cairn_seterr(err, "volume %s: the sync worker died or stalled", c->vol);
			return -1;
		}
		switch (type) {
		case FR_SEND:
			if (send_request(pool, c, buf, &fd, err) < 0)
				return -1;
			break;
		case FR_JSON: {
			struct cairn_err perr = {0};
			if (cairn_worker_recv_tree(sock, buf, len, &c->newm, &perr) < 0) {
				if (perr.msg[0])
					cairn_setuerr(err, "volume %s: cannot sync: %s", c->vol,
					              perr.msg);
				else
					cairn_seterr(err, "volume %s: bad manifest from worker",
					             c->vol);
				return -1;
			}
			if (cairn_wire_recv(sock, &type, &buf, &len, &cap) < 0 || type != FR_JSON ||
			    parse_counters(c, buf) < 0) {
				cairn_seterr(err, "volume %s: bad counters from worker", c->vol);
				return -1;
			}
			have = true;
			break;
		}
		case FR_SAME: {
			if (parse_counters(c, buf) < 0) {
				cairn_seterr(err, "volume %s: bad counters from worker", c->vol);
				return -1;
			}
			c->same = have = true;
			break;
		}
		case FR_DONE:
			if (!have)
				cairn_seterr(err, "volume %s: worker ended without a manifest",
				             c->vol);
			return have ? 0 : -1;
		case FR_ERR:
			cairn_worker_error_frame(buf, err);
			return -1;
		default:
			cairn_seterr(err, "volume %s: protocol error from the worker", c->vol);
			return -1;
		}
	}
}

static int sync_serve(int sock, void *arg, struct cairn_err *err)
{
	struct sync_ctx *c = arg;
	struct cairn_pool *pool =
	    cairn_pool_start(c->st, cairn_transfers(), sock, send_run, send_done, c);
	cairn_pool_label(pool, c->vol, "uploading");
	int rv = sync_serve_loop(pool, sock, c, err);
	cairn_pool_stop(pool, rv < 0, send_drop);
	return rv;
}

static int cmp_stored(const void *a, const void *b)
{
	return strcmp(((const struct stored *)a)->sha, ((const struct stored *)b)->sha);
}

/* Every digest the worker names must be one root stored now or one the base
 * held: naming any other object would read data the user never had. Sizes,
 * MD5s and places in storage come from root's records, never from the worker. */
static int check_digests(struct sync_ctx *c, struct cairn_err *err)
{
	size_t n = 0;
	struct stored *known = xcalloc(c->nstored + c->state.n + 1, sizeof(*known));
	for (size_t j = 0; j < c->nstored; j++) {
		if (c->stored[j].packed && !c->stored[j].pack[0]) {
			cairn_seterr(err, "volume %s: a pack was never stored", c->vol);
			free(known);
			return -1;
		}
		known[n++] = c->stored[j];
	}
	for (size_t j = 0; j < c->state.n; j++) {
		const struct cairn_entry *e = &c->state.e[j];
		if (e->type != CAIRN_FT_FILE)
			continue;
		struct stored *k = &known[n++];
		memcpy(k->sha, e->sha256, sizeof(k->sha));
		memcpy(k->md5, e->md5, sizeof(k->md5));
		memcpy(k->pack, e->pack, sizeof(k->pack));
		k->size = e->size;
		k->offset = e->offset;
	}
	qsort(known, n, sizeof(*known), cmp_stored);
	int rv = 0;
	for (size_t i = 0; i < c->newm.n; i++) {
		struct cairn_entry *e = &c->newm.e[i];
		if (e->type != CAIRN_FT_FILE)
			continue;
		struct stored key = {0};
		memcpy(key.sha, e->sha256, sizeof(key.sha));
		const struct stored *hit = bsearch(&key, known, n, sizeof(*known), cmp_stored);
		if (!hit) {
			cairn_seterr(err,
			             "volume %s: worker named an object it never sent for %.200s",
			             c->vol, e->path);
			rv = -1;
			break;
		}
		e->size = hit->size;
		memcpy(e->md5, hit->md5, sizeof(e->md5));
		memcpy(e->pack, hit->pack, sizeof(e->pack));
		e->offset = hit->offset;
	}
	free(known);
	return rv;
}

/* Once the new manifest is in storage: if a collection ran since the sync
 * began, every object and pack the manifest takes from storage (not from its
 * base version) must still be there. */
static int contents_kept(void *arg, struct cairn_err *err)
{
	struct sync_ctx *c = arg;
	int r = cairn_gc_watch_check(c->st, c->ws, &c->watch, err);
	if (r <= 0)
		return r;
	char **keys = xcalloc(c->nstored ? c->nstored : 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < c->nstored; i++) {
		const struct stored *sr = &c->stored[i];
		if (!sr->from_base)
			keys[n++] = sr->packed ? cairn_key_pack(c->ws, sr->pack)
			                       : cairn_key_object(c->ws, sr->sha);
	}
	qsort(keys, n, sizeof(char *), cairn_strv_cmp);
	unsigned long long missing = 0;
	int rv = 0;
	for (size_t i = 0; i < n && rv == 0; i++) {
		if (i && !strcmp(keys[i], keys[i - 1]))
			continue;
		r = cairn_store_exists(c->st, keys[i], NULL, err);
		if (r == CAIRN_STORE_NOTFOUND) {
			memset(err, 0, sizeof(*err));
			missing++;
		} else if (r < 0) {
			rv = -1;
		}
	}
	cairn_strv_free(keys, n);
	if (rv == 0 && missing) {
		c->lost = true;
		cairn_seterr(err,
		             "volume %s: a collection of unused contents removed %llu stored "
		             "contents that this sync relied on while it ran",
		             c->vol, missing);
		rv = -1;
	}
	return rv;
}

static int sync_once(struct cairn_store *st, const char *ws, const char *vol,
                     struct cairn_cache_vol *cv, const struct cairn_lease *lease,
                     const struct cairn_user *u, const char *job, unsigned long long max_file_size,
                     struct cairn_xfer_stats *stats, bool *lost, struct cairn_err *err)
{
	double t0 = now_seconds();
	struct sync_ctx c = {.st = st,
	                     .ws = ws,
	                     .vol = vol,
	                     .cv = cv,
	                     .pack = {.fd = -1},
	                     .max_file_size = max_file_size};
	pthread_mutex_init(&c.lock, NULL);
	int rv = -1;
	memset(stats, 0, sizeof(*stats));
	cairn_manifest_init(&c.newm);
	cairn_cache_load_state(cv, &c.state);
	cairn_gc_watch_start(st, ws, &c.watch);
	if (cairn_worker_run(u, &cv->datafd, sync_worker, sync_serve, &c, err) < 0)
		goto out;
	/* The last pack, not full: stored before anything names it. */
	if (c.pack.fd >= 0 && pack_store(&c, st, &c.pack, err) < 0)
		goto out;
	stats->too_large = c.too_large;
	snprintf(stats->too_large_example, sizeof(stats->too_large_example), "%s",
	         c.too_large_example);
	if (c.same) {
		stats->skipped = c.skipped;
		stats->version = c.state.version;
		stats->files = cairn_manifest_files(&c.state);
		stats->bytes = cairn_manifest_bytes(&c.state);
		rv = 0;
		goto done;
	}
	if (check_digests(&c, err) < 0)
		goto out;
	for (size_t i = 0; i < c.state.n; i++)
		if (!cairn_manifest_find(&c.newm, c.state.e[i].path))
			stats->deleted++;
	stats->moved = c.nstored;
	stats->moved_bytes = c.up_bytes;
	stats->skipped = c.skipped;
	stats->version = c.state.version;
	if (!cairn_manifest_same_content(&c.newm, &c.state) || c.state.version == 0) {
		struct cairn_manifest commit;
		cairn_manifest_init(&commit);
		commit.e = c.newm.e;
		commit.n = c.newm.n;
		commit.job = job ? xstrdup(job) : NULL;
		commit.user = xstrdup(u->name);
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		commit.host = xstrdup(host);
		int r = cairn_volume_commit_checked(st, ws, vol, &commit, c.state.version, lease,
		                                    contents_kept, &c, err);
		commit.e = NULL;
		commit.n = 0;
		unsigned newv = commit.version;
		free(c.newm.key);
		c.newm.key = steal_ptr(&commit.key);
		cairn_manifest_free(&commit);
		if (r < 0)
			goto out;
		stats->committed = true;
		stats->version = newv;
	}
	c.newm.version = stats->version;
	if (!c.newm.key && c.state.key && c.newm.version == c.state.version)
		c.newm.key = xstrdup(c.state.key);
	rv = cairn_cache_save_state(cv, &c.newm, err);
out:
	stats->files = cairn_manifest_files(&c.newm);
	stats->bytes = cairn_manifest_bytes(&c.newm);
done:
	stats->seconds = now_seconds() - t0;
	cairn_manifest_free(&c.state);
	cairn_manifest_free(&c.newm);
	free(c.stored);
	cairn_sha_index_free(&c.base);
	if (c.pack.fd >= 0) {
		cairn_digest_free(&c.pack.dg);
		close(c.pack.fd);
	}
	free(c.pack.members);
	pthread_mutex_destroy(&c.lock);
	*lost = c.lost;
	return rv;
}

int cairn_sync(struct cairn_store *st, const char *ws, const char *vol, struct cairn_cache_vol *cv,
               const struct cairn_lease *lease, const struct cairn_user *u, const char *job,
               unsigned long long max_file_size, struct cairn_xfer_stats *stats,
               struct cairn_err *err)
{
	/* A second run finds the removed contents missing and uploads them; a
	 * third collection in a row is not likely. */
	for (int attempt = 0;; attempt++) {
		bool lost = false;
		struct cairn_err e = {0};
		int rv = sync_once(st, ws, vol, cv, lease, u, job, max_file_size, stats, &lost, &e);
		if (rv == 0 || !lost || attempt == 2) {
			if (rv < 0)
				*err = e;
			return rv;
		}
	}
}

char *cairn_sync_too_large(const char *vol, unsigned long long max,
                           const struct cairn_xfer_stats *s)
{
	char lim[32];
	fmt_bytes(lim, sizeof(lim), max);
	return xasprintf("cairn: volume %s: error: %llu file%s larger than MaxFileSize (%s) not "
	                 "synced, e.g. %s; the rest of the version is; keep such files out of the "
	                 "volume or split them",
	                 vol, s->too_large, s->too_large == 1 ? "" : "s", lim,
	                 s->too_large_example);
}

char *cairn_sync_summary(const char *vol, const struct cairn_xfer_stats *s)
{
	char files[32], bytes[32], moved[32], mb[32], del[32];
	fmt_count(files, sizeof(files), s->files);
	fmt_bytes(bytes, sizeof(bytes), s->bytes);
	fmt_count(moved, sizeof(moved), s->moved);
	fmt_bytes(mb, sizeof(mb), s->moved_bytes);
	fmt_count(del, sizeof(del), s->deleted);
	/* Entries a volume cannot hold are named as such, never dropped quietly. */
	char skipped[160] = "";
	if (s->skipped) {
		char n[32];
		fmt_count(n, sizeof(n), s->skipped);
		snprintf(skipped, sizeof(skipped),
		         "; %s entries not kept (FIFOs, sockets, devices, names that are not "
		         "UTF-8 or start with " CAIRN_TMP_PREFIX ")",
		         n);
	}
	if (!s->committed)
		return xasprintf("cairn: volume %s: no changes, still version %u (%s files, %s) "
		                 "checked in %.2f s%s",
		                 vol, s->version, files, bytes, s->seconds, skipped);
	return xasprintf("cairn: volume %s: synced version %u, %s files, %s, %s uploaded (%s), "
	                 "%s deleted in %.2f s%s",
	                 vol, s->version, files, bytes, moved, mb, del, s->seconds, skipped);
}
