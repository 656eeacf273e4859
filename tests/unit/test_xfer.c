/* Unit tests for the parallel transfer plumbing: frames carrying descriptors
 * (common/wire.c), the transfer thread pool (common/xfer_pool.c), and the
 * store's file-descriptor transfers with their digest checks (common/store.c
 * over the file:// backend). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "digest.h"
#include "store.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"
#include "wire.h"
#include "xfer_pool.h"

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_wire_fd(void)
{
	int sv[2], pp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(pp, O_CLOEXEC) < 0) {
		CHECK("wire: socketpair and pipe", 0);
		return;
	}
	CHECK("wire: a frame with a descriptor is sent",
	      cairn_wire_send_fd(sv[0], FR_FETCH, "7 abc", pp[1]) == 0);
	char *buf = NULL, type = 0;
	size_t len = 0, cap = 0;
	int got = -1;
	int r = cairn_wire_recv_fd(sv[1], &type, &buf, &len, &cap, &got);
	CHECK("wire: it arrives with its payload",
	      r == 0 && type == FR_FETCH && !strcmp(buf, "7 abc") && len == 5);
	CHECK("wire: and with a working descriptor",
	      got >= 0 && got != pp[1] && write(got, "x", 1) == 1);
	char c = 0;
	CHECK("wire: that writes into the same pipe", read(pp[0], &c, 1) == 1 && c == 'x');
	if (got >= 0)
		close(got);

	/* A descriptor nobody asked for is closed, not leaked. */
	int before = count_fds();
	cairn_wire_send_fd(sv[0], FR_SEND, "1 path", pp[1]);
	cairn_wire_send_str(sv[0], FR_OK, "2");
	r = cairn_wire_recv(sv[1], &type, &buf, &len, &cap);
	CHECK("wire: a plain receive takes the frame", r == 0 && type == FR_SEND);
	CHECK_MSG("wire: and closes the descriptor that came with it", count_fds() == before,
	          "%d descriptors before, %d after", before, count_fds());
	got = 5;
	r = cairn_wire_recv_fd(sv[1], &type, &buf, &len, &cap, &got);
	CHECK("wire: a frame without a descriptor gives -1", r == 0 && type == FR_OK && got == -1);
	close(sv[0]);
	r = cairn_wire_recv_fd(sv[1], &type, &buf, &len, &cap, &got);
	CHECK("wire: end of stream is an error", r < 0 && got == -1);
	free(buf);
	close(sv[1]);
	close(pp[0]);
	close(pp[1]);
}

/* ---------- the pool ---------- */

struct task {
	int n;
	bool fail;
};

static int run_task(struct cairn_pool *p, struct cairn_store *st, void *task, struct cairn_err *err)
{
	(void)p;
	struct task *t = task;
	if (t->fail) {
		cairn_seterr(err, "task %d failed on purpose", t->n);
		return -1;
	}
	char key[32], val[32];
	snprintf(key, sizeof(key), "objects/%d", t->n);
	snprintf(val, sizeof(val), "value %d", t->n);
	return cairn_store_put_buf(st, key, val, strlen(val), CAIRN_PUT_IF_ABSENT, err);
}

static void done_task(struct cairn_pool *p, void *task, int rv, const struct cairn_err *err)
{
	struct task *t = task;
	char id[16];
	snprintf(id, sizeof(id), "%d", t->n);
	if (rv < 0) {
		cairn_pool_fail(p, err);
		cairn_pool_reply(p, FR_ERR, err->msg);
	} else {
		cairn_pool_reply(p, FR_OK, id);
	}
	free(t);
}

static int dropped;
static void drop_task(void *task)
{
	dropped++;
	free(task);
}

