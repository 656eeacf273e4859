#!/usr/bin/env bash
# The s3:// store backend against a real S3 server: a throw-away Ceph RGW
# (tests/s3/rgw). A small C driver, compiled here, exercises store_s3.c through
# the store interface and through the lease and volume code.
# Skipped (with the reason) when the Ceph packages are missing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
. "$here/lib.sh"

for p in ceph-mon ceph-osd radosgw radosgw-admin; do
	if ! command -v "$p" >/dev/null; then
		skip s3 "$p not installed (packages ceph-mon ceph-osd radosgw ceph-common: make deps)"
		exit 0
	fi
done
command -v xml2-config >/dev/null || {
	skip s3 "xml2-config missing (libxml2-dev: make deps)"
	exit 0
}

work=$(mktemp -d /tmp/cairn-test-s3.XXXXXX)
rgw_state=$work/rgw
proxy_pid=""
cleanup() {
	[ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
	"$top/tests/s3/rgw" down --state "$rgw_state" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build the driver
cd "$top" || exit 1
CFLAGS_T="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -O2 -g -fPIC -Icommon $(xml2-config --cflags)"
LIBS_T="-ljansson -lcrypto -lcurl -lseccomp -lcgroup $(xml2-config --libs)"
make -s build/libcairn.a >"$work/make.log" 2>&1 || {
	fail "s3: build libcairn.a" "$(tail -5 "$work/make.log")"
	exit 1
}
srcs=()
# Until the Makefile builds common/store_s3.c and common/s3_sign.c into
# libcairn.a, compile them here.
if ! nm build/libcairn.a 2>/dev/null | grep -q ' T cairn_store_s3_open$'; then
	srcs+=(common/store_s3.c common/s3_sign.c)
fi
cat >"$work/s3drv.c" <<'EOF'
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lease.h"
#include "manifest.h"
#include "store.h"
#include "util.h"
#include "volume.h"

int cairn_store_s3_configure(const char *endpoint, const char *region, bool path_style,
                             const char *credentials_file);
int cairn_store_s3_open(const char *url, struct cairn_store *st, struct cairn_err *err);

static int failed;
#define OK(name, cond, ...)                                                                  \
	do {                                                                                 \
		if (cond) {                                                                  \
			printf("ok %s\n", name);                                             \
		} else {                                                                     \
			printf("not ok %s: ", name);                                         \
			printf(__VA_ARGS__);                                                 \
			printf("\n");                                                        \
			failed++;                                                            \
		}                                                                            \
		fflush(stdout);                                                              \
	} while (0)

static struct cairn_store *open_store(const char *url, const char *creds, struct cairn_err *err)
{
	cairn_store_s3_configure(getenv("CAIRN_S3_ENDPOINT"), "us-east-1", true, creds);
	struct cairn_store *st = xcalloc(1, sizeof(*st));
	st->url = xstrdup(url);
	if (cairn_store_s3_open(url, st, err) < 0) {
		free(st->url);
		free(st);
		return NULL;
	}
	return st;
}

/* deterministic pseudo-random bytes */
struct gen {
	uint64_t len, off, x;
	EVP_MD_CTX *md;
};
static ssize_t gen_read(void *arg, void *buf, size_t len, struct cairn_err *err)
{
	(void)err;
	struct gen *g = arg;
	size_t n = g->len - g->off < len ? (size_t)(g->len - g->off) : len;
	unsigned char *p = buf;
	for (size_t i = 0; i < n; i++) {
		g->x = g->x * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (unsigned char)(g->x >> 56);
	}
	if (g->md)
		EVP_DigestUpdate(g->md, buf, n);
	g->off += n;
	return (ssize_t)n;
}
struct hsink {
	uint64_t len;
	EVP_MD_CTX *md;
};
static int hash_sink(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	(void)err;
	struct hsink *h = arg;
	h->len += len;
	EVP_DigestUpdate(h->md, buf, len);
	return 0;
}

static int count_keys(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)mtime;
	(void)key;
	(void)size;
	(*(size_t *)arg)++;
	return 0;
}

struct order {
	char last[256];
	size_t n;
	bool sorted, prefixed, timely;
	const char *want_prefix;
};
static int check_order(void *arg, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	struct order *o = arg;
	/* LastModified, which the collector compares with its lock's */
	time_t now = time(NULL);
	if (mtime < (int64_t)now - 600 || mtime > (int64_t)now + 600)
		o->timely = false;
	if (o->n && strcmp(o->last, key) >= 0)
		o->sorted = false;
	if (strncmp(key, o->want_prefix, strlen(o->want_prefix)))
		o->prefixed = false;
	snprintf(o->last, sizeof(o->last), "%s", key);
	o->n++;
	return 0;
}

static void test_basic(struct cairn_store *st)
{
	struct cairn_err err = {0};
	char *out = NULL;
	size_t len = 99;
	uint64_t size = 99;
	int r = cairn_store_put_buf(st, "t/empty", "", 0, 0, &err);
	int g = r == 0 ? cairn_store_get_buf(st, "t/empty", 16, &out, &len, &err) : -9;
	OK("s3: 0-byte object round trip", r == 0 && g == 0 && len == 0, "put %d get %d len %zu: %s",
	   r, g, len, err.msg);
	free(out);
	out = NULL;
	r = cairn_store_exists(st, "t/empty", &size, &err);
	OK("s3: exists on a 0-byte object gives size 0", r == 0 && size == 0, "r=%d size=%llu %s",
	   r, (unsigned long long)size, err.msg);

	const char *msg = "hello, object storage\n";
	r = cairn_store_put_buf(st, "t/small", msg, strlen(msg), 0, &err);
	g = r == 0 ? cairn_store_get_buf(st, "t/small", 1024, &out, &len, &err) : -9;
	OK("s3: small object round trip", r == 0 && g == 0 && len == strlen(msg) && !strcmp(out, msg),
	   "put %d get %d: %s", r, g, err.msg);
	free(out);
	out = NULL;
	r = cairn_store_exists(st, "t/small", &size, &err);
	OK("s3: exists gives the size (HEAD Content-Length)", r == 0 && size == strlen(msg),
	   "r=%d size=%llu", r, (unsigned long long)size);
	r = cairn_store_put_buf(st, "t/small", "v2", 2, 0, &err);
	g = cairn_store_get_buf(st, "t/small", 1024, &out, &len, &err);
	OK("s3: a plain put replaces", r == 0 && g == 0 && len == 2 && !memcmp(out, "v2", 2),
	   "r=%d g=%d", r, g);
	free(out);
	out = NULL;

	memset(&err, 0, sizeof(err));
	g = cairn_store_get_buf(st, "t/missing", 1024, &out, &len, &err);
	r = cairn_store_exists(st, "t/missing", &size, &err);
	OK("s3: a missing key is NOTFOUND for get and exists",
	   g == CAIRN_STORE_NOTFOUND && r == CAIRN_STORE_NOTFOUND, "get %d exists %d %s", g, r,
	   err.msg);

	memset(&err, 0, sizeof(err));
	r = cairn_store_put_buf(st, "t/once", "first", 5, CAIRN_PUT_IF_ABSENT, &err);
	int r2 = cairn_store_put_buf(st, "t/once", "second", 6, CAIRN_PUT_IF_ABSENT, &err);
	g = cairn_store_get_buf(st, "t/once", 1024, &out, &len, &err);
	OK("s3: put-if-absent creates, then answers EXISTS and keeps the first",
	   r == 0 && r2 == CAIRN_STORE_EXISTS && g == 0 && len == 5 && !memcmp(out, "first", 5),
	   "r=%d r2=%d g=%d %s", r, r2, g, err.msg);
	free(out);
	out = NULL;

	memset(&err, 0, sizeof(err));
	r = cairn_store_delete(st, "t/once", &err);
	r2 = cairn_store_exists(st, "t/once", NULL, &err);
	OK("s3: delete removes the object", r == 0 && r2 == CAIRN_STORE_NOTFOUND, "r=%d r2=%d %s",
	   r, r2, err.msg);
	r = cairn_store_put_buf(st, "t/once", "again", 5, CAIRN_PUT_IF_ABSENT, &err);
	OK("s3: put-if-absent works again after delete", r == 0, "r=%d %s", r, err.msg);
}

static void test_big(struct cairn_store *st, uint64_t n)
{
	struct cairn_err err = {0};
	struct gen gsrc = {.len = n, .x = 42, .md = EVP_MD_CTX_new()};
	EVP_DigestInit_ex(gsrc.md, EVP_sha256(), NULL);
	double t0 = now_seconds();
	int r = cairn_store_put(st, "t/big", gen_read, &gsrc, 0, &err);
	double tput = now_seconds() - t0;
	unsigned char want[32], got[32];
	unsigned wl = 0, gl = 0;
	EVP_DigestFinal_ex(gsrc.md, want, &wl);
	struct hsink h = {.md = EVP_MD_CTX_new()};
	EVP_DigestInit_ex(h.md, EVP_sha256(), NULL);
	t0 = now_seconds();
	int g = r == 0 ? cairn_store_get(st, "t/big", hash_sink, &h, &err) : -9;
	double tget = now_seconds() - t0;
	EVP_DigestFinal_ex(h.md, got, &gl);
	char name[96];
	snprintf(name, sizeof(name), "s3: %llu MiB object round trip (streamed, same SHA-256)",
	         (unsigned long long)(n >> 20));
	OK(name, r == 0 && g == 0 && h.len == n && !memcmp(want, got, 32),
	   "put %d get %d len %llu %s", r, g, (unsigned long long)h.len, err.msg);
	fprintf(stderr, "s3drv: %llu MiB put %.2f s (%.0f MB/s), get %.2f s (%.0f MB/s)\n",
	        (unsigned long long)(n >> 20), tput, n / tput / 1e6, tget, n / tget / 1e6);
	EVP_MD_CTX_free(gsrc.md);
	EVP_MD_CTX_free(h.md);
	uint64_t size = 0;
	cairn_store_exists(st, "t/big", &size, &err);
	OK("s3: exists reports the big object's size", size == n, "size %llu",
	   (unsigned long long)size);
}

static void test_list(struct cairn_store *st, size_t nkeys)
{
	struct cairn_err err = {0};
	double t0 = now_seconds();
	int bad = 0;
	for (size_t i = 0; i < nkeys && !bad; i++) {
		char k[64];
		snprintf(k, sizeof(k), "many/k%05zu", i);
		if (cairn_store_put_buf(st, k, "x", 1, 0, &err) < 0)
			bad = 1;
	}
	fprintf(stderr, "s3drv: %zu small puts in %.2f s\n", nkeys, now_seconds() - t0);
	cairn_store_put_buf(st, "many2/other", "y", 1, 0, &err);
	cairn_store_put_buf(st, "manyx", "z", 1, 0, &err);
	struct order o = {.sorted = true, .prefixed = true, .timely = true, .want_prefix = "many/"};
	t0 = now_seconds();
	int r = bad ? -9 : cairn_store_list(st, "many/", check_order, &o, &err);
	fprintf(stderr, "s3drv: listed %zu keys in %.2f s\n", o.n, now_seconds() - t0);
	OK("s3: list over more than 1000 keys follows continuation tokens",
	   r == 0 && o.n == nkeys && o.sorted, "r=%d n=%zu sorted=%d %s", r, o.n, o.sorted,
	   err.msg);
	OK("s3: list keys are relative to the store and only under the prefix", o.prefixed,
	   "last key %s", o.last);
	OK("s3: list gives each key's time (LastModified)", o.timely, "%s", "a time is off");
	size_t n = 0;
	r = cairn_store_list(st, "many", count_keys, &n, &err);
	OK("s3: a prefix without '/' lists that directory (like file://)", r == 0 && n == nkeys,
	   "r=%d n=%zu", r, n);
	n = 0;
	r = cairn_store_list(st, "nothing/here/", count_keys, &n, &err);
	OK("s3: listing an empty prefix gives nothing", r == 0 && n == 0, "r=%d n=%zu", r, n);
	cairn_store_delete(st, "many/k00000", &err);
	n = 0;
	r = cairn_store_list(st, "many/", count_keys, &n, &err);
	OK("s3: a deleted key is gone from the listing", r == 0 && n == nkeys - 1, "r=%d n=%zu", r,
	   n);
}

static void test_race(const char *url, const char *creds)
{
	/* 4 processes race put-if-absent on the same 10 keys: one winner per key. */
	enum { P = 4, K = 10 };
	int fds[P][2];
	for (int p = 0; p < P; p++) {
		if (pipe(fds[p]) < 0)
			exit(2);
		pid_t pid = fork();
		if (pid == 0) {
			struct cairn_err err = {0};
			struct cairn_store *st = open_store(url, creds, &err);
			char res[K];
			for (int k = 0; k < K; k++) {
				char key[32], val[32];
				snprintf(key, sizeof(key), "race/%d", k);
				snprintf(val, sizeof(val), "writer %d", p);
				int r = st ? cairn_store_put_buf(st, key, val, strlen(val),
				                                 CAIRN_PUT_IF_ABSENT, &err)
				           : -1;
				res[k] = r == 0 ? 'W' : r == CAIRN_STORE_EXISTS ? 'E' : 'F';
				if (r == -1)
					fprintf(stderr, "s3drv: race writer %d: %s\n", p, err.msg);
			}
			if (write(fds[p][1], res, K) != K)
				_exit(3);
			_exit(0);
		}
		close(fds[p][1]);
	}
	int wins[K] = {0}, errs = 0;
	for (int p = 0; p < P; p++) {
		char res[K] = {0};
		if (read(fds[p][0], res, K) != K)
			errs++;
		for (int k = 0; k < K; k++) {
			wins[k] += res[k] == 'W';
			errs += res[k] == 'F';
		}
		close(fds[p][0]);
		wait(NULL);
	}
	int good = 0;
	for (int k = 0; k < K; k++)
		good += wins[k] == 1;
	OK("s3: racing put-if-absent: exactly one winner per key, the rest EXISTS",
	   good == K && errs == 0, "%d of %d keys had one winner, %d errors", good, K, errs);
}

static void test_lease(struct cairn_store *st)
{
	struct cairn_err err = {0};
	struct cairn_lease a = {0}, b = {0};
	int r = cairn_lease_acquire(st, "ws", "vol", "101", "n1", "alice", 60, 0, NULL, NULL, &a,
	                            &err);
	OK("s3 lease: first acquire wins", r == 0 && a.epoch == 1, "r=%d %s", r, err.msg);
	memset(&err, 0, sizeof(err));
	r = cairn_lease_acquire(st, "ws", "vol", "102", "n2", "bob", 60, 0, NULL, NULL, &b, &err);
	OK("s3 lease: a second job times out on the held lease", r == CAIRN_LEASE_TIMEOUT,
	   "r=%d %s", r, err.msg);
	struct cairn_manifest m;
	cairn_manifest_init(&m);
	m.job = xstrdup("101");
	memset(&err, 0, sizeof(err));
	r = cairn_volume_commit(st, "ws", "vol", &m, 0, &a, &err);
	OK("s3 volume: the holder commits version 1", r == 0 && m.version == 1, "r=%d v=%u %s", r,
	   m.version, err.msg);
	cairn_manifest_free(&m);
	struct cairn_manifest h;
	int exists = 0;
	memset(&err, 0, sizeof(err));
	r = cairn_volume_load_head(st, "ws", "vol", &h, &exists, &err);
	OK("s3 volume: the head is version 1", r == 0 && exists && h.version == 1,
	   "r=%d exists=%d v=%u %s", r, exists, h.version, err.msg);
	cairn_manifest_free(&h);
	memset(&err, 0, sizeof(err));
	r = cairn_lease_release(st, &a, &err);
	OK("s3 lease: release", r == 0, "r=%d %s", r, err.msg);
	cairn_lease_free(&b);
	memset(&b, 0, sizeof(b));
	r = cairn_lease_acquire(st, "ws", "vol", "102", "n2", "bob", 60, 0, NULL, NULL, &b, &err);
	OK("s3 lease: a released volume is acquired by the next job", r == 0 && b.epoch == 2,
	   "r=%d epoch=%llu %s", r, (unsigned long long)b.epoch, err.msg);
	cairn_manifest_init(&m);
	m.job = xstrdup("101");
	memset(&err, 0, sizeof(err));
	r = cairn_volume_commit(st, "ws", "vol", &m, 1, &a, &err);
	OK("s3 volume: the old lease can no longer commit", r == CAIRN_STORE_EXISTS, "r=%d %s", r,
	   err.msg);
	cairn_manifest_free(&m);
	char **names = NULL;
	size_t n = 0;
	r = cairn_volume_list(st, "ws", &names, &n, &err);
	OK("s3 volume: the workspace lists the volume", r == 0 && n == 1 && !strcmp(names[0], "vol"),
	   "r=%d n=%zu", r, n);
	cairn_strv_free(names, n);
	cairn_lease_free(&a);
	cairn_lease_free(&b);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: s3drv MODE URL [CREDS]\n");
		return 2;
	}
	const char *mode = argv[1], *url = argv[2];
	const char *creds = argc > 3 ? argv[3] : getenv("CAIRN_S3_CREDENTIALS");
	struct cairn_err err = {0};
	if (!strcmp(mode, "badsecret")) {
		struct cairn_store *st = open_store(url, creds, &err);
		int r = st ? cairn_store_put_buf(st, "t/denied", "x", 1, 0, &err) : -9;
		OK("s3: a wrong secret is one clear error naming the key and HTTP 403",
		   r == -1 && strstr(err.msg, "t/denied") && strstr(err.msg, "HTTP 403") &&
		       strstr(err.msg, "SignatureDoesNotMatch") && strstr(err.msg, "credentials"),
		   "r=%d %s", r, err.msg);
		fprintf(stderr, "s3drv: wrong secret: %s\n", err.msg);
		cairn_store_close(st);
		return failed ? 1 : 0;
	}
	if (!strcmp(mode, "badperm")) {
		struct cairn_store *st = open_store(url, creds, &err);
		OK("s3: a group-readable credentials file is refused",
		   !st && strstr(err.msg, "group or others"), "%s", err.msg);
		cairn_store_close(st);
		return failed ? 1 : 0;
	}
	if (!strcmp(mode, "unreachable")) {
		struct cairn_store *st = open_store(url, creds, &err);
		double t0 = now_seconds();
		uint64_t size;
		int r = st ? cairn_store_exists(st, "t/x", &size, &err) : -9;
		double t = now_seconds() - t0;
		OK("s3: an unreachable endpoint fails after 5 bounded attempts",
		   r == -1 && strstr(err.msg, "5 attempts") && strstr(err.msg, "t/x") && t < 10,
		   "r=%d after %.1f s: %s", r, t, err.msg);
		fprintf(stderr, "s3drv: unreachable: %.1f s: %s\n", t, err.msg);
		cairn_store_close(st);
		return failed ? 1 : 0;
	}
	if (!strcmp(mode, "faults")) {
		/* Through tests' fault proxy, plan: 503,503,pass,lost,pass,pass,pass,503 x5 */
		struct cairn_store *st = open_store(url, creds, &err);
		int r = st ? cairn_store_put_buf(st, "f/a", "aa", 2, 0, &err) : -9;
		OK("s3 retry: two 503 answers, then the put succeeds", r == 0, "r=%d %s", r,
		   err.msg);
		r = st ? cairn_store_put_buf(st, "f/b", "mine", 4, CAIRN_PUT_IF_ABSENT, &err) : -9;
		OK("s3 retry: put-if-absent whose success answer was lost (500) is ours, not "
		   "EXISTS (same ETag)",
		   r == 0, "r=%d %s", r, err.msg);
		r = st ? cairn_store_put_buf(st, "f/b", "other", 5, CAIRN_PUT_IF_ABSENT, &err) : -9;
		OK("s3 retry: another writer's put-if-absent then gets EXISTS",
		   r == CAIRN_STORE_EXISTS, "r=%d %s", r, err.msg);
		memset(&err, 0, sizeof(err));
		char *out = NULL;
		double t0 = now_seconds();
		r = st ? cairn_store_get_buf(st, "f/a", 16, &out, NULL, &err) : -9;
		OK("s3 retry: a server answering 503 is given up after 5 attempts, one error "
		   "with key and status",
		   r == -1 && strstr(err.msg, "f/a") && strstr(err.msg, "5 attempts") &&
		       strstr(err.msg, "HTTP 503"),
		   "r=%d %s", r, err.msg);
		fprintf(stderr, "s3drv: 503 x5: %.1f s: %s\n", now_seconds() - t0, err.msg);
		free(out);
		cairn_store_close(st);
		return failed ? 1 : 0;
	}
	struct cairn_store *st = open_store(url, creds, &err);
	OK("s3: open the store", st != NULL, "%s", err.msg);
	if (!st)
		return 1;
	test_basic(st);
	test_big(st, 20ull << 20);
	test_list(st, 1050);
	test_race(url, creds);
	test_lease(st);
	cairn_store_close(st);
	return failed ? 1 : 0;
}
EOF
# shellcheck disable=SC2086
if ! gcc $CFLAGS_T -o "$work/s3drv" "$work/s3drv.c" "${srcs[@]}" build/libcairn.a $LIBS_T \
	>"$work/cc.log" 2>&1; then
	fail "s3: build the test driver" "$(head -c 600 "$work/cc.log")"
	exit 1
