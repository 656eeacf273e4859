#include "xfer_pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "worker.h"

#define TRANSFERS_DEFAULT 8

static unsigned g_transfers = TRANSFERS_DEFAULT;

static struct {
	cairn_progress_fn fn;
	void *arg;
	double first, every;
} g_progress;

void cairn_progress_set(cairn_progress_fn fn, void *arg, double first_s, double every_s)
{
	g_progress.fn = fn;
	g_progress.arg = arg;
	g_progress.first = first_s;
	g_progress.every = every_s;
}

void cairn_transfers_set(unsigned n)
{
	g_transfers = n < 1 ? 1 : n > CAIRN_TRANSFERS_MAX ? CAIRN_TRANSFERS_MAX : n;
}

unsigned cairn_transfers(void)
{
	return g_transfers;
}

struct task_node {
	void *task;
	struct task_node *next;
};

struct cairn_pool {
	struct cairn_store *st;
	int sock;
	cairn_pool_fn run;
	cairn_pool_done_fn done;
	void *arg;
	pthread_mutex_t lock;      /* queue, counters, failure */
	pthread_cond_t work;       /* a task was queued, or the pool stops */
	pthread_mutex_t send_lock; /* frames to the worker */
	struct task_node *head, *tail;
	unsigned running, queued;
	bool stopping;
	bool failed;
	struct cairn_err first;
	unsigned nthreads;
	pthread_t *threads;
	/* progress */
	char *vol, *doing;
	double started, last_report;
	bool reported;
	unsigned long long files, bytes; /* moved so far, under lock */
};

static void *pool_thread(void *arg)
{
	struct cairn_pool *p = arg;
	struct cairn_store *mine = NULL;
	struct cairn_err open_err = {0};
	bool opened = false;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->work, &p->lock);
		if (!p->head)
			break;
		struct task_node *n = p->head;
		p->head = n->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		p->running++;
		pthread_mutex_unlock(&p->lock);

		if (!opened) {
			opened = true;
			(void)cairn_store_reopen(p->st, &mine, &open_err);
		}
		struct cairn_err err = {0};
		int rv;
		if (mine) {
			rv = p->run(p, mine, n->task, &err);
		} else {
			err = open_err;
			rv = -1;
		}
		p->done(p, n->task, rv, &err);
		free(n);

		pthread_mutex_lock(&p->lock);
		p->running--;
	}
	pthread_mutex_unlock(&p->lock);
	if (mine)
		cairn_store_close(mine);
	return NULL;
}

struct cairn_pool *cairn_pool_start(struct cairn_store *st, unsigned threads, int sock,
                                    cairn_pool_fn run, cairn_pool_done_fn done, void *arg)
{
	struct cairn_pool *p = xcalloc(1, sizeof(*p));
	p->st = st;
	p->sock = sock;
	p->run = run;
	p->done = done;
	p->arg = arg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->send_lock, NULL);
	pthread_cond_init(&p->work, NULL);
	p->started = now_seconds();
	if (threads < 1)
		threads = 1;
	p->threads = xcalloc(threads, sizeof(pthread_t));
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_thread, p) != 0)
			break;
		p->nthreads++;
	}
	if (p->nthreads == 0) {
		/* No thread at all: fail every task rather than hang. */
		struct cairn_err e = {0};
		cairn_seterr(&e, "cannot start a transfer thread: %s", strerror(errno));
		cairn_pool_fail(p, &e);
	}
	return p;
}

void cairn_pool_label(struct cairn_pool *p, const char *vol, const char *doing)
{
	free(p->vol);
	free(p->doing);
	p->vol = xstrdup(vol);
	p->doing = xstrdup(doing);
}

void cairn_pool_count(struct cairn_pool *p, uint64_t bytes)
{
	pthread_mutex_lock(&p->lock);
	p->files++;
	p->bytes += bytes;
	pthread_mutex_unlock(&p->lock);
}

/* On the serve loop's thread, between frames. */
static void report_progress(struct cairn_pool *p)
{
	if (!g_progress.fn || !p->vol)
		return;
	double now = now_seconds();
	if (now - p->started < g_progress.first ||
	    (p->reported && now - p->last_report < g_progress.every))
		return;
	pthread_mutex_lock(&p->lock);
	unsigned long long files = p->files, bytes = p->bytes;
	pthread_mutex_unlock(&p->lock);
	char nf[32], nb[32], rate[32];
	fmt_count(nf, sizeof(nf), files);
	fmt_bytes(nb, sizeof(nb), bytes);
	fmt_bytes(rate, sizeof(rate), (unsigned long long)((double)bytes / (now - p->started)));
	autofree char *line = xasprintf("cairn: volume %s: %s: %s files, %s so far, %s/s", p->vol,
	                                p->doing, nf, nb, rate);
	g_progress.fn(g_progress.arg, line);
	p->last_report = now;
	p->reported = true;
}

void *cairn_pool_arg(struct cairn_pool *p)
{
	return p->arg;
}

void cairn_pool_submit(struct cairn_pool *p, void *task)
{
	struct task_node *n = xcalloc(1, sizeof(*n));
	n->task = task;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = n;
	else
		p->head = n;
	p->tail = n;
	p->queued++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

int cairn_pool_reply(struct cairn_pool *p, char type, const char *payload)
{
	pthread_mutex_lock(&p->send_lock);
	int r = cairn_wire_send_str(p->sock, type, payload);
	pthread_mutex_unlock(&p->send_lock);
	return r;
}

void cairn_pool_fail(struct cairn_pool *p, const struct cairn_err *err)
{
	pthread_mutex_lock(&p->lock);
	if (!p->failed) {
		p->failed = true;
		p->first = *err;
	}
	pthread_mutex_unlock(&p->lock);
}

bool cairn_pool_failed(struct cairn_pool *p, struct cairn_err *err)
{
	pthread_mutex_lock(&p->lock);
	bool f = p->failed;
	if (f && err)
		*err = p->first;
	pthread_mutex_unlock(&p->lock);
	return f;
}

static unsigned busy(struct cairn_pool *p)
{
	pthread_mutex_lock(&p->lock);
	unsigned n = p->running + p->queued;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int cairn_pool_wait_worker(struct cairn_pool *p)
{
	double idle_since = now_seconds();
	for (;;) {
		if (p->nthreads == 0 && cairn_pool_failed(p, NULL))
			return -1;
		report_progress(p);
		struct pollfd pfd = {.fd = p->sock, .events = POLLIN};
		int r = poll(&pfd, 1, 500);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (busy(p))
			idle_since = now_seconds();
		else if (now_seconds() - idle_since > CAIRN_WORKER_STALL_S)
			return -1;
	}
}

void cairn_pool_stop(struct cairn_pool *p, bool cancel, void (*drop)(void *task))
{
	pthread_mutex_lock(&p->lock);
	if (cancel) {
		while (p->head) {
			struct task_node *n = p->head;
			p->head = n->next;
			p->queued--;
			if (drop)
				drop(n->task);
			free(n);
		}
		p->tail = NULL;
	}
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	if (p->nthreads == 0 && drop) {
		/* Nobody ran them. */
		for (struct task_node *n = p->head, *next; n; n = next) {
			next = n->next;
			drop(n->task);
			free(n);
		}
	}
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->send_lock);
	pthread_cond_destroy(&p->work);
	free(p->threads);
	free(p->vol);
	free(p->doing);
	free(p);
}
