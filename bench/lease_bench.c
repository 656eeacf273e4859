/* Lease latency on a file:// store: acquire+release pairs without contention, then
 * PROCS processes contending for one volume, each doing M acquire (waiting as long
 * as it takes) + release cycles. Prints a table and the peak RSS.
 *
 *   lease_bench DIR [N=500] [PROCS=8] [M=150] [BUDGET_S=25]
 *
 * DIR must be an empty directory (the store). Each contending process stops early
 * once BUDGET_S seconds have passed, so the run stays short whatever happens. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lease.h"
#include "store.h"

#define WS "bench"
#define TTL 60

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double q)
{
	if (n == 0)
		return NAN;
	size_t k = (size_t)ceil(q * (double)n);
	return v[k ? k - 1 : 0];
}

static void row(const char *name, double *v, size_t n, double wall_ms)
{
	qsort(v, n, sizeof(*v), cmp_double);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	char rate[32] = "-";
	if (wall_ms > 0)
		snprintf(rate, sizeof(rate), "%.0f", (double)n / (wall_ms / 1e3));
	printf("%-34s %6zu %9.3f %9.3f %9.3f %9.3f %9s\n", name, n, pct(v, n, 0.5), pct(v, n, 0.99),
	       n ? v[n - 1] : NAN, n ? sum / (double)n : NAN, rate);
}

static int open_store(const char *url, struct cairn_store **st)
{
	struct cairn_err err = {0};
	if (cairn_store_open(url, st, &err) < 0) {
		fprintf(stderr, "lease_bench: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int one_cycle(struct cairn_store *st, const char *vol, const char *job, unsigned wait_s,
                     double *acq_ms, double *rel_ms)
{
	struct cairn_err err = {0};
	struct cairn_lease l;
	double t0 = now_ms();
	int r = cairn_lease_acquire(st, WS, vol, job, "benchnode", "bench", TTL, wait_s, NULL, NULL,
	                            &l, &err);
	double t1 = now_ms();
	if (r < 0) {
		fprintf(stderr, "lease_bench: acquire %s: %s\n", vol, err.msg);
		return -1;
	}
	r = cairn_lease_release(st, &l, &err);
	double t2 = now_ms();
	cairn_lease_free(&l);
	if (r < 0) {
		fprintf(stderr, "lease_bench: release %s: %s (%d)\n", vol, err.msg, r);
		return -1;
	}
	*acq_ms = t1 - t0;
	*rel_ms = t2 - t1;
	return 0;
}

/* A contending process: wait for the start signal, run up to m cycles, then send
 * "count, maxrss, acquire times..., release times..." to the parent. */