fi

# ---------------------------------------------------------------- RGW
t0=$(date +%s.%N)
if ! env_out=$("$top/tests/s3/rgw" up --state "$rgw_state" 2>"$work/rgw-up.log"); then
	fail "s3: start RGW" "$(tail -3 "$work/rgw-up.log")"
	exit 1
fi
eval "$env_out"
echo "# RGW up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
pass "s3: RGW micro cluster starts"

run=run-$$-$RANDOM
url=s3://$CAIRN_S3_BUCKET/$run
"$work/s3drv" all "$url" "$CAIRN_S3_CREDENTIALS" 2>"$work/drv.err"
cat "$work/drv.err" >&2

(
	umask 077
	sed 's/^secret_key = .*/secret_key = not-the-secret-0000000000000000000000/' \
		"$CAIRN_S3_CREDENTIALS" >"$work/bad.cred"
	cp "$CAIRN_S3_CREDENTIALS" "$work/open.cred"
	chmod 0640 "$work/open.cred"
)
"$work/s3drv" badsecret "$url" "$work/bad.cred" 2>"$work/bad.err"
cat "$work/bad.err" >&2
if grep -qF "$(sed -n 's/^secret_key = //p' "$CAIRN_S3_CREDENTIALS")" "$work/bad.err" "$work/drv.err"; then
	fail "s3: no secret in messages" "the secret key appeared in the driver's output"
