/* s3:// backend: an S3 bucket (AWS, Ceph RGW, ...) through libcurl, requests signed
 * with AWS Signature V4 (s3_sign.c).
 *
 *   s3://bucket/prefix  ->  ENDPOINT/bucket/prefix/KEY   (path style)
 *                           BUCKET.ENDPOINT-HOST/prefix/KEY (virtual-hosted style)
 *
 * Atomicity rests on one S3 primitive: `PUT If-None-Match: *` creates an object
 * only if absent (412 otherwise), which is what lease.c and volume.c need.
 * Every PUT is spooled first (memory up to SPOOL_MEM, then an unnamed O_TMPFILE in
 * /tmp) while its MD5 and SHA-256 are computed, so the upload carries Content-MD5,
 * a signed x-amz-content-sha256 and a known length, and can be retried.
 * Transient failures (connection errors, 429, 5xx) are retried with exponential
 * backoff and jitter, S3_MAX_ATTEMPTS in all, then reported once with the key and the
 * HTTP status. Secrets never reach a log or an error message. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "digest.h"
#include "s3_sign.h"
#include "s3_internal.h"
#include "store.h"

#define SPOOL_MEM (1024 * 1024) /* PUT bodies up to this stay in memory */
#define IO_CHUNK (256 * 1024)
#define LIST_BODY_MAX (32 * 1024 * 1024) /* one ListObjectsV2 page */
#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS 5000

int cairn_store_s3_configure(const char *endpoint, const char *region, bool path_style,
                             const char *credentials_file);
int cairn_store_s3_open(const char *url, struct cairn_store *st, struct cairn_err *err);

/* ------------------------------------------------------------------ settings */

#define S3_DEFAULT_REGION "us-east-1"
#define S3_DEFAULT_CREDENTIALS "/etc/slurm/cairn-s3.credentials"

static struct {
	char *endpoint, *region, *credentials;
	bool path_style;
} g_s3 = {.path_style = true};
static pthread_mutex_t g_s3_lock = PTHREAD_MUTEX_INITIALIZER;

static void replace(char **dst, const char *v)
{
	free(*dst);
	*dst = v && *v ? xstrdup(v) : NULL;
}

/* Settings for every s3:// store opened afterwards (from cairn.conf). NULL or ""
 * leaves the default: endpoint https://s3.REGION.amazonaws.com, region us-east-1,
 * credentials S3_DEFAULT_CREDENTIALS. */
int cairn_store_s3_configure(const char *endpoint, const char *region, bool path_style,
                             const char *credentials_file)
{
	pthread_mutex_lock(&g_s3_lock);
	replace(&g_s3.endpoint, endpoint);
	replace(&g_s3.region, region);
	replace(&g_s3.credentials, credentials_file);
	g_s3.path_style = path_style;
	pthread_mutex_unlock(&g_s3_lock);
	return 0;
}

/* ------------------------------------------------------------------ store */

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->max) {
		b->truncated = true;
		n = b->max > b->len ? b->max - b->len : 0;
	}
	if (!n)
		return;
	b->p = xrealloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
}

static struct s3_store *s3_of(struct cairn_store *st)
{
	return st->impl;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	/* r->status comes from the status line (on_header), seen before any body */
	if (r->sink && r->status / 100 == 2) {
		if (r->sink(r->arg, ptr, n, r->err) < 0) {
			r->sink_failed = true;
			return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
		}
		r->delivered += n;
		return n;
	}
	buf_add(&r->small, ptr, n);
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	if (n >= 5 && !strncmp(ptr, "HTTP/", 5)) {
		/* a new response (after 100 Continue, or a retry): status from its line */
		const char *sp = memchr(ptr, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->etag[0] = '\0';
	} else if (n > 5 && !strncasecmp(ptr, "ETag:", 5)) {
		size_t i = 5, j = n;
		while (i < j && (ptr[i] == ' ' || ptr[i] == '"'))
			i++;
		while (j > i && (ptr[j - 1] == '\r' || ptr[j - 1] == '\n' || ptr[j - 1] == ' ' ||
		                 ptr[j - 1] == '"'))
			j--;
		if (j - i < sizeof(r->etag)) {
			memcpy(r->etag, ptr + i, j - i);
			r->etag[j - i] = '\0';
		}
	}
	return n;
}

static size_t on_read(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t want = size * nmemb;
	if (b->off >= b->len)
		return 0;
	if (want > b->len - b->off)
		want = (size_t)(b->len - b->off);
	if (b->mem) {
		memcpy(ptr, b->mem + b->off, want);
	} else {
		ssize_t got;
		do
			got = pread(b->fd, ptr, want, (off_t)(b->base + b->off));
		while (got < 0 && errno == EINTR);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)got;
	}
	b->off += want;
	return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct body *b = ud;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > b->len)
		return CURL_SEEKFUNC_FAIL;
	/* libcurl rewinds only to send the body again: the first try may have
	 * reached the server although no answer came back. */
	b->rewound = true;
	b->off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

