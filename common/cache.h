/* The node-local cache: one directory tree per (workspace, volume, user), bind-mounted
 * into the job. Layout: CACHEDIR/WS/VOL/uUID/{data/,state.bin}. Everything above data/
 * is root's (0700), so users reach a tree only through their job's bind mount. */
#ifndef CAIRN_CACHE_H
#define CAIRN_CACHE_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "creds.h"
#include "manifest.h"

struct cairn_cache_vol {
	char *tree;        /* uUID (the user's shared tree) or uUID-jJOB (private) */
	bool private_tree; /* made for one job because the shared tree was in use */
	char *dir;         /* CACHEDIR/WS/VOL/TREE */
	char *data_path;   /* dir/data */
	int dirfd, datafd;
};

/* With tree NULL: claim a tree for job_id, the user's shared one unless another job
 * holds it, else a private one. With tree set (from the job record): reopen it. */
int cairn_cache_open(const struct cairn_config *cfg, const char *ws, const char *vol,
                     const struct cairn_user *u, const char *job_id, const char *tree,
                     struct cairn_cache_vol *cv, struct cairn_err *err);
/* The job is done with the tree: drop its hold; a private tree is removed. */
void cairn_cache_release(struct cairn_cache_vol *cv, const char *job_id);
void cairn_cache_close(struct cairn_cache_vol *cv);
/* state.bin: what the last hydrate or sync left in data/ (with local stat fields). */
/* The version the saved state holds (state.meta), without parsing the state:
 * 0 and *version set, or -1 if there is none. *key: the storage key of that
 * version's manifest (which tells a volume removed and made again from the old
 * one), or NULL if the state does not say. */
int cairn_cache_state_version(struct cairn_cache_vol *cv, unsigned *version, char **key);
int cairn_cache_load_state(struct cairn_cache_vol *cv, struct cairn_manifest *state);
int cairn_cache_save_state(struct cairn_cache_vol *cv, const struct cairn_manifest *state,
                           struct cairn_err *err);
/* Mark the cache entry used now (for LRU) */
void cairn_cache_touch(struct cairn_cache_vol *cv);

/* Evict least recently used trees until the cache holds at most cfg->cache_max bytes,
 * skipping trees holding a path listed in keep and trees used by running jobs
 * (listed in the state dir). Removal runs as the tree's owner. */
int cairn_cache_evict(const struct cairn_config *cfg, const char *const *keep, size_t nkeep,
                      struct cairn_err *err);

#endif
