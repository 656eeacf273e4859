/* The compact form of a manifest, for what never leaves the node: the cache
 * state and the worker's tree sent to root. Parsing 20,000 entries of JSON
 * lines costs over 100 ms, most of it in building and freeing JSON objects;
 * this form reads in a few milliseconds, so a job whose volume did not change
 * does not pay for it. Committed manifests stay JSON (manifest.c).
 *
 * Little-endian throughout:
 *   "CAIRNMB1", u32 version, u32 parent, i64 created, u32 entries,
 *   5 x (u32 length or 0xffffffff for none, bytes): workspace volume job user host
 *   per entry: u8 type, u8 flags (1: in a pack), u16 mode, u16 path length, path,
 *              i64 mtime_ns, u64 ino, i64 ctime_ns,
 *              file: u64 size, 64 hex sha256, 32 hex md5, [64 hex pack, u64 offset]
 *              symlink: u16 target length, target
 * The decoder checks everything the JSON parser does: it also reads what the
 * user's worker sent. */
#include "manifest.h"

#include <string.h>

static const char MAGIC[8] = {'C', 'A', 'I', 'R', 'N', 'M', 'B', '1'};
#define NO_STRING 0xffffffffu
#define FLAG_PACK 1u

struct out_buf {
	char *p;
	size_t len, cap;
};

static void put(struct out_buf *o, const void *src, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n)
			cap *= 2;
		o->p = xrealloc(o->p, cap);
		o->cap = cap;
	}
	memcpy(o->p + o->len, src, n);
	o->len += n;
}