bool s3_retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

bool s3_retryable_status(long s)
{
	return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

void s3_backoff(int attempt)
{
	long ms = BACKOFF_BASE_MS;
	for (int i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	unsigned r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned)getpid();
	ms = ms / 2 + (long)(r % (unsigned)(ms / 2 + 1)); /* "equal jitter" */
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* "s3://bucket/key" for messages. */
char *s3_obj_name(const struct s3_store *s, const char *key)
{
	return xasprintf("s3://%s/%s", s->bucket, key ? key : "");
}

/* The <Code> and <Message> of an S3 error body, or "". */
void s3_error_detail(const struct buf *b, char *out, size_t len)
{
	out[0] = '\0';
	if (!b->p)
		return;
	char code[128] = "", msg[256] = "";
	const char *c = strstr(b->p, "<Code>"), *m = strstr(b->p, "<Message>");
	if (c) {
		c += 6;
		const char *e = strstr(c, "</Code>");
		if (e)
			snprintf(code, sizeof(code), "%.*s", (int)(e - c), c);
	}
	if (m) {
		m += 9;
		const char *e = strstr(m, "</Message>");
		if (e)
			snprintf(msg, sizeof(msg), "%.*s", (int)(e - m), m);
	}
	snprintf(out, len, "%s%s%s", code, *code && *msg ? ": " : "", msg);
}

/* One request, retried while the failure is transient. Returns 0 with r->status
 * set once a final HTTP answer arrived (any status), -1 otherwise (err set).
 * *ambiguous is set when an earlier attempt may have reached the server. */
int s3_do(struct s3_store *s, const struct req *q, struct resp *r, int *attempts, bool *ambiguous,
          struct cairn_err *err)
{
	autofree char *name = s3_obj_name(s, q->key);
	autofree char *epath = cairn_s3_uri_encode(q->key ? q->key : "", true);
	autofree char *path = !s->path_style ? xasprintf("/%s", epath)
	                      : q->key       ? xasprintf("/%s/%s", s->bucket, epath)
	                                     : xasprintf("/%s", s->bucket);
	autofree char *url =
	    xasprintf("%s://%s%s%s%s", s->scheme, s->host, path, q->cquery && *q->cquery ? "?" : "",
	              q->cquery ? q->cquery : "");
	if (ambiguous)
		*ambiguous = false;
	for (int attempt = 1;; attempt++) {
		if (attempts)
			*attempts = attempt;
		char date[17];
		cairn_s3_amz_date(time(NULL), date);
		struct cairn_s3_header h[8];
		size_t nh = 0;
		h[nh++] = (struct cairn_s3_header){"host", s->host};
		h[nh++] = (struct cairn_s3_header){"x-amz-content-sha256", q->sha256};
		h[nh++] = (struct cairn_s3_header){"x-amz-date", date};
		if (q->md5_b64)
			h[nh++] = (struct cairn_s3_header){"content-md5", q->md5_b64};
		if (q->if_none_match)
			h[nh++] = (struct cairn_s3_header){"if-none-match", "*"};
		if (q->range)
			h[nh++] = (struct cairn_s3_header){"range", q->range};
		struct cairn_s3_sigreq sr = {.method = q->method,
		                             .path = path,
		                             .canonical_query = q->cquery ? q->cquery : "",
		                             .headers = h,
		                             .nheaders = nh,
		                             .payload_sha256 = q->sha256,
		                             .amz_date = date,
		                             .region = s->region,
		                             .service = "s3",
		                             .access_key = s->ak,
		                             .secret_key = s->sk};
		autofree char *auth = cairn_s3_sign(&sr, NULL, NULL, NULL);
		struct curl_slist *hl = NULL;
		for (size_t i = 0; i < nh; i++) {
			autofree char *line = xasprintf("%s: %s", h[i].name, h[i].value);
			hl = curl_slist_append(hl, line);
		}
		autofree char *aline = xasprintf("Authorization: %s", auth);
		hl = curl_slist_append(hl, aline);
		hl = curl_slist_append(hl, "Expect:");
		hl = curl_slist_append(hl, "Accept:");
		explicit_bzero(aline, strlen(aline));

		CURL *c = s->curl;
		curl_easy_reset(c); /* keeps the connection cache: connections are reused */
		s->errbuf[0] = '\0';
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
		/* Fewer, larger writes and reads: curl's 16 KiB default costs a
		 * system call and a callback per 16 KiB of a large object. */
		curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
		curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
		if (!strcmp(q->method, "HEAD")) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (!strcmp(q->method, "PUT")) {
			q->body->off = 0;
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, q->body);
			curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(c, CURLOPT_SEEKDATA, q->body);
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body->len);
		} else if (!strcmp(q->method, "POST")) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			if (q->body) {
				q->body->off = 0;
				curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
				curl_easy_setopt(c, CURLOPT_READDATA, q->body);
				curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
				curl_easy_setopt(c, CURLOPT_SEEKDATA, q->body);
				curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				                 (curl_off_t)q->body->len);
			} else {
				curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
				curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
			}
		} else if (strcmp(q->method, "GET")) {
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
		}
		r->status = 0;
		r->etag[0] = '\0';
		free(r->small.p);
		r->small.p = NULL;
		r->small.len = 0;
		r->small.truncated = false;
		if (q->body)
			q->body->rewound = false;
		CURLcode cc = curl_easy_perform(c);
		curl_slist_free_all(hl);
		if (ambiguous && q->body && q->body->rewound)
			*ambiguous = true;
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		r->status = status;

		if (r->sink_failed)
			return -1; /* the sink set err */
		bool more = attempt < S3_MAX_ATTEMPTS && r->delivered == 0;
		if (cc != CURLE_OK) {
			if (s3_retryable_curl(cc) && more) {
				if (ambiguous && strcmp(q->method, "GET") &&
				    strcmp(q->method, "HEAD"))
					*ambiguous = true;
				s3_backoff(attempt);
				continue;
			}
			cairn_seterr(err, "storage: S3 %s %s failed after %d attempt%s: %s%s",
			             q->method, name, attempt, attempt > 1 ? "s" : "",
			             s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc),
			             r->delivered ? " (the download broke off part-way)" : "");
			return -1;
		}
		if (s3_retryable_status(status) && more) {
			if (ambiguous)
				*ambiguous = true;
			s3_backoff(attempt);
			continue;
		}
		return 0;
	}
}

