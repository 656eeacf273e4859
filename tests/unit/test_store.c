/* Unit tests for common/store.c + common/store_file.c (the file:// backend) and
 * common/volume.c (versions, head hint, atomic commit, conflict copies, listing).
 * Everything happens below a fresh mkdtemp() directory that is removed at the end. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "store.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"
#include "volume.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define MD5_A "0123456789abcdef0123456789abcdef"

static char tmpdir[4096];

/* ---------- streaming callbacks ---------- */

struct src {
	const unsigned char *p;
	size_t len, off, calls;
	bool fail_midway;
};

/* Odd chunk sizes, never a full buffer, to exercise the write loop. */
static ssize_t odd_source(void *arg, void *buf, size_t len, struct cairn_err *err)
{
	static const size_t sizes[] = {1, 7, 4099, 65537, 12345, 3, 131071, 999};
	struct src *s = arg;
	if (s->fail_midway && s->off > s->len / 2) {
		cairn_seterr(err, "test source failed on purpose");
		return -1;
	}
	size_t n = sizes[s->calls++ % (sizeof(sizes) / sizeof(sizes[0]))];
	if (n > len)
		n = len;
	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

struct sink {
	unsigned char *p;
	size_t len, calls;
	size_t fail_after; /* 0: never */
};

static int collect_sink(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	struct sink *s = arg;
	if (s->fail_after && s->calls >= s->fail_after) {
		cairn_seterr(err, "test sink refused on purpose");
		return -1;
	}
	s->calls++;
	s->p = xrealloc(s->p, s->len + len);
	memcpy(s->p + s->len, buf, len);
	s->len += len;
	return 0;
}

struct listed {
	char *key[32];
	uint64_t size[32];
	int64_t mtime[32];
	size_t n;
	size_t stop_after; /* 0: never */
};

static int list_cb(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	struct listed *l = arg;
	if (l->n < 32) {
		l->key[l->n] = xstrdup(key);
		l->size[l->n] = size;
		l->mtime[l->n] = mtime;
	}
	l->n++;
	return l->stop_after && l->n >= l->stop_after ? 1 : 0;
}

static void listed_free(struct listed *l)
{
	for (size_t i = 0; i < l->n && i < 32; i++)
		free(l->key[i]);
	memset(l, 0, sizeof(*l));
}

static size_t count_dir(const char *path)
{
	DIR *d = opendir(path);
	size_t n = 0;
	struct dirent *de;
	if (!d)
		return (size_t)-1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static size_t tmp_leftovers(void)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/store/.tmp", tmpdir);
	return count_dir(p);
}

/* ---------- store ---------- */

static void test_open(void)
{
	struct cairn_store *st = NULL;
	struct cairn_err err = {0};
	CHECK("open: file://relative fails",
	      cairn_store_open("file://relative/dir", &st, &err) == -1 && st == NULL);
	CHECK_MSG("open: relative message says absolute", has(err.msg, "absolute path"), "%s",
	          err.msg);
	memset(&err, 0, sizeof(err));
	CHECK("open: ftp:// fails", cairn_store_open("ftp://x", &st, &err) == -1 && st == NULL);
	CHECK_MSG("open: ftp message", has(err.msg, "unsupported URL") && has(err.msg, "ftp://x"),
	          "%s", err.msg);
	memset(&err, 0, sizeof(err));
	CHECK("open: s3:// not available yet",
	      cairn_store_open("s3://bucket/p", &st, &err) == -1 && has(err.msg, "s3://"));
	memset(&err, 0, sizeof(err));
	char *url = xasprintf("file://%s/missing/parent/store", tmpdir);
	CHECK("open: missing parent directory fails",
	      cairn_store_open(url, &st, &err) == -1 && has(err.msg, "cannot create"));
	free(url);
}

static void test_put_get(struct cairn_store *st)
{
	struct cairn_err err = {0};
	const size_t big = 3u << 20;
	unsigned char *data = xcalloc(1, big);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < big; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}

	struct src s = {.p = data, .len = big};
	int rc = cairn_store_put(st, "ws/objects/ab/big", odd_source, &s, 0, &err);
	CHECK_MSG("put: 3 MiB through odd-sized chunks", rc == 0 && s.off == big, "rc=%d %s", rc,
	          err.msg);
	CHECK("put: source called many times", s.calls > 20);

	struct sink k = {0};
	rc = cairn_store_get(st, "ws/objects/ab/big", collect_sink, &k, &err);
	CHECK_MSG("get: round trip succeeds", rc == 0, "rc=%d %s", rc, err.msg);
	CHECK_MSG("get: same bytes back", k.len == big && k.p && !memcmp(k.p, data, big), "len=%zu",
	          k.len);
	CHECK("get: streamed in several chunks", k.calls > 1);
	free(k.p);

	uint64_t size = 0;
	rc = cairn_store_exists(st, "ws/objects/ab/big", &size, &err);
	CHECK_MSG("exists: reports size", rc == 0 && size == big, "rc=%d size=%llu", rc,
	          (unsigned long long)size);
	CHECK("exists: size pointer optional",
	      cairn_store_exists(st, "ws/objects/ab/big", NULL, &err) == 0);

	char p[4200];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/store/ws/objects/ab/big", tmpdir);
	CHECK("put: object at the key's path under the root",
	      stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size == big);
	CHECK("put: object not readable by others", (sb.st_mode & 077) == 0);

	/* A sink that refuses stops the transfer. */
	struct sink bad = {.fail_after = 2};
	memset(&err, 0, sizeof(err));
	rc = cairn_store_get(st, "ws/objects/ab/big", collect_sink, &bad, &err);
	CHECK_MSG("get: sink failure aborts", rc == -1 && has(err.msg, "refused on purpose"),
	          "rc=%d %s", rc, err.msg);
	free(bad.p);

	/* A source that fails leaves nothing behind. */
	struct src f = {.p = data, .len = big, .fail_midway = true};
	memset(&err, 0, sizeof(err));
	rc = cairn_store_put(st, "ws/objects/cd/failed", odd_source, &f, 0, &err);
	CHECK_MSG("put: source failure aborts", rc == -1 && has(err.msg, "failed on purpose"),
	          "rc=%d %s", rc, err.msg);
	CHECK("put: failed put creates no object",
	      cairn_store_exists(st, "ws/objects/cd/failed", NULL, &err) == CAIRN_STORE_NOTFOUND);
	CHECK("put: failed put leaves no temporary file", tmp_leftovers() == 0);
	free(data);

	memset(&err, 0, sizeof(err));
	struct sink none = {0};
	CHECK("get: missing key is NOTFOUND",
	      cairn_store_get(st, "ws/objects/zz/none", collect_sink, &none, &err) ==
	              CAIRN_STORE_NOTFOUND &&
	          none.calls == 0);
	CHECK("get: missing directory is NOTFOUND",
	      cairn_store_get(st, "nope/deeper/none", collect_sink, &none, &err) ==
	          CAIRN_STORE_NOTFOUND);
	CHECK("exists: missing key is NOTFOUND",
	      cairn_store_exists(st, "ws/objects/zz/none", &size, &err) == CAIRN_STORE_NOTFOUND);
	CHECK("exists: a directory is not an object",
	      cairn_store_exists(st, "ws/objects/ab", &size, &err) == CAIRN_STORE_NOTFOUND);
	CHECK("exists: below a regular file is NOTFOUND",
	      cairn_store_exists(st, "ws/objects/ab/big/x", &size, &err) == CAIRN_STORE_NOTFOUND);
	CHECK("get: missing key does not set an error", err.msg[0] == '\0');
}