static void contender(const char *url, int idx, int start_fd, int out_fd, unsigned m,
                      double budget_ms)
{
	struct cairn_store *st;
	char job[32], c;
	snprintf(job, sizeof(job), "bench-%d", idx);
	if (open_store(url, &st) < 0)
		_exit(1);
	double *acq = calloc(m + 1, sizeof(double)), *rel = calloc(m + 1, sizeof(double));
	if (!acq || !rel)
		_exit(1);
	while (read(start_fd, &c, 1) < 0 && errno == EINTR)
		;
	double t0 = now_ms();
	unsigned done = 0;
	while (done < m && now_ms() - t0 < budget_ms) {
		if (one_cycle(st, "shared", job, 600, &acq[done], &rel[done]) < 0)
			_exit(1);
		done++;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long hdr[2] = {(long)done, ru.ru_maxrss};
	if (write_all(out_fd, hdr, sizeof(hdr)) < 0 ||
	    write_all(out_fd, acq, done * sizeof(double)) < 0 ||
	    write_all(out_fd, rel, done * sizeof(double)) < 0)
		_exit(1);
	cairn_store_close(st);
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: lease_bench DIR [N] [PROCS] [M] [BUDGET_S]\n");
		return 2;
	}
	char url[4096];
	snprintf(url, sizeof(url), "file://%s", argv[1]);
	unsigned n = argc > 2 ? (unsigned)atoi(argv[2]) : 500;
	unsigned procs = argc > 3 ? (unsigned)atoi(argv[3]) : 8;
	unsigned m = argc > 4 ? (unsigned)atoi(argv[4]) : 150;
	double budget_ms = (argc > 5 ? atof(argv[5]) : 25) * 1e3;
	if (n == 0 || procs == 0 || procs > 64 || m == 0) {
		fprintf(stderr, "lease_bench: N, M > 0 and 0 < PROCS <= 64\n");
		return 2;
	}

	struct cairn_store *st;
	if (open_store(url, &st) < 0)
		return 1;
	printf("lease bench: store %s, LeaseTTL %d s, acquire polls every 250-750 ms when held\n",
	       url, TTL);
	printf("%-34s %6s %9s %9s %9s %9s %9s\n", "scenario (times in ms)", "n", "median", "p99",
	       "max", "mean", "ops/s");

	/* 1. No contention: one process, acquire then release, N times. */
	double *acq = calloc(n, sizeof(double)), *rel = calloc(n, sizeof(double)),
	       *pair = calloc(n, sizeof(double));
	double w0 = now_ms();
	for (unsigned i = 0; i < n; i++) {
		if (one_cycle(st, "solo", "bench-solo", 0, &acq[i], &rel[i]) < 0)
			return 1;
		pair[i] = acq[i] + rel[i];
	}
	double wall = now_ms() - w0;
	row("uncontended acquire", acq, n, 0);
	row("uncontended release", rel, n, 0);
	row("uncontended acquire+release", pair, n, wall);
	cairn_store_close(st);
	free(acq);
	free(rel);
	free(pair);

	/* 2. PROCS processes, one volume, M cycles each. */
	int start[2];
	if (pipe(start) < 0) {
		perror("pipe");
		return 1;
	}
	pid_t pids[64];
	int outs[64];
	fflush(NULL);
	for (unsigned i = 0; i < procs; i++) {
		int out[2];
		if (pipe(out) < 0) {
			perror("pipe");
			return 1;
		}
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[i] == 0) {
			close(start[1]);
			close(out[0]);
			contender(url, (int)i, start[0], out[1], m, budget_ms);
		}
		close(out[1]);
		outs[i] = out[0];
	}
	close(start[0]);
	w0 = now_ms();
	close(start[1]); /* every contender's read returns: go */
	size_t total = 0, cap = (size_t)procs * m;
	acq = calloc(cap, sizeof(double));
	rel = calloc(cap, sizeof(double));
	pair = calloc(cap, sizeof(double));
	long child_rss = 0;
	unsigned min_done = m, max_done = 0;
	int failed = 0;
	for (unsigned i = 0; i < procs; i++) {
		long hdr[2];
		if (read_full(outs[i], hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) || hdr[0] < 0 ||
		    (unsigned long)hdr[0] > m) {
			failed = 1;
			continue;
		}
		size_t k = (size_t)hdr[0];
		if (read_full(outs[i], acq + total, k * sizeof(double)) !=
		        (ssize_t)(k * sizeof(double)) ||
		    read_full(outs[i], rel + total, k * sizeof(double)) !=
		        (ssize_t)(k * sizeof(double))) {
			failed = 1;
			continue;
		}
		for (size_t j = 0; j < k; j++)
			pair[total + j] = acq[total + j] + rel[total + j];
		total += k;
		child_rss = hdr[1] > child_rss ? hdr[1] : child_rss;
		min_done = (unsigned)k < min_done ? (unsigned)k : min_done;
		max_done = (unsigned)k > max_done ? (unsigned)k : max_done;
		close(outs[i]);
	}
	for (unsigned i = 0; i < procs; i++) {
		int status;
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	wall = now_ms() - w0;
	size_t waited = 0;
	for (size_t i = 0; i < total; i++)
		waited += acq[i] > 50.0;
	char name[64];
	snprintf(name, sizeof(name), "%u procs: acquire (incl. wait)", procs);
	row(name, acq, total, 0);
	snprintf(name, sizeof(name), "%u procs: release", procs);
	row(name, rel, total, 0);
	snprintf(name, sizeof(name), "%u procs: acquire+release", procs);
	row(name, pair, total, wall);
	printf("contended: %zu cycles in %.2f s (%.1f leases/s); %zu acquires (%.1f%%) had to "
	       "wait (> 50 ms); cycles per process %u..%u of %u%s\n",
	       total, wall / 1e3, (double)total / (wall / 1e3), waited,
	       total ? 100.0 * (double)waited / (double)total : 0.0, min_done, max_done, m,
	       max_done < m || min_done < m ? " (time budget hit)" : "");
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	printf("peak RSS: this process %ld KiB, largest contender %ld KiB\n", self.ru_maxrss,
	       child_rss > kids.ru_maxrss ? child_rss : kids.ru_maxrss);
	free(acq);
	free(rel);
	free(pair);
	if (failed)
		fprintf(stderr, "lease_bench: a contender failed\n");
	return failed;
}