/* The one error message for a request that ended with an unexpected status. */
void s3_status_err(struct s3_store *s, const char *method, const char *key, const struct resp *r,
                   int attempts, struct cairn_err *err)
{
	autofree char *name = s3_obj_name(s, key);
	char detail[400];
	s3_error_detail(&r->small, detail, sizeof(detail));
	autofree char *hint = NULL;
	if (strstr(detail, "SignatureDoesNotMatch") || strstr(detail, "InvalidAccessKeyId") ||
	    (r->status == 403 && !strcmp(method, "HEAD")))
		hint = xasprintf("; check the keys in the S3 credentials file %s", s->creds);
	else if (strstr(detail, "RequestTimeTooSkewed"))
		hint = xstrdup("; the node's clock is off: check NTP");
	else if (strstr(detail, "NoSuchBucket"))
		hint = xstrdup("; create the bucket or fix Storage");
	cairn_seterr(err, "storage: S3 %s %s failed after %d attempt%s: HTTP %ld%s%s%s", method,
	             name, attempts, attempts > 1 ? "s" : "", r->status, *detail ? " " : "", detail,
	             hint ? hint : "");
}

char *s3_full_key(const struct s3_store *s, const char *key)
{
	return xasprintf("%s%s", s->prefix, key);
}

void s3_resp_free(struct resp *r)
{
	free(r->small.p);
	r->small.p = NULL;
}