static void test_if_absent(struct cairn_store *st)
{
	struct cairn_err err = {0};
	char *out = NULL;
	size_t len = 0;
	int rc = cairn_store_put_buf(st, "ws/x/once", "first", 5, CAIRN_PUT_IF_ABSENT, &err);
	CHECK_MSG("if-absent: first put creates", rc == 0, "rc=%d %s", rc, err.msg);
	rc = cairn_store_put_buf(st, "ws/x/once", "second!", 7, CAIRN_PUT_IF_ABSENT, &err);
	CHECK_MSG("if-absent: second put is EXISTS", rc == CAIRN_STORE_EXISTS, "rc=%d %s", rc,
	          err.msg);
	rc = cairn_store_get_buf(st, "ws/x/once", 1024, &out, &len, &err);
	CHECK_MSG("if-absent: first content intact", rc == 0 && len == 5 && !strcmp(out, "first"),
	          "rc=%d len=%zu", rc, len);
	free(out);
	out = NULL;
	CHECK("if-absent: refused put leaves no temporary file", tmp_leftovers() == 0);

	rc = cairn_store_put_buf(st, "ws/x/once", "replaced", 8, 0, &err);
	CHECK_MSG("put: plain put over an existing key succeeds", rc == 0, "rc=%d %s", rc, err.msg);
	rc = cairn_store_get_buf(st, "ws/x/once", 1024, &out, &len, &err);
	CHECK("put: plain put replaces", rc == 0 && len == 8 && !strcmp(out, "replaced"));
	free(out);
	out = NULL;
	rc = cairn_store_put_buf(st, "ws/x/once", "abc", 3, 0, &err);
	rc = rc == 0 ? cairn_store_get_buf(st, "ws/x/once", 1024, &out, &len, &err) : rc;
	CHECK("put: shorter replacement is not a mix", rc == 0 && len == 3 && !strcmp(out, "abc"));
	free(out);
	out = NULL;

	/* Empty objects. */
	rc = cairn_store_put_buf(st, "ws/x/empty", "", 0, 0, &err);
	uint64_t size = 99;
	CHECK("put: empty object",
	      rc == 0 && cairn_store_exists(st, "ws/x/empty", &size, &err) == 0 && size == 0);
	rc = cairn_store_get_buf(st, "ws/x/empty", 16, &out, &len, &err);
	CHECK("get_buf: empty object is an empty string",
	      rc == 0 && out && len == 0 && out[0] == '\0');
	free(out);
	out = NULL;

	/* get_buf bounds. */
	char buf[100];
	memset(buf, 'z', sizeof(buf));
	rc = cairn_store_put_buf(st, "ws/x/hundred", buf, sizeof(buf), 0, &err);
	memset(&err, 0, sizeof(err));
	rc = cairn_store_get_buf(st, "ws/x/hundred", 99, &out, &len, &err);
	CHECK_MSG("get_buf: object larger than max fails", rc == -1 && out == NULL, "rc=%d", rc);
	CHECK_MSG("get_buf: message says larger", has(err.msg, "larger than 99 bytes"), "%s",
	          err.msg);
	memset(&err, 0, sizeof(err));
	rc = cairn_store_get_buf(st, "ws/x/hundred", 100, &out, &len, &err);
	CHECK("get_buf: max equal to the size succeeds", rc == 0 && len == 100 && out[100] == '\0');
	free(out);
	out = NULL;
	rc = cairn_store_get_buf(st, "ws/x/absent", 100, &out, &len, &err);
	CHECK("get_buf: missing key is NOTFOUND", rc == CAIRN_STORE_NOTFOUND && out == NULL);

	/* delete */
	memset(&err, 0, sizeof(err));
	rc = cairn_store_delete(st, "ws/x/once", &err);
	CHECK_MSG("delete: existing key", rc == 0, "rc=%d %s", rc, err.msg);
	CHECK("delete: then exists is NOTFOUND",
	      cairn_store_exists(st, "ws/x/once", &size, &err) == CAIRN_STORE_NOTFOUND);
	CHECK("delete: then get is NOTFOUND",
	      cairn_store_get_buf(st, "ws/x/once", 100, &out, &len, &err) == CAIRN_STORE_NOTFOUND);
	CHECK("delete: twice is NOTFOUND",
	      cairn_store_delete(st, "ws/x/once", &err) == CAIRN_STORE_NOTFOUND);
	rc = cairn_store_put_buf(st, "ws/x/once", "again", 5, CAIRN_PUT_IF_ABSENT, &err);
	CHECK("if-absent: creates again after delete", rc == 0);

	CHECK("put: no .tmp leftovers after successful puts", tmp_leftovers() == 0);
}

