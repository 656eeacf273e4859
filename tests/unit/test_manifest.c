/* Unit tests for common/manifest.c and manifest_bin.c: JSON and compact round trips, sort order,
 * lookup, content comparison, setuid/setgid stripping, counters, path and symlink target
 * validation, and a table of malformed manifests that must be refused. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define SHA_C "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define MD5_A "0123456789abcdef0123456789abcdef"
#define MD5_B "fedcba9876543210fedcba9876543210"

static void set_file(struct cairn_entry *e, unsigned mode, uint64_t size, int64_t mtime,
                     const char *sha, const char *md5)
{
	e->mode = mode;
	e->size = size;
	e->mtime_ns = mtime;
	memcpy(e->sha256, sha, CAIRN_SHA256_HEX);
	memcpy(e->md5, md5, CAIRN_MD5_HEX);
}

/* A manifest with every kind of entry, added out of order on purpose. */
static void build_sample(struct cairn_manifest *m)
{
	struct cairn_entry *e;
	cairn_manifest_init(m);
	m->version = 7;
	m->parent = 6;
	m->workspace = xstrdup("proj");
	m->volume = xstrdup("agent-state");
	m->created = 1700000000;
	m->job = xstrdup("4242");
	m->user = xstrdup("alice");
	m->host = xstrdup("node01");

	e = cairn_manifest_add(m, "a-b", CAIRN_FT_FILE);
	set_file(e, 0600, 3, 1000000001, SHA_A, MD5_A);
	e->ino = 11;
	e->ctime_ns = 111;
	e = cairn_manifest_add(m, "b/x/y", CAIRN_FT_FILE);
	set_file(e, 0755, 5ULL << 30, -5, SHA_B, MD5_B); /* > 4 GiB, negative mtime */
	e->ino = 12;
	e->ctime_ns = 112;
	e = cairn_manifest_add(m, "a/c", CAIRN_FT_SYMLINK);
	e->target = xstrdup("../b/x/y");
	e->mtime_ns = 77;
	e->ino = 13;
	e->ctime_ns = 113;
	e = cairn_manifest_add(m, "a", CAIRN_FT_DIR);
	e->mode = 0700;
	e->mtime_ns = 1;
	e->ino = 14;
	e->ctime_ns = 114;
	e = cairn_manifest_add(m, "b/x", CAIRN_FT_DIR);
	e->mode = 0755;
	e->ino = 15;
	e = cairn_manifest_add(m, "a/b", CAIRN_FT_FILE);
	set_file(e, 0644, 0, 0, SHA_C, MD5_A);
	e->ino = 16;
	e = cairn_manifest_add(m, "b", CAIRN_FT_DIR);
	e->mode = 01777; /* sticky bit is kept */
	e->ino = 17;
	e = cairn_manifest_add(m, "a.b", CAIRN_FT_FILE);
	set_file(e, 0444, 12, 3, SHA_A, MD5_B);
	e->ino = 18;
	e = cairn_manifest_add(m, "b/x/\"q\" \xc3\xa9\n",
	                       CAIRN_FT_FILE); /* quote, UTF-8, newline */
	set_file(e, 0640, 1, 2, SHA_B, MD5_A);
	e->ino = 19;
}

static const char *const sorted_paths[] = {
    "a", "a/b", "a/c", "a-b", "a.b", "b", "b/x", "b/x/\"q\" \xc3\xa9\n", "b/x/y",
};
#define NSORTED (sizeof(sorted_paths) / sizeof(sorted_paths[0]))

static bool order_is(const struct cairn_manifest *m, const char *const *want, size_t n)
{
	if (m->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(m->e[i].path, want[i]))
			return false;
	return true;
}

static bool entry_equal(const struct cairn_entry *a, const struct cairn_entry *b, bool local)
{
	if (strcmp(a->path, b->path) || a->type != b->type || a->mtime_ns != b->mtime_ns)
		return false;
	if (a->type != CAIRN_FT_SYMLINK && a->mode != b->mode)
		return false;
	if (a->type == CAIRN_FT_FILE &&
	    (a->size != b->size || strcmp(a->sha256, b->sha256) || strcmp(a->md5, b->md5)))
		return false;
	if (a->type == CAIRN_FT_SYMLINK &&
	    (!a->target || !b->target || strcmp(a->target, b->target)))
		return false;
	if (local && (a->ino != b->ino || a->ctime_ns != b->ctime_ns))
		return false;
	if (!local && (b->ino != 0 || b->ctime_ns != 0))
		return false;
	return true;
}

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static void test_sort_and_find(void)
{
	struct cairn_manifest m;
	build_sample(&m);
	cairn_manifest_sort(&m);
	CHECK("sort: parents before children, '/' before other bytes",
	      order_is(&m, sorted_paths, NSORTED));
	CHECK("sort: a/b precedes a-b (plain strcmp would not)",
	      m.n > 3 && !strcmp(m.e[1].path, "a/b") && !strcmp(m.e[3].path, "a-b"));

	struct cairn_entry *e = cairn_manifest_find(&m, "a/c");
	CHECK("find: symlink found",
	      e && e->type == CAIRN_FT_SYMLINK && streq(e->target, "../b/x/y"));
	e = cairn_manifest_find(&m, "a-b");
	CHECK("find: a-b found", e && e->type == CAIRN_FT_FILE && e->size == 3);
	e = cairn_manifest_find(&m, "a");
	CHECK("find: first entry", e == &m.e[0]);
	e = cairn_manifest_find(&m, "b/x/y");
	CHECK("find: last entry", e == &m.e[m.n - 1]);
	CHECK("find: missing path", cairn_manifest_find(&m, "zz") == NULL);
	CHECK("find: missing middle path", cairn_manifest_find(&m, "a/bb") == NULL);
	CHECK("find: trailing slash is not the dir", cairn_manifest_find(&m, "a/") == NULL);
	CHECK("find: empty string", cairn_manifest_find(&m, "") == NULL);

	/* Not tested: find on an empty manifest (n == 0, e == NULL) passes NULL to
	 * bsearch(), which UBSan reports; see the report of this test's author. */
	struct cairn_manifest one;
	cairn_manifest_init(&one);
	cairn_manifest_add(&one, "only", CAIRN_FT_DIR);
	cairn_manifest_sort(&one);
	CHECK("find: single-entry manifest hit", cairn_manifest_find(&one, "only") == &one.e[0]);
	CHECK("find: single-entry manifest miss",
	      cairn_manifest_find(&one, "a") == NULL && cairn_manifest_find(&one, "zz") == NULL);
	cairn_manifest_free(&one);

	cairn_manifest_free(&m);
	CHECK("free: zeroes the manifest", m.n == 0 && m.e == NULL && m.workspace == NULL);
}