/* HEAD: 0 with size/etag, NOTFOUND, or -1. */
int s3_head(struct s3_store *s, const char *k, uint64_t *size, char *etag, size_t elen,
            struct cairn_err *err)
{
	struct resp r = {.small.max = S3_ERR_BODY_MAX};
	struct req q = {.method = "HEAD", .key = k, .sha256 = CAIRN_S3_EMPTY_SHA256};
	int attempts = 1;
	int rv = s3_do(s, &q, &r, &attempts, NULL, err);
	if (rv == 0) {
		if (r.status == 200) {
			curl_off_t cl = -1;
			curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
			if (size)
				*size = cl > 0 ? (uint64_t)cl : 0;
			if (etag)
				snprintf(etag, elen, "%s", r.etag);
		} else if (r.status == 404) {
			rv = CAIRN_STORE_NOTFOUND;
		} else {
			s3_status_err(s, "HEAD", k, &r, attempts, err);
			rv = -1;
		}
	}
	s3_resp_free(&r);
	return rv;
}

static int s3_exists(struct cairn_store *st, const char *key, uint64_t *size, struct cairn_err *err)
{
	struct s3_store *s = s3_of(st);
	autofree char *k = s3_full_key(s, key);
	return s3_head(s, k, size, NULL, 0, err);
}

static int s3_del(struct cairn_store *st, const char *key, struct cairn_err *err)
{
	struct s3_store *s = s3_of(st);
	autofree char *k = s3_full_key(s, key);
	struct resp r = {.small.max = S3_ERR_BODY_MAX};
	struct req q = {.method = "DELETE", .key = k, .sha256 = CAIRN_S3_EMPTY_SHA256};
	int attempts = 1;
	int rv = s3_do(s, &q, &r, &attempts, NULL, err);
	if (rv == 0) {
		/* S3 answers 204 whether or not the key existed: deleting is idempotent. */
		if (r.status == 204 || r.status == 200)
			rv = 0;
		else if (r.status == 404)
			rv = CAIRN_STORE_NOTFOUND;
		else {
			s3_status_err(s, "DELETE", k, &r, attempts, err);
			rv = -1;
		}
	}
	s3_resp_free(&r);
	return rv;
}

/* Spool the source into memory, then into an unnamed /tmp file past SPOOL_MEM,
 * hashing as it goes. */
struct spool {
	char *mem;
	size_t memlen;
	int fd;
	uint64_t len;
	char sha256[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX];
};