static void test_pool(const char *url)
{
	struct cairn_err err = {0};
	struct cairn_store *st = NULL;
	if (cairn_store_open(url, &st, &err) < 0) {
		CHECK_MSG("pool: open the store", 0, "%s", err.msg);
		return;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	enum { N = 200 };
	struct cairn_pool *p = cairn_pool_start(st, 4, sv[0], run_task, done_task, NULL);
	for (int i = 0; i < N; i++) {
		struct task *t = xcalloc(1, sizeof(*t));
		t->n = i;
		cairn_pool_submit(p, t);
	}
	static char seen[N];
	int answers = 0, bad = 0;
	char *buf = NULL, type;
	size_t len, cap = 0;
	while (answers < N && cairn_wire_recv(sv[1], &type, &buf, &len, &cap) == 0) {
		int id = atoi(buf);
		if (type != FR_OK || id < 0 || id >= N || seen[id])
			bad++;
		else
			seen[id] = 1;
		answers++;
	}
	CHECK_MSG("pool: every task is answered once", answers == N && bad == 0,
	          "%d answers, %d bad", answers, bad);
	CHECK("pool: no failure recorded", !cairn_pool_failed(p, NULL));
	cairn_pool_stop(p, false, drop_task);
	char *val = NULL;
	size_t vlen = 0;
	int r = cairn_store_get_buf(st, "objects/123", 64, &val, &vlen, &err);
	CHECK("pool: the threads' writes are in the store",
	      r == 0 && vlen == 9 && !memcmp(val, "value 123", 9));
	free(val);

	/* A failing task: the first failure is kept for the serve loop. */
	p = cairn_pool_start(st, 2, sv[0], run_task, done_task, NULL);
	struct task *t = xcalloc(1, sizeof(*t));
	t->n = 1000;
	t->fail = true;
	cairn_pool_submit(p, t);
	r = cairn_wire_recv(sv[1], &type, &buf, &len, &cap);
	struct cairn_err first = {0};
	CHECK("pool: a failed task answers ERR", r == 0 && type == FR_ERR);
	CHECK("pool: and the failure is kept",
	      cairn_pool_failed(p, &first) && has(first.msg, "task 1000 failed"));
	cairn_pool_stop(p, false, drop_task);

	/* Stopping with cancel drops what has not started, through drop(). */
	dropped = 0;
	p = cairn_pool_start(st, 1, sv[0], run_task, done_task, NULL);
	for (int i = 0; i < 50; i++) {
		struct task *x = xcalloc(1, sizeof(*x));
		x->n = 2000 + i;
		cairn_pool_submit(p, x);
	}
	cairn_pool_stop(p, true, drop_task);
	int replies = 0;
	struct timeval tv = {0, 200000};
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (cairn_wire_recv(sv[1], &type, &buf, &len, &cap) == 0)
		replies++;
	CHECK_MSG("pool: a cancelled stop runs or drops every task, never both",
	          replies + dropped == 50, "%d answered, %d dropped", replies, dropped);
	free(buf);
	close(sv[0]);
	close(sv[1]);

	cairn_transfers_set(0);
	CHECK("pool: Transfers is at least 1", cairn_transfers() == 1);
	cairn_transfers_set(1000);
	CHECK("pool: Transfers is capped", cairn_transfers() == CAIRN_TRANSFERS_MAX);
	cairn_transfers_set(8);
	cairn_store_close(st);
}

/* ---------- descriptors in and out of the store ---------- */

static int temp_file_with(const char *dir, const char *data, size_t len)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 && write_all(fd, data, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_store_fd(const char *dir, const char *url)
{
	struct cairn_err err = {0};
	struct cairn_store *st = NULL;
	if (cairn_store_open(url, &st, &err) < 0)
		return;
	const char *data = "the quick brown fox";
	size_t len = strlen(data);
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
	int fd = temp_file_with(dir, data, len);
	lseek(fd, 0, SEEK_SET);
	cairn_digest_fd(fd, sha, md5, NULL);
	int r =
	    cairn_store_put_fd(st, "fd/good", fd, len, sha, md5, NULL, CAIRN_PUT_IF_ABSENT, &err);
	CHECK_MSG("store: put from a descriptor", r == 0, "%s", err.msg);

	/* The bytes no longer have the digest the caller gave: refused, not kept. */
	char wrong[CAIRN_SHA256_HEX];
	memcpy(wrong, sha, sizeof(wrong));
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	err = (struct cairn_err){0};
	r = cairn_store_put_fd(st, "fd/bad", fd, len, wrong, md5, NULL, CAIRN_PUT_IF_ABSENT, &err);
	CHECK("store: a put whose bytes differ from the digest fails",
	      r < 0 && has(err.msg, "changed while it was stored"));
	CHECK("store: and leaves no object behind",
	      cairn_store_exists(st, "fd/bad", NULL, &err) == CAIRN_STORE_NOTFOUND);
	close(fd);

	int out = temp_file_with(dir, "", 0);
	char got[CAIRN_SHA256_HEX] = "";
	r = cairn_store_get_fd(st, "fd/good", out, len, got, &err);
	char back[64] = "";
	ssize_t n = pread(out, back, sizeof(back), 0);
	CHECK("store: get into a descriptor gives the bytes and their SHA-256",
	      r == 0 && n == (ssize_t)len && !memcmp(back, data, len) && !strcmp(got, sha));
	err = (struct cairn_err){0};
	r = cairn_store_get_fd(st, "fd/good", out, len - 1, got, &err);
	CHECK("store: more bytes than expected is an error", r < 0);
	err = (struct cairn_err){0};
	r = cairn_store_get_fd(st, "fd/good", out, len + 5, got, &err);
	CHECK_MSG("store: fewer bytes than expected is an error", r < 0 && has(err.msg, "expected"),
	          "r=%d %s", r, err.msg);
	r = cairn_store_get_fd(st, "fd/none", out, 1, got, &err);
	CHECK("store: a missing object is NOTFOUND", r == CAIRN_STORE_NOTFOUND);
	close(out);
	cairn_store_close(st);
}

int main(void)
{
	char tmpl[] = "/var/tmp/cairn-test-xfer.XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	char *url = xasprintf("file://%s/store", tmpl);
	test_wire_fd();
	test_pool(url);
	test_store_fd(tmpl, url);
	free(url);
	rm_rf(tmpl);
	TAP_DONE();
}
