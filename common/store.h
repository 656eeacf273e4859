/* The object-store interface every backend implements (file:// now, s3:// later).
 * Keys are '/'-separated relative paths built by Cairn from validated names.
 * Data is streamed through callbacks with bounded buffers. */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define CAIRN_STORE_NOTFOUND (-2)
#define CAIRN_STORE_EXISTS (-3)

#define CAIRN_PUT_IF_ABSENT 1u

/* Returns bytes placed in buf, 0 at the end, -1 on error (with err set). */
typedef ssize_t (*cairn_source_fn)(void *arg, void *buf, size_t len, struct cairn_err *err);
/* Returns 0, or -1 to abort the transfer (with err set). */
typedef int (*cairn_sink_fn)(void *arg, const void *buf, size_t len, struct cairn_err *err);
/* Called per key under a prefix, with its size and when it was last written
 * (seconds since the epoch, by the storage's clock); return non-zero to stop. */
typedef int (*cairn_list_fn)(void *arg, const char *key, uint64_t size, int64_t mtime);

struct cairn_store;

struct cairn_store_ops {
	int (*get)(struct cairn_store *st, const char *key, cairn_sink_fn sink, void *arg,
	           struct cairn_err *err);
	int (*put)(struct cairn_store *st, const char *key, cairn_source_fn src, void *arg,
	           unsigned flags, struct cairn_err *err);
	int (*exists)(struct cairn_store *st, const char *key, uint64_t *size,
	              struct cairn_err *err);
	int (*del)(struct cairn_store *st, const char *key, struct cairn_err *err);
	int (*list)(struct cairn_store *st, const char *prefix, cairn_list_fn fn, void *arg,
	            struct cairn_err *err);
	void (*close)(struct cairn_store *st);
	/* Optional: store size bytes of fd (read with pread from 0) whose digests are
	 * known; the backend has the server check them. */
	int (*put_fd)(struct cairn_store *st, const char *key, int fd, uint64_t size,
	              const char *sha256, const char *md5, char (*part_md5)[33], unsigned flags,
	              struct cairn_err *err);
	/* Optional: write the object (size bytes expected) into fd with pwrite and give
	 * the SHA-256 of what was written; may fetch ranges in parallel and resume. */
	int (*get_fd)(struct cairn_store *st, const char *key, int fd, uint64_t size,
	              char sha256[65], struct cairn_err *err);
	/* Bytes [off, off + len) of an object, in order, to sink. */
	int (*get_range)(struct cairn_store *st, const char *key, uint64_t off, uint64_t len,
	                 cairn_sink_fn sink, void *arg, struct cairn_err *err);
};

struct cairn_store {
	const struct cairn_store_ops *ops;
	char *url;
	void *impl;
};

int cairn_store_open(const char *url, struct cairn_store **out, struct cairn_err *err);
/* Another handle on the same store (for a transfer thread), without the probes
 * of cairn_store_open. */
int cairn_store_reopen(const struct cairn_store *st, struct cairn_store **out,
                       struct cairn_err *err);
void cairn_store_close(struct cairn_store *st);
static inline void cairn_store_closep(struct cairn_store **st)
{
	if (*st)
		cairn_store_close(*st);
}
#define autostore __attribute__((cleanup(cairn_store_closep)))

/* All return 0 on success, CAIRN_STORE_NOTFOUND / CAIRN_STORE_EXISTS where they apply,
 * -1 on other errors with err set. */
int cairn_store_get(struct cairn_store *st, const char *key, cairn_sink_fn sink, void *arg,
                    struct cairn_err *err);
int cairn_store_put(struct cairn_store *st, const char *key, cairn_source_fn src, void *arg,
                    unsigned flags, struct cairn_err *err);
int cairn_store_exists(struct cairn_store *st, const char *key, uint64_t *size,
                       struct cairn_err *err);
int cairn_store_delete(struct cairn_store *st, const char *key, struct cairn_err *err);
int cairn_store_list(struct cairn_store *st, const char *prefix, cairn_list_fn fn, void *arg,
                     struct cairn_err *err);
/* Every key under prefix, in listing order, into *keys (free with
 * cairn_strv_free). */
int cairn_store_list_keys(struct cairn_store *st, const char *prefix, char ***keys, size_t *n,
                          struct cairn_err *err);

/* Store the first size bytes of fd, whose SHA-256 and MD5 (hex) the caller
 * computed; fails if the bytes no longer have them. part_md5: NULL, or the MD5
 * of every part (see cairn_part_size) when size >= CAIRN_MULTIPART_MIN. */
int cairn_store_put_fd(struct cairn_store *st, const char *key, int fd, uint64_t size,
                       const char *sha256, const char *md5, char (*part_md5)[33], unsigned flags,
                       struct cairn_err *err);

/* Large files go up in parts: from CAIRN_MULTIPART_MIN bytes, in parts of
 * cairn_part_size(size). A caller that reads the file anyway to hash it may
 * pass each part's MD5 (hex) to cairn_store_put_fd, sparing a second read. */
#define CAIRN_MULTIPART_MIN (64ULL * 1024 * 1024)
uint64_t cairn_part_size(uint64_t size);

/* A sink that writes bytes into a file at their offsets, from off up to end
 * (more is an error), hashing them into dg if set. */
struct cairn_file_sink {
	int fd;
	uint64_t off, end;
	struct cairn_digest *dg;
};
int cairn_file_sink_write(void *arg, const void *buf, size_t len, struct cairn_err *err);

/* Fetch an object of size bytes into fd (pwrite from offset 0); sha256 gets the
 * SHA-256 of what was written. More or fewer bytes than size is an error. */
int cairn_store_get_fd(struct cairn_store *st, const char *key, int fd, uint64_t size,
                       char sha256[65], struct cairn_err *err);

/* Bytes [off, off + len) of an object; fewer is an error. */
int cairn_store_get_range(struct cairn_store *st, const char *key, uint64_t off, uint64_t len,
                          cairn_sink_fn sink, void *arg, struct cairn_err *err);

/* Small objects held in memory (manifests, heads). max bounds what is accepted. */
int cairn_store_get_buf(struct cairn_store *st, const char *key, size_t max, char **out,
                        size_t *len, struct cairn_err *err);
int cairn_store_put_buf(struct cairn_store *st, const char *key, const void *buf, size_t len,
                        unsigned flags, struct cairn_err *err);

/* Test hook: CAIRN_FAULT_PUT_ABORT_AFTER=N makes the process abort() before the
 * (N+1)-th put, to simulate an epilog killed mid-sync. */
void cairn_store_fault_point(void);

int cairn_store_file_open(const char *url, struct cairn_store *st, struct cairn_err *err);

/* The number that ends a key ("WS/volumes/V/state/000000000042" -> 42). */
int cairn_key_number(const char *key, unsigned long long max, unsigned long long *out);
/* s3://bucket/prefix (store_s3.c). Settings come from cairn.conf through
 * cairn_store_s3_configure() (NULL or "" keeps a default: endpoint
 * https://s3.REGION.amazonaws.com, region us-east-1, credentials
 * /etc/slurm/cairn-s3.credentials); they apply to stores opened afterwards. */
int cairn_store_s3_configure(const char *endpoint, const char *region, bool path_style,
                             const char *credentials_file);
int cairn_store_s3_open(const char *url, struct cairn_store *st, struct cairn_err *err);

#endif