static int spool_source(const char *name, cairn_source_fn src, void *arg, struct spool *sp,
                        struct cairn_err *err)
{
	struct cairn_digest d;
	sp->fd = -1;
	if (cairn_digest_init(&d) < 0) {
		cairn_seterr(err, "storage: cannot initialise digests for %s", name);
		return -1;
	}
	autofree char *buf = xcalloc(1, IO_CHUNK);
	for (;;) {
		ssize_t n = src(arg, buf, IO_CHUNK, err);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		cairn_digest_update(&d, buf, (size_t)n);
		if (sp->fd < 0 && sp->memlen + (size_t)n <= SPOOL_MEM) {
			sp->mem = xrealloc(sp->mem, sp->memlen + (size_t)n);
			memcpy(sp->mem + sp->memlen, buf, (size_t)n);
			sp->memlen += (size_t)n;
		} else {
			if (sp->fd < 0) {
				sp->fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
				if (sp->fd < 0) {
					char tmpl[] = "/tmp/cairn-s3-spool.XXXXXX";
					sp->fd = mkostemp(tmpl, O_CLOEXEC);
					if (sp->fd >= 0)
						unlink(tmpl);
				}
				if (sp->fd < 0) {
					cairn_seterr(err,
					             "storage: cannot create a spool file in /tmp "
					             "for %s: %s",
					             name, strerror(errno));
					goto fail;
				}
				if (write_all(sp->fd, sp->mem, sp->memlen) < 0)
					goto werr;
				free(sp->mem);
				sp->mem = NULL;
				sp->memlen = 0;
			}
			if (write_all(sp->fd, buf, (size_t)n) < 0)
				goto werr;
		}
		sp->len += (uint64_t)n;
	}
	cairn_digest_final(&d, sp->sha256, sp->md5);
	return 0;
werr:
	cairn_seterr(err, "storage: cannot write the spool file for %s: %s", name, strerror(errno));
fail:
	cairn_digest_free(&d);
	return -1;
}

void s3_md5_hex_to_b64(const char *hex, char out[32])
{
	unsigned char raw[16];
	for (int i = 0; i < 16; i++) {
		unsigned v = 0;
		sscanf(hex + 2 * i, "%2x", &v);
		raw[i] = (unsigned char)v;
	}
	EVP_EncodeBlock((unsigned char *)out, raw, 16);
}

/* One PUT of a body whose digests are known. */
int s3_put_body(struct s3_store *s, const char *k, struct body *b, const char *sha256,
                const char *md5, unsigned flags, struct cairn_err *err)
{
	char md5b64[32];
	s3_md5_hex_to_b64(md5, md5b64);
	struct req q = {.method = "PUT",
	                .key = k,
	                .sha256 = sha256,
	                .md5_b64 = md5b64,
	                .if_none_match = flags & CAIRN_PUT_IF_ABSENT,
	                .body = b};
	struct resp r = {.small.max = S3_ERR_BODY_MAX};
	int attempts = 1;
	bool ambiguous = false;
	int rv = -1;
	if (s3_do(s, &q, &r, &attempts, &ambiguous, err) < 0) {
		s3_resp_free(&r);
		return -1;
	}
	if (r.status == 200) {
		rv = 0;
	} else if (r.status == 412 && (flags & CAIRN_PUT_IF_ABSENT)) {
		rv = CAIRN_STORE_EXISTS;
		if (ambiguous) {
			/* An earlier attempt failed in a way that may have created the
			 * object (a lost answer, or RGW's 500 to a racing writer): it is
			 * ours when it holds exactly our bytes. */
			char etag[80] = "";
			struct cairn_err e2 = {0};
			if (s3_head(s, k, NULL, etag, sizeof(etag), &e2) == 0 &&
			    !strcasecmp(etag, md5))
				rv = 0;
		}
	} else if (r.status == 400 && r.small.p &&
	           (strstr(r.small.p, "BadDigest") || strstr(r.small.p, "SHA256Mismatch"))) {
		cairn_seterr(err,
		             "storage: S3 PUT %s: the data changed while it was sent "
		             "(BadDigest); run the sync again",
		             k);
	} else {
		s3_status_err(s, "PUT", k, &r, attempts, err);
	}
	s3_resp_free(&r);
	return rv;
}

static int s3_put(struct cairn_store *st, const char *key, cairn_source_fn src, void *arg,
                  unsigned flags, struct cairn_err *err)
{
	struct s3_store *s = s3_of(st);
	autofree char *k = s3_full_key(s, key);
	autofree char *name = s3_obj_name(s, k);
	struct spool sp = {.fd = -1};
	int rv = -1;
	if (spool_source(name, src, arg, &sp, err) == 0) {
		struct body b = {
		    .mem = sp.fd < 0 ? (sp.mem ? sp.mem : "") : NULL, .fd = sp.fd, .len = sp.len};
		rv = s3_put_body(s, k, &b, sp.sha256, sp.md5, flags, err);
	}
	free(sp.mem);
	if (sp.fd >= 0)
		close(sp.fd);
	return rv;
}