static void round_trip(bool with_local)
{
	const char *tag = with_local ? "with_local" : "committed";
	char name[128];
	struct cairn_manifest m, back;
	struct cairn_err err = {0};
	build_sample(&m);
	cairn_manifest_sort(&m);

	char *json = cairn_manifest_to_json(&m, with_local);
	snprintf(name, sizeof(name), "round trip %s: encodes", tag);
	CHECK(name, json != NULL);
	if (!json) {
		cairn_manifest_free(&m);
		return;
	}
	snprintf(name, sizeof(name), "round trip %s: ino present iff with_local", tag);
	CHECK(name, (strstr(json, "\"ino\"") != NULL) == with_local &&
	                (strstr(json, "\"ctime_ns\"") != NULL) == with_local);

	int rc = cairn_manifest_from_json(json, strlen(json), &back, &err);
	snprintf(name, sizeof(name), "round trip %s: parses", tag);
	CHECK_MSG(name, rc == 0, "%s", err.msg);
	if (rc == 0) {
		snprintf(name, sizeof(name), "round trip %s: header fields", tag);
		CHECK(name, back.version == 7 && back.parent == 6 && back.created == 1700000000 &&
		                streq(back.workspace, "proj") &&
		                streq(back.volume, "agent-state") && streq(back.job, "4242") &&
		                streq(back.user, "alice") && streq(back.host, "node01"));
		snprintf(name, sizeof(name), "round trip %s: entries sorted", tag);
		CHECK(name, order_is(&back, sorted_paths, NSORTED));
		bool all = back.n == m.n;
		for (size_t i = 0; all && i < m.n; i++)
			all = entry_equal(&m.e[i], &back.e[i], with_local);
		snprintf(name, sizeof(name), "round trip %s: every entry field", tag);
		CHECK(name, all);
		snprintf(name, sizeof(name), "round trip %s: same content", tag);
		CHECK(name, cairn_manifest_same_content(&m, &back));
		snprintf(name, sizeof(name), "round trip %s: sticky bit kept", tag);
		struct cairn_entry *b = cairn_manifest_find(&back, "b");
		CHECK(name, b && b->type == CAIRN_FT_DIR && b->mode == 01777);
		snprintf(name, sizeof(name), "round trip %s: 64-bit size", tag);
		struct cairn_entry *y = cairn_manifest_find(&back, "b/x/y");
		CHECK(name, y && y->size == (5ULL << 30) && y->mtime_ns == -5);

		/* Encoding the parsed manifest again gives the same document. */
		char *again = cairn_manifest_to_json(&back, with_local);
		snprintf(name, sizeof(name), "round trip %s: re-encoding is stable", tag);
		CHECK(name, again && !strcmp(again, json));
		free(again);
		cairn_manifest_free(&back);
	}
	free(json);
	cairn_manifest_free(&m);
}

static void test_empty_manifest(void)
{
	struct cairn_manifest m, back;
	struct cairn_err err = {0};
	cairn_manifest_init(&m);
	char *json = cairn_manifest_to_json(&m, false);
	int rc = json ? cairn_manifest_from_json(json, strlen(json), &back, &err) : -1;
	CHECK_MSG("empty manifest: round trip", rc == 0, "%s", err.msg);
	if (rc == 0) {
		CHECK("empty manifest: no entries, version 0", back.n == 0 && back.version == 0);
		CHECK("empty manifest: optional strings absent",
		      back.workspace == NULL && back.job == NULL);
		CHECK("empty manifest: same content as empty",
		      cairn_manifest_same_content(&m, &back));
		CHECK("empty manifest: counters zero",
		      cairn_manifest_bytes(&back) == 0 && cairn_manifest_files(&back) == 0);
		cairn_manifest_free(&back);
	}
	free(json);
	cairn_manifest_free(&m);

	/* The minimal hand-written document. */
	static const char minimal[] = "{\"format\":1,\"version\":0,\"files\":[]}";
	memset(&err, 0, sizeof(err));
	rc = cairn_manifest_from_json(minimal, strlen(minimal), &back, &err);
	CHECK_MSG("minimal document accepted", rc == 0 && back.n == 0, "%s", err.msg);
	if (rc == 0)
		cairn_manifest_free(&back);

	/* Defaults of optional entry fields; unknown keys are ignored. */
	static const char defaults[] =
	    "{\"format\":1,\"version\":3,\"extra\":{\"x\":1},\"files\":["
	    "{\"path\":\"d\",\"type\":\"dir\"},"
	    "{\"path\":\"d/f\",\"type\":\"file\",\"size\":9,\"sha256\":\"" SHA_A
	    "\",\"md5\":\"" MD5_A "\",\"future\":true},"
	    "{\"path\":\"l\",\"type\":\"symlink\",\"target\":\"/etc/passwd\"}]}";
	memset(&err, 0, sizeof(err));
	rc = cairn_manifest_from_json(defaults, strlen(defaults), &back, &err);
	CHECK_MSG("defaults: accepted", rc == 0, "%s", err.msg);
	if (rc == 0) {
		struct cairn_entry *f = cairn_manifest_find(&back, "d/f");
		CHECK("defaults: file mode 0644, mtime 0",
		      f && f->mode == 0644 && f->mtime_ns == 0 && f->size == 9);
		struct cairn_entry *l = cairn_manifest_find(&back, "l");
		CHECK("defaults: absolute symlink target allowed",
		      l && l->type == CAIRN_FT_SYMLINK && streq(l->target, "/etc/passwd"));
		CHECK("defaults: parent defaults to 0", back.parent == 0 && back.version == 3);
		cairn_manifest_free(&back);
	}
}

