/* Walking and changing a volume's tree. These run in the worker, as the job's user,
 * with every path resolved beneath the volume root without following symlinks. */
#ifndef CAIRN_TREE_H
#define CAIRN_TREE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "manifest.h"

/* Name prefix of hydrate's temporary files. */
#define CAIRN_TMP_PREFIX ".cairn-hydrate-tmp."

/* Record every entry below rootfd (no hashing) with its stat fields. Other file
 * types (fifos, sockets, devices) are skipped and counted in *skipped. Hydrate's
 * leftover temporary files are never reported; drop_tmp deletes them. */
int cairn_tree_scan(int rootfd, bool drop_tmp, struct cairn_manifest *out, size_t *skipped,
                    struct cairn_err *err);
/* openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) below rootfd. */
int cairn_open_beneath(int rootfd, const char *path, int flags, mode_t mode);
/* The directory holding path (opened beneath rootfd) and the last component. */
int cairn_open_parent(int rootfd, const char *path, const char **base);
/* Remove an entry; directories recursively, fd-based, never following symlinks. */
int cairn_remove_at(int parentfd, const char *name);
void cairn_entry_set_stat(struct cairn_entry *e, const struct stat *sb);

#endif
