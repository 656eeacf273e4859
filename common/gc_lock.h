/* The collector's lock and the collections' numbers, under WS/gc/ (gc.h):
 *   WS/gc/lock            {"nonce", "by", "time"}: a collection runs
 *   WS/gc/gen/N           the newest collection is number N
 *   WS/gc/clock           written to read the storage's clock
 *   WS/gc/takeover/NONCE  who took over the dead lock NONCE (one taker only)
 * A lock is dead when, by the storage's clock, it is older than
 * CAIRN_GC_MAX_RUN and a margin: its collector deletes nothing by then. */
#ifndef CAIRN_GC_LOCK_H
#define CAIRN_GC_LOCK_H

#include <stdint.h>

#include "store.h"

struct cairn_gc_lock {
	const char *ws;
	char nonce[33];
	int64_t t0; /* when it was taken, by the storage's clock */
};

/* Take the lock of ws (a dead one is taken over) and number a new
 * collection. A user error when another collection holds it. */
int cairn_gc_lock_take(struct cairn_store *st, const char *ws, const char *who,
                       struct cairn_gc_lock *lk, struct cairn_err *err);
/* 0 while the lock is still this collection's; -1 (err set) if not. */
int cairn_gc_lock_check(struct cairn_store *st, const struct cairn_gc_lock *lk,
                        struct cairn_err *err);
/* Drop the lock if it is still this collection's. */
void cairn_gc_lock_drop(struct cairn_store *st, const struct cairn_gc_lock *lk);

#endif
