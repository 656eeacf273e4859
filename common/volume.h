/* A volume in storage: its versions (immutable manifests), the head hint, the
 * content-addressed objects it references, and the atomic commit of a new version.
 *
 * Layout under the store root:
 *   WS/objects/AB/SHA256                 file contents, shared by the workspace
 *   WS/volumes/VOL/versions/0000000007   manifest of version 7 (created only if absent)
 *   WS/volumes/VOL/head                  hint: the newest version number
 *   WS/volumes/VOL/conflicts/...         refused commits, kept for recovery
 * A commit is the exclusive creation of versions/N+1: readers see the whole old or
 * the whole new version. The head hint only saves probing; it may lag, never lead. */
#ifndef CAIRN_VOLUME_H
#define CAIRN_VOLUME_H

#include "manifest.h"
#include "store.h"

char *cairn_key_object(const char *ws, const char *sha256);
char *cairn_key_version(const char *ws, const char *vol, unsigned version);
char *cairn_key_head(const char *ws, const char *vol);
char *cairn_key_volume_prefix(const char *ws, const char *vol);

/* Load the newest committed version; a volume never committed gives version 0,
 * empty (and *exists = 0). */
int cairn_volume_load_head(struct cairn_store *st, const char *ws, const char *vol,
                           struct cairn_manifest *out, int *exists, struct cairn_err *err);
int cairn_volume_load_version(struct cairn_store *st, const char *ws, const char *vol,
                              unsigned version, struct cairn_manifest *out, struct cairn_err *err);

/* Commit m as version base+1. Returns 0, or CAIRN_STORE_EXISTS when another writer
 * committed first (m is then kept under conflicts/ and err says where), or -1. */
int cairn_volume_commit(struct cairn_store *st, const char *ws, const char *vol,
                        struct cairn_manifest *m, unsigned base, struct cairn_err *err);

/* Names of the volumes of a workspace, sorted; and the workspaces of the store. */
int cairn_volume_list(struct cairn_store *st, const char *ws, char ***names, size_t *n,
                      struct cairn_err *err);

#endif