else
	pass "s3: no secret in messages"
fi
"$work/s3drv" badperm "$url" "$work/open.cred" 2>/dev/null
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CAIRN_S3_ENDPOINT=http://127.0.0.1:$dead "$work/s3drv" unreachable "$url" \
	"$CAIRN_S3_CREDENTIALS" 2>"$work/dead.err"
cat "$work/dead.err" >&2

# Retries and the ambiguous put-if-absent, through a proxy that injects faults.
cat >"$work/faultproxy.py" <<'EOF'
# HTTP proxy in front of RGW that follows a plan, one action per request:
#   pass  forward;  503/500  answer that status without forwarding;
#   lost  forward, then answer 500 (the server acted, the client never knew)
import http.client, http.server, sys, threading
target_host, target_port = sys.argv[1], int(sys.argv[2])
plan = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] else []
strip = len(sys.argv) > 4 and sys.argv[4] == "strip"
lock = threading.Lock()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def handle_any(self):
        with lock:
            act = plan.pop(0) if plan else "pass"
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        sys.stderr.write("proxy: %s %s -> %s\n" % (self.command, self.path, act))
        if act in ("500", "503"):
            return self.reply(int(act), b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>")
        c = http.client.HTTPConnection(target_host, target_port, timeout=30)
        c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            c.putheader(k, v)
        c.endheaders(body if body else None)
        r = c.getresponse()
        data = r.read()
        if act == "lost":
            return self.reply(500, b"<Error><Code>InternalError</Code></Error>")
        # "strip": act like a server that ignores If-None-Match (the header is
        # signed, so it cannot be dropped; answer success instead of 412).
        if strip and r.status == 412:
            return self.reply(200, b"")
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", r.getheader("Content-Length", "0")
                         if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    def reply(self, code, data):
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_PUT = do_HEAD = do_DELETE = handle_any

s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
python3 "$work/faultproxy.py" 127.0.0.1 "${CAIRN_S3_ENDPOINT##*:}" \
	"503,503,pass,lost,pass,pass,pass,503,503,503,503,503" >"$work/proxy.port" 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 1 50); do
	[ -s "$work/proxy.port" ] && break
	sleep 0.1
