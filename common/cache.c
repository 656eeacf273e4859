#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tree.h"

/* Open (creating if needed) a root-owned 0700 directory below parent. */
static int root_dir_at(int parent, const char *name, struct cairn_err *err)
{
	if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST) {
		cairn_seterr(err, "cache: cannot create %s: %s", name, strerror(errno));
		return -1;
	}
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_uid != 0 || (sb.st_mode & 077)) {
		cairn_seterr(err, "cache: %s is not a root-owned private directory", name);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int remove_tree(const char *dir, struct cairn_err *err);

/* Does any job other than job_id (any job, with NULL) hold the tree? Each running
 * job leaves a jobs/<id> marker; the Epilog removes it. */
/* A marker of a job that is gone: a `cairn run` whose process died, or a Slurm job
 * without a record (its Epilog finished, or the node restarted). */
static bool stale_marker(int jobsfd, const char *name, const char *state_dir)
{
	unsigned long long id;
	if (!strncmp(name, "run", 3) && parse_uint(name + 3, INT32_MAX, &id) == 0)
		return kill((pid_t)id, 0) < 0 && errno == ESRCH;
	if (state_dir && parse_uint(name, UINT32_MAX, &id) == 0) {
		/* A Prolog writes the record only after hydrating, which may take long:
		 * a marker without a record is stale only once it is an hour old. */
		struct stat sb;
		autofree char *rec = xasprintf("%s/job%s.json", state_dir, name);
		return access(rec, F_OK) < 0 && errno == ENOENT &&
		       fstatat(jobsfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		       sb.st_mtime < time(NULL) - 3600;
	}
	return false;
}

static bool held_by_other(int treefd, const char *job_id, const char *state_dir)
{
	autoclose int fd = openat(treefd, "jobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	DIR *d = fdopendir(fd);
	if (!d)
		return true;
	fd = -1;
	bool other = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || (job_id && !strcmp(de->d_name, job_id)))
			continue;
		if (stale_marker(dirfd(d), de->d_name, state_dir))
			unlinkat(dirfd(d), de->d_name, 0);
		else
			other = true;
	}
	closedir(d);
	return other;
}

static int hold(int treefd, const char *job_id, bool on)
{
	if (mkdirat(treefd, "jobs", 0700) < 0 && errno != EEXIST)
		return -1;
	autoclose int jfd = openat(treefd, "jobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		return -1;
	if (!on)
		return unlinkat(jfd, job_id, 0) < 0 && errno != ENOENT ? -1 : 0;
	int fd = openat(jfd, job_id, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static bool tree_name_ok(const char *tree, uid_t uid)
{
	char want[32];
	int n = snprintf(want, sizeof(want), "u%u", (unsigned)uid);
	if (strncmp(tree, want, (size_t)n))
		return false;
	if (!tree[n])
		return true;
	return tree[n] == '-' && tree[n + 1] == 'j' && tree[n + 2] &&
	       strspn(tree + n + 2, "0123456789abcdefghijklmnopqrstuvwxyz") == strlen(tree + n + 2);
}

int cairn_cache_open(const struct cairn_config *cfg, const char *ws, const char *vol,
                     const struct cairn_user *u, const char *job_id, const char *tree,
                     struct cairn_cache_vol *cv, struct cairn_err *err)
{
	char shared[32];
	memset(cv, 0, sizeof(*cv));
	cv->dirfd = cv->datafd = -1;
	snprintf(shared, sizeof(shared), "u%u", (unsigned)u->uid);
	if (tree && !tree_name_ok(tree, u->uid)) {
		cairn_seterr(err, "cache: invalid tree name \"%s\"", tree);
		return -1;
	}
	if (mkdir(cfg->cache_dir, 0700) < 0 && errno != EEXIST) {
		cairn_seterr(err, "cache: cannot create %s: %s", cfg->cache_dir, strerror(errno));
		return -1;
	}
	autoclose int top = open(cfg->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat tsb;
	if (top < 0 || fstat(top, &tsb) < 0 || tsb.st_uid != 0 || (tsb.st_mode & 022)) {
		cairn_seterr(err,
		             "cache: %s must be a directory owned by root and writable only "
		             "by root",
		             cfg->cache_dir);
		return -1;
	}
	autoclose int wsfd = root_dir_at(top, ws, err);
	if (wsfd < 0)
		return -1;
	autoclose int volfd = root_dir_at(wsfd, vol, err);
	if (volfd < 0)
		return -1;
	autofree char *name = NULL;
	if (tree) {
		name = xstrdup(tree);
		cv->private_tree = strcmp(tree, shared) != 0;
		cv->dirfd = root_dir_at(volfd, name, err);
		if (cv->dirfd < 0)
			return -1;
	} else {
		/* One job per tree: a job that finds the user's shared tree in use by
		 * another job (a reader next to a writer, a holder whose lease was taken
		 * over) works in a private tree of its own. */
		flock(volfd, LOCK_EX);
		cv->dirfd = root_dir_at(volfd, shared, err);
		if (cv->dirfd >= 0 && held_by_other(cv->dirfd, job_id, cfg->state_dir)) {
			close(cv->dirfd);
			name = xasprintf("%s-j%s", shared, job_id);
			cv->dirfd = root_dir_at(volfd, name, err);
			cv->private_tree = true;
		} else {
			name = xstrdup(shared);
		}
		if (cv->dirfd >= 0 && hold(cv->dirfd, job_id, true) < 0) {
			cairn_seterr(err, "cache: cannot mark %s/%s in use: %s", vol, name,
			             strerror(errno));
			close(cv->dirfd);
			cv->dirfd = -1;
		}
		flock(volfd, LOCK_UN);
		if (cv->dirfd < 0)
			return -1;
	}
	if (mkdirat(cv->dirfd, "data", 0700) < 0 && errno != EEXIST) {
		cairn_seterr(err, "cache: cannot create the data directory: %s", strerror(errno));
		goto fail;
	}
	cv->datafd = openat(cv->dirfd, "data", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (cv->datafd < 0 || fstat(cv->datafd, &sb) < 0) {
		cairn_seterr(err, "cache: cannot open the data directory: %s", strerror(errno));
		goto fail;
	}
	if (sb.st_uid != u->uid && fchown(cv->datafd, u->uid, u->gid) < 0) {
		cairn_seterr(err, "cache: cannot give the data directory to %s: %s", u->name,
		             strerror(errno));
		goto fail;
	}
	cv->tree = steal_ptr(&name);
	cv->dir = xasprintf("%s/%s/%s/%s", cfg->cache_dir, ws, vol, cv->tree);
	cv->data_path = xasprintf("%s/data", cv->dir);
	return 0;
fail:
	cairn_cache_close(cv);
	return -1;
}

void cairn_cache_release(struct cairn_cache_vol *cv, const char *job_id)
{
	if (cv->dirfd < 0)
		return;
	(void)hold(cv->dirfd, job_id, false);
	/* A private tree served one job only. */
	if (cv->private_tree && cv->dir) {
		struct cairn_err ignore = {0};
		autofree char *dir = xstrdup(cv->dir);
		cairn_cache_close(cv);
		(void)remove_tree(dir, &ignore);
	}
}

void cairn_cache_close(struct cairn_cache_vol *cv)
{
	if (cv->dirfd >= 0)
		close(cv->dirfd);
	if (cv->datafd >= 0)
		close(cv->datafd);
	free(cv->dir);
	free(cv->data_path);
	free(cv->tree);
	memset(cv, 0, sizeof(*cv));
	cv->dirfd = cv->datafd = -1;
}

/* Hydrate does not fsync files one by one (that would cost more than the
 * download): after a crash a file may keep the size and times the state
 * recorded but not its data. The state therefore names the boot it was saved
 * in (state.meta), and one from another boot is trusted for its digests only:
 * every file is hashed again before it is believed. */
static void boot_id(char out[64])
{
	autoclose int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, out, 63);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* state.meta: "BOOT_ID VERSION [MANIFEST_KEY]" of the saved state (states
 * saved by earlier versions have no key). */
static bool read_meta(struct cairn_cache_vol *cv, char boot[64], unsigned *version, char **key)
{
	char text[2048];
	if (key)
		*key = NULL;
	autoclose int fd = openat(cv->dirfd, "state.meta", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);
	if (n <= 0)
		return false;
	text[n] = '\0';
	int used = 0;
	if (sscanf(text, "%63s %u%n", boot, version, &used) != 2)
		return false;
	const char *k = text + used;
	k += strspn(k, " ");
	size_t len = strcspn(k, " \n");
	if (key && len && !(len == 1 && k[0] == '-'))
		*key = strndup(k, len);
	return true;
}

int cairn_cache_state_version(struct cairn_cache_vol *cv, unsigned *version, char **key)
{
	char boot[64];
	return read_meta(cv, boot, version, key) ? 0 : -1;
}

/* The saved state in dirfd: state.bin, or the state.json of earlier versions
 * (read once, then replaced at the next save). -1 if there is none or it is
 * damaged. */
static int read_state(int dirfd, struct cairn_manifest *state)
{
	static const char *const names[] = {"state.bin", "state.json"};
	struct stat bin, json;
	cairn_manifest_init(state);
	bool have_bin = fstatat(dirfd, names[0], &bin, AT_SYMLINK_NOFOLLOW) == 0;
	bool have_json = fstatat(dirfd, names[1], &json, AT_SYMLINK_NOFOLLOW) == 0;
	/* Both: an earlier version ran after this one; its state is the newer. */
	size_t i = have_bin && !(have_json && json.st_mtime > bin.st_mtime) ? 0 : 1;
	autoclose int fd = openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size > (off_t)CAIRN_MANIFEST_MAX)
		return -1;
	autofree char *buf = xcalloc(1, (size_t)sb.st_size + 1);
	if (read_full(fd, buf, (size_t)sb.st_size) != sb.st_size)
		return -1;
	struct cairn_err perr = {0};
	size_t len = (size_t)sb.st_size;
	return i == 0 ? cairn_manifest_from_bin(buf, len, state, &perr)
	              : cairn_manifest_from_json(buf, len, state, &perr);
}

int cairn_cache_load_state(struct cairn_cache_vol *cv, struct cairn_manifest *state)
{
	/* A damaged state only costs re-hashing: start from nothing. */
	bool read_ok = read_state(cv->dirfd, state) == 0;
	if (!read_ok)
		cairn_manifest_init(state);
	char then[64], now[64];
	unsigned v = 0;
	char *key = NULL;
	bool meta = read_meta(cv, then, &v, &key);
	if (read_ok && meta && v == state->version)
		state->key = steal_ptr(&key);
	free(key);
	boot_id(now);
	if (!(meta && now[0] && !strcmp(now, then))) {
		for (size_t i = 0; i < state->n; i++)
			state->e[i].ino = 0; /* no file has inode 0: never a stat match */
	} else if (read_ok && faccessat(cv->dirfd, "state.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		/* An earlier version's state: saved in the new form now, so that
		 * later jobs read it fast even if nothing changes. */
		struct cairn_err ignore = {0};
		(void)cairn_cache_save_state(cv, state, &ignore);
	}
	return 0;
}

int cairn_cache_save_state(struct cairn_cache_vol *cv, const struct cairn_manifest *state,
                           struct cairn_err *err)
{
	size_t len;
	autofree char *bin = cairn_manifest_to_bin(state, &len);
	char boot[64];
	boot_id(boot);
	/* A key holds no spaces or newlines: volume and workspace names cannot. */
	autofree char *meta =
	    xasprintf("%s %u %s\n", boot[0] ? boot : "-", state->version,
	              state->key && !strpbrk(state->key, " \n") ? state->key : "-");
	/* Gone first: a crash between the two renames must not pair the new
	 * state with the old version. */
	unlinkat(cv->dirfd, "state.meta", 0);
	autoclose int fd = openat(cv->dirfd, "state.bin.tmp",
	                          O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, bin, len) < 0 || fsync(fd) < 0 ||
	    renameat(cv->dirfd, "state.bin.tmp", cv->dirfd, "state.bin") < 0) {
		cairn_seterr(err, "cache: cannot save %s/state.bin: %s", cv->dir, strerror(errno));
		return -1;
	}
	unlinkat(cv->dirfd, "state.json", 0);
	autoclose int mfd = openat(cv->dirfd, "state.meta.tmp",
	                           O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (mfd < 0 || write_all(mfd, meta, strlen(meta)) < 0 ||
	    renameat(cv->dirfd, "state.meta.tmp", cv->dirfd, "state.meta") < 0) {
		cairn_seterr(err, "cache: cannot save %s/state.meta: %s", cv->dir, strerror(errno));
		return -1;
	}
	return 0;
}

void cairn_cache_touch(struct cairn_cache_vol *cv)
{
	utimensat(cv->dirfd, ".", NULL, 0);
}

struct cache_tree {
	char *dir;
	int64_t used;
	uint64_t bytes;
};

static uint64_t state_bytes(int dirfd)
{
	struct cairn_manifest m;
	if (read_state(dirfd, &m) < 0)
		return 0;
	uint64_t b = cairn_manifest_bytes(&m);
	cairn_manifest_free(&m);
	return b;
}

/* Empty a user's tree as that user, then remove what is root's. */
static int remove_tree(const char *dir, struct cairn_err *err)
{
	autoclose int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	autoclose int data = openat(dfd, "data", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (data >= 0 && fstat(data, &sb) == 0 && sb.st_uid != 0) {
		struct cairn_user u = {.uid = sb.st_uid, .gid = sb.st_gid, .name = "cache owner"};
		pid_t pid = fork();
		if (pid < 0) {
			cairn_seterr(err, "fork: %s", strerror(errno));
			return -1;
		}
		if (pid == 0) {
			struct cairn_err e = {0};
			if (cairn_drop_privileges(&u, &e) < 0)
				_exit(1);
			DIR *d = fdopendir(data);
			struct dirent *de;
			int rv = 0;
			while (d && (de = readdir(d)))
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					rv |= cairn_remove_at(dirfd(d), de->d_name);
			_exit(rv ? 1 : 0);
		}
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	unlinkat(dfd, "data", AT_REMOVEDIR);
	unlinkat(dfd, "state.bin", 0);
	unlinkat(dfd, "state.json", 0);
	unlinkat(dfd, "state.meta", 0);
	unlinkat(dfd, "jobs", AT_REMOVEDIR);
	return rmdir(dir) < 0 && errno != ENOENT ? -1 : 0;
}

static int cmp_used(const void *a, const void *b)
{
	const struct cache_tree *x = a, *y = b;
	return x->used < y->used ? -1 : x->used > y->used;
}

static void list_level(const char *path, const char *state_dir, int depth, struct cache_tree **v,
                       size_t *n)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		autofree char *sub = xasprintf("%s/%s", path, de->d_name);
		if (depth < 2) {
			list_level(sub, state_dir, depth + 1, v, n);
			continue;
		}
		struct stat sb;
		autoclose int fd = open(sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0 || held_by_other(fd, NULL, state_dir))
			continue;
		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		(*v)[*n].dir = steal_ptr(&sub);
		(*v)[*n].used = (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
		(*v)[*n].bytes = state_bytes(fd);
		(*n)++;
	}
	closedir(d);
}

/* Take a tree out of use under the volume's lock (the one a starting job claims
 * trees under), then remove it. Returns 1 if a job took it meanwhile. */
static int evict_tree(const char *dir, const char *state_dir, struct cairn_err *err)
{
	const char *slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	autofree char *parent = strndup(dir, (size_t)(slash - dir));
	autoclose int volfd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (volfd < 0)
		return -1;
	char tomb[64];
	snprintf(tomb, sizeof(tomb), ".evicting.%d.%ld", (int)getpid(), (long)now_seconds());
	flock(volfd, LOCK_EX);
	autoclose int treefd =
	    openat(volfd, slash + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	bool busy = treefd < 0 || held_by_other(treefd, NULL, state_dir);
	int r = busy ? -1 : renameat(volfd, slash + 1, volfd, tomb);
	flock(volfd, LOCK_UN);
	if (busy)
		return 1;
	if (r < 0)
		return -1;
	autofree char *tpath = xasprintf("%s/%s", parent, tomb);
	return remove_tree(tpath, err);
}

int cairn_cache_evict(const struct cairn_config *cfg, const char *const *keep, size_t nkeep,
                      struct cairn_err *err)
{
	struct cache_tree *v = NULL;
	size_t n = 0;
	uint64_t total = 0;
	int rv = 0;
	list_level(cfg->cache_dir, cfg->state_dir, 0, &v, &n);
	for (size_t i = 0; i < n; i++)
		total += v[i].bytes;
	/* Trees held by this job count towards the total but are never evicted. */
	qsort(v, n, sizeof(*v), cmp_used);
	for (size_t i = 0; i < n && total > cfg->cache_max; i++) {
		bool kept = false;
		size_t dl = strlen(v[i].dir);
		for (size_t k = 0; k < nkeep; k++)
			if (!strncmp(keep[k], v[i].dir, dl) && (!keep[k][dl] || keep[k][dl] == '/'))
				kept = true;
		if (kept)
			continue;
		int r = evict_tree(v[i].dir, cfg->state_dir, err);
		if (r < 0)
			rv = -1;
		if (r == 0)
			total -= v[i].bytes;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].dir);
	free(v);
	return rv;
}
