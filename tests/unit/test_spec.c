/* Unit tests for common/spec.c: --volume and --sandbox values, script
 * annotations, name rules and placeholders, mount paths, encode/decode. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sandbox_request.h"
#include "spec.h"
#include "tap.h"
#include "util.h"

static char *const default_prefixes[] = {"/tmp/", "/mnt/", "/opt/", "/home/", "/data/"};
#define NPREFIXES (sizeof(default_prefixes) / sizeof(default_prefixes[0]))

static char *const test_argv[] = {"job.sh", "one", "", "two words", NULL};
static char *const test_envp[] = {
    "ENV=prod", "CFG={\"a\":{\"b\":\"deep\",\"n\":42,\"arr\":[1],\"f\":1.5,\"e\":\"\",\"t\":true}}",
    "EMPTY=",   "BAD=notjson",
    "SP=a b",   "ENVX=wrong",
    "ONE=x",    NULL,
};
static const struct cairn_placeholder_ctx full_ctx = {
    .workspace = "proj",
    .user = "alice",
    .account = "acct",
    .argv = test_argv,
    .argc = 4,
    .envp = test_envp,
};
static const struct cairn_placeholder_ctx empty_ctx = {
    .workspace = "",
    .user = NULL,
    .account = "",
    .argv = NULL,
    .argc = 0,
    .envp = NULL,
};

/* ---------- good cases ---------- */

static void test_options(void)
{
	struct cairn_volume_spec v;
	char err[512] = "";
	int rc;

	rc = cairn_spec_parse_option("agent-state:.agent", &v, err, sizeof(err));
	CHECK_MSG("option: NAME:PATH", rc == 0, "%s", err);
	CHECK("option: name", v.name_template && !strcmp(v.name_template, "agent-state"));
	CHECK("option: path", v.path && !strcmp(v.path, ".agent"));
	CHECK("option: rw by default", !v.readonly);
	CHECK("option: unresolved", v.name == NULL);
	CHECK("option: origin", v.origin && !strcmp(v.origin, "--volume=agent-state:.agent"));
	free(v.name_template);
	free(v.path);
	free(v.origin);

	rc = cairn_spec_parse_option("models:/data/models:ro", &v, err, sizeof(err));
	CHECK_MSG("option: NAME:PATH:ro", rc == 0 && v.readonly, "%s", err);
	CHECK("option: absolute path kept", v.path && !strcmp(v.path, "/data/models"));
	free(v.name_template);
	free(v.path);
	free(v.origin);

	rc = cairn_spec_parse_option("a.b_c-1:x/y:rw", &v, err, sizeof(err));
	CHECK_MSG("option: NAME:PATH:rw", rc == 0 && !v.readonly, "%s", err);
	free(v.name_template);
	free(v.path);
	free(v.origin);

	rc = cairn_spec_parse_option("data-$args[env]:data", &v, err, sizeof(err));
	CHECK_MSG("option: placeholder template", rc == 0, "%s", err);
	CHECK("option: template kept",
	      v.name_template && !strcmp(v.name_template, "data-$args[env]"));
	free(v.name_template);
	free(v.path);
	free(v.origin);

	rc = cairn_spec_parse_option("$user:.u", &v, err, sizeof(err));
	CHECK_MSG("option: lone placeholder is long enough", rc == 0, "%s", err);
	free(v.name_template);
	free(v.path);
	free(v.origin);

	rc = cairn_spec_parse_option("$workspace.$account_x-$args[CFG.a.b]:deep/dir", &v, err,
	                             sizeof(err));
	CHECK("option: $account_x is an unknown placeholder", rc != 0);
}

static void test_sandbox_values(void)
{
	enum cairn_sandbox m = CAIRN_SANDBOX_NONE;
	struct cairn_limits lim;
	char err[256];

	CHECK("sandbox: NULL is full",
	      !cairn_spec_parse_sandbox(NULL, &m, &lim, err, sizeof(err)) &&
	          m == CAIRN_SANDBOX_FULL);
	m = CAIRN_SANDBOX_NONE;
	CHECK("sandbox: empty is full",
	      !cairn_spec_parse_sandbox("", &m, &lim, err, sizeof(err)) && m == CAIRN_SANDBOX_FULL);
	m = CAIRN_SANDBOX_NONE;
	CHECK("sandbox: full", !cairn_spec_parse_sandbox("full", &m, &lim, err, sizeof(err)) &&
	                           m == CAIRN_SANDBOX_FULL);
	CHECK("sandbox: pid", !cairn_spec_parse_sandbox("pid", &m, &lim, err, sizeof(err)) &&
	                          m == CAIRN_SANDBOX_PID);
	CHECK("sandbox: limits with the mode",
	      !cairn_spec_parse_sandbox("full,memory=4G,pids=512,cpus=2", &m, &lim, err,
	                                sizeof(err)) &&
	          m == CAIRN_SANDBOX_FULL && lim.memory == 4ULL << 30 && lim.pids == 512 &&
	          lim.cpus == 2);
	CHECK("sandbox: limits alone mean full",
	      !cairn_spec_parse_sandbox("memory=512M", &m, &lim, err, sizeof(err)) &&
	          m == CAIRN_SANDBOX_FULL && lim.memory == 512ULL << 20 && !lim.pids && !lim.cpus);
	CHECK("sandbox: no limits given, none set",
	      !cairn_spec_parse_sandbox("pid", &m, &lim, err, sizeof(err)) && !lim.memory &&
	          !lim.pids && !lim.cpus);
	CHECK("sandbox: names", !strcmp(cairn_sandbox_name(CAIRN_SANDBOX_NONE), "none") &&
	                            !strcmp(cairn_sandbox_name(CAIRN_SANDBOX_FULL), "full") &&
	                            !strcmp(cairn_sandbox_name(CAIRN_SANDBOX_PID), "pid"));
}

static const char good_script[] = "#!/bin/bash\n"
                                  "#SBATCH --time=10\n"
                                  "\n"
                                  "# sandbox\n"
                                  "# volume: agent-state .agent\n"
                                  "//volume: $workspace-cache cache ro\n"
                                  "#   volume :  data-$args[env]   data/  rw  \n"
                                  "  # Volume: Ignored x\n"
                                  "# volumes are great\n"
                                  "## just a comment about the volume\n"
                                  "# sandbox\n"
                                  "echo hello\n"
                                  "# volume: after-command x\n"
                                  "# sandbox: pid\n";