static void test_list(struct cairn_store *st)
{
	struct cairn_err err = {0};
	static const char *const keys[] = {"ws/list/b",   "ws/list/c/d", "ws/list/a",
	                                   "ws/list/c/a", "ws/list/ab",  "ws/list/c/e/f"};
	static const char *const sorted[] = {"ws/list/a",   "ws/list/ab",  "ws/list/b",
	                                     "ws/list/c/a", "ws/list/c/d", "ws/list/c/e/f"};
	static const uint64_t sizes[] = {1, 22, 333, 4444, 55, 6};
	const size_t nk = sizeof(keys) / sizeof(keys[0]);
	char buf[5000];
	memset(buf, 'k', sizeof(buf));
	bool ok = true;
	for (size_t i = 0; i < nk; i++) {
		/* The size of sorted[j] is sizes[j]. */
		size_t j = 0;
		while (strcmp(sorted[j], keys[i]))
			j++;
		ok = ok && cairn_store_put_buf(st, keys[i], buf, sizes[j], 0, &err) == 0;
	}
	CHECK_MSG("list: setup puts", ok, "%s", err.msg);
	cairn_store_put_buf(st, "ws/listx", "outside", 7, 0, &err);
	cairn_store_put_buf(st, "ws/lis", "outside", 7, 0, &err);

	struct listed l = {0};
	int rc = cairn_store_list(st, "ws/list/", list_cb, &l, &err);
	CHECK_MSG("list: succeeds", rc == 0, "rc=%d %s", rc, err.msg);
	CHECK_MSG("list: every key under the prefix, nothing else", l.n == nk, "n=%zu", l.n);
	bool order = l.n == nk, sz = l.n == nk, when = l.n == nk;
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; i < nk && i < l.n; i++) {
		/* The storage's clock: the collector compares it with its own lock's. */
		if (l.mtime[i] < now - 300 || l.mtime[i] > now + 300) {
			printf("# list[%zu] written at %lld, now is %lld\n", i,
			       (long long)l.mtime[i], (long long)now);
			when = false;
		}
		if (strcmp(l.key[i], sorted[i])) {
			printf("# list[%zu] = %s, want %s\n", i, l.key[i], sorted[i]);
			order = false;
		}
		if (l.size[i] != sizes[i])
			sz = false;
	}
	CHECK("list: keys in sorted order, full key names", order);
	CHECK("list: sizes reported", sz);
	CHECK("list: the time each key was written is reported", when);
	listed_free(&l);

	rc = cairn_store_list(st, "ws/list", list_cb, &l, &err);
	CHECK("list: prefix without trailing slash is the same",
	      rc == 0 && l.n == nk && !strcmp(l.key[0], "ws/list/a"));
	listed_free(&l);

	rc = cairn_store_list(st, "ws/list/c/", list_cb, &l, &err);
	CHECK("list: nested prefix", rc == 0 && l.n == 3 && !strcmp(l.key[0], "ws/list/c/a") &&
	                                 !strcmp(l.key[2], "ws/list/c/e/f"));
	listed_free(&l);

	rc = cairn_store_list(st, "ws/nothing-here/", list_cb, &l, &err);
	CHECK("list: missing prefix is empty, not an error", rc == 0 && l.n == 0);
	listed_free(&l);

	l.stop_after = 2;
	rc = cairn_store_list(st, "ws/list/", list_cb, &l, &err);
	CHECK_MSG("list: callback can stop the listing", rc == 0 && l.n == 2, "rc=%d n=%zu", rc,
	          l.n);
	listed_free(&l);

	rc = cairn_store_list(st, "", list_cb, &l, &err);
	CHECK("list: empty prefix refused", rc == -1);
	listed_free(&l);
}