/* Format 2 is JSON lines: a header with the entry count, then an entry a line. */
static void test_json_lines(void)
{
	struct cairn_manifest m, back;
	struct cairn_err err = {0};
	cairn_manifest_init(&m);
	m.version = 4;
	cairn_manifest_add(&m, "d", CAIRN_FT_DIR)->mode = 0755;
	struct cairn_entry *f = cairn_manifest_add(&m, "d/f", CAIRN_FT_FILE);
	f->size = 3;
	memset(f->sha256, 'a', 64);
	memset(f->md5, 'b', 32);
	cairn_manifest_sort(&m);
	char *text = cairn_manifest_to_json(&m, false);
	size_t lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	CHECK("lines: a header and one line per entry", lines == 3);
	CHECK("lines: the header says format 2 and the count",
	      has(text, "\"format\":2") && has(text, "\"entries\":2"));
	CHECK("lines: round trip", cairn_manifest_from_json(text, strlen(text), &back, &err) == 0 &&
	                               back.n == 2 && back.version == 4 &&
	                               !strcmp(back.e[1].path, "d/f") && back.e[1].size == 3);
	CHECK("lines: a file of its own has no pack", back.n == 2 && back.e[1].pack[0] == '\0');
	cairn_manifest_free(&back);

	/* A small file's place in a pack survives the round trip. */
	memset(m.e[1].pack, 'c', 64);
	m.e[1].offset = 12345;
	char *packed = cairn_manifest_to_json(&m, false);
	err = (struct cairn_err){0};
	CHECK("lines: pack and offset round trip",
	      cairn_manifest_from_json(packed, strlen(packed), &back, &err) == 0 && back.n == 2 &&
	          back.e[1].pack[0] == 'c' && back.e[1].pack[63] == 'c' &&
	          back.e[1].offset == 12345);
	cairn_manifest_free(&back);
	char *badpack = xstrdup(packed);
	char *pp = strstr(badpack, "\"pack\":\"c");
	if (pp)
		pp[8] = 'X';
	err = (struct cairn_err){0};
	CHECK("lines: a malformed pack is refused",
	      pp && cairn_manifest_from_json(badpack, strlen(badpack), &back, &err) < 0 &&
	          has(err.msg, "malformed pack"));
	free(badpack);
	free(packed);
	memset(m.e[1].pack, 0, sizeof(m.e[1].pack));

	/* A manifest cut after a line is refused, not read as a smaller volume. */
	char *cut = strdup(text);
	char *last = strrchr(cut, '\n');
	*last = '\0';
	last = strrchr(cut, '\n');
	last[1] = '\0';
	err = (struct cairn_err){0};
	CHECK("lines: a truncated manifest is refused",
	      cairn_manifest_from_json(cut, strlen(cut), &back, &err) < 0 &&
	          has(err.msg, "truncated"));
	free(cut);

	char *bad = xasprintf("%.*s{\"path\":\n", (int)(strchr(text, '\n') - text + 1), text);
	err = (struct cairn_err){0};
	CHECK("lines: a broken line is refused with its number",
	      cairn_manifest_from_json(bad, strlen(bad), &back, &err) < 0 &&
	          has(err.msg, "invalid JSON at line 2"));
	free(bad);
	free(text);
	cairn_manifest_free(&m);
}