static void test_script_good(void)
{
	struct cairn_job_spec spec = {0};
	struct cairn_errlist errs = {0};
	int rc;

	rc = cairn_spec_parse_script(good_script, strlen(good_script), "job.sh", &spec, &errs);
	CHECK_MSG("script: parses", rc == 0 && errs.n == 0, "%s", errs.n ? errs.msg[0] : "rc");
	CHECK_MSG("script: three volumes", spec.nvol == 3, "nvol=%zu", spec.nvol);
	CHECK("script: sandbox full", spec.sandbox == CAIRN_SANDBOX_FULL);
	if (spec.nvol == 3) {
		CHECK("script: vol1", !strcmp(spec.vol[0].name_template, "agent-state") &&
		                          !strcmp(spec.vol[0].path, ".agent") &&
		                          !spec.vol[0].readonly);
		CHECK("script: vol1 origin", !strcmp(spec.vol[0].origin, "job.sh:5"));
		CHECK("script: // prefix, ro",
		      !strcmp(spec.vol[1].name_template, "$workspace-cache") &&
		          !strcmp(spec.vol[1].path, "cache") && spec.vol[1].readonly);
		CHECK("script: vol2 origin", !strcmp(spec.vol[1].origin, "job.sh:6"));
		CHECK("script: spaces around colon, rw",
		      !strcmp(spec.vol[2].name_template, "data-$args[env]") &&
		          !strcmp(spec.vol[2].path, "data/") && !spec.vol[2].readonly);
	}
	cairn_spec_free(&spec);
	CHECK("script: free zeroes", spec.nvol == 0);
	cairn_errlist_free(&errs);

	/* CRLF, BOM, indented comments, sandbox: pid, no shebang */
	static const char crlf[] = "\xef\xbb\xbf# sandbox: pid\r\n"
	                           "\t// volume: ab cd ro\r\n"
	                           "\r\n"
	                           "run\r\n";
	rc = cairn_spec_parse_script(crlf, strlen(crlf), "w.js", &spec, &errs);
	CHECK_MSG("script: CRLF and BOM", rc == 0 && spec.nvol == 1, "%s",
	          errs.n ? errs.msg[0] : "nvol");
	CHECK("script: sandbox pid", spec.sandbox == CAIRN_SANDBOX_PID);
	CHECK("script: CR stripped",
	      spec.nvol == 1 && spec.vol[0].readonly && !strcmp(spec.vol[0].path, "cd"));
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);

	/* an explicit option wins over the annotation */
	spec.sandbox = CAIRN_SANDBOX_FULL;
	static const char pid[] = "# sandbox: pid\n# sandbox: pid\n";
	rc = cairn_spec_parse_script(pid, strlen(pid), "job.sh", &spec, &errs);
	CHECK("script: same sandbox twice is fine", rc == 0 && errs.n == 0);
	CHECK("script: option sandbox kept", spec.sandbox == CAIRN_SANDBOX_FULL);
	cairn_spec_free(&spec);

	/* empty script, only a shebang, no trailing newline */
	CHECK("script: empty", cairn_spec_parse_script("", 0, "e.sh", &spec, &errs) == 0);
	CHECK("script: NULL text", cairn_spec_parse_script(NULL, 0, "e.sh", &spec, &errs) == 0);
	static const char nonl[] = "#!/bin/sh\n# volume: ab cd";
	CHECK("script: no trailing newline",
	      cairn_spec_parse_script(nonl, strlen(nonl), "e.sh", &spec, &errs) == 0 &&
	          spec.nvol == 1);
	cairn_spec_free(&spec);
	CHECK("script: no errors collected", errs.n == 0);
	cairn_errlist_free(&errs);
}

static void test_mixed(void)
{
	struct cairn_job_spec spec = {0};
	struct cairn_errlist errs = {0};
	struct cairn_volume_spec v;
	char err[512];
	int rc;

	rc = cairn_spec_parse_option("models:/data/models:ro", &v, err, sizeof(err));
	CHECK("mixed: option parsed", rc == 0);
	CHECK("mixed: option added", cairn_spec_add(&spec, &v, &errs) == 0 && spec.nvol == 1);
	CHECK("mixed: add takes ownership", v.name_template == NULL && v.origin == NULL);
	spec.sandbox = CAIRN_SANDBOX_FULL;
	static const char s[] = "#!/bin/bash\n# volume: agent-state .agent\n";
	rc = cairn_spec_parse_script(s, strlen(s), "job.sh", &spec, &errs);
	CHECK("mixed: annotation added", rc == 0 && spec.nvol == 2);
	rc = cairn_spec_resolve(&spec, &full_ctx, default_prefixes, NPREFIXES, &errs);
	CHECK_MSG("mixed: resolves", rc == 0, "%s", errs.n ? errs.msg[0] : "");
	CHECK("mixed: resolved names", spec.nvol == 2 && spec.vol[0].name &&
	                                   !strcmp(spec.vol[0].name, "models") &&
	                                   !strcmp(spec.vol[1].name, "agent-state"));

	/* the same volume from the option and the script */
	static const char dup[] = "# volume: models m2\n";
	rc = cairn_spec_parse_script(dup, strlen(dup), "job.sh", &spec, &errs);
	CHECK("mixed: duplicate across option and script", rc != 0 && errs.n == 1);
	CHECK_MSG("mixed: duplicate names both places",
	          errs.n == 1 && strstr(errs.msg[0], "job.sh:1:") &&
	              strstr(errs.msg[0], "--volume=models:/data/models:ro"),
	          "%s", errs.n ? errs.msg[0] : "");
	CHECK("mixed: spec unchanged", spec.nvol == 2);
	cairn_errlist_free(&errs);

	/* absolute path from the option, but the job has no sandbox */
	spec.sandbox = CAIRN_SANDBOX_NONE;
	rc = cairn_spec_resolve(&spec, &full_ctx, default_prefixes, NPREFIXES, &errs);
	CHECK_MSG("mixed: absolute path needs sandbox",
	          rc != 0 && errs.n == 1 && strstr(errs.msg[0], "--volume=models") &&
	              strstr(errs.msg[0], "need --sandbox"),
	          "%s", errs.n ? errs.msg[0] : "");
	cairn_errlist_free(&errs);
	cairn_spec_free(&spec);

	/* two templates that resolve to the same name */
	rc = cairn_spec_parse_option("$user:.a", &v, err, sizeof(err));
	cairn_spec_add(&spec, &v, &errs);
	rc |= cairn_spec_parse_option("alice:.b", &v, err, sizeof(err));
	cairn_spec_add(&spec, &v, &errs);
	CHECK("resolve-dup: both added", rc == 0 && spec.nvol == 2 && errs.n == 0);
	rc = cairn_spec_resolve(&spec, &full_ctx, default_prefixes, NPREFIXES, &errs);
	CHECK_MSG("reject: same name after resolution",
	          rc != 0 && errs.n == 1 && strstr(errs.msg[0], "--volume=alice:.b: ") &&
	              strstr(errs.msg[0], "same volume as --volume=$user:.a") &&
	              strstr(errs.msg[0], "; "),
	          "%s", errs.n ? errs.msg[0] : "");
	cairn_errlist_free(&errs);
	cairn_spec_free(&spec);

	/* ten is fine; add refuses the eleventh and frees it */
	for (int i = 0; i < 11; i++) {
		char opt[64];

		snprintf(opt, sizeof(opt), "vol%d:d%d", i, i);
		if (cairn_spec_parse_option(opt, &v, err, sizeof(err)) == 0)
			rc = cairn_spec_add(&spec, &v, &errs);
	}
	CHECK("limit: ten volumes kept", spec.nvol == CAIRN_MAX_VOLUMES);
	CHECK_MSG("reject: eleventh option",
	          rc != 0 && errs.n == 1 && strstr(errs.msg[0], "--volume=vol10:d10: ") &&
	              strstr(errs.msg[0], "at most 10"),
	          "%s", errs.n ? errs.msg[0] : "");
	cairn_errlist_free(&errs);
	cairn_spec_free(&spec);
}

