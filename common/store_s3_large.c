/* Objects to and from open files on S3. Large ones are split: an upload past
 * MULTIPART_MIN goes as a multipart upload, a download past RANGED_MIN as ranged
 * GETs, PART_THREADS parts at a time, each helper thread with its own
 * connection. A download that breaks off part-way resumes from the last byte
 * written instead of starting over.
 *
 * Integrity: a single PUT is signed with the file's SHA-256 and carries its
 * Content-MD5, so the server rejects any other bytes. Parts carry their own
 * Content-MD5 (from the caller's hash pass, else read just before the part is
 * sent) and go unsigned-payload; the file's size and ctime, taken before the caller hashed
 * it and again after the last part, must not have changed, or the upload is
 * abandoned. Downloads are hashed in order: a single stream as it arrives, ranges
 * as soon as every earlier range is in (read back from the page cache). */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "s3_internal.h"
#include "s3_sign.h"

#define MIB (1024ULL * 1024)
#define MULTIPART_MIN CAIRN_MULTIPART_MIN
#define RANGED_MIN (64 * MIB)
#define PART_THREADS 4
#define RESUME_MAX 50 /* attempts in all for one range, resumed or not */
#define READ_CHUNK (256 * 1024)

struct helper {
	pthread_t t;
	struct s3_store *s;
	void (*fn)(void *, struct s3_store *);
	void *arg;
};

static void *helper_main(void *p)
{
	struct helper *h = p;
	h->fn(h->arg, h->s);
	return NULL;
}

/* Run fn(arg, handle) on this thread with s and on up to n-1 helper threads,
 * each with its own handle (its own connection); return when all are done. fn
 * takes work from arg until none is left. */
static void run_parallel(struct s3_store *s, unsigned n, void (*fn)(void *, struct s3_store *),
                         void *arg)
{
	struct helper h[PART_THREADS];
	unsigned started = 0;
	for (unsigned i = 1; i < n && i < PART_THREADS; i++) {
		struct helper *x = &h[started];
		x->s = s3_clone(s);
		x->fn = fn;
		x->arg = arg;
		if (!x->s)
			break;
		if (pthread_create(&x->t, NULL, helper_main, x) != 0) {
			s3_free(x->s);
			break;
		}
		started++;
	}
	fn(arg, s);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(h[i].t, NULL);
		s3_free(h[i].s);
	}
}

/* ------------------------------------------------------------------ downloads */

/* An object, or a range of it, to a sink, resumed from where an attempt broke
 * off (a Range request for the rest). */
struct sink_range {
	cairn_sink_fn sink;
	void *arg;
	uint64_t got;
	bool ranged;
	struct resp *r;
};

static int sink_range_write(void *arg, const void *buf, size_t len, struct cairn_err *err)
{
	struct sink_range *sr = arg;
	if (sr->ranged && sr->r->status != 206) {
		cairn_seterr(err, "storage: the server ignored a Range request (HTTP %ld)",
		             sr->r->status);
		return -1;
	}
	if (sr->sink(sr->arg, buf, len, err) < 0)
		return -1;
	sr->got += len;
	return 0;
}

/* len UINT64_MAX: from off to the end. whole: [off, off + len) is the whole
 * object, asked for without a Range header until an attempt broke off. */
