/* AWS Signature Version 4 (see s3_sign.h). */
#include "s3_sign.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void cairn_s3_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned int mdlen = 0;
	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	hex(md, SHA256_DIGEST_LENGTH, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int olen = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &olen);
}

void cairn_s3_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* A growable string. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

char *cairn_s3_uri_encode(const char *s, bool keep_slash)
{
	struct sbuf b = {0};
	sb_add(&b, "");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    (keep_slash && *p == '/')) {
			sb_addn(&b, (const char *)p, 1);
		} else {
			char e[4];
			snprintf(e, sizeof(e), "%%%02X", *p);
			sb_addn(&b, e, 3);
		}
	}
	return b.p;
}

struct qparam {
	char *name, *value;
};

static int cmp_qparam(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

char *cairn_s3_canonical_query(const char *query)
{
	struct sbuf b = {0};
	sb_add(&b, "");
	if (!query || !*query)
		return b.p;
	autofree char *q = xstrdup(query);
	struct qparam *v = NULL;
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(q, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].name = cairn_s3_uri_encode(tok, false);
		v[n].value = cairn_s3_uri_encode(eq ? eq + 1 : "", false);
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_qparam);
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_add(&b, "&");
		sb_add(&b, v[i].name);
		sb_add(&b, "=");
		sb_add(&b, v[i].value);
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return b.p;
}

struct chdr {
	char *name;
	const char *value;
};

static int cmp_chdr(const void *a, const void *b)
{
	return strcmp(((const struct chdr *)a)->name, ((const struct chdr *)b)->name);
}

/* Value trimmed, inner runs of spaces collapsed to one. */
static void add_trimmed(struct sbuf *b, const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	bool space = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			sb_addn(b, " ", 1);
		space = false;
		sb_addn(b, v, 1);
	}
}

char *cairn_s3_sign(const struct cairn_s3_sigreq *r, char **canonical_request,
                    char **string_to_sign, char signature[65])
{
	struct sbuf cr = {0}, sh = {0}, sts = {0};
	struct chdr *h = xcalloc(r->nheaders ? r->nheaders : 1, sizeof(*h));
	for (size_t i = 0; i < r->nheaders; i++) {
		h[i].name = xstrdup(r->headers[i].name);
		for (char *p = h[i].name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		h[i].value = r->headers[i].value;
	}
	qsort(h, r->nheaders, sizeof(*h), cmp_chdr);

	autofree char *cq =
	    r->canonical_query ? xstrdup(r->canonical_query) : cairn_s3_canonical_query(r->query);
	sb_add(&cr, r->method);
	sb_add(&cr, "\n");
	sb_add(&cr, r->path && *r->path ? r->path : "/");
	sb_add(&cr, "\n");
	sb_add(&cr, cq);
	sb_add(&cr, "\n");
	sb_add(&sh, "");
	for (size_t i = 0; i < r->nheaders; i++) {
		sb_add(&cr, h[i].name);
		sb_add(&cr, ":");
		add_trimmed(&cr, h[i].value);
		sb_add(&cr, "\n");
		if (i)
			sb_add(&sh, ";");
		sb_add(&sh, h[i].name);
		free(h[i].name);
	}
	free(h);
	sb_add(&cr, "\n");
	sb_add(&cr, sh.p);
	sb_add(&cr, "\n");
	sb_add(&cr, r->payload_sha256);

	char date[9];
	snprintf(date, sizeof(date), "%.8s", r->amz_date);
	autofree char *scope = xasprintf("%s/%s/%s/aws4_request", date, r->region, r->service);
	char crhash[65];
	cairn_s3_sha256_hex(cr.p, cr.len, crhash);
	sb_add(&sts, "AWS4-HMAC-SHA256\n");
	sb_add(&sts, r->amz_date);
	sb_add(&sts, "\n");
	sb_add(&sts, scope);
	sb_add(&sts, "\n");
	sb_add(&sts, crhash);

	/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
	 * "aws4_request") */
	unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
	autofree char *k0 = xasprintf("AWS4%s", r->secret_key);
	hmac(k0, strlen(k0), date, k1);
	explicit_bzero(k0, strlen(k0));
	hmac(k1, 32, r->region, k2);
	hmac(k2, 32, r->service, k3);
	hmac(k3, 32, "aws4_request", k4);
	hmac(k4, 32, sts.p, sig);
	explicit_bzero(k1, sizeof(k1));
	explicit_bzero(k2, sizeof(k2));
	explicit_bzero(k3, sizeof(k3));
	explicit_bzero(k4, sizeof(k4));
	char sighex[65];
	hex(sig, 32, sighex);
	if (signature)
		memcpy(signature, sighex, 65);

	char *auth = xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
	                       r->access_key, scope, sh.p, sighex);
	if (canonical_request)
		*canonical_request = cr.p;
	else
		free(cr.p);
	if (string_to_sign)
		*string_to_sign = sts.p;
	else
		free(sts.p);
	free(sh.p);
	return auth;
}