static void test_resolve_good(void)
{
	static const struct {
		const char *tmpl, *want;
	} rows[] = {
	    {"$workspace-$user-$account", "proj-alice-acct"},
	    {"plain-name", "plain-name"},
	    {"arg-$args[1]", "arg-one"},
	    {"data-$args[ENV]", "data-prod"},
	    {"x-$args[CFG.a.b]", "x-deep"},
	    {"n$args[CFG.a.n]", "n42"},
	    {"$user.$args[ENV]", "alice.prod"},
	    {"$args[ENV]$args[ENV]", "prodprod"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char name[128], err[512] = "";
		char *out = NULL;
		int rc = cairn_name_resolve(rows[i].tmpl, &full_ctx, &out, err, sizeof(err));

		snprintf(name, sizeof(name), "resolve: %s", rows[i].tmpl);
		CHECK_MSG(name, rc == 0 && out && !strcmp(out, rows[i].want), "got %s / %s",
		          out ? out : "(null)", err);
		free(out);
	}
}

static void test_names_and_paths(void)
{
	char err[512], n255[256], *norm;

	CHECK("name: two characters", cairn_name_check("ab", err, sizeof(err)) == 0);
	CHECK("name: dots and dashes", cairn_name_check("a.b_c-d9", err, sizeof(err)) == 0);
	memset(n255, 'a', 255);
	n255[255] = '\0';
	CHECK("name: 255 characters", cairn_name_check(n255, err, sizeof(err)) == 0);
	CHECK("name: rejects '$' after resolution", cairn_name_check("a$b", err, sizeof(err)) != 0);
	CHECK("name: suggestion", cairn_name_check("my volume!", err, sizeof(err)) != 0 &&
	                              strstr(err, "e.g. \"my-volume\""));

	CHECK("path: relative",
	      cairn_mount_path_check(".agent", CAIRN_SANDBOX_NONE, NULL, 0, err, sizeof(err)) == 0);
	CHECK("path: relative nested",
	      cairn_mount_path_check("a/./b/", CAIRN_SANDBOX_NONE, NULL, 0, err, sizeof(err)) == 0);
	CHECK("path: dots in names", cairn_mount_path_check("..a/b..", CAIRN_SANDBOX_NONE, NULL, 0,
	                                                    err, sizeof(err)) == 0);
	CHECK("path: absolute under prefix",
	      cairn_mount_path_check("/tmp/x", CAIRN_SANDBOX_FULL, default_prefixes, NPREFIXES, err,
	                             sizeof(err)) == 0);
	CHECK("path: absolute messy",
	      cairn_mount_path_check("/data//models/./", CAIRN_SANDBOX_PID, default_prefixes,
	                             NPREFIXES, err, sizeof(err)) == 0);
	char *slash[] = {"/"}, *noslash[] = {"/scratch"};
	CHECK("path: prefix /", cairn_mount_path_check("/etc/x", CAIRN_SANDBOX_FULL, slash, 1, err,
	                                               sizeof(err)) == 0);
	CHECK("path: prefix without slash",
	      cairn_mount_path_check("/scratch/x", CAIRN_SANDBOX_FULL, noslash, 1, err,
	                             sizeof(err)) == 0);
	CHECK("path: prefix is not a string prefix",
	      cairn_mount_path_check("/scratchy/x", CAIRN_SANDBOX_FULL, noslash, 1, err,
	                             sizeof(err)) != 0);
	CHECK("path: no prefixes", cairn_mount_path_check("/tmp/x", CAIRN_SANDBOX_FULL, NULL, 0,
	                                                  err, sizeof(err)) != 0 &&
	                               strstr(err, "no absolute mount paths"));

	CHECK("path: UTF-8 is fine",
	      cairn_mount_path_check("d\xc3\xa9j\xc3\xa0", CAIRN_SANDBOX_NONE, NULL, 0, err,
	                             sizeof(err)) == 0);
	char *pr = cairn_printable("a\nb\xff\xc3\xa9\"");
	CHECK("printable: escapes control and invalid bytes", !strcmp(pr, "a\\nb\\xff\xc3\xa9\""));
	free(pr);

	norm = cairn_path_normalize("./a//b/./c///");
	CHECK("normalize: relative", !strcmp(norm, "a/b/c"));
	free(norm);
	norm = cairn_path_normalize("//x/");
	CHECK("normalize: absolute", !strcmp(norm, "/x"));
	free(norm);
	norm = cairn_path_normalize("///");
	CHECK("normalize: root", !strcmp(norm, "/"));
	free(norm);
	norm = cairn_path_normalize("./");
	CHECK("normalize: dot", !strcmp(norm, "."));
	free(norm);
}

static void test_encode_decode(void)
{
	struct cairn_job_spec spec = {0}, back = {0};
	struct cairn_errlist errs = {0};
	char err[512] = "";
	static const char s[] = "# sandbox: pid\n"
	                        "# volume: $user-state .agent\n"
	                        "# volume: models /data/models ro\n"
	                        "# volume: t\xc3\xa9st-$args[ENV] \"q\\uote\"/dir\n";

	int rc = cairn_spec_parse_script(s, strlen(s), "job \"x\".sh", &spec, &errs);
	CHECK_MSG("encode: input parses", rc == 0 || errs.n == 1, "%s", errs.n ? errs.msg[0] : "");
	/* the third line has a non-ASCII name and is rejected; the rest is used */
	CHECK("encode: non-ASCII name rejected", errs.n == 1 &&
	                                             strstr(errs.msg[0], "job \"x\".sh:4:") &&
	                                             strstr(errs.msg[0], "the byte 0xc3"));
	cairn_errlist_free(&errs);
	rc = cairn_spec_resolve(&spec, &full_ctx, default_prefixes, NPREFIXES, &errs);
	CHECK_MSG("encode: resolves", rc == 0, "%s", errs.n ? errs.msg[0] : "");

	char *enc = cairn_spec_encode(&spec);
	CHECK("encode: one line", enc && !strchr(enc, '\n'));
	rc = enc ? cairn_spec_decode(enc, &back, err, sizeof(err)) : -1;
	CHECK_MSG("decode: round trip", rc == 0, "%s", err);
	CHECK("decode: fields", back.nvol == 2 && back.sandbox == CAIRN_SANDBOX_PID &&
	                            !strcmp(back.vol[0].name_template, "$user-state") &&
	                            back.vol[0].name && !strcmp(back.vol[0].name, "alice-state") &&
	                            !strcmp(back.vol[0].origin, "job \"x\".sh:2") &&
	                            back.vol[1].readonly && !back.vol[0].readonly &&
	                            !strcmp(back.vol[1].path, "/data/models"));
	char *enc2 = cairn_spec_encode(&back);
	CHECK("encode: stable", enc && enc2 && !strcmp(enc, enc2));
	free(enc);
	free(enc2);
	cairn_spec_free(&back);
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);

	/* unresolved and empty specs survive too */
	enc = cairn_spec_encode(&spec);
	CHECK("encode: empty spec",
	      enc && cairn_spec_decode(enc, &back, err, sizeof(err)) == 0 && back.nvol == 0);
	free(enc);
	cairn_spec_free(&back);
	static const char unres[] = "# volume: $args[CFG.a.b] x\n";
	cairn_spec_parse_script(unres, strlen(unres), "j", &spec, &errs);
	enc = cairn_spec_encode(&spec);
	CHECK("encode: unresolved spec", enc &&
	                                     cairn_spec_decode(enc, &back, err, sizeof(err)) == 0 &&
	                                     back.nvol == 1 && back.vol[0].name == NULL);
	free(enc);
	cairn_spec_free(&back);
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);
}

