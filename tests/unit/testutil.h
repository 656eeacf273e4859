/* Helpers shared by the unit tests: substring checks and removing the temporary
 * directory a test worked in. */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

static inline bool has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static inline int rm_one_(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without following symlinks. */
static inline int rm_rf(const char *path)
{
	return nftw(path, rm_one_, 32, FTW_DEPTH | FTW_PHYS);
}

#endif
