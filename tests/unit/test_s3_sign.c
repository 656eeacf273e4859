/* Unit tests for common/s3_sign.c against the example vectors AWS documents:
 * "Signature Calculations for the Authorization Header" (S3 API reference: GET
 * object, PUT object, GET bucket lifecycle, list objects) and the sigv4 test suite
 * (get-vanilla, get-vanilla-query-order-key-case). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_sign.h"
#include "tap.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define DATE "20130524T000000Z"

static bool sig_is(const struct cairn_s3_sigreq *r, const char *want, char got[65])
{
	char *auth = cairn_s3_sign(r, NULL, NULL, got);
	free(auth);
	return !strcmp(got, want);
}

static void test_get_object(void)
{
	struct cairn_s3_header h[] = {
	    {"Host", HOST},
	    {"Range", "bytes=0-9"},
	    {"x-amz-content-sha256", CAIRN_S3_EMPTY_SHA256},
	    {"x-amz-date", DATE},
	};
	struct cairn_s3_sigreq r = {.method = "GET",
	                            .path = "/test.txt",
	                            .headers = h,
	                            .nheaders = 4,
	                            .payload_sha256 = CAIRN_S3_EMPTY_SHA256,
	                            .amz_date = DATE,
	                            .region = "us-east-1",
	                            .service = "s3",
	                            .access_key = AK,
	                            .secret_key = SK};
	char *creq = NULL, *sts = NULL, sig[65];
	char *auth = cairn_s3_sign(&r, &creq, &sts, sig);
	const char *want_creq =
	    "GET\n/test.txt\n\nhost:" HOST "\nrange:bytes=0-9\n"
	    "x-amz-content-sha256:" CAIRN_S3_EMPTY_SHA256 "\n"
	    "x-amz-date:" DATE "\n\n"
	    "host;range;x-amz-content-sha256;x-amz-date\n" CAIRN_S3_EMPTY_SHA256;
	CHECK_MSG("sigv4: GET object canonical request", !strcmp(creq, want_creq), "got\n%s", creq);
	CHECK_MSG("sigv4: GET object string to sign",
	          !strcmp(sts, "AWS4-HMAC-SHA256\n" DATE "\n20130524/us-east-1/s3/aws4_request\n"
	                       "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"),
	          "got\n%s", sts);
	CHECK_MSG("sigv4: GET object signature",
	          !strcmp(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
	          "got %s", sig);
	CHECK_MSG("sigv4: GET object Authorization header",
	          !strcmp(auth, "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
	                        "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
	                        "x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170"
	                        "aba48dd91039c6036bdb41"),
	          "got %s", auth);
	free(creq);
	free(sts);
	free(auth);
}

static void test_put_object(void)
{
	const char *body = "Welcome to Amazon S3.";
	char sha[65];
	cairn_s3_sha256_hex(body, strlen(body), sha);
	CHECK("sigv4: payload SHA-256 of the PUT example",
	      !strcmp(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"));
	char *path = cairn_s3_uri_encode("/test$file.text", true);
	CHECK_MSG("sigv4: '$' in a key is encoded once", !strcmp(path, "/test%24file.text"), "%s",
	          path);
	struct cairn_s3_header h[] = {
	    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
	    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
	    {"Host", HOST},
	    {"x-amz-date", DATE},
	    {"x-amz-content-sha256", sha},
	};
	struct cairn_s3_sigreq r = {.method = "PUT",
	                            .path = path,
	                            .headers = h,
	                            .nheaders = 5,
	                            .payload_sha256 = sha,
	                            .amz_date = DATE,
	                            .region = "us-east-1",
	                            .service = "s3",
	                            .access_key = AK,
	                            .secret_key = SK};
	char got[65];
	CHECK_MSG(
	    "sigv4: PUT object signature (headers given unsorted)",
	    sig_is(&r, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", got),
	    "got %s", got);
	free(path);
}

static void test_bucket_queries(void)
{
	struct cairn_s3_header h[] = {
	    {"Host", HOST},
	    {"x-amz-content-sha256", CAIRN_S3_EMPTY_SHA256},
	    {"x-amz-date", DATE},
	};
	struct cairn_s3_sigreq r = {.method = "GET",
	                            .path = "/",
	                            .query = "lifecycle",
	                            .headers = h,
	                            .nheaders = 3,
	                            .payload_sha256 = CAIRN_S3_EMPTY_SHA256,
	                            .amz_date = DATE,
	                            .region = "us-east-1",
	                            .service = "s3",
	                            .access_key = AK,
	                            .secret_key = SK};
	char got[65];
	CHECK_MSG(
	    "sigv4: GET bucket lifecycle (query name without value)",
	    sig_is(&r, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", got),
	    "got %s", got);
	r.query = "prefix=J&max-keys=2";
	CHECK_MSG(
	    "sigv4: list objects (query sorted)",
	    sig_is(&r, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", got),
	    "got %s", got);
}

static void test_suite_vanilla(void)
{
	struct cairn_s3_header h[] = {
	    {"Host", "example.amazonaws.com"},
	    {"X-Amz-Date", "20150830T123600Z"},
	};
	struct cairn_s3_sigreq r = {.method = "GET",
	                            .path = "/",
	                            .headers = h,
	                            .nheaders = 2,
	                            .payload_sha256 = CAIRN_S3_EMPTY_SHA256,
	                            .amz_date = "20150830T123600Z",
	                            .region = "us-east-1",
	                            .service = "service",
	                            .access_key = "AKIDEXAMPLE",
	                            .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
	char got[65];
	CHECK_MSG(
	    "sigv4 suite: get-vanilla",
	    sig_is(&r, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", got),
	    "got %s", got);
	r.query = "Param2=value2&Param1=value1";
	CHECK_MSG(
	    "sigv4 suite: get-vanilla-query-order-key-case",
	    sig_is(&r, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", got),
	    "got %s", got);
}

static void test_encoding(void)
{
	char *q = cairn_s3_canonical_query(
	    "prefix=ws/volumes/a b/&list-type=2&continuation-token=1a+B/c==");
	CHECK_MSG("canonical query: sorted, every reserved byte encoded incl. '/', '+', '='",
	          !strcmp(q, "continuation-token=1a%2BB%2Fc%3D%3D&list-type=2&"
	                     "prefix=ws%2Fvolumes%2Fa%20b%2F"),
	          "%s", q);
	free(q);
	q = cairn_s3_canonical_query(NULL);
	CHECK("canonical query: none is empty", !strcmp(q, ""));
	free(q);
	char *e = cairn_s3_uri_encode("a-b_c.d~e/f g\xc3\xa9", true);
	CHECK_MSG("uri encode: unreserved kept, UTF-8 bytes %XX upper case",
	          !strcmp(e, "a-b_c.d~e/f%20g%C3%A9"), "%s", e);
	free(e);
	char d[17];
	cairn_s3_amz_date(1369353600, d);
	CHECK_MSG("amz date is UTC ISO 8601 basic", !strcmp(d, "20130524T000000Z"), "%s", d);
}

int main(void)
{
	test_get_object();
	test_put_object();
	test_bucket_queries();
	test_suite_vanilla();
	test_encoding();
	TAP_DONE();
}