static void test_bad_keys(struct cairn_store *st)
{
	static const char *const bad[] = {"../x", "/abs", "a//b", "", "a/../b", "a/.."};
	uint64_t size;
	char *out = NULL;
	size_t len;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[96];
		struct cairn_err err = {0};
		struct sink k = {0};
		struct listed l = {0};
		int g = cairn_store_get(st, bad[i], collect_sink, &k, &err);
		int p = cairn_store_put_buf(st, bad[i], "x", 1, 0, &err);
		int e = cairn_store_exists(st, bad[i], &size, &err);
		int d = cairn_store_delete(st, bad[i], &err);
		int ls = cairn_store_list(st, bad[i], list_cb, &l, &err);
		int gb = cairn_store_get_buf(st, bad[i], 10, &out, &len, &err);
		snprintf(name, sizeof(name), "bad key \"%s\": every operation returns -1", bad[i]);
		CHECK_MSG(name, g == -1 && p == -1 && e == -1 && d == -1 && ls == -1 && gb == -1,
		          "get=%d put=%d exists=%d del=%d list=%d get_buf=%d", g, p, e, d, ls, gb);
		snprintf(name, sizeof(name), "bad key \"%s\": message", bad[i]);
		CHECK_MSG(name, has(err.msg, "invalid storage key"), "%s", err.msg);
		free(k.p);
		listed_free(&l);
	}
	struct cairn_err err = {0};
	CHECK("bad key: NULL refused", cairn_store_exists(st, NULL, &size, &err) == -1);
	char p[4200];
	snprintf(p, sizeof(p), "%s/abs", tmpdir);
	struct stat sb;
	CHECK("bad key: nothing written outside the store", stat(p, &sb) < 0);
}

