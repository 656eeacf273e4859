/* Collecting the file contents that no volume names any more (after `cairn rm`).
 *
 * Contents are shared by the volumes of a workspace: a sync re-uses an object
 * storage has, fork and rollback copy no data. An object or pack is deleted
 * when no manifest under WS/volumes/ names it (committed versions, manifests
 * written but not yet committed, conflict copies) and it was written before the
 * collection began. A collection of workspace WS:
 *   1. takes WS/gc/lock (one collector at a time, gc_lock.h) and creates
 *      WS/gc/gen/N+1; signals wait until the lock is dropped;
 *   2. reads every manifest of every volume;
 *   3. deletes each object and pack that nothing names and that is older than
 *      the lock (less CAIRN_GC_CLOCK_MARGIN), within CAIRN_GC_DELETE_UNTIL
 *      seconds, checking now and then that the lock is still its own;
 *   4. drops the lock.
 * A writer (sync, fork, rollback) that relies on objects it did not just find
 * in its own base version makes that safe with a watch: it notes the
 * collector's state before it looks at storage (cairn_gc_watch_start), writes
 * the manifest naming what it relies on, and only then checks
 * (cairn_gc_watch_check): a collection that starts after the manifest was
 * written sees it; one that ran in between may have deleted what the writer
 * relies on, so the writer checks that those objects still exist before it
 * commits. */
#ifndef CAIRN_GC_H
#define CAIRN_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Seconds by which the clocks of the hosts that write a file:// store may
 * disagree (S3 stamps every object with the server's clock). */
#define CAIRN_GC_CLOCK_MARGIN 2
/* A lock older than this (plus a minute) is a dead collector's, by the
 * storage's clock; a writer waits no longer than that for a collection. */
#define CAIRN_GC_MAX_RUN 900
/* A collector sends no delete later than this many seconds after it began:
 * a delete that S3 retries (about 6 minutes at worst) still ends before its
 * lock counts as dead. */
#define CAIRN_GC_DELETE_UNTIL 480

struct cairn_gc_opts {
	bool dry_run;    /* only count: no lock, nothing deleted */
	const char *who; /* who collects, for the lock: "cairn gc on HOST" */
};

struct cairn_gc_stats {
	unsigned long long volumes, manifests;
	unsigned long long objects, bytes;          /* objects and packs seen */
	unsigned long long deleted, deleted_bytes;  /* (or, dry run, would be) */
	unsigned long long kept_named, kept_recent; /* still named; newer than the lock */
	bool out_of_time; /* stopped at CAIRN_GC_DELETE_UNTIL: run again */
};

/* Collect ws. 0 when done (also out of time: see stats), -1 on error (a user
 * error when another collection holds the lock). */
int cairn_gc(struct cairn_store *st, const char *ws, const struct cairn_gc_opts *o,
             struct cairn_gc_stats *stats, struct cairn_err *err);

struct cairn_gc_watch {
	bool busy;    /* a collection was running (or storage did not say) */
	uint64_t gen; /* the newest collection's number */
};
/* Before a writer looks at what storage has. Never fails: when storage does
 * not answer, the watch is busy (the writer checks its objects later). */
void cairn_gc_watch_start(struct cairn_store *st, const char *ws, struct cairn_gc_watch *w);
/* After the writer wrote its manifest: waits for a running collection to end
 * (at most CAIRN_GC_MAX_RUN and a margin), then 1 if a collection may have run
 * since the watch started (the writer must check that what it relies on still
 * exists), 0 if none did, -1 on error. */
int cairn_gc_watch_check(struct cairn_store *st, const char *ws, const struct cairn_gc_watch *w,
                         struct cairn_err *err);

#endif
