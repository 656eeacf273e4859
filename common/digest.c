#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cairn_digest_init(struct cairn_digest *d)
{
	d->md5 = EVP_MD_CTX_new();
	d->sha256 = EVP_MD_CTX_new();
	if (!d->md5 || !d->sha256 || !EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) ||
	    !EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL)) {
		cairn_digest_free(d);
		return -1;
	}
	return 0;
}

/* One of the two digests only; the other's context stays NULL. */
static int init_one(struct cairn_digest *d, bool sha)
{
	void **ctx = sha ? &d->sha256 : &d->md5;
	d->md5 = d->sha256 = NULL;
	*ctx = EVP_MD_CTX_new();
	if (!*ctx || !EVP_DigestInit_ex(*ctx, sha ? EVP_sha256() : EVP_md5(), NULL)) {
		cairn_digest_free(d);
		return -1;
	}
	return 0;
}

int cairn_digest_init_sha256(struct cairn_digest *d)
{
	return init_one(d, true);
}

int cairn_digest_init_md5(struct cairn_digest *d)
{
	return init_one(d, false);
}

void cairn_digest_update(struct cairn_digest *d, const void *buf, size_t len)
{
	if (d->md5)
		EVP_DigestUpdate(d->md5, buf, len);
	if (d->sha256)
		EVP_DigestUpdate(d->sha256, buf, len);
}

static void hex(const unsigned char *in, unsigned len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void cairn_digest_final(struct cairn_digest *d, char sha256[CAIRN_SHA256_HEX],
                        char md5[CAIRN_MD5_HEX])
{
	unsigned char b[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (d->sha256) {
		EVP_DigestFinal_ex(d->sha256, b, &n);
		hex(b, n, sha256);
	} else {
		sha256[0] = '\0';
	}
	if (d->md5) {
		EVP_DigestFinal_ex(d->md5, b, &n);
		hex(b, n, md5);
	} else {
		md5[0] = '\0';
	}
	cairn_digest_free(d);
}

void cairn_digest_free(struct cairn_digest *d)
{
	EVP_MD_CTX_free(d->md5);
	EVP_MD_CTX_free(d->sha256);
	d->md5 = d->sha256 = NULL;
}

int cairn_digest_range(struct cairn_digest *d, int fd, uint64_t off, uint64_t end, char *buf,
                       size_t cap)
{
	while (off < end) {
		size_t want = end - off < cap ? (size_t)(end - off) : cap;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0; /* the file is shorter */
			return -1;
		}
		cairn_digest_update(d, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return 0;
}

int cairn_digest_fd(int fd, char sha256[CAIRN_SHA256_HEX], char md5[CAIRN_MD5_HEX],
                    unsigned long long *size)
{
	struct cairn_digest d;
	enum { CHUNK = 256 * 1024 };
	char *buf = malloc(CHUNK);
	unsigned long long total = 0;
	if (!buf || cairn_digest_init(&d) < 0) {
		free(buf);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cairn_digest_free(&d);
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		cairn_digest_update(&d, buf, (size_t)n);
		total += (unsigned long long)n;
	}
	free(buf);
	cairn_digest_final(&d, sha256, md5);
	if (size)
		*size = total;
	return 0;
}

int cairn_is_hex(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}
