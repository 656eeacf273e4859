/* Hydrate (storage -> node cache) and sync (node cache -> a new committed version). */
#ifndef CAIRN_TRANSFER_H
#define CAIRN_TRANSFER_H

#include "cache.h"
#include "creds.h"
#include "lease.h"
#include "manifest.h"
#include "store.h"

struct cairn_xfer_stats {
	unsigned long long files, bytes;       /* in the resulting version */
	unsigned long long cached;             /* hydrate: already in the cache */
	unsigned long long moved, moved_bytes; /* fetched (hydrate) or uploaded (sync) */
	unsigned long long deleted;            /* sync: entries gone since the base */
	unsigned long long skipped;            /* sync: fifos, sockets, devices */
	unsigned long long too_large;          /* sync: files over MaxFileSize, not kept */
	char too_large_example[256];           /* sync: the first of them */
	unsigned version;                      /* hydrated or committed version */
	bool committed;                        /* sync: a new version was written */
	double seconds;
};

/* Bring cv's tree to exactly `target`, fetching only files whose size or digest
 * differ. Tree work runs as u; writes the new cache state on success. */
int cairn_hydrate(struct cairn_store *st, const char *ws, const char *vol,
                  const struct cairn_manifest *target, struct cairn_cache_vol *cv,
                  const struct cairn_user *u, struct cairn_xfer_stats *stats,
                  struct cairn_err *err);

/* The same when the node cache already holds `version` (the head): its state is
 * the target, so no manifest is fetched; every file is still checked against it.
 * Returns 1, having done nothing, if the state does not hold that version. */
int cairn_hydrate_from_state(struct cairn_store *st, const char *ws, const char *vol,
                             unsigned version, struct cairn_cache_vol *cv,
                             const struct cairn_user *u, struct cairn_xfer_stats *stats,
                             struct cairn_err *err);

/* Upload what changed in cv's tree since the cache state (what hydrate recorded:
 * version N) and commit version N+1 under `lease`. No change: no commit. Unchanged files are
 * recognised by (size, mtime, inode, ctime) and never re-read. Files larger than
 * max_file_size (0: no limit) are left out of the version and counted in
 * stats->too_large; the rest commits. */
int cairn_sync(struct cairn_store *st, const char *ws, const char *vol, struct cairn_cache_vol *cv,
               const struct cairn_lease *lease, const struct cairn_user *u, const char *job,
               unsigned long long max_file_size, struct cairn_xfer_stats *stats,
               struct cairn_err *err);

/* "cairn: volume NAME: ..." lines for the job's output. */
char *cairn_hydrate_summary(const char *vol, const struct cairn_xfer_stats *s);
char *cairn_sync_summary(const char *vol, const struct cairn_xfer_stats *s);
/* The error line for files left out for being over MaxFileSize (s->too_large). */
char *cairn_sync_too_large(const char *vol, unsigned long long max,
                           const struct cairn_xfer_stats *s);

#endif
