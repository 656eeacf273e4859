/* Parallel transfers for the root side of hydrate and sync: a fixed set of
 * threads, each with its own handle on the store (its own connections), runs
 * the tasks the serve loop hands it, and answers the worker on the shared
 * socket when a task ends. Small objects are latency bound and large ones
 * bandwidth bound; both gain from several requests in flight. */
#ifndef CAIRN_XFER_POOL_H
#define CAIRN_XFER_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Files the worker keeps in flight, and the cap on Transfers. */
#define CAIRN_XFER_WINDOW 64
#define CAIRN_TRANSFERS_MAX 64

struct cairn_pool;

/* Runs on a pool thread with that thread's store handle. */
typedef int (*cairn_pool_fn)(struct cairn_pool *p, struct cairn_store *st, void *task,
                             struct cairn_err *err);
/* Runs on the pool thread after the task (rv and err are its result); answers
 * the worker with cairn_pool_reply and frees the task. */
typedef void (*cairn_pool_done_fn)(struct cairn_pool *p, void *task, int rv,
                                   const struct cairn_err *err);

/* Threads start at once; each opens its own handle on st's URL. */
struct cairn_pool *cairn_pool_start(struct cairn_store *st, unsigned threads, int sock,
                                    cairn_pool_fn run, cairn_pool_done_fn done, void *arg);
void *cairn_pool_arg(struct cairn_pool *p);
void cairn_pool_submit(struct cairn_pool *p, void *task);
/* Send one frame to the worker; pool threads and the serve loop share the socket. */
int cairn_pool_reply(struct cairn_pool *p, char type, const char *payload);
/* Keep the first failure: the serve loop ends the transfer with it. */
void cairn_pool_fail(struct cairn_pool *p, const struct cairn_err *err);
bool cairn_pool_failed(struct cairn_pool *p, struct cairn_err *err);
/* Wait until the socket has a frame. Time spent while tasks run does not count
 * toward the worker's stall limit: the worker is waiting for root then. Returns
 * -1 when the worker was silent for CAIRN_WORKER_STALL_S with nothing running,
 * or when no transfer thread could start. Reports progress meanwhile. */
int cairn_pool_wait_worker(struct cairn_pool *p);
/* Wait for every task (cancel: drop those not yet started, without their
 * done call), stop the threads, free the pool. */
void cairn_pool_stop(struct cairn_pool *p, bool cancel, void (*drop)(void *task));

/* Progress: the serve loop reports through fn, first after first_s seconds of
 * transfer, then every every_s seconds, a line such as "cairn: volume V:
 * fetching: 1,204 files, 1.2 GiB so far, 96.0 MiB/s". No fn: no progress. */
typedef void (*cairn_progress_fn)(void *arg, const char *line);
void cairn_progress_set(cairn_progress_fn fn, void *arg, double first_s, double every_s);
/* What the pool's lines say: the volume and what it does ("fetching"). */
void cairn_pool_label(struct cairn_pool *p, const char *vol, const char *doing);
/* A done callback counts each file moved. */
void cairn_pool_count(struct cairn_pool *p, uint64_t bytes);

/* Transfers = N from cairn.conf (1..CAIRN_TRANSFERS_MAX; default 8). */
void cairn_transfers_set(unsigned n);
unsigned cairn_transfers(void);

#endif
