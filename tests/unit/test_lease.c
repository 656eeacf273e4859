/* Leases and fenced commits on the file:// store: acquire, wait, renew, release,
 * take-over after expiry, exactly one winner among racing processes, and a lost
 * lease refusing its commit. Everything happens below a fresh mkdtemp() directory. */
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lease.h"
#include "store.h"
#include "tap.h"
#include "testutil.h"
#include "volume.h"

static char tmpdir[256];

static struct cairn_store *open_store(void)
{
	struct cairn_store *st = NULL;
	struct cairn_err err = {0};
	autofree char *url = xasprintf("file://%s/store", tmpdir);
	if (cairn_store_open(url, &st, &err) < 0) {
		printf("not ok open store: %s\n", err.msg);
		exit(1);
	}
	return st;
}

static void basics(void)
{
	struct cairn_store *st = open_store();
	struct cairn_err err = {0};
	struct cairn_lease a = {0}, b = {0};
	int r = cairn_lease_acquire(st, "ws", "v", "1", "n1", "alice", 60, 0, NULL, NULL, &a, &err);
	CHECK_MSG("lease: first acquire wins", r == 0 && a.epoch == 1, "r=%d %s", r, err.msg);
	memset(&err, 0, sizeof(err));
	r = cairn_lease_acquire(st, "ws", "v", "2", "n2", "bob", 60, 0, NULL, NULL, &b, &err);
	CHECK_MSG("lease: a held lease times out a second job at once with LeaseWait 0",
	          r == CAIRN_LEASE_TIMEOUT && err.user, "r=%d", r);
	CHECK_MSG("lease: the timeout names the holder job and node",
	          has(err.msg, "held by job 1 on n1") && has(err.msg, "LeaseWait"), "%s", err.msg);
	memset(&err, 0, sizeof(err));
	CHECK("lease: renew keeps it", cairn_lease_renew(st, &a, 60, &err) == 0);
	struct cairn_vstate s;
	cairn_vstate_load(st, "ws", "v", &s, &err);
	CHECK("lease: renew keeps the epoch", s.held && s.epoch == 1 && !strcmp(s.op, "renew"));
	cairn_vstate_free(&s);

	/* The same job on the same node takes its own lease over (a requeued job). */
	struct cairn_lease a2 = {0};
	r = cairn_lease_acquire(st, "ws", "v", "1", "n1", "alice", 60, 0, NULL, NULL, &a2, &err);
	CHECK_MSG("lease: the same job re-acquires its own lease", r == 0 && a2.epoch == 2, "r=%d",
	          r);
	CHECK("lease: the old lease of that job is now lost",
	      cairn_lease_renew(st, &a, 60, &err) == CAIRN_LEASE_LOST);
	CHECK("lease: release of the current lease", cairn_lease_release(st, &a2, &err) == 0);
	cairn_vstate_load(st, "ws", "v", &s, &err);
	CHECK("lease: after release nobody holds it", !s.held && !strcmp(s.op, "release"));
	cairn_vstate_free(&s);
	r = cairn_lease_acquire(st, "ws", "v", "2", "n2", "bob", 60, 0, NULL, NULL, &b, &err);
	CHECK_MSG("lease: a released volume is acquired at once", r == 0 && b.epoch == 3, "r=%d",
	          r);

	/* Encode/decode round trip for job records; junk is refused. */
	autofree char *enc = cairn_lease_encode(&b);
	struct cairn_lease d;
	CHECK("lease: encode/decode round trip",
	      cairn_lease_decode(enc, &d) == 0 && d.epoch == b.epoch && !strcmp(d.nonce, b.nonce) &&
	          !strcmp(d.job, "2"));
	cairn_lease_free(&d);
	CHECK("lease: decode refuses junk", cairn_lease_decode("{\"epoch\":1}", &d) < 0);
	CHECK("lease: decode refuses a short nonce",
	      cairn_lease_decode("{\"ws\":\"w\",\"vol\":\"v\",\"epoch\":1,\"nonce\":\"ab\",\"job\":"
	                         "\"1\",\"node\":\"n\"}",
	                         &d) < 0);
	cairn_lease_free(&a);
	cairn_lease_free(&a2);
	cairn_lease_free(&b);
	cairn_store_close(st);
}

