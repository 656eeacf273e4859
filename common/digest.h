/* MD5 and SHA-256 of one stream, computed together in a single pass (OpenSSL EVP). */
#ifndef CAIRN_DIGEST_H
#define CAIRN_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_SHA256_HEX 65
#define CAIRN_MD5_HEX 33

struct cairn_digest {
	void *md5, *sha256; /* EVP_MD_CTX */
};

int cairn_digest_init(struct cairn_digest *d);
/* SHA-256 only (downloads are checked against it); final() gives md5 "". */
int cairn_digest_init_sha256(struct cairn_digest *d);
/* MD5 only (Content-MD5 of upload parts); final() gives sha256 "". */
int cairn_digest_init_md5(struct cairn_digest *d);
void cairn_digest_update(struct cairn_digest *d, const void *buf, size_t len);
/* Writes lowercase hex; frees the contexts. */
void cairn_digest_final(struct cairn_digest *d, char sha256[CAIRN_SHA256_HEX],
                        char md5[CAIRN_MD5_HEX]);
void cairn_digest_free(struct cairn_digest *d);

/* Feed bytes [off, end) of fd to d, read with pread through buf (cap bytes):
 * 0, or -1 with errno set (0 when the file ends before end). */
int cairn_digest_range(struct cairn_digest *d, int fd, uint64_t off, uint64_t end, char *buf,
                       size_t cap);
/* Digest of a whole open file, read from its current offset. */
int cairn_digest_fd(int fd, char sha256[CAIRN_SHA256_HEX], char md5[CAIRN_MD5_HEX],
                    unsigned long long *size);

int cairn_is_hex(const char *s, size_t len);

#endif