/* ---------- volumes ---------- */

static void sample_manifest(struct cairn_manifest *m, const char *job, const char *sha)
{
	cairn_manifest_init(m);
	m->job = job ? xstrdup(job) : NULL;
	struct cairn_entry *e = cairn_manifest_add(m, "d", CAIRN_FT_DIR);
	e->mode = 0755;
	e = cairn_manifest_add(m, "d/f", CAIRN_FT_FILE);
	e->mode = 0644;
	e->size = 10;
	e->mtime_ns = 123456789;
	memcpy(e->sha256, sha, CAIRN_SHA256_HEX);
	memcpy(e->md5, MD5_A, CAIRN_MD5_HEX);
	e = cairn_manifest_add(m, "link", CAIRN_FT_SYMLINK);
	e->target = xstrdup("d/f");
	cairn_manifest_sort(m);
}

static void test_keys(void)
{
	char *k = cairn_key_object("ws", SHA_A);
	CHECK_MSG("keys: object", !strcmp(k, "ws/objects/01/" SHA_A), "%s", k);
	free(k);
	k = cairn_key_version("ws", "vol", 7);
	CHECK_MSG("keys: version zero-padded to 10 digits",
	          !strcmp(k, "ws/volumes/vol/versions/0000000007"), "%s", k);
	free(k);
	k = cairn_key_version("ws", "vol", 4294967295u);
	CHECK_MSG("keys: largest version", !strcmp(k, "ws/volumes/vol/versions/4294967295"), "%s",
	          k);
	free(k);
	k = cairn_key_head("ws", "vol");
	CHECK_MSG("keys: head", !strcmp(k, "ws/volumes/vol/head"), "%s", k);
	free(k);
	k = cairn_key_volume_prefix("ws", "vol");
	CHECK_MSG("keys: volume prefix", !strcmp(k, "ws/volumes/vol/"), "%s", k);
	free(k);
}