static void test_setid_stripped(void)
{
	static const char doc[] =
	    "{\"format\":1,\"version\":1,\"files\":["
	    "{\"path\":\"d\",\"type\":\"dir\",\"mode\":1517},"                 /* 02755 */
	    "{\"path\":\"d/suid\",\"type\":\"file\",\"mode\":2541,\"size\":1," /* 04755 */
	    "\"sha256\":\"" SHA_A "\",\"md5\":\"" MD5_A "\"},"
	    "{\"path\":\"d/sgid\",\"type\":\"file\",\"mode\":1517,\"size\":2," /* 02755 */
	    "\"sha256\":\"" SHA_B "\",\"md5\":\"" MD5_B "\"},"
	    "{\"path\":\"d/both\",\"type\":\"file\",\"mode\":4095,\"size\":4," /* 07777 */
	    "\"sha256\":\"" SHA_C "\",\"md5\":\"" MD5_B "\"},"
	    "{\"path\":\"d/ln\",\"type\":\"symlink\",\"target\":\"suid\"},"
	    "{\"path\":\"t\",\"type\":\"dir\",\"mode\":1023}]}"; /* 01777 */
	struct cairn_manifest m;
	struct cairn_err err = {0};
	int rc = cairn_manifest_from_json(doc, strlen(doc), &m, &err);
	CHECK_MSG("setid: document parses", rc == 0, "%s", err.msg);
	if (rc < 0)
		return;
	struct cairn_entry *e = cairn_manifest_find(&m, "d/suid");
	CHECK_MSG("setid: 04755 -> 0755", e && e->mode == 0755, "mode %o", e ? e->mode : 0);
	e = cairn_manifest_find(&m, "d/sgid");
	CHECK_MSG("setid: 02755 -> 0755", e && e->mode == 0755, "mode %o", e ? e->mode : 0);
	e = cairn_manifest_find(&m, "d/both");
	CHECK_MSG("setid: 07777 -> 01777", e && e->mode == 01777, "mode %o", e ? e->mode : 0);
	e = cairn_manifest_find(&m, "d");
	CHECK_MSG("setid: setgid dir 02755 -> 0755", e && e->mode == 0755, "mode %o",
	          e ? e->mode : 0);
	e = cairn_manifest_find(&m, "t");
	CHECK_MSG("setid: sticky dir kept", e && e->mode == 01777, "mode %o", e ? e->mode : 0);

	CHECK_MSG("counters: bytes of files only", cairn_manifest_bytes(&m) == 7, "%llu",
	          (unsigned long long)cairn_manifest_bytes(&m));
	CHECK_MSG("counters: files and symlinks, not dirs", cairn_manifest_files(&m) == 4, "%zu",
	          cairn_manifest_files(&m));
	cairn_manifest_free(&m);

	struct cairn_manifest s;
	build_sample(&s);
	CHECK_MSG("counters: sample bytes",
	          cairn_manifest_bytes(&s) == 3 + (5ULL << 30) + 0 + 12 + 1, "%llu",
	          (unsigned long long)cairn_manifest_bytes(&s));
	CHECK_MSG("counters: sample files", cairn_manifest_files(&s) == 6, "%zu",
	          cairn_manifest_files(&s));
	cairn_manifest_free(&s);
}

static void test_same_content(void)
{
	struct cairn_manifest a, b;
	build_sample(&a);
	build_sample(&b);
	cairn_manifest_sort(&a);
	cairn_manifest_sort(&b);
	CHECK("same content: identical manifests", cairn_manifest_same_content(&a, &b));

	b.version = 99;
	free(b.job);
	b.job = xstrdup("other");
	b.created = 1;
	b.e[0].ino = 999; /* node-local fields do not count */
	CHECK("same content: header and local fields ignored", cairn_manifest_same_content(&a, &b));

	struct cairn_entry *f = cairn_manifest_find(&b, "a-b");
	struct cairn_entry *d = cairn_manifest_find(&b, "a");
	struct cairn_entry *l = cairn_manifest_find(&b, "a/c");
	if (!f || !d || !l) {
		CHECK("same content: sample entries present", false);
		cairn_manifest_free(&a);
		cairn_manifest_free(&b);
		return;
	}

	f->sha256[10] = f->sha256[10] == '0' ? '1' : '0';
	CHECK("same content: digest differs", !cairn_manifest_same_content(&a, &b));
	CHECK("same content: symmetric", !cairn_manifest_same_content(&b, &a));
	memcpy(f->sha256, SHA_A, CAIRN_SHA256_HEX);
	CHECK("same content: digest restored", cairn_manifest_same_content(&a, &b));

	f->mode = 0644;
	CHECK("same content: file mode differs", !cairn_manifest_same_content(&a, &b));
	f->mode = 0600;

	f->mtime_ns++;
	CHECK("same content: file mtime differs", !cairn_manifest_same_content(&a, &b));
	f->mtime_ns--;

	f->size++;
	CHECK("same content: file size differs", !cairn_manifest_same_content(&a, &b));
	f->size--;

	d->mode = 0755;
	CHECK("same content: dir mode differs", !cairn_manifest_same_content(&a, &b));
	d->mode = 0700;

	free(l->target);
	l->target = xstrdup("../b/x/z");
	CHECK("same content: symlink target differs", !cairn_manifest_same_content(&a, &b));
	free(l->target);
	l->target = xstrdup("../b/x/y");

	f->type = CAIRN_FT_DIR;
	CHECK("same content: type differs", !cairn_manifest_same_content(&a, &b));
	f->type = CAIRN_FT_FILE;
	CHECK("same content: all restored", cairn_manifest_same_content(&a, &b));

	struct cairn_entry *x = cairn_manifest_add(&b, "a/zz", CAIRN_FT_FILE);
	set_file(x, 0644, 1, 1, SHA_A, MD5_A);
	cairn_manifest_sort(&b);
	CHECK("same content: extra entry", !cairn_manifest_same_content(&a, &b));
	CHECK("same content: missing entry", !cairn_manifest_same_content(&b, &a));

	cairn_manifest_free(&a);
	cairn_manifest_free(&b);

	/* Same number of entries but a renamed one. */
	build_sample(&a);
	build_sample(&b);
	free(b.e[0].path);
	b.e[0].path = xstrdup("a-c");
	cairn_manifest_sort(&a);
	cairn_manifest_sort(&b);
	CHECK("same content: renamed entry", !cairn_manifest_same_content(&a, &b));
	cairn_manifest_free(&a);
	cairn_manifest_free(&b);
}

static char *repeat(char c, size_t n)
{
	char *s = xcalloc(1, n + 1);
	memset(s, c, n);
	return s;
}

/* n bytes of a path made of 200-byte components. */
static char *long_path(size_t n)
{
	char *s = repeat('p', n);
	for (size_t i = 200; i < n - 1; i += 201)
		s[i] = '/';
	return s;
}