/* ------------------------------------------------------------------ list */

static const char *child_text(xmlNode *n, const char *name, xmlChar **hold)
{
	for (xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name)) {
			*hold = xmlNodeGetContent(c);
			return (const char *)*hold;
		}
	}
	return NULL;
}

/* ListObjectsV2's LastModified ("2026-11-25T23:25:00.000Z") in seconds since
 * the epoch; if absent or unreadable, the latest time there is, so that the
 * collector never takes an object for old on a guess. */
static int64_t s3_list_time(const char *iso)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm))
		return INT64_MAX;
	return (int64_t)timegm(&tm);
}

static int s3_list(struct cairn_store *st, const char *prefix, cairn_list_fn fn, void *arg,
                   struct cairn_err *err)
{
	struct s3_store *s = s3_of(st);
	/* Like file://, a prefix names a directory: "a/b" lists "a/b/...". */
	size_t pl = strlen(prefix);
	autofree char *full =
	    xasprintf("%s%s%s", s->prefix, prefix, pl && prefix[pl - 1] == '/' ? "" : "/");
	autofree char *eprefix = cairn_s3_uri_encode(full, false);
	autofree char *token = NULL;
	size_t strip = strlen(s->prefix);
	int rv = 0;
	for (int page = 0;; page++) {
		autofree char *etoken = token ? cairn_s3_uri_encode(token, false) : NULL;
		/* names in canonical (sorted) order */
		autofree char *cq = xasprintf("%s%s%slist-type=2&max-keys=1000&prefix=%s",
		                              etoken ? "continuation-token=" : "",
		                              etoken ? etoken : "", etoken ? "&" : "", eprefix);
		struct resp r = {.small.max = LIST_BODY_MAX};
		struct req q = {
		    .method = "GET", .key = NULL, .cquery = cq, .sha256 = CAIRN_S3_EMPTY_SHA256};
		int attempts = 1;
		if (s3_do(s, &q, &r, &attempts, NULL, err) < 0) {
			s3_resp_free(&r);
			return -1;
		}
		if (r.status != 200) {
			s3_status_err(s, "LIST", full, &r, attempts, err);
			s3_resp_free(&r);
			return -1;
		}
		if (r.small.truncated || !r.small.p) {
			cairn_seterr(err, "storage: S3 LIST s3://%s/%s: %s answer", s->bucket, full,
			             r.small.p ? "oversized" : "empty");
			s3_resp_free(&r);
			return -1;
		}
		xmlDoc *doc =
		    xmlReadMemory(r.small.p, (int)r.small.len, "list.xml", NULL,
		                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		s3_resp_free(&r);
		xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (!root || strcmp((const char *)root->name, "ListBucketResult")) {
			cairn_seterr(err, "storage: S3 LIST s3://%s/%s: unreadable XML answer",
			             s->bucket, full);
			if (doc)
				xmlFreeDoc(doc);
			return -1;
		}
		bool truncated = false;
		free(token);
		token = NULL;
		for (xmlNode *c = root->children; c && rv == 0; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			const char *nm = (const char *)c->name;
			xmlChar *t = NULL, *t2 = NULL;
			if (!strcmp(nm, "Contents")) {
				const char *key = child_text(c, "Key", &t);
				const char *size = child_text(c, "Size", &t2);
				xmlChar *t3 = NULL;
				const char *when = child_text(c, "LastModified", &t3);
				int64_t mtime = s3_list_time(when);
				xmlFree(t3);
				if (key && !strncmp(key, s->prefix, strip) && key[strip]) {
					rv = fn(arg, key + strip,
					        size ? strtoull(size, NULL, 10) : 0, mtime);
					if (rv < 0)
						cairn_seterr(err, "storage: listing stopped at %s",
						             key + strip);
				}
			} else if (!strcmp(nm, "IsTruncated")) {
				t = xmlNodeGetContent(c);
				truncated = t && !strcmp((const char *)t, "true");
			} else if (!strcmp(nm, "NextContinuationToken")) {
				t = xmlNodeGetContent(c);
				if (t && *t)
					token = xstrdup((const char *)t);
			}
			xmlFree(t);
			xmlFree(t2);
		}
		xmlFreeDoc(doc);
		if (rv != 0)
			return rv < 0 ? -1 : 0;
		if (!truncated)
			return 0;
		if (!token) {
			cairn_seterr(err,
			             "storage: S3 LIST s3://%s/%s: truncated answer without a "
			             "continuation token",
			             s->bucket, full);
			return -1;
		}
	}
}

/* ------------------------------------------------------------------ open */

void s3_free(struct s3_store *s)
{
	if (!s)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	if (s->sk) {
		explicit_bzero(s->sk, strlen(s->sk));
		free(s->sk);
	}
	free(s->ak);
	free(s->scheme);
	free(s->host);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->creds);
	free(s);
}

