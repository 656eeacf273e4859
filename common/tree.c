#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>

int cairn_open_beneath(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .mode = (flags & O_CREAT) ? mode : 0,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

int cairn_open_parent(int rootfd, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	}
	autofree char *dir = strndup(path, (size_t)(slash - path));
	*base = slash + 1;
	return cairn_open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
}

void cairn_entry_set_stat(struct cairn_entry *e, const struct stat *sb)
{
	e->mode = sb->st_mode & 01777;
	e->size = S_ISREG(sb->st_mode) ? (uint64_t)sb->st_size : 0;
	e->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
	e->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000LL + sb->st_ctim.tv_nsec;
	e->ino = (uint64_t)sb->st_ino;
	e->uid = (uint32_t)sb->st_uid;
	e->setid = (sb->st_mode & 06000) != 0;
}

static int scan_dir(int dfd, const char *rel, bool drop_tmp, struct cairn_manifest *out,
                    size_t *skipped, int depth, struct cairn_err *err)
{
	if (depth > 256) {
		cairn_setuerr(err, "directory tree deeper than 256 levels at %.200s", rel);
		close(dfd);
		return -1;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		cairn_seterr(err, "cannot read directory %.200s: %s", *rel ? rel : ".",
		             strerror(errno));
		close(dfd);
		return -1;
	}
	int rv = 0;
	struct dirent *de;
	while (rv == 0 && (errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		/* Our own temporary files from an interrupted hydrate are not content;
		 * hydrate removes them, sync leaves them be. */
		if (!strncmp(name, CAIRN_TMP_PREFIX, strlen(CAIRN_TMP_PREFIX))) {
			if (drop_tmp)
				unlinkat(dirfd(d), name, 0);
			else
				(*skipped)++; /* a user's file with a reserved name */
			continue;
		}
		/* Manifests are JSON: a name that is not UTF-8 cannot be stored. It is
		 * skipped and counted, like a FIFO, rather than failing the sync. */
		if (!cairn_manifest_text_ok(name, strlen(name))) {
			(*skipped)++;
			continue;
		}
		struct stat sb;
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			cairn_seterr(err, "cannot stat %.200s/%.200s: %s", rel, name,
			             strerror(errno));
			rv = -1;
			break;
		}
		autofree char *path = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		if (strlen(path) > CAIRN_PATH_MAX) {
			cairn_setuerr(err, "path %.200s... is longer than %d bytes; shorten it",
			              path, CAIRN_PATH_MAX);
			rv = -1;
			break;
		}
		if (S_ISREG(sb.st_mode)) {
			cairn_entry_set_stat(cairn_manifest_add(out, path, CAIRN_FT_FILE), &sb);
		} else if (S_ISLNK(sb.st_mode)) {
			char target[CAIRN_PATH_MAX + 2];
			ssize_t n = readlinkat(dirfd(d), name, target, sizeof(target) - 1);
			if (n <= 0 || n > CAIRN_PATH_MAX) {
				(*skipped)++;
				continue;
			}
			target[n] = '\0';
			if (!cairn_manifest_text_ok(target, strlen(target))) {
				(*skipped)++;
				continue;
			}
			struct cairn_entry *e = cairn_manifest_add(out, path, CAIRN_FT_SYMLINK);
			cairn_entry_set_stat(e, &sb);
			e->mode = 0777;
			e->target = xstrdup(target);
		} else if (S_ISDIR(sb.st_mode)) {
			cairn_entry_set_stat(cairn_manifest_add(out, path, CAIRN_FT_DIR), &sb);
			int sub =
			    openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				cairn_setuerr(err, "cannot open directory %.200s: %s", path,
				              strerror(errno));
				rv = -1;
				break;
			}
			rv = scan_dir(sub, path, drop_tmp, out, skipped, depth + 1, err);
		} else {
			(*skipped)++;
		}
	}
	if (rv == 0 && errno) {
		cairn_seterr(err, "cannot read directory %.200s: %s", *rel ? rel : ".",
		             strerror(errno));
		rv = -1;
	}
	closedir(d);
	return rv;
}

int cairn_tree_scan(int rootfd, bool drop_tmp, struct cairn_manifest *out, size_t *skipped,
                    struct cairn_err *err)
{
	int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		cairn_seterr(err, "cannot open the volume root: %s", strerror(errno));
		return -1;
	}
	*skipped = 0;
	if (scan_dir(fd, "", drop_tmp, out, skipped, 0, err) < 0)
		return -1;
	cairn_manifest_sort(out);
	return 0;
}

int cairn_remove_at(int parentfd, const char *name)
{
	if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *de;
	int rv = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (cairn_remove_at(dirfd(d), de->d_name) < 0)
			rv = -1;
	}
	closedir(d);
	if (rv == 0 && unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rv = -1;
	return rv;
}