static void test_relpath_check(void)
{
	char why[256];
	static const char *const good[] = {
	    "a",   "a/b",     ".hidden",           "a/.b", "..a",  "a..", "...", "a/..b/c",
	    "a b", "x-y_z.1", "\xc3\xa9t\xc3\xa9", "a\\b", "a\nb",
	};
	static const char *const bad[] = {
	    "",     "/",     "/a",     ".",    "..", "./a", "../a", "a/.",
	    "a/..", "a/./b", "a/../b", "a//b", "a/", "//",  "a/b/",
	};
	bool all = true;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (cairn_relpath_check(good[i], why, sizeof(why)) != 0) {
			printf("# relpath \"%s\" refused: %s\n", good[i], why);
			all = false;
		}
	}
	CHECK("relpath: ordinary paths accepted", all);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[96];
		why[0] = '\0';
		snprintf(name, sizeof(name), "relpath: \"%s\" refused with a reason", bad[i]);
		CHECK(name, cairn_relpath_check(bad[i], why, sizeof(why)) == -1 && why[0]);
	}
	CHECK("relpath: absolute reason",
	      cairn_relpath_check("/etc", why, sizeof(why)) == -1 && strstr(why, "absolute"));
	CHECK("relpath: trailing slash reason",
	      cairn_relpath_check("a/b/", why, sizeof(why)) == -1 && strstr(why, "ends with '/'"));

	char *c255 = repeat('c', 255), *c256 = repeat('c', 256);
	char *p255 = xasprintf("d/%s/e", c255), *p256 = xasprintf("d/%s/e", c256);
	CHECK("relpath: 255-byte component accepted",
	      cairn_relpath_check(c255, why, sizeof(why)) == 0);
	CHECK("relpath: 256-byte component refused",
	      cairn_relpath_check(c256, why, sizeof(why)) == -1 && strstr(why, "over-long"));
	CHECK("relpath: 255-byte middle component accepted",
	      cairn_relpath_check(p255, why, sizeof(why)) == 0);
	CHECK("relpath: 256-byte middle component refused",
	      cairn_relpath_check(p256, why, sizeof(why)) == -1);
	free(c255);
	free(c256);
	free(p255);
	free(p256);

	char *l4095 = long_path(4095), *l4096 = long_path(4096);
	CHECK_MSG("relpath: 4095-byte path accepted",
	          cairn_relpath_check(l4095, why, sizeof(why)) == 0, "%s", why);
	CHECK("relpath: 4096-byte path refused",
	      cairn_relpath_check(l4096, why, sizeof(why)) == -1 && strstr(why, "4095"));
	free(l4095);
	free(l4096);

	char tiny[8];
	CHECK("relpath: small why buffer is truncated safely",
	      cairn_relpath_check("/x", tiny, sizeof(tiny)) == -1 && strlen(tiny) < sizeof(tiny));
}

static void test_symlink_target_check(void)
{
	char why[256];
	CHECK("target: relative accepted",
	      cairn_symlink_target_check("x", 1, why, sizeof(why)) == 0);
	CHECK("target: absolute accepted",
	      cairn_symlink_target_check("/etc/passwd", 11, why, sizeof(why)) == 0);
	CHECK("target: dot-dot accepted",
	      cairn_symlink_target_check("../../up", 8, why, sizeof(why)) == 0);
	why[0] = '\0';
	CHECK("target: NULL refused",
	      cairn_symlink_target_check(NULL, 0, why, sizeof(why)) == -1 && why[0]);
	CHECK("target: empty refused", cairn_symlink_target_check("", 0, why, sizeof(why)) == -1);
	CHECK("target: embedded NUL refused",
	      cairn_symlink_target_check("a\0b", 3, why, sizeof(why)) == -1 && strstr(why, "NUL"));
	char *t4095 = repeat('t', 4095), *t4096 = repeat('t', 4096);
	CHECK("target: 4095 bytes accepted",
	      cairn_symlink_target_check(t4095, 4095, why, sizeof(why)) == 0);
	CHECK("target: 4096 bytes refused",
	      cairn_symlink_target_check(t4096, 4096, why, sizeof(why)) == -1);
	free(t4095);
	free(t4096);
}

/* ---------- malformed manifests ---------- */

#define HDR "{\"format\":1,\"version\":1,\"files\":["
#define FTR "]}"
#define FILE_OK(p)                                                                                 \
	"{\"path\":\"" p "\",\"type\":\"file\",\"size\":1,\"sha256\":\"" SHA_A                     \
	"\",\"md5\":\"" MD5_A "\"}"
#define DIR_OK(p) "{\"path\":\"" p "\",\"type\":\"dir\"}"

struct bad_doc {
	const char *what;
	const char *doc; /* NULL: built by the test */
	const char *expect;
};