struct s3_store *s3_clone(const struct s3_store *s)
{
	struct s3_store *c = xcalloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	c->scheme = xstrdup(s->scheme);
	c->host = xstrdup(s->host);
	c->bucket = xstrdup(s->bucket);
	c->prefix = xstrdup(s->prefix);
	c->region = xstrdup(s->region);
	c->path_style = s->path_style;
	c->creds = xstrdup(s->creds);
	c->ak = xstrdup(s->ak);
	c->sk = xstrdup(s->sk);
	return c;
}

static void s3_close(struct cairn_store *st)
{
	s3_free(s3_of(st));
	st->impl = NULL;
}

static const struct cairn_store_ops s3_ops = {
    .put_fd = s3_put_fd,
    .get_fd = s3_get_fd,
    .get_range = s3_get_range,
    .get = s3_get,
    .put = s3_put,
    .exists = s3_exists,
    .del = s3_del,
    .list = s3_list,
    .close = s3_close,
};

static char *trim(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	size_t l = strlen(p);
	while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '\r' || p[l - 1] == '\n'))
		p[--l] = '\0';
	return p;
}

/* access_key = ... / secret_key = ... from a file only its owner (root, or the
 * user running this) can read. Values never appear in messages. */
static int load_credentials(struct s3_store *s, const char *url, const char *path,
                            struct cairn_err *err)
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		cairn_seterr(err, "Storage = %s: S3 credentials file %s: cannot open: %s", url,
		             path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		cairn_seterr(err, "Storage = %s: S3 credentials file %s: not a regular file", url,
		             path);
		return -1;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		cairn_seterr(err, "Storage = %s: S3 credentials file %s: must be owned by root",
		             url, path);
		return -1;
	}
	if (sb.st_mode & 077) {
		cairn_seterr(err,
		             "Storage = %s: S3 credentials file %s: readable by group or others "
		             "(mode %04o); "
		             "refusing it: chmod 600 %s",
		             url, path, (unsigned)(sb.st_mode & 07777), path);
		return -1;
	}
	if (sb.st_size > 65536) {
		cairn_seterr(err, "Storage = %s: S3 credentials file %s: too large", url, path);
		return -1;
	}
	char text[65537];
	ssize_t n = read_full(fd, text, sizeof(text) - 1);
	if (n < 0) {
		cairn_seterr(err, "Storage = %s: S3 credentials file %s: cannot read: %s", url,
		             path, strerror(errno));
		return -1;
	}
	text[n] = '\0';
	int line = 0, rv = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		char *t = trim(l);
		if (!*t || *t == '#')
			continue;
		char *eq = strchr(t, '=');
		if (!eq) {
			cairn_seterr(
			    err, "Storage = %s: S3 credentials file %s:%d: expected key = value",
			    url, path, line);
			rv = -1;
			break;
		}
		*eq = '\0';
		char *k = trim(t), *v = trim(eq + 1);
		if (!strcasecmp(k, "access_key") || !strcasecmp(k, "aws_access_key_id")) {
			free(s->ak);
			s->ak = xstrdup(v);
		} else if (!strcasecmp(k, "secret_key") ||
		           !strcasecmp(k, "aws_secret_access_key")) {
			if (s->sk) {
				explicit_bzero(s->sk, strlen(s->sk));
				free(s->sk);
			}
			s->sk = xstrdup(v);
		} else {
			cairn_seterr(err, "Storage = %s: S3 credentials file %s:%d: unknown key %s",
			             url, path, line, k);
			rv = -1;
			break;
		}
	}
	explicit_bzero(text, sizeof(text));
	if (rv == 0 && (!s->ak || !*s->ak || !s->sk || !*s->sk)) {
		cairn_seterr(err,
		             "Storage = %s: S3 credentials file %s: needs access_key = ... and "
		             "secret_key = ...",
		             url, path);
		rv = -1;
	}
	return rv;
}

