/* AWS Signature Version 4 for S3 requests (header-based, single chunk), built on
 * OpenSSL's HMAC and SHA-256. Pure functions: no I/O, no clock, so the AWS
 * documented example vectors test them exactly (tests/unit/test_s3_sign.c). */
#ifndef CAIRN_S3_SIGN_H
#define CAIRN_S3_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CAIRN_S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct cairn_s3_header {
	const char *name; /* any case; signed lower-cased */
	const char *value;
};

struct cairn_s3_sigreq {
	const char *method;          /* "GET", "PUT", ... */
	const char *path;            /* canonical URI: already %-encoded (cairn_s3_uri_encode) */
	const char *query;           /* raw "a=1&b=x y" or NULL; canonicalised (sorted, encoded) */
	const char *canonical_query; /* if set: used as is instead of query (already sorted
	                              * and encoded, e.g. values holding '&') */
	const struct cairn_s3_header *headers; /* every header to sign, incl. host */
	size_t nheaders;
	const char *payload_sha256; /* hex, or "UNSIGNED-PAYLOAD" */
	const char *amz_date;       /* "20130524T000000Z" */
	const char *region, *service;
	const char *access_key, *secret_key;
};

/* RFC 3986 unreserved characters kept, the rest %XX (upper case); '/' kept when
 * keep_slash. Returns a malloc'd string. */
char *cairn_s3_uri_encode(const char *s, bool keep_slash);
/* "b=2&a=1" -> "a=1&b=2" with names and values URI-encoded; a name without '='
 * gets an empty value ("lifecycle" -> "lifecycle="). Input is NOT pre-encoded. */
char *cairn_s3_canonical_query(const char *query);
/* The canonical request, string to sign and signature; any out pointer may be NULL.
 * Results are malloc'd. Returns the Authorization header value (malloc'd). */
char *cairn_s3_sign(const struct cairn_s3_sigreq *r, char **canonical_request,
                    char **string_to_sign, char signature[65]);
/* "20130524T000000Z" for t (UTC). */
void cairn_s3_amz_date(time_t t, char out[17]);
/* Lower-case hex SHA-256 of a buffer. */
void cairn_s3_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