static const struct bad_doc bad_docs[] = {
    {"invalid JSON", "{\"format\":1,", "invalid JSON"},
    {"empty document", "", "invalid JSON"},
    {"trailing garbage", "{\"format\":1,\"version\":1,\"files\":[]} x", "invalid JSON"},
    {"not an object (array)", "[1,2]", "not a JSON object"},
    {"not an object or array (string)", "\"manifest\"", "invalid JSON"},
    {"missing format", "{\"version\":1,\"files\":[]}", "missing \"format\""},
    {"format 2", "{\"format\":2,\"version\":1,\"files\":[]}", "\"format\" must be an integer"},
    {"format 0", "{\"format\":0,\"version\":1,\"files\":[]}", "\"format\" must be an integer"},
    {"format is a string", "{\"format\":\"1\",\"version\":1,\"files\":[]}",
     "\"format\" must be an integer"},
    {"missing version", "{\"format\":1,\"files\":[]}", "missing \"version\""},
    {"version negative", "{\"format\":1,\"version\":-1,\"files\":[]}",
     "\"version\" must be an integer"},
    {"version too large", "{\"format\":1,\"version\":4294967296,\"files\":[]}",
     "\"version\" must be an integer"},
    {"version is a float", "{\"format\":1,\"version\":1.5,\"files\":[]}",
     "\"version\" must be an integer"},
    {"parent negative", "{\"format\":1,\"version\":1,\"parent\":-1,\"files\":[]}",
     "\"parent\" must be an integer"},
    {"created negative", "{\"format\":1,\"version\":1,\"created\":-5,\"files\":[]}",
     "\"created\" must be an integer"},
    {"workspace not a string", "{\"format\":1,\"version\":1,\"workspace\":7,\"files\":[]}",
     "\"workspace\" must be a string"},
    {"user not a string", "{\"format\":1,\"version\":1,\"user\":null,\"files\":[]}",
     "\"user\" must be a string"},
    {"files missing", "{\"format\":1,\"version\":1}", "\"files\" must be an array"},
    {"files not an array", "{\"format\":1,\"version\":1,\"files\":{}}",
     "\"files\" must be an array"},
    {"entry not an object", HDR "\"a\"" FTR, "is not an object"},
    {"entry is null", HDR "null" FTR, "is not an object"},
    {"missing path", HDR "{\"type\":\"dir\"}" FTR, "missing \"path\""},
    {"path not a string", HDR "{\"path\":5,\"type\":\"dir\"}" FTR, "\"path\" must be a string"},
    {"missing type", HDR "{\"path\":\"a\"}" FTR, "missing \"type\""},
    {"type not a string", HDR "{\"path\":\"a\",\"type\":1}" FTR, "\"type\" must be a string"},
    {"empty path", HDR DIR_OK("") FTR, "path is empty"},
    {"path absolute", HDR DIR_OK("/etc") FTR, "is absolute"},
    {"path with ..", HDR DIR_OK("a") "," DIR_OK("a/../b") FTR, "has an empty"},
    {"path is ..", HDR DIR_OK("..") FTR, "has an empty"},
    {"path with .", HDR DIR_OK("a") "," DIR_OK("a/./b") FTR, "has an empty"},
    {"path is .", HDR DIR_OK(".") FTR, "has an empty"},
    {"path with empty component", HDR DIR_OK("a") "," DIR_OK("a//b") FTR, "has an empty"},
    {"path with trailing slash", HDR DIR_OK("a/") FTR, "ends with '/'"},
    {"component over 255 bytes", NULL, "over-long component"},
    {"path over 4095 bytes", NULL, "longer than 4095 bytes"},
    {"path far over the limit", NULL, "\"path\" must be a string"},
    {"path with embedded NUL", HDR DIR_OK("a\\u0000b") FTR, "invalid JSON"},
    {"unknown type", HDR "{\"path\":\"a\",\"type\":\"fifo\"}" FTR, "unknown type \"fifo\""},
    {"type with different case", HDR "{\"path\":\"a\",\"type\":\"File\"}" FTR, "unknown type"},
    {"file without sha256",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"md5\":\"" MD5_A "\"}" FTR,
     "missing \"sha256\""},
    {"file without md5",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":\"" SHA_A "\"}" FTR,
     "missing \"md5\""},
    {"file without size",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"sha256\":\"" SHA_A "\",\"md5\":\"" MD5_A "\"}" FTR,
     "missing \"size\""},
    {"sha256 uppercase",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":"
         "\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\",\"md5\":\"" MD5_A
         "\"}" FTR,
     "malformed digest"},
    {"sha256 short",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":\"0123abcd\",\"md5\":\"" MD5_A
         "\"}" FTR,
     "malformed digest"},
    {"sha256 one byte long",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":\"" SHA_A "0\",\"md5\":\"" MD5_A
         "\"}" FTR,
     "malformed digest"},
    {"sha256 non-hex",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":"
         "\"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"md5\":\"" MD5_A
         "\"}" FTR,
     "malformed digest"},
    {"sha256 not a string",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":[],\"md5\":\"" MD5_A "\"}" FTR,
     "\"sha256\" must be a string"},
    {"md5 short",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":\"" SHA_A "\",\"md5\":\"" SHA_A
         "\"}" FTR,
     "malformed digest"},
    {"md5 non-hex",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":1,\"sha256\":\"" SHA_A
         "\",\"md5\":\"0123456789abcdef0123456789abcdeZ\"}" FTR,
     "malformed digest"},
    {"negative size",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":-1,\"sha256\":\"" SHA_A "\",\"md5\":\"" MD5_A
         "\"}" FTR,
     "\"size\" must be an integer"},
    {"size is a string",
     HDR "{\"path\":\"a\",\"type\":\"file\",\"size\":\"1\",\"sha256\":\"" SHA_A
         "\",\"md5\":\"" MD5_A "\"}" FTR,
     "\"size\" must be an integer"},
    {"mode over 07777", HDR "{\"path\":\"a\",\"type\":\"dir\",\"mode\":4096}" FTR,
     "\"mode\" must be an integer in [0, 4095]"},
    {"mode negative", HDR "{\"path\":\"a\",\"type\":\"dir\",\"mode\":-1}" FTR,
     "\"mode\" must be an integer"},
    {"mtime_ns not an integer", HDR "{\"path\":\"a\",\"type\":\"dir\",\"mtime_ns\":\"now\"}" FTR,
     "\"mtime_ns\" must be an integer"},
    {"ino negative", HDR "{\"path\":\"a\",\"type\":\"dir\",\"ino\":-3}" FTR,
     "\"ino\" must be an integer"},
    {"symlink without target", HDR "{\"path\":\"l\",\"type\":\"symlink\"}" FTR,
     "symlink without a target"},
    {"symlink target not a string", HDR "{\"path\":\"l\",\"type\":\"symlink\",\"target\":1}" FTR,
     "symlink without a target"},
    {"symlink empty target", HDR "{\"path\":\"l\",\"type\":\"symlink\",\"target\":\"\"}" FTR,
     "symlink target is empty"},
    {"symlink target with NUL",
     HDR "{\"path\":\"l\",\"type\":\"symlink\",\"target\":\"a\\u0000b\"}" FTR, "invalid JSON"},
    {"symlink target over 4095 bytes", NULL, "too long"},
    {"duplicate path", HDR DIR_OK("a") "," DIR_OK("a") FTR, "appears twice"},
    {"duplicate path of different types", HDR DIR_OK("a") "," FILE_OK("a") FTR, "appears twice"},
    {"parent directory entry missing", HDR FILE_OK("a/b") FTR, "no parent directory entry"},
    {"grandparent directory entry missing", HDR DIR_OK("a/b") "," FILE_OK("a/b/c") FTR,
     "no parent directory entry"},
    {"parent is a file", HDR FILE_OK("a") "," FILE_OK("a/b") FTR, "no parent directory entry"},
    {"parent is a symlink",
     HDR "{\"path\":\"a\",\"type\":\"symlink\",\"target\":\"/etc\"}," FILE_OK("a/b") FTR,
     "no parent directory entry"},
    {"duplicate JSON keys at top level", "{\"format\":1,\"version\":1,\"version\":2,\"files\":[]}",
     "duplicate"},
    {"duplicate JSON keys in an entry", HDR "{\"path\":\"a\",\"path\":\"b\",\"type\":\"dir\"}" FTR,
     "duplicate"},
    {"one bad entry among good ones", HDR DIR_OK("a") "," FILE_OK("a/b") ",{\"path\":\"a/c\"}" FTR,
     "missing \"type\""},
};