static void test_volume(struct cairn_store *st)
{
	struct cairn_err err = {0};
	struct cairn_manifest head, m1, m2, m3;
	int exists = -1;
	char *out = NULL;

	int rc = cairn_volume_load_head(st, "ws1", "vol-a", &head, &exists, &err);
	CHECK_MSG("volume: never committed loads", rc == 0, "%s", err.msg);
	CHECK("volume: never committed gives exists=0, version 0, empty",
	      exists == 0 && head.version == 0 && head.n == 0);
	CHECK("volume: never committed names the volume",
	      head.workspace && !strcmp(head.workspace, "ws1") && head.volume &&
	          !strcmp(head.volume, "vol-a"));
	cairn_manifest_free(&head);

	sample_manifest(&m1, "11", SHA_A);
	rc = cairn_volume_commit(st, "ws1", "vol-a", &m1, 0, NULL, &err);
	CHECK_MSG("volume: commit version 1 on base 0", rc == 0, "rc=%d %s", rc, err.msg);
	CHECK("volume: commit sets version, parent and names",
	      m1.version == 1 && m1.parent == 0 && m1.created > 0 && !strcmp(m1.volume, "vol-a") &&
	          !strcmp(m1.workspace, "ws1"));

	char p[4200];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/store/ws1/volumes/vol-a/versions/0000000001", tmpdir);
	CHECK("volume: version 1 at the documented path", stat(p, &sb) == 0 && S_ISREG(sb.st_mode));
	rc = cairn_store_get_buf(st, "ws1/volumes/vol-a/head", 64, &out, NULL, &err);
	CHECK("volume: head hint written", rc == 0 && !strcmp(out, "1\n"));
	free(out);
	out = NULL;

	exists = -1;
	rc = cairn_volume_load_head(st, "ws1", "vol-a", &head, &exists, &err);
	CHECK_MSG("volume: load_head after commit", rc == 0 && exists == 1 && head.version == 1,
	          "rc=%d exists=%d version=%u %s", rc, exists, head.version, err.msg);
	if (rc == 0) {
		CHECK("volume: head content is the commit",
		      cairn_manifest_same_content(&head, &m1));
		CHECK("volume: head metadata", head.job && !strcmp(head.job, "11") &&
		                                   head.parent == 0 && head.created == m1.created);
		cairn_manifest_free(&head);
	}

	/* A second writer that also started from version 0 loses. */
	sample_manifest(&m2, "22", SHA_B);
	memset(&err, 0, sizeof(err));
	rc = cairn_volume_commit(st, "ws1", "vol-a", &m2, 0, NULL, &err);
	CHECK_MSG("volume: second commit on base 0 is EXISTS", rc == CAIRN_STORE_EXISTS, "rc=%d %s",
	          rc, err.msg);
	CHECK_MSG("volume: message mentions the conflict copy",
	          has(err.msg, "conflict copy") && has(err.msg, "0000000001-job22-"), "%s",
	          err.msg);
	struct listed l = {0};
	struct cairn_err lerr = {0};
	rc = cairn_store_list(st, "ws1/volumes/vol-a/conflicts/", list_cb, &l, &lerr);
	CHECK_MSG("volume: one conflict copy stored", rc == 0 && l.n == 1, "rc=%d n=%zu", rc, l.n);
	if (rc == 0 && l.n == 1) {
		static const char cpre[] = "ws1/volumes/vol-a/conflicts/0000000001-job22-";
		CHECK_MSG("volume: conflict copy named after version and job",
		          !strncmp(l.key[0], cpre, strlen(cpre)), "%s", l.key[0]);
		CHECK("volume: message names the stored copy",
		      has(err.msg, strrchr(l.key[0], '/') + 1));
		rc = cairn_store_get_buf(st, l.key[0], CAIRN_MANIFEST_MAX, &out, NULL, &lerr);
		struct cairn_manifest c;
		struct cairn_err perr = {0};
		int prc = rc == 0 ? cairn_manifest_from_json(out, strlen(out), &c, &perr) : -1;
		CHECK_MSG("volume: conflict copy holds the refused manifest",
		          prc == 0 && cairn_manifest_same_content(&c, &m2) && c.job &&
		              !strcmp(c.job, "22"),
		          "%s", perr.msg);
		if (prc == 0)
			cairn_manifest_free(&c);
		free(out);
		out = NULL;
	}
	listed_free(&l);

	memset(&err, 0, sizeof(err));
	rc = cairn_volume_load_head(st, "ws1", "vol-a", &head, &exists, &err);
	CHECK_MSG("volume: head still version 1 after the conflict", rc == 0 && head.version == 1,
	          "rc=%d %s", rc, err.msg);
	if (rc == 0) {
		CHECK("volume: head is the first commit, whole (no mix)",
		      cairn_manifest_same_content(&head, &m1) &&
		          !cairn_manifest_same_content(&head, &m2) && head.job &&
		          !strcmp(head.job, "11"));
		cairn_manifest_free(&head);
	}

	/* Version 2 on top of 1, then a stale hint. */
	sample_manifest(&m3, "33", SHA_B);
	struct cairn_entry *e = cairn_manifest_add(&m3, "d/g", CAIRN_FT_DIR);
	e->mode = 0700;
	cairn_manifest_sort(&m3);
	memset(&err, 0, sizeof(err));
	rc = cairn_volume_commit(st, "ws1", "vol-a", &m3, 1, NULL, &err);
	CHECK_MSG("volume: commit version 2 on base 1",
	          rc == 0 && m3.version == 2 && m3.parent == 1, "rc=%d %s", rc, err.msg);

	rc = cairn_store_put_buf(st, "ws1/volumes/vol-a/head", "0\n", 2, 0, &err);
	rc = rc == 0 ? cairn_volume_load_head(st, "ws1", "vol-a", &head, &exists, &err) : rc;
	CHECK_MSG("volume: stale head hint still loads the newest",
	          rc == 0 && exists == 1 && head.version == 2, "rc=%d version=%u %s", rc,
	          head.version, err.msg);
	if (rc == 0) {
		CHECK("volume: newest content", cairn_manifest_same_content(&head, &m3));
		cairn_manifest_free(&head);
	}

	rc = cairn_store_put_buf(st, "ws1/volumes/vol-a/head", "garbage", 7, 0, &err);
	rc = rc == 0 ? cairn_volume_load_head(st, "ws1", "vol-a", &head, &exists, &err) : rc;
	CHECK("volume: unparsable head hint is ignored", rc == 0 && head.version == 2);
	if (rc == 0)
		cairn_manifest_free(&head);

	rc = cairn_store_delete(st, "ws1/volumes/vol-a/head", &err);
	rc = rc == 0 ? cairn_volume_load_head(st, "ws1", "vol-a", &head, &exists, &err) : rc;
	CHECK("volume: missing head hint still finds the newest", rc == 0 && head.version == 2);
	if (rc == 0)
		cairn_manifest_free(&head);

	rc = cairn_volume_load_version(st, "ws1", "vol-a", 1, &head, &err);
	CHECK("volume: load_version 1",
	      rc == 0 && head.version == 1 && cairn_manifest_same_content(&head, &m1));
	if (rc == 0)
		cairn_manifest_free(&head);
	memset(&err, 0, sizeof(err));
	rc = cairn_volume_load_version(st, "ws1", "vol-a", 5, &head, &err);
	CHECK_MSG("volume: load_version of a missing version is NOTFOUND",
	          rc == CAIRN_STORE_NOTFOUND && err.user &&
	              has(err.msg, "version 5 does not exist"),
	          "rc=%d %s", rc, err.msg);

	/* A version object holding another version number is refused. */
	char *json = cairn_manifest_to_json(&m1, false); /* says version 1 */
	rc = cairn_store_put_buf(st, "ws1/volumes/liar/versions/0000000001", json, strlen(json),
	                         CAIRN_PUT_IF_ABSENT, &err);
	free(json);
	json = NULL;
	cairn_manifest_free(&m1);
	sample_manifest(&m1, NULL, SHA_A);
	m1.version = 9;
	json = cairn_manifest_to_json(&m1, false);
	rc = cairn_store_put_buf(st, "ws1/volumes/liar/versions/0000000002", json, strlen(json),
	                         CAIRN_PUT_IF_ABSENT, &err);
	free(json);
	memset(&err, 0, sizeof(err));
	rc = cairn_volume_load_version(st, "ws1", "liar", 2, &head, &err);
	CHECK_MSG("volume: version object with the wrong number is refused",
	          rc == -1 && has(err.msg, "holds version 9"), "rc=%d %s", rc, err.msg);
	/* The state names version 1's manifest, and that manifest is junk. */
	static const char junk_state[] = "{\"rev\":1,\"epoch\":0,\"version\":1,"
	                                 "\"manifest\":\"ws1/volumes/junk/manifests/1\"}";
	rc = cairn_store_put_buf(st, "ws1/volumes/junk/state/000000000001", junk_state,
	                         strlen(junk_state), CAIRN_PUT_IF_ABSENT, &err);
	rc = cairn_store_put_buf(st, "ws1/volumes/junk/manifests/1", "{not json", 9,
	                         CAIRN_PUT_IF_ABSENT, &err);
	memset(&err, 0, sizeof(err));
	rc = cairn_volume_load_head(st, "ws1", "junk", &head, &exists, &err);
	CHECK_MSG("volume: unreadable version is an error", rc == -1 && has(err.msg, "unreadable"),
	          "rc=%d %s", rc, err.msg);

	cairn_manifest_free(&m1);
	cairn_manifest_free(&m2);
	cairn_manifest_free(&m3);
}

