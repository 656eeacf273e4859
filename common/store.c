#include "store.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "digest.h"

/* The probe's bodies: the two writes differ, so that a write retried after a
 * lost answer is told apart from the other by its ETag. */
struct probe_body {
	const char *text;
	bool done;
};

static ssize_t probe_source(void *arg, void *buf, size_t len, struct cairn_err *err)
{
	(void)err;
	struct probe_body *b = arg;
	size_t n = strlen(b->text);
	if (b->done || len < n)
		return 0;
	b->done = true;
	memcpy(buf, b->text, n);
	return (ssize_t)n;
}

static int probe_conditional(struct cairn_store *st, struct cairn_err *err)
{
	char key[64];
	unsigned char rnd[8] = {0};
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd[0] = (unsigned char)getpid();
	snprintf(key, sizeof(key), ".cairn-probe/%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
	         rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	struct probe_body first = {.text = "first"}, second = {.text = "second"};
	int a = st->ops->put(st, key, probe_source, &first, CAIRN_PUT_IF_ABSENT, err);
	int b = a == 0 ? st->ops->put(st, key, probe_source, &second, CAIRN_PUT_IF_ABSENT, err) : a;
	struct cairn_err ignore = {0};
	(void)st->ops->del(st, key, &ignore);
	if (a < 0 || (b < 0 && b != CAIRN_STORE_EXISTS))
		return -1;
	if (b != CAIRN_STORE_EXISTS) {
		cairn_seterr(err,
		             "Storage = %s: the server ignores If-None-Match on PUT (a second "
		             "create-only write of one key succeeded), so leases and commits "
		             "would not be safe; use a server that honours conditional writes",
		             st->url);
		return -1;
	}
	return 0;
}

static int store_open(const char *url, bool probe, struct cairn_store **out, struct cairn_err *err)
{
	struct cairn_store *st = xcalloc(1, sizeof(*st));
	st->url = xstrdup(url);
	int rv = -1;
	if (!strncmp(url, "file://", 7)) {
		rv = cairn_store_file_open(url, st, err);
	} else if (!strncmp(url, "s3://", 5)) {
		rv = cairn_store_s3_open(url, st, err);
		/* Leases and commits stand on create-only writes: some server versions
		 * ignore If-None-Match and would let two writers win. Fail closed. */
		if (rv == 0 && probe && probe_conditional(st, err) < 0) {
			st->ops->close(st);
			rv = -1;
		}
	} else {
		cairn_seterr(err,
		             "Storage = %s: unsupported URL; use file:///path or "
		             "s3://bucket/prefix",
		             url);
	}
	if (rv < 0) {
		free(st->url);
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

int cairn_store_open(const char *url, struct cairn_store **out, struct cairn_err *err)
{
	return store_open(url, true, out, err);
}

int cairn_store_reopen(const struct cairn_store *st, struct cairn_store **out,
                       struct cairn_err *err)
{
	/* The server was probed when st was opened. */
	return store_open(st->url, false, out, err);
}

void cairn_store_close(struct cairn_store *st)
{
	if (!st)
		return;
	if (st->ops && st->ops->close)
		st->ops->close(st);
	free(st->url);
	free(st);
}

static bool key_ok(const char *key, struct cairn_err *err)
{
	if (!key || !*key || key[0] == '/' || strstr(key, "..") || strstr(key, "//")) {
		cairn_seterr(err, "internal error: invalid storage key \"%s\"", key ? key : "");
		return false;
	}
	return true;
}

int cairn_store_get(struct cairn_store *st, const char *key, cairn_sink_fn sink, void *arg,
                    struct cairn_err *err)
{
	if (!key_ok(key, err))
		return -1;
	return st->ops->get(st, key, sink, arg, err);
}

void cairn_store_fault_point(void)
{
	/* Puts run on several transfer threads: count atomically. */
	static long count, limit = -2;
	long lim = __atomic_load_n(&limit, __ATOMIC_ACQUIRE);
	if (lim == -2) {
		const char *s = getenv("CAIRN_FAULT_PUT_ABORT_AFTER");
		lim = s && *s ? strtol(s, NULL, 10) : -1;
		__atomic_store_n(&limit, lim, __ATOMIC_RELEASE);
	}
	if (lim >= 0 && __atomic_fetch_add(&count, 1, __ATOMIC_ACQ_REL) >= lim)
		abort();
}

int cairn_store_put(struct cairn_store *st, const char *key, cairn_source_fn src, void *arg,
                    unsigned flags, struct cairn_err *err)
{
	if (!key_ok(key, err))
		return -1;
	cairn_store_fault_point();
	return st->ops->put(st, key, src, arg, flags, err);
}

int cairn_store_exists(struct cairn_store *st, const char *key, uint64_t *size,
                       struct cairn_err *err)
{
	if (!key_ok(key, err))
		return -1;
	return st->ops->exists(st, key, size, err);
}

int cairn_store_delete(struct cairn_store *st, const char *key, struct cairn_err *err)
{
	if (!key_ok(key, err))
		return -1;
	return st->ops->del(st, key, err);
}

struct key_vec {
	char **v;
	size_t n;
};

static int add_key(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	struct key_vec *kv = arg;
	kv->v = xrealloc(kv->v, (kv->n + 1) * sizeof(char *));
	kv->v[kv->n++] = xstrdup(key);
	return 0;
}

int cairn_store_list_keys(struct cairn_store *st, const char *prefix, char ***keys, size_t *n,
                          struct cairn_err *err)
{
	struct key_vec kv = {0};
	if (cairn_store_list(st, prefix, add_key, &kv, err) < 0) {
		cairn_strv_free(kv.v, kv.n);
		return -1;
	}
	*keys = kv.v;
	*n = kv.n;
	return 0;
}

int cairn_store_list(struct cairn_store *st, const char *prefix, cairn_list_fn fn, void *arg,
                     struct cairn_err *err)
{
	if (!key_ok(prefix, err))
		return -1;
	return st->ops->list(st, prefix, fn, arg, err);
}

struct membuf {
	char *p;
	size_t len, max;
	const char *key;
};

static int membuf_sink(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	struct membuf *m = arg;
	if (m->len + len > m->max) {
		cairn_seterr(err, "storage object %s is larger than %zu bytes", m->key, m->max);
		return -1;
	}
	m->p = xrealloc(m->p, m->len + len + 1);
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	m->p[m->len] = '\0';
	return 0;
}

int cairn_store_get_buf(struct cairn_store *st, const char *key, size_t max, char **out,
                        size_t *len, struct cairn_err *err)
{
	struct membuf m = {.p = xcalloc(1, 1), .max = max, .key = key};
	int rv = cairn_store_get(st, key, membuf_sink, &m, err);
	if (rv < 0) {
		free(m.p);
		return rv;
	}
	*out = m.p;
	if (len)
		*len = m.len;
	return 0;
}

struct memsrc {
	const char *p;
	size_t len, off;
};

static ssize_t memsrc_read(void *arg, void *buf, size_t len, struct cairn_err *err)
{
	(void)err;
	struct memsrc *m = arg;
	size_t n = m->len - m->off < len ? m->len - m->off : len;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

int cairn_store_put_buf(struct cairn_store *st, const char *key, const void *buf, size_t len,
                        unsigned flags, struct cairn_err *err)
{
	struct memsrc m = {.p = buf, .len = len};
	return cairn_store_put(st, key, memsrc_read, &m, flags, err);
}

int cairn_key_number(const char *key, unsigned long long max, unsigned long long *out)
{
	const char *slash = strrchr(key, '/');
	return slash ? parse_uint(slash + 1, max, out) : -1;
}

/* A put from an open file whose digests the caller computed: the backend may
 * send it as is (S3 checks Content-MD5 and the payload hash itself); else the
 * generic put reads it again, and what it read must still have that digest. */
struct fd_check_source {
	int fd;
	uint64_t off, size;
	struct cairn_digest dg;
};

static ssize_t fd_check_read(void *arg, void *buf, size_t len, struct cairn_err *err)
{
	struct fd_check_source *s = arg;
	if (s->off >= s->size)
		return 0;
	if (len > s->size - s->off)
		len = (size_t)(s->size - s->off);
	ssize_t n;
	do
		n = pread(s->fd, buf, len, (off_t)s->off);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		cairn_seterr(err, "the file shrank or could not be read while it was stored: %s",
		             n < 0 ? strerror(errno) : "unexpected end");
		return -1;
	}
	cairn_digest_update(&s->dg, buf, (size_t)n);
	s->off += (uint64_t)n;
	return n;
}

uint64_t cairn_part_size(uint64_t size)
{
	/* 16 MiB, doubled until S3's limit of 10,000 parts holds. */
	uint64_t p = 16ULL * 1024 * 1024;
	while ((size + p - 1) / p > 10000)
		p *= 2;
	return p;
}

int cairn_store_put_fd(struct cairn_store *st, const char *key, int fd, uint64_t size,
                       const char *sha256, const char *md5, char (*part_md5)[33], unsigned flags,
                       struct cairn_err *err)
{
	if (!key_ok(key, err))
		return -1;
	cairn_store_fault_point();
	if (st->ops->put_fd)
		return st->ops->put_fd(st, key, fd, size, sha256, md5, part_md5, flags, err);
	struct fd_check_source src = {.fd = fd, .size = size};
	if (cairn_digest_init(&src.dg) < 0) {
		cairn_seterr(err, "cannot start a digest");
		return -1;
	}
	int rv = st->ops->put(st, key, fd_check_read, &src, flags, err);
	char sha[CAIRN_SHA256_HEX], m[CAIRN_MD5_HEX];
	cairn_digest_final(&src.dg, sha, m);
	if (rv == 0 && (src.off != size || strcmp(sha, sha256))) {
		/* Created by us with other bytes: no manifest names it yet. */
		struct cairn_err ignore = {0};
		(void)st->ops->del(st, key, &ignore);
		cairn_seterr(err, "the file changed while it was stored; run the sync again");
		return -1;
	}
	return rv;
}

int cairn_file_sink_write(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	struct cairn_file_sink *fs = arg;
	if (len > fs->end - fs->off) {
		cairn_seterr(err, "storage sent more bytes than the object has");
		return -1;
	}
	if (pwrite_all(fs->fd, buf, len, fs->off) < 0) {
		cairn_setuerr(err, "cannot write into the cache: %s", strerror(errno));
		return -1;
	}
	if (fs->dg)
		cairn_digest_update(fs->dg, buf, len);
	fs->off += len;
	return 0;
}

int cairn_store_get_fd(struct cairn_store *st, const char *key, int fd, uint64_t size,
                       char sha256[65], struct cairn_err *err)
{
	if (!key_ok(key, err))
		return -1;
	if (st->ops->get_fd)
		return st->ops->get_fd(st, key, fd, size, sha256, err);
	struct cairn_digest dg;
	struct cairn_file_sink fs = {.fd = fd, .end = size, .dg = &dg};
	if (cairn_digest_init_sha256(&dg) < 0) {
		cairn_seterr(err, "cannot start a digest");
		return -1;
	}
	int r = st->ops->get(st, key, cairn_file_sink_write, &fs, err);
	char md5[CAIRN_MD5_HEX];
	cairn_digest_final(&dg, sha256, md5);
	if (r == 0 && fs.off != size) {
		cairn_seterr(err, "storage holds %llu bytes where %llu were expected",
		             (unsigned long long)fs.off, (unsigned long long)size);
		return -1;
	}
	return r;
}

int cairn_store_get_range(struct cairn_store *st, const char *key, uint64_t off, uint64_t len,
                          cairn_sink_fn sink, void *arg, struct cairn_err *err)
{
	if (!key_ok(key, err))
		return -1;
	if (len == 0)
		return 0;
	return st->ops->get_range(st, key, off, len, sink, arg, err);
}