/* ---------- malformed inputs ---------- */

enum kind {
	OPT,       /* cairn_spec_parse_option */
	SCRIPT,    /* cairn_spec_parse_script, name "job.sh" */
	RESOLVE,   /* option, then cairn_spec_resolve with full_ctx */
	RES_SB,    /* same, with --sandbox */
	RES_EMPTY, /* same, with empty_ctx */
	DECODE,    /* cairn_spec_decode */
	SANDBOX,   /* cairn_spec_parse_sandbox */
};

struct bad {
	const char *desc;
	enum kind kind;
	const char *input;
	const char *expect;
};

static const struct bad bad_rows[] = {
    /* --volume values */
    {"empty option", OPT, "", "--volume: missing value"},
    {"option without path", OPT, "agent", "missing ':PATH'"},
    {"option with empty name", OPT, ":x", "the volume name is empty"},
    {"option with empty path", OPT, "a1:", "the mount path is empty"},
    {"option with empty path and flag", OPT, "a1::ro", "the mount path is empty"},
    {"option with extra field", OPT, "a1:b:ro:x", "too many ':'"},
    {"option with colon in path", OPT, "a1:/tmp/a:b:ro", "too many ':'"},
    {"option with empty flag", OPT, "a1:b:", "empty flag"},
    {"option with unknown flag", OPT, "a1:b:rx", "unknown flag \"rx\""},
    {"option flag is case-sensitive", OPT, "a1:b:RO", "unknown flag \"RO\""},
    {"name too short", OPT, "a:b", "volume name \"a\" is too short"},
    {"name starts with dash", OPT, "-ab:x", "must start and end with a letter or digit"},
    {"name ends with dot", OPT, "ab.:x", "must start and end with a letter or digit"},
    {"name with space", OPT, "bad name:x", "contains a space"},
    {"name with slash", OPT, "x/y:p", "contains '/'"},
    {"name with non-ASCII", OPT, "caf\xc3\xa9:p", "the byte 0xc3"},
    {"name too long", OPT,
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:x",
     "is too long"},
    {"path with space", OPT, "a1:b c", "contains a space"},
    {"path with tab", OPT, "a1:b\tc", "contains a tab"},
    {"path with newline", OPT, "a1:b\nc", "contains a newline"},
    {"path with tilde", OPT, "a1:~/x", "starts with '~'"},
    {"path with leading ..", OPT, "a1:../x", "\"..\" component"},
    {"path with inner ..", OPT, "a1:x/../../y", "\"..\" component"},
    {"absolute path with ..", OPT, "a1:/tmp/../etc", "\"..\" component"},
    {"path not UTF-8", OPT, "ab:x\xff", "is not valid UTF-8"},
    {"path with overlong UTF-8", OPT, "ab:x\xc0\xaf", "is not valid UTF-8"},
    {"path with surrogate", OPT, "ab:x\xed\xa0\x80", "is not valid UTF-8"},
    {"path is .", OPT, "a1:.", "working directory itself"},
    {"path is ./", OPT, "a1:./", "working directory itself"},
    {"path is /", OPT, "a1:/", "root directory"},
    {"path is //", OPT, "a1://", "root directory"},
    {"unknown placeholder", OPT, "$foo:x", "unknown placeholder \"$foo\""},
    {"placeholder glued to _", OPT, "$user_cache:x", "unknown placeholder \"$user_cache\""},
    {"shell-style argument", OPT, "$1-x:x", "$args[1]"},
    {"empty $args[]", OPT, "$args[]:x", "placeholder \"$args[]\""},
    {"$args[0]", OPT, "$args[0]:x", "count from 1"},
    {"$args[01]", OPT, "$args[01]:x", "leading zero"},
    {"$args[1x]", OPT, "$args[1x]:x", "neither an argument number nor"},
    {"huge $args index", OPT, "$args[9999999]:x", "too large"},
    {"unterminated $args[", OPT, "$args[x:y", "is not closed"},
    {"$args without brackets", OPT, "$args-x:y", "needs a number or a variable name"},
    {"lone dollar", OPT, "a$:x", "does not start a placeholder"},
    {"empty JSON field", OPT, "$args[A..b]:x", "empty field name"},
    {"bad char in $args", OPT, "$args[A b]:x", "contains a space"},
    {"placeholder after dash start", OPT, "-$user:x", "must start and end"},
    {"bad char next to placeholder", OPT, "$user/x:y", "contains '/'"},
    /* script annotations */
    {"annotation name too short", SCRIPT, "# volume: a .x\n",
     "job.sh:1: volume name \"a\" is too short (2 to 255 characters of a-z A-Z 0-9 . _ -, "
     "starting and ending with a letter or digit); rename it, e.g. \"agent-state\""},
    {"annotation without colon", SCRIPT, "#!/bin/bash\n# volume agent .x\n",
     "job.sh:2: \"# volume\" is missing the ':'"},
    {"annotation without colon, //", SCRIPT, "// volume agent .x ro\n",
     "job.sh:1: \"// volume\" is missing the ':'"},
    {"annotation without fields", SCRIPT, "# volume:\n", "needs a volume name and a mount path"},
    {"annotation without path", SCRIPT, "# volume: agent\n",
     "has a name (\"agent\") but no mount path"},
    {"annotation with extra field", SCRIPT, "# volume: agent .x ro extra\n", "has 4 fields"},
    {"annotation with trailing comment", SCRIPT, "# volume: agent .x # mine\n", "has 4 fields"},
    {"annotation with bad flag", SCRIPT, "# volume: agent .x rox\n", "unknown flag \"rox\""},
    {"annotation with bad name", SCRIPT, "// volume: a/b .x\n", "job.sh:1: volume name \"a/b\""},
    {"annotation with unknown placeholder", SCRIPT, "# volume: $nope .x\n", "unknown placeholder"},
    {"annotation path with colon", SCRIPT, "# volume: aa .x:y\n", "contains ':'"},
    {"annotation path with tilde", SCRIPT, "# volume: aa ~/x\n", "starts with '~'"},
    {"annotation path ..", SCRIPT, "\n\n# volume: aa ../x\n", "job.sh:3: mount path \"../x\""},
    {"unknown sandbox mode", SCRIPT, "# sandbox: net\n", "unknown sandbox setting \"net\""},
    {"sandbox mode case", SCRIPT, "# sandbox: PID\n", "unknown sandbox setting \"PID\""},
    {"sandbox colon without mode", SCRIPT, "# sandbox:\n", "needs a mode or limits"},
    {"sandbox with two modes", SCRIPT, "# sandbox: pid full\n", "two sandbox modes (pid and full)"},
    {"sandbox limit without value", SCRIPT, "# sandbox: memory=\n",
     "\"memory=\" needs a size above 0; write e.g. memory=4G"},
    {"sandbox limit not a size", SCRIPT, "# sandbox: memory=lots\n", "needs a size above 0"},
    {"sandbox zero pids", SCRIPT, "# sandbox: pids=0\n", "\"pids=0\" needs a whole number above 0"},
    {"sandbox cpus not a number", SCRIPT, "# sandbox: full cpus=1.5\n", "write e.g. cpus=2"},
    {"sandbox limit twice", SCRIPT, "# sandbox: pids=1 pids=2\n", "pids is given twice"},
    {"sandbox limits in pid mode", SCRIPT, "# sandbox: pid memory=1G\n",
     "job.sh:1: \"# sandbox:\": limits (memory=, pids=, cpus=) need the full sandbox"},
    {"sandbox unknown limit", SCRIPT, "# sandbox: swap=1G\n",
     "unknown sandbox setting \"swap=1G\""},
    {"sandbox without colon", SCRIPT, "# sandbox pid\n", "write \"# sandbox: pid\""},
    {"sandbox with prose", SCRIPT, "# sandbox the agent\n", "unexpected text after"},
    {"two sandbox modes", SCRIPT, "# sandbox\n# sandbox: pid\n",
     "job.sh:2: this sandbox annotation conflicts with the one on line 1"},
    {"two sandbox limits", SCRIPT, "# sandbox: memory=1G\n# sandbox: memory=2G\n",
     "job.sh:2: this sandbox annotation conflicts with the one on line 1"},
    {"same name twice", SCRIPT, "# volume: aa .x\n# volume: aa .y\n",
     "job.sh:2: volume \"aa\" is already mounted by job.sh:1"},
    {"same template twice", SCRIPT, "# volume: $user-a .x\n# volume: $user-a .y\n",
     "already mounted by job.sh:1"},
    {"same path twice", SCRIPT, "# volume: aa x\n# volume: bb ./x/\n",
     "job.sh:2: mount path \"./x/\" is already used by volume \"aa\" at job.sh:1"},
    {"same path, double slash", SCRIPT, "# volume: aa a//b\n# volume: bb a/b\n",
     "is already used by volume"},
    {"eleven volumes", SCRIPT,
     "# volume: v1 d1\n# volume: v2 d2\n# volume: v3 d3\n# volume: v4 d4\n# volume: v5 d5\n"
     "# volume: v6 d6\n# volume: v7 d7\n# volume: v8 d8\n# volume: v9 d9\n# volume: v10 d10\n"
     "# volume: v11 d11\n",
     "job.sh:11: too many volumes: volume \"v11\" would be number 11"},
    /* NUL and long lines are built in test_bad_special() */
    /* resolution */
    {"argument past argc", RESOLVE, "x-$args[5]:x", "the batch script got 3 arguments"},
    {"empty argument", RESOLVE, "x-$args[2]:x", "argument 2 of the batch script is empty"},
    {"unset variable", RESOLVE, "x-$args[MISSING]:x", "environment variable MISSING is not set"},
    {"empty variable", RESOLVE, "x-$args[EMPTY]:x", "environment variable EMPTY is empty"},
    {"variable is not JSON", RESOLVE, "x-$args[BAD.a]:x", "the value of BAD is not a JSON object"},
    {"missing JSON field", RESOLVE, "x-$args[CFG.z]:x", "has no field CFG.z"},
    {"missing nested field", RESOLVE, "x-$args[CFG.a.q]:x", "has no field CFG.a.q"},
    {"JSON string is not an object", RESOLVE, "x-$args[CFG.a.b.c]:x",
     "CFG.a.b is a string, not a JSON object"},
    {"JSON array leaf", RESOLVE, "x-$args[CFG.a.arr]:x", "is an array, not a string or an integer"},
    {"JSON real leaf", RESOLVE, "x-$args[CFG.a.f]:x", "not a string or an integer"},
    {"JSON bool leaf", RESOLVE, "x-$args[CFG.a.t]:x", "is true, not a string or an integer"},
    {"JSON object leaf", RESOLVE, "x-$args[CFG.a]:x", "is an object, not a string"},
    {"JSON empty string leaf", RESOLVE, "x-$args[CFG.a.e]:x", "is an empty string"},
    {"resolved name with space", RESOLVE, "x-$args[SP]:x",
     "volume name \"x-a b\" (from \"x-$args[SP]\") contains a space"},
    {"resolved argument with space", RESOLVE, "x$args[3]:y", "contains a space"},
    {"plain variable used as JSON", RESOLVE, "$args[ENV.a]:y",
     "the value of ENV is not a JSON object"},
    {"resolved name too short", RESOLVE, "$args[ONE]:y",
     "volume name \"x\" (from \"$args[ONE]\") is too short"},
    {"absolute path without sandbox", RESOLVE, "ab:/data/x",
     "mount path \"/data/x\" is absolute, and absolute mount paths need --sandbox (or a '# "
     "sandbox' annotation); add --sandbox, or use a relative path such as \"x\""},
    {"absolute path outside prefixes", RES_SB, "ab:/etc/x",
     "not under an allowed prefix (/tmp/ /mnt/ /opt/ /home/ /data/)"},
    {"absolute path is a prefix", RES_SB, "ab:/tmp/", "is an allowed prefix itself"},
    {"absolute path, sibling of prefix", RES_SB, "ab:/tmpx/y", "not under an allowed prefix"},
    {"empty workspace", RES_EMPTY, "$workspace-x:x", "$workspace in volume name"},
    {"unset user", RES_EMPTY, "$user-x:x", "$user in volume name"},
    {"empty account", RES_EMPTY, "$account-x:x", "the job has no account"},
    {"no arguments at all", RES_EMPTY, "a$args[1]:x", "got 0 arguments"},
    {"no environment", RES_EMPTY, "a$args[HOME]:x", "HOME is not set"},
    /* encoded specs */
    {"empty encoding", DECODE, "", "encoded job spec is empty"},
    {"encoding is not JSON", DECODE, "not json", "not valid JSON"},
    {"truncated encoding", DECODE, "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[", "not valid JSON"},
    {"encoding is an array", DECODE, "[]", "not a JSON object"},
    {"encoding version", DECODE, "{\"v\":2,\"sandbox\":\"none\",\"volumes\":[]}", "version"},
    {"encoding version type", DECODE, "{\"v\":\"1\",\"sandbox\":\"none\",\"volumes\":[]}",
     "version"},
    {"encoding sandbox", DECODE, "{\"v\":1,\"sandbox\":\"weird\",\"volumes\":[]}",
     "unknown sandbox mode"},
    {"encoding without volumes", DECODE, "{\"v\":1,\"sandbox\":\"none\"}", "no \"volumes\" list"},
    {"encoding unknown key", DECODE, "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[],\"x\":1}",
     "unknown field \"x\""},
    {"encoding duplicate key", DECODE, "{\"v\":1,\"v\":1,\"sandbox\":\"none\",\"volumes\":[]}",
     "not valid JSON"},
    {"encoding volume not an object", DECODE, "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[1]}",
     "volume 1 is not a JSON object"},
    {"encoding bad name", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"a/b\",\"path\":\"x\",\"ro\":false,"
     "\"origin\":\"o\"}]}",
     "contains '/'"},
    {"encoding bad placeholder", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"$x\",\"path\":\"x\",\"ro\":false,"
     "\"origin\":\"o\"}]}",
     "unknown placeholder"},
    {"encoding bad path", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"ab\",\"path\":\"../x\",\"ro\":false,"
     "\"origin\":\"o\"}]}",
     "\"..\" component"},
    {"encoding absolute path without sandbox", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"ab\",\"path\":\"/tmp/x\",\"ro\":"
     "false,\"origin\":\"o\"}]}",
     "need --sandbox"},
    {"encoding ro not bool", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"ab\",\"path\":\"x\",\"ro\":\"yes\","
     "\"origin\":\"o\"}]}",
     "a boolean \"ro\""},
    {"encoding missing origin", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"ab\",\"path\":\"x\",\"ro\":true}]}",
     "string fields"},
    {"encoding NUL in name", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"a\\u0000b\",\"path\":\"x\",\"ro\":"
     "true,\"origin\":\"o\"}]}",
     "not valid JSON"},
    {"encoding control char in origin", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"ab\",\"path\":\"x\",\"ro\":true,"
     "\"origin\":\"o\\nx\"}]}",
     "unprintable \"origin\""},
    {"encoding bad resolved name", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"$user\",\"path\":\"x\",\"ro\":true,"
     "\"origin\":\"o\",\"resolved\":\"bad name\"}]}",
     "invalid resolved name"},
    {"encoding resolved differs", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"ab\",\"path\":\"x\",\"ro\":true,"
     "\"origin\":\"o\",\"resolved\":\"cd\"}]}",
     "resolved name differs"},
    {"encoding duplicate volume", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{\"name\":\"ab\",\"path\":\"x\",\"ro\":true,"
     "\"origin\":\"o1\"},{\"name\":\"ab\",\"path\":\"y\",\"ro\":true,\"origin\":\"o2\"}]}",
     "o2: volume \"ab\" is already mounted by o1"},
    {"encoding eleven volumes", DECODE,
     "{\"v\":1,\"sandbox\":\"none\",\"volumes\":[{},{},{},{},{},{},{},{},{},{},{}]}",
     "11 volumes, more than 10"},
    /* --sandbox values */
    {"sandbox none", SANDBOX, "none",
     "--sandbox=none: unknown sandbox setting \"none\"; use full or pid, and limits such as "
     "memory=4G, pids=512 or cpus=2"},
    {"sandbox case", SANDBOX, "PID", "--sandbox=PID: unknown sandbox setting"},
    {"sandbox trailing comma", SANDBOX, "full,", "--sandbox=full,: a trailing comma"},
    {"sandbox empty setting", SANDBOX, "full,,pids=2", "an empty setting"},
    {"sandbox pid with limits", SANDBOX, "pid,cpus=2", "need the full sandbox"},
    {"sandbox bad memory", SANDBOX, "memory=-1", "\"memory=-1\" needs a size above 0"},
    {"sandbox spaces", SANDBOX, "full, pids=2", "unknown sandbox setting \" pids=2\""},
};

/* The location each kind of message must start with. */
static const char *location_of(const struct bad *b)
{
	switch (b->kind) {
	case OPT:
		return "--volume";
	case RESOLVE:
	case RES_SB:
	case RES_EMPTY:
		return "--volume=";
	case SCRIPT:
		return "job.sh:";
	case DECODE:
		return "encoded job spec";
	case SANDBOX:
		return "--sandbox=";
	}
	return "?";
}

/* Run one malformed input; returns the first message (static) or NULL if accepted. */
static const char *run_bad(const struct bad *b)
{
	static char msg[2048];
	char err[1024] = "";
	struct cairn_job_spec spec = {0};
	struct cairn_errlist errs = {0};
	struct cairn_volume_spec v;
	enum cairn_sandbox m;
	int rc = 0;

	msg[0] = '\0';
	switch (b->kind) {
	case OPT:
		rc = cairn_spec_parse_option(b->input, &v, err, sizeof(err));
		if (rc == 0) {
			free(v.name_template);
			free(v.path);
			free(v.origin);
		}
		snprintf(msg, sizeof(msg), "%s", err);
		break;
	case SCRIPT:
		rc = cairn_spec_parse_script(b->input, strlen(b->input), "job.sh", &spec, &errs);
		if (errs.n)
			snprintf(msg, sizeof(msg), "%s", errs.msg[0]);
		if (rc && errs.n == 0)
			snprintf(msg, sizeof(msg), "(failed without a message)");
		break;
	case RESOLVE:
	case RES_SB:
	case RES_EMPTY:
		if (cairn_spec_parse_option(b->input, &v, err, sizeof(err))) {
			snprintf(msg, sizeof(msg), "unexpected parse error: %s", err);
			return msg;
		}
		cairn_spec_add(&spec, &v, &errs);
		spec.sandbox = b->kind == RES_SB ? CAIRN_SANDBOX_FULL : CAIRN_SANDBOX_NONE;
		rc = cairn_spec_resolve(&spec, b->kind == RES_EMPTY ? &empty_ctx : &full_ctx,
		                        default_prefixes, NPREFIXES, &errs);
		if (errs.n)
			snprintf(msg, sizeof(msg), "%s", errs.msg[0]);
		break;
	case DECODE:
		rc = cairn_spec_decode(b->input, &spec, err, sizeof(err));
		snprintf(msg, sizeof(msg), "%s", err);
		break;
	case SANDBOX: {
		struct cairn_limits lim;
		rc = cairn_spec_parse_sandbox(b->input, &m, &lim, err, sizeof(err));
	}
		snprintf(msg, sizeof(msg), "%s", err);
		break;
	}
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);
	return rc ? msg : NULL;
}