static char *build_bad(size_t row)
{
	const char *what = bad_docs[row].what;
	if (!strcmp(what, "component over 255 bytes")) {
		char *c = repeat('c', 256);
		char *d = xasprintf(HDR "{\"path\":\"%s\",\"type\":\"dir\"}" FTR, c);
		free(c);
		return d;
	}
	if (!strcmp(what, "path over 4095 bytes") || !strcmp(what, "path far over the limit")) {
		char *p = long_path(!strcmp(what, "path over 4095 bytes") ? 4096 : 5000);
		char *d = xasprintf(HDR "{\"path\":\"%s\",\"type\":\"dir\"}" FTR, p);
		free(p);
		return d;
	}
	if (!strcmp(what, "symlink target over 4095 bytes")) {
		char *t = repeat('t', 4096);
		char *d =
		    xasprintf(HDR "{\"path\":\"l\",\"type\":\"symlink\",\"target\":\"%s\"}" FTR, t);
		free(t);
		return d;
	}
	return NULL;
}

static void test_malformed(void)
{
	size_t nrows = sizeof(bad_docs) / sizeof(bad_docs[0]);
	for (size_t i = 0; i < nrows; i++) {
		char name[160];
		struct cairn_manifest m;
		struct cairn_err err = {0};
		char *built = bad_docs[i].doc ? NULL : build_bad(i);
		const char *doc = bad_docs[i].doc ? bad_docs[i].doc : built;
		snprintf(name, sizeof(name), "reject manifest: %s", bad_docs[i].what);
		if (!doc) {
			CHECK_MSG(name, false, "%s", "no document built for this row");
			continue;
		}
		memset(&m, 0xa5, sizeof(m)); /* from_json must initialise it */
		int rc = cairn_manifest_from_json(doc, strlen(doc), &m, &err);
		CHECK_MSG(name, rc == -1 && strstr(err.msg, bad_docs[i].expect) && m.n == 0 && !m.e,
		          "rc=%d msg=\"%s\" (want \"%s\")", rc, err.msg, bad_docs[i].expect);
		if (rc == 0)
			cairn_manifest_free(&m);
		free(built);
	}
	printf("# %zu malformed-manifest rows\n", nrows);

	/* Sanity: the building blocks of the table are valid on their own. */
	static const char good[] = HDR DIR_OK("a") "," FILE_OK("a/b") "," FILE_OK("a-b") FTR;
	struct cairn_manifest m;
	struct cairn_err err = {0};
	int rc = cairn_manifest_from_json(good, strlen(good), &m, &err);
	CHECK_MSG("table building blocks are valid", rc == 0 && m.n == 3, "%s", err.msg);
	if (rc == 0)
		cairn_manifest_free(&m);

	/* The length argument bounds the parse: a valid prefix with junk after it. */
	static const char padded[] = HDR FTR "JUNK";
	memset(&err, 0, sizeof(err));
	rc = cairn_manifest_from_json(padded, strlen(padded) - 4, &m, &err);
	CHECK_MSG("length bounds the parse", rc == 0, "%s", err.msg);
	if (rc == 0)
		cairn_manifest_free(&m);
}

/* The compact form: the same content as JSON with the local fields, sorted;
 * every cut and every damaged header or entry refused, never a crash. */