static void takeover_and_fencing(void)
{
	struct cairn_store *st = open_store();
	struct cairn_err err = {0};
	struct cairn_lease old = {0}, now = {0};
	cairn_lease_acquire(st, "ws", "f", "10", "n1", "alice", 1, 0, NULL, NULL, &old, &err);
	double t0 = now_seconds();
	int r =
	    cairn_lease_acquire(st, "ws", "f", "11", "n2", "bob", 60, 10, NULL, NULL, &now, &err);
	double waited = now_seconds() - t0;
	CHECK_MSG("lease: an expired lease is taken over", r == 0 && now.epoch == old.epoch + 1,
	          "r=%d %s", r, err.msg);
	CHECK_MSG("lease: the take-over waited about the TTL", waited > 0.9 && waited < 6.0,
	          "waited %.2f s", waited);
	struct cairn_vstate s;
	cairn_vstate_load(st, "ws", "f", &s, &err);
	CHECK("lease: the revision says takeover", s.op && !strcmp(s.op, "takeover"));
	cairn_vstate_free(&s);

	/* The paused holder comes back and tries to commit: refused, kept aside. */
	struct cairn_manifest m;
	cairn_manifest_init(&m);
	m.job = xstrdup("10");
	memset(&err, 0, sizeof(err));
	r = cairn_volume_commit(st, "ws", "f", &m, 0, &old, &err);
	CHECK_MSG("fence: a lost lease cannot commit", r == CAIRN_STORE_EXISTS, "r=%d", r);
	CHECK_MSG("fence: the refusal names the conflict copy",
	          has(err.msg, "lost its lease") && has(err.msg, "conflict copy"), "%s", err.msg);
	cairn_manifest_free(&m);
	cairn_manifest_init(&m);
	m.job = xstrdup("11");
	memset(&err, 0, sizeof(err));
	r = cairn_volume_commit(st, "ws", "f", &m, 0, &now, &err);
	CHECK_MSG("fence: the current holder commits", r == 0 && m.version == 1, "r=%d %s", r,
	          err.msg);
	cairn_vstate_load(st, "ws", "f", &s, &err);
	CHECK("fence: the commit carries the holder's epoch",
	      s.version == 1 && s.commit_epoch == (int64_t)now.epoch && s.held);
	cairn_vstate_free(&s);
	cairn_manifest_free(&m);
	/* Without a lease, nobody commits over a live holder. */
	cairn_manifest_init(&m);
	memset(&err, 0, sizeof(err));
	r = cairn_volume_commit(st, "ws", "f", &m, 1, NULL, &err);
	CHECK_MSG("fence: a lease-less commit over a live lease is refused",
	          r == CAIRN_STORE_EXISTS && has(err.msg, "leased by job 11"), "r=%d %s", r,
	          err.msg);
	cairn_manifest_free(&m);
	cairn_lease_free(&old);
	cairn_lease_free(&now);
	cairn_store_close(st);
}

/* Many processes start together; per round exactly one may win (LeaseWait 0). */
static void one_winner(void)
{
	enum { PROCS = 12, ROUNDS = 8 };
	int *wins = mmap(NULL, sizeof(int) * ROUNDS, PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	volatile int *go =
	    mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bool ok = true;
	for (int round = 0; round < ROUNDS; round++) {
		char vol[32];
		snprintf(vol, sizeof(vol), "race%d", round);
		*go = 0;
		pid_t pids[PROCS];
		for (int p = 0; p < PROCS; p++) {
			pids[p] = fork();
			if (pids[p] == 0) {
				struct cairn_store *st = open_store();
				struct cairn_err err = {0};
				struct cairn_lease l = {0};
				char job[16];
				snprintf(job, sizeof(job), "%d", 100 + p);
				while (!*go)
					;
				int r = cairn_lease_acquire(st, "ws", vol, job, "n", "u", 60, 0,
				                            NULL, NULL, &l, &err);
				if (r == 0)
					__atomic_add_fetch(&wins[round], 1, __ATOMIC_SEQ_CST);
				_exit(r == 0 || r == CAIRN_LEASE_TIMEOUT ? 0 : 1);
			}
		}
		*go = 1;
		for (int p = 0; p < PROCS; p++) {
			int status;
			waitpid(pids[p], &status, 0);
			ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
		}
		struct cairn_store *st = open_store();
		struct cairn_vstate *h = NULL;
		size_t n = 0;
		struct cairn_err err = {0};
		int acquires = 0;
		if (cairn_vstate_history(st, "ws", vol, &h, &n, &err) == 0)
			for (size_t i = 0; i < n; i++) {
				acquires += h[i].op && !strcmp(h[i].op, "acquire");
				cairn_vstate_free(&h[i]);
			}
		free(h);
		cairn_store_close(st);
		if (wins[round] != 1 || acquires != 1) {
			printf("# round %d: %d winners, %d acquires\n", round, wins[round],
			       acquires);
			ok = false;
		}
	}
	CHECK("lease: exactly one of 12 racing processes wins, in each of 8 rounds", ok);
	munmap(wins, sizeof(int) * ROUNDS);
	munmap((void *)go, sizeof(int));
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-lease-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	basics();
	takeover_and_fencing();
	one_winner();
	rm_rf(tmpdir);
	TAP_DONE();
}
