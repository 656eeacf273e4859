/* A volume in storage: its versions (immutable manifests), the content-addressed
 * objects they reference, and the atomic, lease-fenced commit of a new version.
 *
 * Layout under the store root:
 *   WS/objects/AB/SHA256                    file contents, shared by the workspace
 *   WS/volumes/VOL/state/000000000042       the volume's state, revision 42 (lease.h):
 *                                           current version, its manifest, the lease
 *   WS/volumes/VOL/manifests/0000000007-N   manifest of version 7 (N: a nonce)
 *   WS/volumes/VOL/versions/0000000007      index copy, written after the commit
 *   WS/volumes/VOL/conflicts/...            refused commits, kept for recovery
 * A commit writes data, then the manifest, then a new state revision (created only
 * if absent): readers see the whole old or the whole new version. */
#ifndef CAIRN_VOLUME_H
#define CAIRN_VOLUME_H

#include "manifest.h"
#include "store.h"

struct cairn_lease;

char *cairn_key_object(const char *ws, const char *sha256);
/* A pack of small files, named by the SHA-256 of its bytes. */
char *cairn_key_pack(const char *ws, const char *sha256);
char *cairn_key_version(const char *ws, const char *vol, unsigned version);
char *cairn_key_head(const char *ws, const char *vol);
char *cairn_key_volume_prefix(const char *ws, const char *vol);

/* Load the newest committed version; a volume never committed gives version 0,
 * empty (and *exists = 0). */
int cairn_volume_load_head(struct cairn_store *st, const char *ws, const char *vol,
                           struct cairn_manifest *out, int *exists, struct cairn_err *err);
/* As cairn_volume_load_head, unless the head is version `have` (not 0) with
 * manifest key have_key: then 1 with only out->version and out->key set, since
 * the caller holds that version already (a node cache's state); saves fetching
 * and parsing the manifest. have_key NULL never matches: the same number may
 * be a version of a volume removed since and made again. */
int cairn_volume_load_head_unless(struct cairn_store *st, const char *ws, const char *vol,
                                  unsigned have, const char *have_key, struct cairn_manifest *out,
                                  int *exists, struct cairn_err *err);
int cairn_volume_load_version(struct cairn_store *st, const char *ws, const char *vol,
                              unsigned version, struct cairn_manifest *out, struct cairn_err *err);

/* Commit m as version base+1, only while `lease` (if given) is still the volume's
 * current lease, or (without a lease) while nobody holds one. Returns 0, or
 * CAIRN_STORE_EXISTS when the commit is refused (lease lost, or another version
 * committed first: m is then kept under conflicts/ and err says where), or -1. */
int cairn_volume_commit(struct cairn_store *st, const char *ws, const char *vol,
                        struct cairn_manifest *m, unsigned base, const struct cairn_lease *lease,
                        struct cairn_err *err);
/* As cairn_volume_commit, calling check once the manifest is in storage and
 * before it is made current (gc.h: a writer's watch): 0 goes on; -1 (err set)
 * deletes the manifest and fails the commit. */
typedef int (*cairn_commit_check_fn)(void *arg, struct cairn_err *err);
int cairn_volume_commit_checked(struct cairn_store *st, const char *ws, const char *vol,
                                struct cairn_manifest *m, unsigned base,
                                const struct cairn_lease *lease, cairn_commit_check_fn check,
                                void *arg, struct cairn_err *err);

/* Write the version index entry of the current version if a committer died before
 * writing it. Only the lease holder calls this. */
int cairn_volume_index_current(struct cairn_store *st, const char *ws, const char *vol,
                               struct cairn_err *err);

/* Remove a volume's versions, state and conflict copies; refused (a user error)
 * while a job holds its lease. File contents stay in the workspace's object
 * store, where other volumes may share them. */
int cairn_volume_remove(struct cairn_store *st, const char *ws, const char *vol, const char *who,
                        const char *node, struct cairn_err *err);

/* Commit m (a version of this volume, or of another volume of the workspace)
 * as vol's next version, under a lease taken for it now without waiting: the
 * cheap rollback and fork, which copy no data (contents are shared by the
 * workspace). who/node/user name the holder and committer; user becomes the
 * owner if vol is new. A user error while a job holds the volume. The new
 * version in *version. watch: started (gc.h) before m was read from storage;
 * m->key is checked to still exist if a collection ran meanwhile. */
struct cairn_gc_watch;
int cairn_volume_commit_copy(struct cairn_store *st, const char *ws, const char *vol,
                             struct cairn_manifest *m, const struct cairn_gc_watch *watch,
                             const char *who, const char *node, const char *user, unsigned *version,
                             struct cairn_err *err);

/* May volume vol be created in ws? A user error when the workspace holds
 * MaxVolumesPerWorkspace volumes already. Two creations at the same moment may
 * pass it by one. */
struct cairn_config;
int cairn_volume_quota_check(const struct cairn_config *cfg, struct cairn_store *st, const char *ws,
                             const char *vol, struct cairn_err *err);

/* Names of the volumes of a workspace, sorted. */
int cairn_volume_list(struct cairn_store *st, const char *ws, char ***names, size_t *n,
                      struct cairn_err *err);

#endif