done
if [ -s "$work/proxy.port" ]; then
	CAIRN_S3_ENDPOINT=http://127.0.0.1:$(cat "$work/proxy.port") "$work/s3drv" faults "$url" \
		"$CAIRN_S3_CREDENTIALS" 2>"$work/faults.err"
	cat "$work/faults.err" >&2
else
	fail "s3: fault proxy" "did not start: $(tail -2 "$work/proxy.log")"
fi
kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=""

# A server that ignores If-None-Match: opening the store must fail closed.
python3 "$work/faultproxy.py" 127.0.0.1 "${CAIRN_S3_ENDPOINT##*:}" "" strip >"$work/proxy2.port" 2>"$work/proxy2.log" &
proxy_pid=$!
for _ in $(seq 1 50); do [ -s "$work/proxy2.port" ] && break; sleep 0.1; done
cat >"$work/probe.conf" <<CONF
Storage = $url
S3Endpoint = http://127.0.0.1:$(cat "$work/proxy2.port")
S3Credentials = $CAIRN_S3_CREDENTIALS
CONF
out=$(CAIRN_CONF=$work/probe.conf "$top/build/cairn" list 2>&1)
check "s3: a server ignoring If-None-Match is refused at startup" grep -q 'ignores If-None-Match' <<<"$out"
cat >"$work/direct.conf" <<CONF
Storage = $url
S3Endpoint = $CAIRN_S3_ENDPOINT
S3Credentials = $CAIRN_S3_CREDENTIALS
CONF
out=$(CAIRN_CONF=$work/direct.conf "$top/build/cairn" list 2>&1)
check "s3: RGW passes the conditional-write probe" bash -c "! grep -q 'ignores If-None-Match' <<<'$out'"
kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=""

pids=$(cat "$rgw_state"/run/*.pid 2>/dev/null)
t1=$(date +%s.%N)
"$top/tests/s3/rgw" down --state "$rgw_state" 2>"$work/rgw-down.log"
echo "# RGW down in $(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
left=""
for p in $pids; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
if [ -n "$left" ] || [ -d "$rgw_state" ]; then
	fail "s3: RGW stops cleanly" "daemons or state left behind"
else
	pass "s3: RGW stops cleanly"
fi
finish