static void test_volume_list(struct cairn_store *st)
{
	struct cairn_err err = {0};
	static const char *const vols[] = {"zeta", "alpha", "mid-1", "mid", "b.c"};
	bool ok = true;
	for (size_t i = 0; i < sizeof(vols) / sizeof(vols[0]); i++) {
		struct cairn_manifest m;
		sample_manifest(&m, "1", SHA_A);
		ok = ok && cairn_volume_commit(st, "ws2", vols[i], &m, 0, NULL, &err) == 0;
		cairn_manifest_free(&m);
		if (i == 0) { /* a second version must not list the volume twice */
			sample_manifest(&m, "2", SHA_B);
			ok = ok && cairn_volume_commit(st, "ws2", vols[i], &m, 1, NULL, &err) == 0;
			cairn_manifest_free(&m);
		}
	}
	CHECK_MSG("volume list: setup commits", ok, "%s", err.msg);
	/* A directory with only a head hint is not a volume. */
	cairn_store_put_buf(st, "ws2/volumes/headonly/head", "3\n", 2, 0, &err);

	char **names = NULL;
	size_t n = 0;
	int rc = cairn_volume_list(st, "ws2", &names, &n, &err);
	static const char *const want[] = {"alpha", "b.c", "mid", "mid-1", "zeta"};
	bool same = rc == 0 && n == 5;
	for (size_t i = 0; same && i < n; i++)
		same = !strcmp(names[i], want[i]);
	CHECK_MSG("volume list: names sorted, each once", same, "rc=%d n=%zu first=%s", rc, n,
	          n ? names[0] : "-");
	cairn_strv_free(names, n);

	names = NULL;
	n = 99;
	rc = cairn_volume_list(st, "no-such-ws", &names, &n, &err);
	CHECK("volume list: unknown workspace is empty", rc == 0 && n == 0);
	cairn_strv_free(names, n);

	/* ws1 from test_volume: vol-a, liar and junk have versions. */
	names = NULL;
	rc = cairn_volume_list(st, "ws1", &names, &n, &err);
	CHECK("volume list: other workspace", rc == 0 && n == 3 && !strcmp(names[0], "junk") &&
	                                          !strcmp(names[1], "liar") &&
	                                          !strcmp(names[2], "vol-a"));
	cairn_strv_free(names, n);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	unsetenv("CAIRN_FAULT_PUT_ABORT_AFTER");
	snprintf(tmpdir, sizeof(tmpdir), "%s/cairn-test-store-XXXXXX",
	         base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	test_open();
	test_keys();

	struct cairn_store *st = NULL;
	struct cairn_err err = {0};
	char *url = xasprintf("file://%s/store", tmpdir);
	int rc = cairn_store_open(url, &st, &err);
	CHECK_MSG("open: file:// store in a fresh directory", rc == 0 && st, "%s", err.msg);
	if (rc == 0) {
		char p[4200];
		struct stat sb;
		snprintf(p, sizeof(p), "%s/store", tmpdir);
		CHECK("open: store root is private", stat(p, &sb) == 0 && (sb.st_mode & 077) == 0);
		CHECK("open: url kept", st->url && !strcmp(st->url, url));
		test_put_get(st);
		test_if_absent(st);
		test_list(st);
		test_bad_keys(st);
		test_volume(st);
		test_volume_list(st);
		CHECK("end: no .tmp leftovers", tmp_leftovers() == 0);
		cairn_store_close(st);

		/* Reopening an existing store works and sees the data. */
		st = NULL;
		rc = cairn_store_open(url, &st, &err);
		uint64_t size = 0;
		CHECK("open: reopen sees earlier objects",
		      rc == 0 && cairn_store_exists(st, "ws/x/hundred", &size, &err) == 0 &&
		          size == 100);
		if (rc == 0)
			cairn_store_close(st);
	}
	free(url);
	cairn_store_close(NULL);

	if (rm_rf(tmpdir) < 0)
		perror("rm_rf");
	TAP_DONE();
}