static bool bucket_ok(const char *b, size_t len)
{
	if (len < 3 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
		      b[i] == '.'))
			return false;
	return true;
}

int cairn_store_s3_open(const char *url, struct cairn_store *st, struct cairn_err *err)
{
	pthread_once(&g_once, global_init);
	const char *p = url + strlen("s3://");
	const char *slash = strchr(p, '/');
	size_t blen = slash ? (size_t)(slash - p) : strlen(p);
	if (!bucket_ok(p, blen)) {
		cairn_seterr(err,
		             "Storage = %s: expected s3://bucket/prefix with a bucket name of 3 "
		             "to 63 characters a-z 0-9 . -",
		             url);
		return -1;
	}
	autofree char *endpoint = NULL;
	struct s3_store *s = xcalloc(1, sizeof(*s));
	st->impl = s;
	st->ops = &s3_ops;
	s->bucket = strndup(p, blen);
	/* prefix: without leading/trailing '/', then one trailing '/' */
	const char *pre = slash ? slash : "";
	while (*pre == '/')
		pre++;
	autofree char *pc = xstrdup(pre);
	size_t pl = strlen(pc);
	while (pl && pc[pl - 1] == '/')
		pc[--pl] = '\0';
	if (strstr(pc, "//") || strstr(pc, "..")) {
		cairn_seterr(err, "Storage = %s: invalid prefix", url);
		goto fail;
	}
	s->prefix = pl ? xasprintf("%s/", pc) : xstrdup("");

	pthread_mutex_lock(&g_s3_lock);
	s->region = xstrdup(g_s3.region ? g_s3.region : S3_DEFAULT_REGION);
	s->path_style = g_s3.path_style;
	endpoint = g_s3.endpoint ? xstrdup(g_s3.endpoint)
	                         : xasprintf("https://s3.%s.amazonaws.com", s->region);
	s->creds = xstrdup(g_s3.credentials ? g_s3.credentials : S3_DEFAULT_CREDENTIALS);
	pthread_mutex_unlock(&g_s3_lock);

	const char *auth;
	if (!strncmp(endpoint, "http://", 7)) {
		s->scheme = xstrdup("http");
		auth = endpoint + 7;
	} else if (!strncmp(endpoint, "https://", 8)) {
		s->scheme = xstrdup("https");
		auth = endpoint + 8;
	} else {
		cairn_seterr(err,
		             "Storage = %s: S3 endpoint %s: expected http://HOST[:PORT] or "
		             "https://HOST[:PORT]",
		             url, endpoint);
		goto fail;
	}
	size_t al = strcspn(auth, "/");
	if (!al || auth[al + strspn(auth + al, "/")]) {
		cairn_seterr(err, "Storage = %s: S3 endpoint %s: expected no path after the host",
		             url, endpoint);
		goto fail;
	}
	s->host =
	    s->path_style ? strndup(auth, al) : xasprintf("%s.%.*s", s->bucket, (int)al, auth);

	if (load_credentials(s, url, s->creds, err) < 0)
		goto fail;
	s->curl = curl_easy_init();
	if (!s->curl) {
		cairn_seterr(err, "Storage = %s: cannot initialise libcurl", url);
		goto fail;
	}
	return 0;
fail:
	s3_close(st);
	st->ops = NULL;
	return -1;
}