static void put_u(struct out_buf *o, uint64_t v, size_t bytes)
{
	unsigned char b[8];
	for (size_t i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put(o, b, bytes);
}

static void put_str32(struct out_buf *o, const char *s)
{
	if (!s) {
		put_u(o, NO_STRING, 4);
		return;
	}
	size_t n = strlen(s);
	put_u(o, n, 4);
	put(o, s, n);
}

char *cairn_manifest_to_bin(const struct cairn_manifest *m, size_t *len)
{
	struct out_buf o = {0};
	put(&o, MAGIC, sizeof(MAGIC));
	put_u(&o, m->version, 4);
	put_u(&o, m->parent, 4);
	put_u(&o, (uint64_t)m->created, 8);
	put_u(&o, m->n, 4);
	put_str32(&o, m->workspace);
	put_str32(&o, m->volume);
	put_str32(&o, m->job);
	put_str32(&o, m->user);
	put_str32(&o, m->host);
	for (size_t i = 0; i < m->n; i++) {
		const struct cairn_entry *e = &m->e[i];
		bool packed = e->type == CAIRN_FT_FILE && e->pack[0];
		size_t plen = strlen(e->path);
		put_u(&o, (uint64_t)e->type, 1);
		put_u(&o, packed ? FLAG_PACK : 0, 1);
		put_u(&o, e->mode & 07777, 2);
		put_u(&o, plen, 2);
		put(&o, e->path, plen);
		put_u(&o, (uint64_t)e->mtime_ns, 8);
		put_u(&o, e->ino, 8);
		put_u(&o, (uint64_t)e->ctime_ns, 8);
		if (e->type == CAIRN_FT_FILE) {
			put_u(&o, e->size, 8);
			put(&o, e->sha256, 64);
			put(&o, e->md5, 32);
			if (packed) {
				put(&o, e->pack, 64);
				put_u(&o, e->offset, 8);
			}
		} else if (e->type == CAIRN_FT_SYMLINK) {
			size_t tlen = e->target ? strlen(e->target) : 0;
			put_u(&o, tlen, 2);
			put(&o, e->target ? e->target : "", tlen);
		}
	}
	*len = o.len;
	return o.p;
}

struct in_buf {
	const unsigned char *p, *end;
	bool short_read;
};

static const void *take(struct in_buf *in, size_t n)
{
	if ((size_t)(in->end - in->p) < n) {
		in->short_read = true;
		return NULL;
	}
	const void *at = in->p;
	in->p += n;
	return at;
}

static uint64_t take_u(struct in_buf *in, size_t bytes)
{
	const unsigned char *b = take(in, bytes);
	uint64_t v = 0;
	for (size_t i = 0; b && i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* A string of n bytes, NUL-terminated, in buf (n < buflen checked): UTF-8
 * without NUL, or the manifest it goes into could not be written as JSON. */
static bool take_text(struct in_buf *in, size_t n, char *buf, size_t buflen)
{
	const char *s = take(in, n);
	if (!s || n >= buflen || memchr(s, '\0', n) || !cairn_manifest_text_ok(s, n))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return true;
}

static int take_str32(struct in_buf *in, char **out, struct cairn_err *err)
{
	char buf[4097];
	uint32_t n = (uint32_t)take_u(in, 4);
	if (n == NO_STRING && !in->short_read)
		return 0;
	if (in->short_read || !take_text(in, n, buf, sizeof(buf))) {
		cairn_seterr(err, "manifest: a header string is too long, cut short, not UTF-8 "
		                  "or holds NUL");
		return -1;
	}
	*out = xstrdup(buf);
	return 0;
}

/* n lowercase hex digits (not NUL-terminated here). */
static bool hex_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int take_entry(struct in_buf *in, struct cairn_manifest *m, struct cairn_err *err)
{
	char path[CAIRN_PATH_MAX + 1], target[CAIRN_PATH_MAX + 1], why[256];
	unsigned type = (unsigned)take_u(in, 1), flags = (unsigned)take_u(in, 1);
	unsigned mode = (unsigned)take_u(in, 2);
	size_t plen = (size_t)take_u(in, 2);
	if (in->short_read || !take_text(in, plen, path, sizeof(path))) {
		cairn_seterr(err, "manifest: an entry's path is cut short, not UTF-8 or holds NUL");
		return -1;
	}
	if (cairn_relpath_check(path, why, sizeof(why)) < 0) {
		cairn_seterr(err, "manifest: %s", why);
		return -1;
	}
	if (type > CAIRN_FT_SYMLINK || mode > 07777 || (flags & ~FLAG_PACK) ||
	    ((flags & FLAG_PACK) && type != CAIRN_FT_FILE)) {
		cairn_seterr(err, "manifest: entry \"%.64s\" has an unknown type, mode or flag",
		             path);
		return -1;
	}
	int64_t mtime = (int64_t)take_u(in, 8);
	uint64_t ino = take_u(in, 8);
	int64_t ctime = (int64_t)take_u(in, 8);
	uint64_t size = 0, offset = 0;
	const char *sha = NULL, *md5 = NULL, *pack = NULL;
	if (type == CAIRN_FT_FILE) {
		size = take_u(in, 8);
		sha = take(in, 64);
		md5 = take(in, 32);
		if (flags & FLAG_PACK) {
			pack = take(in, 64);
			offset = take_u(in, 8);
		}
	} else if (type == CAIRN_FT_SYMLINK) {
		size_t tlen = (size_t)take_u(in, 2);
		if (in->short_read || !take_text(in, tlen, target, sizeof(target)) ||
		    cairn_symlink_target_check(target, tlen, why, sizeof(why)) < 0) {
			cairn_seterr(err, "manifest: entry \"%.64s\": bad symlink target", path);
			return -1;
		}
	}
	if (in->short_read) {
		cairn_seterr(err, "manifest: entry \"%.64s\" is cut short", path);
		return -1;
	}
	if (ino > INT64_MAX || size > INT64_MAX || offset > INT64_MAX - size ||
	    (sha && (!hex_ok(sha, 64) || !hex_ok(md5, 32))) || (pack && !hex_ok(pack, 64))) {
		cairn_seterr(err, "manifest: entry \"%.64s\" has a malformed size or digest", path);
		return -1;
	}
	struct cairn_entry *e = cairn_manifest_add(m, path, (enum cairn_ftype)type);
	e->mode = mode & 01777; /* never setuid/setgid */
	e->size = size;
	e->mtime_ns = mtime;
	e->ino = ino;
	e->ctime_ns = ctime;
	if (sha) {
		memcpy(e->sha256, sha, 64);
		memcpy(e->md5, md5, 32);
	}
	if (pack) {
		memcpy(e->pack, pack, 64);
		e->offset = offset;
	}
	if (type == CAIRN_FT_SYMLINK)
		e->target = xstrdup(target);
	return 0;
}

bool cairn_manifest_is_bin(const char *buf, size_t len)
{
	return len >= sizeof(MAGIC) && !memcmp(buf, MAGIC, sizeof(MAGIC));
}

int cairn_manifest_from_bin(const char *buf, size_t len, struct cairn_manifest *m,
                            struct cairn_err *err)
{
	struct in_buf in = {(const unsigned char *)buf, (const unsigned char *)buf + len, false};
	int rv = -1;
	cairn_manifest_init(m);
	if (!cairn_manifest_is_bin(buf, len)) {
		cairn_seterr(err, "manifest: not in the compact form");
		goto out;
	}
	take(&in, sizeof(MAGIC));
	m->version = (unsigned)take_u(&in, 4);
	m->parent = (unsigned)take_u(&in, 4);
	m->created = (int64_t)take_u(&in, 8);
	uint64_t n = take_u(&in, 4);
	if (take_str32(&in, &m->workspace, err) < 0 || take_str32(&in, &m->volume, err) < 0 ||
	    take_str32(&in, &m->job, err) < 0 || take_str32(&in, &m->user, err) < 0 ||
	    take_str32(&in, &m->host, err) < 0)
		goto out;
	if (m->created < 0) {
		cairn_seterr(err, "manifest: a negative creation time");
		goto out;
	}
	/* Each entry takes at least 30 bytes: a count beyond that is a lie. */
	if (n > (uint64_t)(in.end - in.p) / 30) {
		cairn_seterr(err, "manifest: %llu entries cannot fit in %zu bytes",
		             (unsigned long long)n, (size_t)(in.end - in.p));
		goto out;
	}
	for (uint64_t i = 0; i < n; i++)
		if (take_entry(&in, m, err) < 0)
			goto out;
	if (in.p != in.end) {
		cairn_seterr(err, "manifest: %zu bytes after the last entry",
		             (size_t)(in.end - in.p));
		goto out;
	}
	rv = cairn_manifest_check_tree(m, err);
out:
	if (rv < 0)
		cairn_manifest_free(m);
	return rv;
}
