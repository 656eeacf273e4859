/* Shared by the s3:// backend's files: store_s3.c (requests, small objects,
 * listing) and store_s3_large.c (multipart uploads, ranged parallel downloads). */
#ifndef CAIRN_S3_INTERNAL_H
#define CAIRN_S3_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define S3_ERR_BODY_MAX (64 * 1024) /* error bodies kept for the message */

struct buf {
	char *p;
	size_t len, max;
	bool truncated;
};

struct s3_store {
	CURL *curl;
	char *scheme; /* "http" or "https" */
	char *host;   /* Host header: authority, or bucket.authority */
	char *bucket;
	char *prefix; /* "" or "some/prefix/" */
	char *region;
	bool path_style;
	char *creds; /* the credentials file, for messages */
	char *ak, *sk;
	char errbuf[CURL_ERROR_SIZE];
};

/* Upload body: memory, or len bytes of a file from offset base. */
struct body {
	const char *mem;
	int fd;
	uint64_t base, len, off;
	bool rewound; /* libcurl sent it again (a reused connection died): ambiguous */
};

struct resp {
	long status;
	char etag[80];
	/* GET: 2xx bodies go to the sink, others to `small`. */
	cairn_sink_fn sink;
	void *arg;
	struct cairn_err *err;
	bool sink_failed;
	uint64_t delivered;
	struct buf small;
};

struct req {
	const char *method;
	const char *key;     /* full key (with prefix), NULL for the bucket itself */
	const char *cquery;  /* canonical query (sorted, encoded) or NULL */
	const char *sha256;  /* payload hash (hex), or "UNSIGNED-PAYLOAD" */
	const char *md5_b64; /* Content-MD5 of the body */
	const char *range;   /* GET: "bytes=A-B" or NULL */
	bool if_none_match;
	struct body *body; /* PUT and POST with a body */
};

/* One request, retried while the failure is transient. Returns 0 with r->status
 * set once a final HTTP answer arrived (any status), -1 otherwise (err set).
 * *ambiguous is set when an earlier attempt may have reached the server. */
int s3_do(struct s3_store *s, const struct req *q, struct resp *r, int *attempts, bool *ambiguous,
          struct cairn_err *err);
/* The one error message for a request that ended with an unexpected status. */
void s3_status_err(struct s3_store *s, const char *method, const char *key, const struct resp *r,
                   int attempts, struct cairn_err *err);
void s3_resp_free(struct resp *r);
char *s3_full_key(const struct s3_store *s, const char *key);
char *s3_obj_name(const struct s3_store *s, const char *key);
void s3_md5_hex_to_b64(const char *hex, char out[32]);
/* HEAD: 0 with size/etag, CAIRN_STORE_NOTFOUND, or -1. */
int s3_head(struct s3_store *s, const char *k, uint64_t *size, char *etag, size_t elen,
            struct cairn_err *err);
/* One PUT of a body whose digests are known (sha256 may be UNSIGNED-PAYLOAD). */
int s3_put_body(struct s3_store *s, const char *k, struct body *b, const char *sha256,
                const char *md5, unsigned flags, struct cairn_err *err);
/* Another handle with the same settings and keys, for a helper thread. */
struct s3_store *s3_clone(const struct s3_store *s);
void s3_free(struct s3_store *s);
bool s3_retryable_curl(CURLcode c);
bool s3_retryable_status(long s);
void s3_backoff(int attempt);
#define S3_MAX_ATTEMPTS 5

/* store_s3_large.c: objects from an open file (multipart past a threshold) and
 * into one (ranged parallel GETs past a threshold, resumed where they broke). */
int s3_put_fd(struct cairn_store *st, const char *key, int fd, uint64_t size, const char *sha256,
              const char *md5, char (*part_md5)[33], unsigned flags, struct cairn_err *err);
int s3_get_fd(struct cairn_store *st, const char *key, int fd, uint64_t size, char sha256[65],
              struct cairn_err *err);
int s3_get_range(struct cairn_store *st, const char *key, uint64_t off, uint64_t len,
                 cairn_sink_fn sink, void *arg, struct cairn_err *err);
int s3_get(struct cairn_store *st, const char *key, cairn_sink_fn sink, void *arg,
           struct cairn_err *err);

#endif