static void test_bin(void)
{
	struct cairn_manifest m, back;
	struct cairn_err err = {0};
	build_sample(&m);
	memset(m.e[0].pack, 'c', 64); /* "a-b" (unsorted yet): in a pack */
	m.e[0].offset = 4096;
	size_t len;
	char *bin = cairn_manifest_to_bin(&m, &len);
	CHECK("bin: starts with its magic", cairn_manifest_is_bin(bin, len));
	int rc = cairn_manifest_from_bin(bin, len, &back, &err);
	CHECK_MSG("bin: round trip", rc == 0, "%s", err.msg);
	CHECK("bin: entries come out sorted", rc == 0 && order_is(&back, sorted_paths, NSORTED));
	bool same = rc == 0 && back.version == 7 && back.parent == 6 &&
	            back.created == 1700000000 && streq(back.workspace, "proj") &&
	            streq(back.volume, "agent-state") && streq(back.job, "4242") &&
	            streq(back.user, "alice") && streq(back.host, "node01");
	cairn_manifest_sort(&m);
	for (size_t i = 0; same && i < m.n; i++)
		same = entry_equal(&m.e[i], &back.e[i], true) &&
		       !strcmp(m.e[i].pack, back.e[i].pack) && m.e[i].offset == back.e[i].offset;
	CHECK("bin: header, entries, local fields, pack and offset all kept", same);
	/* The same text as JSON on both sides. */
	char *j1 = cairn_manifest_to_json(&m, true),
	     *j2 = rc == 0 ? cairn_manifest_to_json(&back, true) : NULL;
	CHECK("bin: its JSON is the original's JSON", j2 && !strcmp(j1, j2));
	free(j1);
	free(j2);
	if (rc == 0)
		cairn_manifest_free(&back);

	size_t refused = 0;
	for (size_t cut = 0; cut < len; cut++) {
		err = (struct cairn_err){0};
		if (cairn_manifest_from_bin(bin, cut, &back, &err) < 0)
			refused += err.msg[0] && !back.n && !back.e;
		else
			cairn_manifest_free(&back);
	}
	CHECK_MSG("bin: every cut short form is refused", refused == len, "%zu of %zu", refused,
	          len);
	char *junk = xcalloc(1, len + 1);
	memcpy(junk, bin, len);
	err = (struct cairn_err){0};
	CHECK("bin: a byte after the last entry is refused",
	      cairn_manifest_from_bin(junk, len + 1, &back, &err) < 0 && has(err.msg, "after"));
	free(junk);

	/* Damage: each byte of the form in turn set to values that break it;
	 * whatever parses must still be a valid tree. */
	size_t parsed_ok = 0, bad_ok = 0;
	for (size_t at = 0; at < len; at++) {
		static const unsigned char vals[] = {0x00, 0x2f, 0x2e, 0xff, 0x7f};
		for (size_t v = 0; v < sizeof(vals); v++) {
			char *d = xcalloc(1, len);
			memcpy(d, bin, len);
			if ((unsigned char)d[at] == vals[v]) {
				free(d);
				continue;
			}
			d[at] = (char)vals[v];
			err = (struct cairn_err){0};
			if (cairn_manifest_from_bin(d, len, &back, &err) == 0) {
				char why[256];
				bool valid = true;
				for (size_t i = 0; i < back.n; i++)
					valid = valid &&
					        cairn_relpath_check(back.e[i].path, why,
					                            sizeof(why)) == 0 &&
					        (back.e[i].mode & 06000) == 0;
				parsed_ok += valid;
				bad_ok += !valid;
				cairn_manifest_free(&back);
			}
			free(d);
		}
	}
	CHECK_MSG("bin: a damaged form never yields a bad path or a setuid mode", bad_ok == 0,
	          "%zu bad of %zu parsed", bad_ok, parsed_ok);

	/* Hand-made: an absurd entry count and a path with "..". */
	char *lie = xcalloc(1, len);
	memcpy(lie, bin, len);
	lie[24] = lie[25] = lie[26] = lie[27] = (char)0x7f; /* the entry count */
	err = (struct cairn_err){0};
	CHECK("bin: an entry count the bytes cannot hold is refused",
	      cairn_manifest_from_bin(lie, len, &back, &err) < 0 && has(err.msg, "cannot fit"));
	free(lie);
	struct cairn_manifest up;
	cairn_manifest_init(&up);
	cairn_manifest_add(&up, "../x", CAIRN_FT_DIR);
	size_t ulen;
	char *ubin = cairn_manifest_to_bin(&up, &ulen);
	err = (struct cairn_err){0};
	CHECK("bin: a path with .. is refused",
	      cairn_manifest_from_bin(ubin, ulen, &back, &err) < 0 && err.msg[0]);
	free(ubin);
	cairn_manifest_free(&up);
	struct cairn_manifest latin;
	cairn_manifest_init(&latin);
	cairn_manifest_add(&latin, "caf\xe9", CAIRN_FT_DIR); /* Latin-1, not UTF-8 */
	struct cairn_entry *ln = cairn_manifest_add(&latin, "link", CAIRN_FT_SYMLINK);
	ln->target = xstrdup("ok");
	size_t llen;
	char *lbin = cairn_manifest_to_bin(&latin, &llen);
	err = (struct cairn_err){0};
	CHECK_MSG("bin: a path that is not UTF-8 is refused (JSON could not hold it)",
	          cairn_manifest_from_bin(lbin, llen, &back, &err) < 0 && has(err.msg, "UTF-8"),
	          "%s", err.msg);
	free(lbin);
	free(latin.e[0].path);
	latin.e[0].path = xstrdup("cafe");
	free(ln->target);
	ln->target = xstrdup("x\xff");
	lbin = cairn_manifest_to_bin(&latin, &llen);
	err = (struct cairn_err){0};
	CHECK_MSG("bin: a symlink target that is not UTF-8 is refused",
	          cairn_manifest_from_bin(lbin, llen, &back, &err) < 0 && err.msg[0], "%s",
	          err.msg);
	free(lbin);
	cairn_manifest_free(&latin);
	err = (struct cairn_err){0};
	CHECK("bin: JSON is not the compact form",
	      !cairn_manifest_is_bin("{\"format\":2}", 12) &&
	          cairn_manifest_from_bin("{\"format\":2}", 12, &back, &err) < 0);
	free(bin);
	cairn_manifest_free(&m);
}

int main(void)
{
	test_sort_and_find();
	round_trip(false);
	round_trip(true);
	test_empty_manifest();
	test_setid_stripped();
	test_json_lines();
	test_same_content();
	test_relpath_check();
	test_symlink_target_check();
	test_malformed();
	test_bin();
	TAP_DONE();
}
