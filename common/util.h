/* Small helpers shared by every Cairn component: cleanup attributes,
 * error buffers and number formatting. No Slurm dependency. */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CAIRN_ERRLEN 512

/* Error buffer passed down the call chain; the first message set wins so the
 * innermost, most specific cause is what the user sees. */
struct cairn_err {
	char msg[CAIRN_ERRLEN];
	bool user; /* the user's mistake: fail the job, never the node */
};

void cairn_seterr(struct cairn_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cairn_setuerr(struct cairn_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void cairn_freep(void *p)
{
	free(*(void **)p);
}
static inline void cairn_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void cairn_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define autofree __attribute__((cleanup(cairn_freep)))
#define autoclose __attribute__((cleanup(cairn_closep)))
#define autofclose __attribute__((cleanup(cairn_fclosep)))

static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}
static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *r = *p;
	*p = NULL;
	return r;
}

char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t sz);

/* "1,203" */
void fmt_count(char *buf, size_t len, unsigned long long n);
/* "1.2 GiB", "4.1 MiB", "512 B" */
void fmt_bytes(char *buf, size_t len, unsigned long long n);
double now_seconds(void);
/* The same, counting while the host is suspended (as a storage server's clock
 * does): for deadlines that others judge by that clock. */
double boottime_seconds(void);
/* Free an array of n strings and the array. */
void cairn_strv_free(char **v, size_t n);
/* qsort comparator for an array of strings. */
int cairn_strv_cmp(const void *a, const void *b);
/* 32 random hex digits: a nonce, unique rather than secret. */
void cairn_random_hex(char out[33]);

/* Full read/write loops that retry on EINTR and short transfers. */
int write_all(int fd, const void *buf, size_t len);
/* pwrite until done (EINTR and short writes retried). */
int pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
ssize_t read_full(int fd, void *buf, size_t len);

/* Parse "10G", "512M", "1024" (bytes); returns -1 on junk. */
int parse_size(const char *s, unsigned long long *out);
/* Parse a non-negative decimal integer with an upper bound. */
int parse_uint(const char *s, unsigned long long max, unsigned long long *out);

#endif
