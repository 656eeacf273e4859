/* file:// backend: a directory, typically on a cluster's shared filesystem.
 * Atomicity rests on two POSIX primitives that NFS and Lustre keep atomic:
 * rename() to replace an object, and link() to create one only if absent. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define IO_CHUNK (256 * 1024)

struct file_store {
	int rootfd;
	char *root;
};

static struct file_store *fs_of(struct cairn_store *st)
{
	return st->impl;
}

/* Create the parent directories of key below root. */
static int mkparents(int rootfd, const char *key, struct cairn_err *err)
{
	autofree char *k = xstrdup(key);
	for (char *p = strchr(k, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdirat(rootfd, k, 0700) < 0 && errno != EEXIST) {
			cairn_seterr(err, "storage: cannot create directory %s: %s", k,
			             strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/* len UINT64_MAX: to the end. */
static int fs_get_range(struct cairn_store *st, const char *key, uint64_t off, uint64_t len,
                        cairn_sink_fn sink, void *arg, struct cairn_err *err)
{
	struct file_store *fs = fs_of(st);
	autoclose int fd = openat(fs->rootfd, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return CAIRN_STORE_NOTFOUND;
		cairn_seterr(err, "storage: cannot open %s/%s: %s", fs->root, key, strerror(errno));
		return -1;
	}
	autofree char *buf = xcalloc(1, IO_CHUNK);
	uint64_t done = 0;
	while (done < len) {
		size_t want = len - done < IO_CHUNK ? (size_t)(len - done) : IO_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cairn_seterr(err, "storage: cannot read %s/%s: %s", fs->root, key,
			             strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		if (sink(arg, buf, (size_t)n, err) < 0)
			return -1;
		done += (uint64_t)n;
	}
	if (len != UINT64_MAX && done != len) {
		cairn_seterr(err, "storage: %s/%s ends before byte %llu", fs->root, key,
		             (unsigned long long)(off + len));
		return -1;
	}
	return 0;
}

static int fs_get(struct cairn_store *st, const char *key, cairn_sink_fn sink, void *arg,
                  struct cairn_err *err)
{
	return fs_get_range(st, key, 0, UINT64_MAX, sink, arg, err);
}

static int fs_put(struct cairn_store *st, const char *key, cairn_source_fn src, void *arg,
                  unsigned flags, struct cairn_err *err)
{
	struct file_store *fs = fs_of(st);
	unsigned char rnd[8];
	char tmp[64];
	int rv = -1;
	autoclose int fd = -1;
	autofree char *buf = NULL;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		cairn_seterr(err, "storage: getrandom failed: %s", strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), ".tmp/%02x%02x%02x%02x%02x%02x%02x%02x.%d", rnd[0], rnd[1],
	         rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], (int)getpid());
	if (mkparents(fs->rootfd, key, err) < 0)
		return -1;
	fd = openat(fs->rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		cairn_seterr(err, "storage: cannot create %s/%s: %s", fs->root, tmp,
		             strerror(errno));
		return -1;
	}
	buf = xcalloc(1, IO_CHUNK);
	for (;;) {
		ssize_t n = src(arg, buf, IO_CHUNK, err);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (write_all(fd, buf, (size_t)n) < 0) {
			cairn_seterr(err, "storage: cannot write %s/%s: %s", fs->root, key,
			             strerror(errno));
			goto fail;
		}
	}
	if (fsync(fd) < 0) {
		cairn_seterr(err, "storage: fsync of %s failed: %s", key, strerror(errno));
		goto fail;
	}
	if (flags & CAIRN_PUT_IF_ABSENT) {
		if (linkat(fs->rootfd, tmp, fs->rootfd, key, 0) < 0) {
			if (errno == EEXIST) {
				rv = CAIRN_STORE_EXISTS;
				goto fail;
			}
			cairn_seterr(err, "storage: cannot create %s/%s: %s", fs->root, key,
			             strerror(errno));
			goto fail;
		}
		unlinkat(fs->rootfd, tmp, 0);
	} else if (renameat(fs->rootfd, tmp, fs->rootfd, key) < 0) {
		cairn_seterr(err, "storage: cannot rename into %s/%s: %s", fs->root, key,
		             strerror(errno));
		goto fail;
	}
	/* Make the new name durable too: fsync the directory holding it. */
	{
		autofree char *dir = xstrdup(key);
		char *slash = strrchr(dir, '/');
		autoclose int dfd = -1;
		if (slash) {
			*slash = '\0';
			dfd = openat(fs->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (dfd >= 0)
			fsync(dfd);
	}
	return 0;
fail:
	unlinkat(fs->rootfd, tmp, 0);
	return rv;
}

static int fs_exists(struct cairn_store *st, const char *key, uint64_t *size, struct cairn_err *err)
{
	struct file_store *fs = fs_of(st);
	struct stat sb;
	if (fstatat(fs->rootfd, key, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return CAIRN_STORE_NOTFOUND;
		cairn_seterr(err, "storage: cannot stat %s/%s: %s", fs->root, key, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode))
		return CAIRN_STORE_NOTFOUND;
	if (size)
		*size = (uint64_t)sb.st_size;
	return 0;
}

static int fs_del(struct cairn_store *st, const char *key, struct cairn_err *err)
{
	struct file_store *fs = fs_of(st);
	if (unlinkat(fs->rootfd, key, 0) < 0) {
		if (errno == ENOENT)
			return CAIRN_STORE_NOTFOUND;
		cairn_seterr(err, "storage: cannot delete %s/%s: %s", fs->root, key,
		             strerror(errno));
		return -1;
	}
	return 0;
}

/* Recursive listing in lexical order per directory; keys are reported relative to
 * root. Returns -1 on error, 1 when the callback asked to stop, else 0. */
static int list_dir(int dfd, const char *rel, cairn_list_fn fn, void *arg, struct cairn_err *err)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		cairn_seterr(err, "storage: cannot list %s: %s", rel, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cairn_strv_cmp);
	int rv = 0;
	for (size_t i = 0; i < n && rv == 0; i++) {
		autofree char *key = xasprintf("%s/%s", rel, names[i]);
		struct stat sb;
		if (fstatat(dirfd(d), names[i], &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(d), names[i],
			                 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (sub >= 0)
				rv = list_dir(sub, key, fn, arg, err);
		} else if (S_ISREG(sb.st_mode)) {
			rv = fn(arg, key, (uint64_t)sb.st_size, (int64_t)sb.st_mtim.tv_sec);
			if (rv < 0)
				cairn_seterr(err, "storage: listing stopped at %s", key);
		}
	}
	cairn_strv_free(names, n);
	closedir(d);
	return rv < 0 ? -1 : rv > 0 ? 1 : 0;
}

static int fs_list(struct cairn_store *st, const char *prefix, cairn_list_fn fn, void *arg,
                   struct cairn_err *err)
{
	struct file_store *fs = fs_of(st);
	autofree char *dir = xstrdup(prefix);
	size_t l = strlen(dir);
	if (l && dir[l - 1] == '/')
		dir[l - 1] = '\0';
	int dfd = openat(fs->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		cairn_seterr(err, "storage: cannot list %s/%s: %s", fs->root, dir, strerror(errno));
		return -1;
	}
	return list_dir(dfd, dir, fn, arg, err) < 0 ? -1 : 0;
}

static void fs_close(struct cairn_store *st)
{
	struct file_store *fs = fs_of(st);
	if (!fs)
		return;
	if (fs->rootfd >= 0)
		close(fs->rootfd);
	free(fs->root);
	free(fs);
}

static const struct cairn_store_ops file_ops = {
    .get = fs_get,
    .get_range = fs_get_range,
    .put = fs_put,
    .exists = fs_exists,
    .del = fs_del,
    .list = fs_list,
    .close = fs_close,
};

int cairn_store_file_open(const char *url, struct cairn_store *st, struct cairn_err *err)
{
	const char *path = url + strlen("file://");
	if (path[0] != '/') {
		cairn_seterr(err,
		             "Storage = %s: a file:// URL needs an absolute path, e.g. "
		             "file:///shared/cairn",
		             url);
		return -1;
	}
	/* The store holds every user's data: only root may enter it. */
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		cairn_seterr(err, "Storage = %s: cannot create %s: %s", url, path, strerror(errno));
		return -1;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		cairn_seterr(err, "Storage = %s: cannot open %s: %s", url, path, strerror(errno));
		return -1;
	}
	if (mkdirat(fd, ".tmp", 0700) < 0 && errno != EEXIST) {
		cairn_seterr(err, "Storage = %s: cannot create %s/.tmp: %s", url, path,
		             strerror(errno));
		close(fd);
		return -1;
	}
	struct file_store *fs = xcalloc(1, sizeof(*fs));
	fs->rootfd = fd;
	fs->root = xstrdup(path);
	st->impl = fs;
	st->ops = &file_ops;
	return 0;
}