static void check_bad(const struct bad *b, const char *msg)
{
	char name[160];

	snprintf(name, sizeof(name), "reject: %s", b->desc);
	CHECK_MSG(name,
	          msg && strstr(msg, b->expect) &&
	              !strncmp(msg, location_of(b), strlen(location_of(b))) && strstr(msg, "; ") &&
	              !strchr(msg, '\n'),
	          "input %s -> %s (want location %s, substring %s, a '; fix')", b->input,
	          msg ? msg : "ACCEPTED", location_of(b), b->expect);
}

static void test_bad_table(void)
{
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++)
		check_bad(&bad_rows[i], run_bad(&bad_rows[i]));
}

/* Inputs that cannot be written as C string literals. */
static void test_bad_special(void)
{
	struct cairn_job_spec spec = {0};
	struct cairn_errlist errs = {0};
	static const char nul[] = "#!/bin/sh\n# volume: aa x\n# x\0y\n";
	int rc;

	rc = cairn_spec_parse_script(nul, sizeof(nul) - 1, "job.sh", &spec, &errs);
	CHECK_MSG("reject: NUL byte in script",
	          rc != 0 && errs.n == 1 &&
	              strstr(errs.msg[0], "job.sh:3: the script contains a NUL") &&
	              strstr(errs.msg[0], "; "),
	          "%s", errs.n ? errs.msg[0] : "ACCEPTED");
	CHECK("reject: NUL byte adds no volume", spec.nvol == 0);
	cairn_errlist_free(&errs);

	size_t n = 5000;
	char *big = xcalloc(1, n + 64);
	strcpy(big, "#!/bin/sh\n# ");
	memset(big + strlen(big), 'x', n);
	strcat(big, "\n# volume: aa x\n");
	rc = cairn_spec_parse_script(big, strlen(big), "job.sh", &spec, &errs);
	CHECK_MSG("reject: line longer than 4096 bytes",
	          rc != 0 && errs.n == 1 && strstr(errs.msg[0], "job.sh:2: line is 5002 bytes") &&
	              strstr(errs.msg[0], "more than 4096"),
	          "%s", errs.n ? errs.msg[0] : "ACCEPTED");
	CHECK("long line: later annotations still read", spec.nvol == 1);
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);

	/* a long line in the script body is not our business */
	memcpy(big, "echo", 4);
	big[4] = ' ';
	rc = cairn_spec_parse_script(big, strlen(big), "job.sh", &spec, &errs);
	CHECK("long line after the block is ignored", rc == 0 && errs.n == 0 && spec.nvol == 0);
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);
	free(big);

	/* a long path */
	char *opt = xcalloc(1, 4200);
	strcpy(opt, "ab:");
	memset(opt + 3, 'p', 4096);
	struct cairn_volume_spec v;
	char err[512];
	rc = cairn_spec_parse_option(opt, &v, err, sizeof(err));
	CHECK_MSG("reject: path of 4096 bytes",
	          rc != 0 && !strncmp(err, "--volume=ab:ppp", 15) && strstr(err, "is too long") &&
	              strstr(err, "at most 4095"),
	          "%s", err);
	free(opt);

	/* hostile JSON: deep nesting and a huge encoding */
	char *deep = xcalloc(1, 70000);
	for (int i = 0; i < 69000; i++)
		deep[i] = '[';
	rc = cairn_spec_decode(deep, &spec, err, sizeof(err));
	CHECK_MSG("reject: encoding too long", rc != 0 && strstr(err, "too long"), "%s", err);
	deep[5000] = '\0';
	rc = cairn_spec_decode(deep, &spec, err, sizeof(err));
	CHECK_MSG("reject: deeply nested encoding", rc != 0 && strstr(err, "encoded job spec"),
	          "%s", err);
	free(deep);

	/* errors collect: every bad line is reported, the good ones are kept */
	static const char many[] = "# volume: a .x\n# volume: good1 g\n# sandbox: bogus\n"
	                           "# volume: x/y z\n";
	rc = cairn_spec_parse_script(many, strlen(many), "job.sh", &spec, &errs);
	CHECK("script: all errors reported",
	      rc != 0 && errs.n == 3 && spec.nvol == 1 && !strncmp(errs.msg[0], "job.sh:1:", 9) &&
	          !strncmp(errs.msg[1], "job.sh:3:", 9) && !strncmp(errs.msg[2], "job.sh:4:", 9));
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);

	/* a script name that is not printable is escaped in every prefix */
	static const char sb[] = "# volume: a x\n";
	rc = cairn_spec_parse_script(sb, strlen(sb), "j\nb\xff.sh", &spec, &errs);
	CHECK_MSG("script name escaped",
	          rc != 0 && errs.n == 1 && !strncmp(errs.msg[0], "j\\nb\\xff.sh:1: ", 15), "%s",
	          errs.n ? errs.msg[0] : "");
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);

	/* a tiny error buffer is cut, not overrun */
	char tiny[8];
	rc = cairn_spec_parse_option("a:b", &v, tiny, sizeof(tiny));
	CHECK("error buffer truncates", rc != 0 && strlen(tiny) == 7);
}

