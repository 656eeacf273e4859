/* A volume version: the list of its entries (files, directories, symlinks) with
 * their content digests. Manifests are immutable once committed; the cache state
 * of a node uses the same structure plus the local stat fields. */
#ifndef CAIRN_MANIFEST_H
#define CAIRN_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "digest.h"
#include "util.h"

#define CAIRN_PATH_MAX 4095
#define CAIRN_MANIFEST_MAX (512u * 1024 * 1024)

enum cairn_ftype { CAIRN_FT_FILE = 0, CAIRN_FT_DIR, CAIRN_FT_SYMLINK };

struct cairn_entry {
	char *path; /* relative, '/'-separated, validated */
	enum cairn_ftype type;
	unsigned mode; /* permission bits, setuid/setgid always cleared */
	uint64_t size;
	int64_t mtime_ns;
	char sha256[CAIRN_SHA256_HEX];
	char md5[CAIRN_MD5_HEX];
	/* Small files live in packs: the pack's SHA-256 ("" for a file stored as an
	 * object of its own) and the file's offset in it. */
	char pack[CAIRN_SHA256_HEX];
	uint64_t offset;
	char *target; /* symlinks */
	/* Node-local cache state only (not in committed manifests). */
	uint64_t ino;
	int64_t ctime_ns;
	/* From a scan only (never saved): owner, and whether setuid/setgid was set. */
	uint32_t uid;
	bool setid;
};

struct cairn_manifest {
	unsigned version; /* 0: the empty volume before its first commit */
	unsigned parent;
	char *workspace, *volume;
	int64_t created; /* seconds since the epoch */
	char *job, *user, *host;
	/* Not part of the manifest: the storage key it was read from or committed
	 * as, when it was (it names this exact version of this volume). */
	char *key;
	struct cairn_entry *e;
	size_t n, cap;
};

void cairn_manifest_init(struct cairn_manifest *m);
void cairn_manifest_free(struct cairn_manifest *m);
struct cairn_entry *cairn_manifest_add(struct cairn_manifest *m, const char *path,
                                       enum cairn_ftype type);
void cairn_manifest_sort(struct cairn_manifest *m);
/* After sort: binary search by path. */
struct cairn_entry *cairn_manifest_find(const struct cairn_manifest *m, const char *path);

/* An index of m's files by content: pointers into m sorted by SHA-256. */
struct cairn_sha_index {
	const struct cairn_entry **e;
	size_t n;
};
void cairn_sha_index_build(struct cairn_sha_index *ix, const struct cairn_manifest *m);
/* A file of the index with that SHA-256 (any of them, if several), or NULL. */
const struct cairn_entry *cairn_sha_index_find(const struct cairn_sha_index *ix, const char *sha);
void cairn_sha_index_free(struct cairn_sha_index *ix);

/* Encode; with_local adds ino/ctime for the node-local cache state. */
char *cairn_manifest_to_json(const struct cairn_manifest *m, bool with_local);
/* Parse and validate everything; hostile input safe. Entries come out sorted. */
int cairn_manifest_from_json(const char *text, size_t len, struct cairn_manifest *m,
                             struct cairn_err *err);

/* The compact binary form, for the cache state and the worker's tree: the same
 * content with the local fields, validated as strictly, read many times faster.
 * Entries come out sorted. */
char *cairn_manifest_to_bin(const struct cairn_manifest *m, size_t *len);
int cairn_manifest_from_bin(const char *buf, size_t len, struct cairn_manifest *m,
                            struct cairn_err *err);
bool cairn_manifest_is_bin(const char *buf, size_t len);
/* Sorted (sorts if need be), no path twice, every parent a directory entry. */
int cairn_manifest_check_tree(struct cairn_manifest *m, struct cairn_err *err);

/* Is s (n bytes) text a manifest can hold: UTF-8, as JSON needs? */
bool cairn_manifest_text_ok(const char *s, size_t n);

/* Validation shared with the sync path. */
int cairn_relpath_check(const char *path, char *why, size_t whylen);
int cairn_symlink_target_check(const char *target, size_t len, char *why, size_t whylen);

uint64_t cairn_manifest_bytes(const struct cairn_manifest *m);
size_t cairn_manifest_files(const struct cairn_manifest *m);
/* True if both hold the same entries (paths, types, modes, digests, targets, mtimes). */
bool cairn_manifest_same_content(const struct cairn_manifest *a, const struct cairn_manifest *b);
/* A tree scanned now (stat only) is the one a cache state recorded: the same
 * entries, and every file with the size, times, inode and ctime the state saw,
 * so the state's digests still hold. Lets no-change hydrates and syncs skip
 * sending, parsing and saving whole manifests. */
bool cairn_manifest_unchanged(const struct cairn_manifest *scan,
                              const struct cairn_manifest *state);

#endif