static int get_resumed(struct s3_store *s, const char *k, uint64_t off, uint64_t len, bool whole,
                       cairn_sink_fn sink, void *arg, struct cairn_err *err)
{
	struct sink_range sr = {.sink = sink, .arg = arg};
	for (int attempt = 1;; attempt++) {
		char range[64];
		sr.ranged = !whole || sr.got > 0;
		if (len == UINT64_MAX)
			snprintf(range, sizeof(range), "bytes=%llu-",
			         (unsigned long long)(off + sr.got));
		else
			snprintf(range, sizeof(range), "bytes=%llu-%llu",
			         (unsigned long long)(off + sr.got),
			         (unsigned long long)(off + len - 1));
		struct resp r = {
		    .sink = sink_range_write, .arg = &sr, .err = err, .small.max = S3_ERR_BODY_MAX};
		sr.r = &r;
		struct req q = {.method = "GET",
		                .key = k,
		                .sha256 = CAIRN_S3_EMPTY_SHA256,
		                .range = sr.ranged ? range : NULL};
		uint64_t before = sr.got;
		int attempts = 1;
		/* Only the last attempt's failure is worth reporting. */
		*err = (struct cairn_err){0};
		int rv = s3_do(s, &q, &r, &attempts, NULL, err);
		if (rv == 0 && r.status / 100 != 2) {
			rv = r.status == 404 ? CAIRN_STORE_NOTFOUND : -1;
			if (rv == -1)
				s3_status_err(s, "GET", k, &r, attempts, err);
			s3_resp_free(&r);
			return rv;
		}
		bool sink_failed = r.sink_failed;
		s3_resp_free(&r);
		if (sink_failed)
			return -1;
		if (rv == 0 && (len == UINT64_MAX || sr.got == len))
			return 0;
		if (rv == 0 && sr.got > len) {
			cairn_seterr(err, "storage: S3 GET %s: more bytes than the range asked", k);
			return -1;
		}
		if (rv == 0)
			cairn_seterr(err,
			             "storage: S3 GET %s: the body ended after %llu of %llu bytes",
			             k, (unsigned long long)sr.got, (unsigned long long)len);
		/* s3_do retried what broke off before any byte came; go on only while
		 * each attempt brings more. */
		if (sr.got == before || attempt >= RESUME_MAX)
			return -1;
		s3_backoff(1);
	}
}

/* Bytes [from, end) of object k into fd at the same offsets (whole: see
 * get_resumed). */
static int fetch_range(struct s3_store *s, const char *k, int fd, uint64_t from, uint64_t end,
                       bool whole, struct cairn_digest *dg, struct cairn_err *err)
{
	struct cairn_file_sink fs = {.fd = fd, .off = from, .end = end, .dg = dg};
	return get_resumed(s, k, from, end - from, whole, cairn_file_sink_write, &fs, err);
}

int s3_get(struct cairn_store *st, const char *key, cairn_sink_fn sink, void *arg,
           struct cairn_err *err)
{
	struct s3_store *s = st->impl;
	autofree char *k = s3_full_key(s, key);
	return get_resumed(s, k, 0, UINT64_MAX, true, sink, arg, err);
}

int s3_get_range(struct cairn_store *st, const char *key, uint64_t off, uint64_t len,
                 cairn_sink_fn sink, void *arg, struct cairn_err *err)
{
	struct s3_store *s = st->impl;
	autofree char *k = s3_full_key(s, key);
	return get_resumed(s, k, off, len, false, sink, arg, err);
}

struct download {
	const char *k;
	int fd;
	uint64_t size, chunk;
	unsigned nchunks;
	pthread_mutex_t lock;
	unsigned next, hashed;
	unsigned char *done;
	bool hashing, failed;
	int rv;
	struct cairn_err err;
	struct cairn_digest dg;
	char *buf; /* for reading ranges back to hash them */
};

static void download_fail(struct download *d, int rv, const struct cairn_err *err)
{
	if (!d->failed) {
		d->failed = true;
		d->rv = rv;
		d->err = *err;
	}
}

/* With d->lock held: hash every range in order that is complete; one thread at
 * a time does it, the lock dropped while it reads. */
static void hash_ready(struct download *d)
{
	if (d->hashing)
		return;
	d->hashing = true;
	while (!d->failed && d->hashed < d->nchunks && d->done[d->hashed]) {
		uint64_t off = d->hashed * d->chunk;
		uint64_t end = off + d->chunk < d->size ? off + d->chunk : d->size;
		pthread_mutex_unlock(&d->lock);
		int r = cairn_digest_range(&d->dg, d->fd, off, end, d->buf, READ_CHUNK);
		pthread_mutex_lock(&d->lock);
		if (r < 0) {
			struct cairn_err e = {0};
			cairn_seterr(&e, "cannot read back what was fetched: %s",
			             errno ? strerror(errno) : "short file");
			download_fail(d, -1, &e);
			break;
		}
		d->hashed++;
	}
	d->hashing = false;
}