/* Per-job sandbox limits: from annotations, through the encoding, against the
 * admin's caps. */
static void test_limits(void)
{
	struct cairn_job_spec spec = {0}, back = {0};
	struct cairn_errlist errs = {0};
	char err[512];
	static const char ann[] = "#!/bin/bash\n# sandbox: full memory=1G pids=64\n";
	int rc = cairn_spec_parse_script(ann, sizeof(ann) - 1, "job.sh", &spec, &errs);
	CHECK("limits: an annotation's limits reach the spec",
	      rc == 0 && spec.sandbox == CAIRN_SANDBOX_FULL && spec.limits.memory == 1ULL << 30 &&
	          spec.limits.pids == 64 && spec.limits.cpus == 0);
	char *enc = cairn_spec_encode(&spec);
	CHECK_MSG("limits: survive encode and decode",
	          enc && cairn_spec_decode(enc, &back, err, sizeof(err)) == 0 &&
	              back.limits.memory == 1ULL << 30 && back.limits.pids == 64 &&
	              back.limits.cpus == 0,
	          "%s", err);
	free(enc);
	cairn_spec_free(&back);
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);

	/* The option (already in the spec) wins, limits included. */
	memset(&spec, 0, sizeof(spec));
	spec.sandbox = CAIRN_SANDBOX_FULL;
	spec.limits.cpus = 3;
	rc = cairn_spec_parse_script(ann, sizeof(ann) - 1, "job.sh", &spec, &errs);
	CHECK("limits: the option's limits win over the annotation's",
	      rc == 0 && spec.limits.cpus == 3 && spec.limits.memory == 0);
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);

	CHECK("limits: decode refuses limits in pid mode",
	      cairn_spec_decode("{\"v\":1,\"sandbox\":\"pid\",\"volumes\":[],\"limits\":{"
	                        "\"memory\":1,\"pids\":0,\"cpus\":0}}",
	                        &back, err, sizeof(err)) < 0 &&
	          strstr(err, "invalid limits"));
	CHECK("limits: decode refuses negative limits",
	      cairn_spec_decode("{\"v\":1,\"sandbox\":\"full\",\"volumes\":[],\"limits\":{"
	                        "\"memory\":-1,\"pids\":0,\"cpus\":0}}",
	                        &back, err, sizeof(err)) < 0);

	struct cairn_config cfg = {0};
	cfg.sandbox_memory = 2ULL << 30;
	cfg.sandbox_pids = 128;
	struct cairn_limits asked = {.memory = 1ULL << 30}, eff;
	CHECK("limits: a job lowers the admin's memory and keeps the other caps",
	      cairn_limits_effective(&cfg, &asked, &eff, err, sizeof(err)) == 0 &&
	          eff.memory == 1ULL << 30 && eff.pids == 128 && eff.cpus == 0);
	asked = (struct cairn_limits){.cpus = 64};
	CHECK("limits: without an admin cap the job's value applies",
	      cairn_limits_effective(&cfg, &asked, &eff, err, sizeof(err)) == 0 && eff.cpus == 64);
	asked = (struct cairn_limits){.memory = 4ULL << 30};
	rc = cairn_limits_effective(&cfg, &asked, &eff, err, sizeof(err));
	CHECK_MSG("limits: asking more than the admin allows is refused, naming both",
	          rc < 0 && strstr(err, "memory=4G is more than this cluster allows "
	                                "(SandboxMemory = 2G); ask for 2G or less"),
	          "%s", err);
	asked = (struct cairn_limits){.pids = 129};
	rc = cairn_limits_effective(&cfg, &asked, &eff, err, sizeof(err));
	CHECK_MSG("limits: pids above SandboxPids is refused", rc < 0 && strstr(err, "pids=129"),
	          "%s", err);
}

int main(void)
{
	test_options();
	test_limits();
	test_sandbox_values();
	test_script_good();
	test_mixed();
	test_resolve_good();
	test_names_and_paths();
	test_encode_decode();
	test_bad_table();
	test_bad_special();
	printf("# %zu malformed-input rows\n", sizeof(bad_rows) / sizeof(bad_rows[0]));
	TAP_DONE();
}