static void download_ranges(void *arg, struct s3_store *s)
{
	struct download *d = arg;
	pthread_mutex_lock(&d->lock);
	while (!d->failed && d->next < d->nchunks) {
		unsigned i = d->next++;
		pthread_mutex_unlock(&d->lock);
		uint64_t off = i * d->chunk;
		uint64_t end = off + d->chunk < d->size ? off + d->chunk : d->size;
		struct cairn_err e = {0};
		int rv = fetch_range(s, d->k, d->fd, off, end, false, NULL, &e);
		pthread_mutex_lock(&d->lock);
		if (rv < 0) {
			download_fail(d, rv, &e);
			break;
		}
		d->done[i] = 1;
		hash_ready(d);
	}
	pthread_mutex_unlock(&d->lock);
}

int s3_get_fd(struct cairn_store *st, const char *key, int fd, uint64_t size, char sha256[65],
              struct cairn_err *err)
{
	struct s3_store *s = st->impl;
	autofree char *k = s3_full_key(s, key);
	char md5[CAIRN_MD5_HEX];
	struct cairn_digest dg;
	if (cairn_digest_init_sha256(&dg) < 0) {
		cairn_seterr(err, "cannot start a digest");
		return -1;
	}
	if (size < RANGED_MIN) {
		int rv = fetch_range(s, k, fd, 0, size, true, &dg, err);
		cairn_digest_final(&dg, sha256, md5);
		return rv;
	}
	struct download d = {
	    .k = k, .fd = fd, .size = size, .chunk = cairn_part_size(size), .dg = dg};
	d.nchunks = (unsigned)((size + d.chunk - 1) / d.chunk);
	d.done = xcalloc(d.nchunks, 1);
	d.buf = xcalloc(1, READ_CHUNK);
	pthread_mutex_init(&d.lock, NULL);
	run_parallel(s, d.nchunks < PART_THREADS ? d.nchunks : PART_THREADS, download_ranges, &d);
	pthread_mutex_destroy(&d.lock);
	cairn_digest_final(&d.dg, sha256, md5);
	free(d.done);
	free(d.buf);
	if (d.failed) {
		*err = d.err;
		return d.rv;
	}
	if (d.hashed != d.nchunks) {
		cairn_seterr(err, "storage: S3 GET %s: not every range was checked", k);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ uploads */

struct upload {
	const char *k;
	int fd;
	uint64_t size, part;
	unsigned nparts;
	char *qid; /* uploadId, %-encoded for the query */
	pthread_mutex_t lock;
	unsigned next;
	char (*etags)[80];
	char (*part_md5)[33]; /* from the caller's hash pass, or NULL */
	bool failed;
	struct cairn_err err;
};

static int md5_range(int fd, uint64_t off, uint64_t end, char *buf, char hex[CAIRN_MD5_HEX])
{
	struct cairn_digest d;
	char none[CAIRN_SHA256_HEX];
	if (cairn_digest_init_md5(&d) < 0)
		return -1;
	if (cairn_digest_range(&d, fd, off, end, buf, READ_CHUNK) < 0) {
		cairn_digest_free(&d);
		return -1;
	}
	cairn_digest_final(&d, none, hex);
	return 0;
}

static int upload_part(struct upload *u, struct s3_store *s, unsigned i, char *buf,
                       struct cairn_err *err)
{
	uint64_t off = i * u->part;
	uint64_t end = off + u->part < u->size ? off + u->part : u->size;
	char md5[CAIRN_MD5_HEX], md5b64[32];
	if (u->part_md5)
		memcpy(md5, u->part_md5[i], sizeof(md5));
	else if (md5_range(u->fd, off, end, buf, md5) < 0) {
		cairn_seterr(err, "storage: cannot read part %u of the file for %s: %s", i + 1,
		             u->k, strerror(errno));
		return -1;
	}
	s3_md5_hex_to_b64(md5, md5b64);
	autofree char *query = xasprintf("partNumber=%u&uploadId=%s", i + 1, u->qid);
	struct body b = {.fd = u->fd, .base = off, .len = end - off};
	struct req q = {.method = "PUT",
	                .key = u->k,
	                .cquery = query,
	                .sha256 = "UNSIGNED-PAYLOAD",
	                .md5_b64 = md5b64,
	                .body = &b};
	struct resp r = {.small.max = S3_ERR_BODY_MAX};
	int attempts = 1;
	int rv = s3_do(s, &q, &r, &attempts, NULL, err);
	if (rv == 0 && r.status != 200) {
		s3_status_err(s, "PUT (part)", u->k, &r, attempts, err);
		rv = -1;
	}
	if (rv == 0)
		snprintf(u->etags[i], sizeof(u->etags[i]), "%s", r.etag);
	s3_resp_free(&r);
	return rv;
}

static void upload_parts(void *arg, struct s3_store *s)
{
	struct upload *u = arg;
	autofree char *buf = xcalloc(1, READ_CHUNK);
	pthread_mutex_lock(&u->lock);
	while (!u->failed && u->next < u->nparts) {
		unsigned i = u->next++;
		pthread_mutex_unlock(&u->lock);
		struct cairn_err e = {0};
		int rv = upload_part(u, s, i, buf, &e);
		pthread_mutex_lock(&u->lock);
		if (rv < 0 && !u->failed) {
			u->failed = true;
			u->err = e;
		}
	}
	pthread_mutex_unlock(&u->lock);
}

/* The text of the first element called name anywhere in an XML answer. */
static char *xml_find(const char *xml, size_t len, const char *name)
{
	xmlDoc *doc = xmlReadMemory(xml, (int)len, NULL, NULL,
	                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	char *out = NULL;
	xmlNode *n = doc ? xmlDocGetRootElement(doc) : NULL;
	while (n && !out) {
		if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name)) {
			xmlChar *t = xmlNodeGetContent(n);
			out = xstrdup(t ? (const char *)t : "");
			xmlFree(t);
			break;
		}
		/* depth-first walk */
		if (n->children) {
			n = n->children;
			continue;
		}
		while (n && !n->next)
			n = n->parent;
		if (n)
			n = n->next;
	}
	xmlFreeDoc(doc);
	return out;
}

static void abort_upload(struct s3_store *s, const char *k, const char *qid)
{
	autofree char *query = xasprintf("uploadId=%s", qid);
	struct req q = {
	    .method = "DELETE", .key = k, .cquery = query, .sha256 = CAIRN_S3_EMPTY_SHA256};
	struct resp r = {.small.max = S3_ERR_BODY_MAX};
	struct cairn_err ignore = {0};
	(void)s3_do(s, &q, &r, NULL, NULL, &ignore);
	s3_resp_free(&r);
}

static char *complete_body(const struct upload *u)
{
	size_t cap = 64 + (size_t)u->nparts * 160, len = 0;
	char *x = xcalloc(1, cap);
	len += (size_t)snprintf(x + len, cap - len, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < u->nparts; i++)
		len +=
		    (size_t)snprintf(x + len, cap - len,
		                     "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
		                     i + 1, u->etags[i]);
	snprintf(x + len, cap - len, "</CompleteMultipartUpload>");
	return x;
}

static int complete_upload(struct s3_store *s, struct upload *u, struct cairn_err *err)
{
	autofree char *xml = complete_body(u);
	char sha[CAIRN_SHA256_HEX], md5[CAIRN_MD5_HEX], md5b64[32];
	struct cairn_digest d;
	if (cairn_digest_init(&d) < 0) {
		cairn_seterr(err, "cannot start a digest");
		return -1;
	}
	cairn_digest_update(&d, xml, strlen(xml));
	cairn_digest_final(&d, sha, md5);
	s3_md5_hex_to_b64(md5, md5b64);
	autofree char *query = xasprintf("uploadId=%s", u->qid);
	struct body b = {.mem = xml, .fd = -1, .len = strlen(xml)};
	struct req q = {.method = "POST",
	                .key = u->k,
	                .cquery = query,
	                .sha256 = sha,
	                .md5_b64 = md5b64,
	                .body = &b};
	struct resp r = {.small.max = S3_ERR_BODY_MAX};
	int attempts = 1;
	bool ambiguous = false;
	int rv = s3_do(s, &q, &r, &attempts, &ambiguous, err);
	/* S3 may answer 200 and still report an error in the body. */
	if (rv == 0 && (r.status != 200 || (r.small.p && strstr(r.small.p, "<Error>")))) {
		uint64_t have = 0;
		struct cairn_err e2 = {0};
		/* A retried completion whose first answer was lost finds the upload gone:
		 * the object being there with the right size means it went through. */
		if (ambiguous && r.status == 404 && s3_head(s, u->k, &have, NULL, 0, &e2) == 0 &&
		    have == u->size) {
			rv = 0;
		} else {
			s3_status_err(s, "POST (complete multipart upload)", u->k, &r, attempts,
			              err);
			rv = -1;
		}
	}
	s3_resp_free(&r);
	return rv;
}

/* Start a multipart upload: its uploadId, %-encoded for queries. */
static char *start_upload(struct s3_store *s, const char *k, struct cairn_err *err)
{
	struct req q = {
	    .method = "POST", .key = k, .cquery = "uploads=", .sha256 = CAIRN_S3_EMPTY_SHA256};
	struct resp r = {.small.max = S3_ERR_BODY_MAX};
	int attempts = 1;
	char *qid = NULL;
	if (s3_do(s, &q, &r, &attempts, NULL, err) == 0) {
		autofree char *id = r.status == 200 && r.small.p
		                        ? xml_find(r.small.p, r.small.len, "UploadId")
		                        : NULL;
		if (id && *id)
			qid = cairn_s3_uri_encode(id, false);
		else
			s3_status_err(s, "POST (start multipart upload)", k, &r, attempts, err);
	}
	s3_resp_free(&r);
	return qid;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int s3_put_fd(struct cairn_store *st, const char *key, int fd, uint64_t size, const char *sha256,
              const char *md5, char (*part_md5)[33], unsigned flags, struct cairn_err *err)
{
	struct s3_store *s = st->impl;
	autofree char *k = s3_full_key(s, key);
	if (size < MULTIPART_MIN) {
		struct body b = {.fd = fd, .len = size};
		return s3_put_body(s, k, &b, sha256, md5, flags, err);
	}
	/* Objects this large are content-addressed data, never leases or states:
	 * a racing writer of the same key writes the same bytes, so If-None-Match
	 * (which multipart uploads do not all support) is not needed. */
	struct stat before, after;
	if (fstat(fd, &before) < 0 || (uint64_t)before.st_size != size) {
		cairn_seterr(err, "storage: the file for %s changed before it was uploaded", k);
		return -1;
	}
	struct upload u = {
	    .k = k, .fd = fd, .size = size, .part = cairn_part_size(size), .part_md5 = part_md5};
	u.nparts = (unsigned)((size + u.part - 1) / u.part);
	u.qid = start_upload(s, k, err);
	if (!u.qid)
		return -1;
	u.etags = xcalloc(u.nparts, sizeof(*u.etags));
	pthread_mutex_init(&u.lock, NULL);
	run_parallel(s, u.nparts < PART_THREADS ? u.nparts : PART_THREADS, upload_parts, &u);
	pthread_mutex_destroy(&u.lock);
	int rv = -1;
	if (u.failed) {
		*err = u.err;
	} else if (fstat(fd, &after) < 0 || !same_file(&before, &after)) {
		cairn_seterr(err,
		             "storage: the file for %s changed while it was uploaded; run the "
		             "sync again",
		             k);
	} else {
		rv = complete_upload(s, &u, err);
	}
	if (rv < 0)
		abort_upload(s, k, u.qid);
	free(u.etags);
	free(u.qid);
	return rv;
}
