/* Unit tests for common/config.c (cairn.conf parsing), the number helpers of
 * common/util.c, and the frame protocol of common/wire.c over a socketpair.
 * Config files are written below a fresh mkdtemp() directory removed at the end. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "slurm_conf.h"
#include "tap.h"
#include "testutil.h"
#include "util.h"
#include "wire.h"

static char tmpdir[4096];

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* Write text to a new file below tmpdir; returns its path (to free). */
static char *write_conf(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return path;
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* ---------- config ---------- */

static void test_defaults(void)
{
	struct cairn_config c;
	struct cairn_err err = {0};
	char *path = write_conf("empty.conf", "");
	int rc = cairn_config_load(path, &c, &err);
	CHECK_MSG("config: empty file loads", rc == 0, "%s", err.msg);
	if (rc == 0) {
		CHECK("config: path recorded", streq(c.path, path));
		CHECK("config: default Storage", streq(c.storage, "file:///shared/cairn"));
		CHECK("config: default Workspace", streq(c.workspace, "account"));
		CHECK("config: default CacheDir", streq(c.cache_dir, "/var/cache/cairn"));
		CHECK("config: default CacheMax", c.cache_max == 10ULL * 1000 * 1000 * 1000);
		CHECK("config: default StateDir", streq(c.state_dir, "/run/cairn"));
		CHECK("config: default leases",
		      c.lease_ttl == 60 && c.lease_renew == 10 && c.lease_wait == 300);
		CHECK("config: default prefixes", c.nallowed_prefixes == 5 &&
		                                      streq(c.allowed_prefixes[0], "/tmp/") &&
		                                      streq(c.allowed_prefixes[4], "/data/"));
		CHECK("config: default sandbox",
		      streq(c.sandbox_force, "no") && streq(c.sandbox_network, "loopback") &&
		          c.sandbox_memory == 0 && c.sandbox_pids == 0 && c.sandbox_cpus == 0);
		CHECK("config: default limits",
		      c.max_volumes_per_workspace == 1000 && c.max_file_size == 0);
		CHECK("config: no AdminGroup or LogFile by default",
		      c.admin_group == NULL && c.log_file == NULL);
		cairn_config_free(&c);
		CHECK("config: free zeroes",
		      c.path == NULL && c.storage == NULL && c.nallowed_prefixes == 0);
	}
	free(path);

	path = write_conf("comments.conf", "# only comments\n\n   \t\n  # indented comment\n\n");
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(path, &c, &err);
	CHECK_MSG("config: comments and blank lines only", rc == 0 && c.lease_ttl == 60, "%s",
	          err.msg);
	if (rc == 0)
		cairn_config_free(&c);
	free(path);
}

static void test_all_keys(void)
{
	static const char text[] = "# Cairn test configuration\n"
	                           "\n"
	                           "Storage = file:///shared/cairn\n"
	                           "Workspace=fixed-ws\n"
	                           "  CacheDir   =   /scratch/cache   # trailing comment\n"
	                           "CacheMax = 10G\n"
	                           "StateDir = /run/cairn-test\n"
	                           "LeaseTTL = 120\n"
	                           "LeaseRenew = 30\n"
	                           "LeaseWait = 0\n"
	                           "AllowedMountPrefixes = /data, /scratch/ /opt/x\t/home/\n"
	                           "SandboxForce = gpu,debug\n"
	                           "SandboxNetwork = host\n"
	                           "SandboxMemory = 512M\n"
	                           "SandboxPids = 4096\n"
	                           "SandboxCPUs = 8\n"
	                           "MaxVolumesPerWorkspace = 50\n"
	                           "MaxFileSize = 4096\n"
	                           "AdminGroup = cairnadm\n"
	                           "LogFile = /var/log/cairn.log\n"
	                           "\t\n";
	struct cairn_config c;
	struct cairn_err err = {0};
	char *path = write_conf("all.conf", text);
	int rc = cairn_config_load(path, &c, &err);
	CHECK_MSG("config: every documented key accepted", rc == 0, "%s", err.msg);
	if (rc == 0) {
		CHECK("config: Storage", streq(c.storage, "file:///shared/cairn"));
		CHECK("config: Workspace without spaces around =", streq(c.workspace, "fixed-ws"));
		CHECK("config: CacheDir trimmed, comment stripped",
		      streq(c.cache_dir, "/scratch/cache"));
		CHECK_MSG("config: CacheMax 10G", c.cache_max == 10ULL << 30, "%llu", c.cache_max);
		CHECK("config: StateDir", streq(c.state_dir, "/run/cairn-test"));
		CHECK("config: LeaseTTL", c.lease_ttl == 120);
		CHECK("config: LeaseRenew", c.lease_renew == 30);
		CHECK("config: LeaseWait 0", c.lease_wait == 0);
		CHECK_MSG("config: AllowedMountPrefixes count", c.nallowed_prefixes == 4, "%zu",
		          c.nallowed_prefixes);
		if (c.nallowed_prefixes == 4) {
			CHECK("config: prefix without slash gets one",
			      streq(c.allowed_prefixes[0], "/data/"));
			CHECK("config: prefix with slash kept",
			      streq(c.allowed_prefixes[1], "/scratch/"));
			CHECK("config: nested prefix normalised",
			      streq(c.allowed_prefixes[2], "/opt/x/"));
			CHECK("config: tab-separated prefix",
			      streq(c.allowed_prefixes[3], "/home/"));
		}
		CHECK("config: SandboxForce", streq(c.sandbox_force, "gpu,debug"));
		CHECK("config: SandboxNetwork host", streq(c.sandbox_network, "host"));
		CHECK_MSG("config: SandboxMemory 512M", c.sandbox_memory == 512ULL << 20, "%llu",
		          c.sandbox_memory);
		CHECK("config: SandboxPids", c.sandbox_pids == 4096);
		CHECK("config: SandboxCPUs", c.sandbox_cpus == 8);
		CHECK("config: MaxVolumesPerWorkspace", c.max_volumes_per_workspace == 50);
		CHECK("config: MaxFileSize 4096", c.max_file_size == 4096);
		CHECK("config: AdminGroup", streq(c.admin_group, "cairnadm"));
		CHECK("config: LogFile", streq(c.log_file, "/var/log/cairn.log"));
		cairn_config_free(&c);
	}
	free(path);

	static const char mixed[] = "storage = s3://bucket/prefix\n"
	                            "WORKSPACE = w\n"
	                            "cachemax = 4096\n"
	                            "lEaSeTtL = 30\n"
	                            "leaserenew = 5\n"
	                            "allowedmountprefixes = /a\n"
	                            "sandboxnetwork = loopback\n"
	                            "Sandboxcpus = 2\n"
	                            "MAXFILESIZE = 1k\n"
	                            "adminGROUP = wheel\n"
	                            "Workspace = last-one-wins\n";
	path = write_conf("mixed.conf", mixed);
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(path, &c, &err);
	CHECK_MSG("config: keys are case-insensitive", rc == 0, "%s", err.msg);
	if (rc == 0) {
		CHECK("config: s3:// Storage accepted", streq(c.storage, "s3://bucket/prefix"));
		CHECK("config: later key wins", streq(c.workspace, "last-one-wins"));
		CHECK("config: lower-case cachemax", c.cache_max == 4096);
		CHECK("config: mixed-case leases", c.lease_ttl == 30 && c.lease_renew == 5);
		CHECK("config: prefix list replaced, not appended",
		      c.nallowed_prefixes == 1 && streq(c.allowed_prefixes[0], "/a/"));
		CHECK("config: MAXFILESIZE 1k", c.max_file_size == 1024);
		CHECK("config: adminGROUP", streq(c.admin_group, "wheel"));
		CHECK("config: loopback",
		      streq(c.sandbox_network, "loopback") && c.sandbox_cpus == 2);
		cairn_config_free(&c);
	}
	free(path);

	path = write_conf("crlf.conf", "LeaseTTL = 90\r\nLeaseRenew = 9\r\n");
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(path, &c, &err);
	CHECK_MSG("config: CRLF line endings", rc == 0 && c.lease_ttl == 90 && c.lease_renew == 9,
	          "%s", err.msg);
	if (rc == 0)
		cairn_config_free(&c);
	free(path);

	path = write_conf("nonl.conf", "LeaseWait = 7");
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(path, &c, &err);
	CHECK_MSG("config: last line without newline", rc == 0 && c.lease_wait == 7, "%s", err.msg);
	if (rc == 0)
		cairn_config_free(&c);
	free(path);
}

struct bad_conf {
	const char *what, *text;
	int line; /* 0: the message carries "path:" without a line */
	const char *expect;
};

static const struct bad_conf bad_confs[] = {
    {"unknown key", "# c\nLeaseTTL = 60\nBogus = 1\n", 3, "unknown key \"Bogus\""},
    {"missing =", "Storage file:///x\n", 1, "expected \"key = value\""},
    {"empty value", "\nStorage =\n", 2, "non-empty value"},
    {"value only a comment", "Workspace = # nothing\n", 1, "non-empty value"},
    {"empty key", "= value\n", 1, "non-empty value"},
    {"bad size suffix", "CacheMax = 10X\n", 1, "expected a size such as 10G"},
    {"bad size fraction", "CacheMax = 1.5G\n", 1, "expected a size"},
    {"bad size negative", "SandboxMemory = -1\n", 1, "expected a size"},
    {"bad size overflow", "MaxFileSize = 99999999999T\n", 1, "expected a size"},
    {"bad number of seconds", "LeaseTTL = soon\n", 1, "expected a number of seconds"},
    {"seconds over a week", "LeaseWait = 604801\n", 1, "expected a number of seconds"},
    {"negative seconds", "LeaseWait = -1\n", 1, "expected a number of seconds"},
    {"seconds with a unit", "LeaseTTL = 60s\n", 1, "expected a number of seconds"},
    {"bad count", "SandboxPids = 12x\n", 1, "expected a whole number"},
    {"negative count", "MaxVolumesPerWorkspace = -5\n", 1, "expected a whole number"},
    {"count with size suffix", "SandboxCPUs = 2k\n", 1, "expected a whole number"},
    {"relative CacheDir", "\n\n\nCacheDir = cache\n", 4, "must be an absolute path"},
    {"relative StateDir", "StateDir = run/cairn\n", 1, "must be an absolute path"},
    {"unsupported Storage URL", "Storage = http://example.com/x\n", 1, "unsupported URL"},
    {"file:// Storage without absolute path", "Storage = file://relative\n", 1, "unsupported URL"},
    {"plain path as Storage", "Storage = /shared/cairn\n", 1, "unsupported URL"},
    {"SandboxNetwork none", "SandboxNetwork = none\n", 1, "use loopback or host"},
    {"relative mount prefix", "AllowedMountPrefixes = /data data2\n", 1,
     "is not an absolute directory prefix"},
    {"root as mount prefix", "AllowedMountPrefixes = /\n", 1, "not an absolute directory prefix"},
    {"dot-dot in mount prefix", "AllowedMountPrefixes = /data/../etc\n", 1,
     "not an absolute directory prefix"},
    {"LeaseRenew equal to LeaseTTL", "LeaseRenew = 60\n", 0, "must be positive and below LeaseTTL"},
    {"LeaseRenew above LeaseTTL", "LeaseTTL = 20\nLeaseRenew = 30\n", 0, "below LeaseTTL"},
    {"LeaseTTL below default LeaseRenew", "LeaseTTL = 5\n", 0, "below LeaseTTL"},
    {"LeaseRenew zero", "LeaseRenew = 0\n", 0, "must be positive"},
    {"error after valid lines", "Storage = file:///x\nWorkspace = w\nCacheDir = /c\nnope\n", 4,
     "expected \"key = value\""},
};

static void test_errors(void)
{
	size_t n = sizeof(bad_confs) / sizeof(bad_confs[0]);
	for (size_t i = 0; i < n; i++) {
		char name[128], fname[32], want[4200];
		struct cairn_config c;
		struct cairn_err err = {0};
		snprintf(fname, sizeof(fname), "bad%zu.conf", i);
		char *path = write_conf(fname, bad_confs[i].text);
		if (bad_confs[i].line)
			snprintf(want, sizeof(want), "%s:%d: ", path, bad_confs[i].line);
		else
			snprintf(want, sizeof(want), "%s: ", path);
		int rc = cairn_config_load(path, &c, &err);
		snprintf(name, sizeof(name), "config error: %s", bad_confs[i].what);
		CHECK_MSG(name,
		          rc == -1 && !strncmp(err.msg, want, strlen(want)) &&
		              has(err.msg, bad_confs[i].expect) && c.path == NULL &&
		              c.storage == NULL,
		          "rc=%d msg=\"%s\" (want prefix \"%s\" and \"%s\")", rc, err.msg, want,
		          bad_confs[i].expect);
		if (rc == 0)
			cairn_config_free(&c);
		free(path);
	}
	printf("# %zu config error rows\n", n);
}

static void test_paths(void)
{
	struct cairn_config c;
	struct cairn_err err = {0};
	char *missing = xasprintf("%s/does-not-exist.conf", tmpdir);
	int rc = cairn_config_load(missing, &c, &err);
	CHECK_MSG("config: named missing file is an error",
	          rc == -1 && has(err.msg, "cannot read") && has(err.msg, missing), "rc=%d %s", rc,
	          err.msg);

	char *env = write_conf("env.conf", "Workspace = from-env\n");
	char *arg = write_conf("arg.conf", "Workspace = from-arg\n");
	const char *old = getenv("CAIRN_CONF");
	char *saved = old ? xstrdup(old) : NULL;

	setenv("CAIRN_CONF", env, 1);
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(NULL, &c, &err);
	CHECK_MSG("config: CAIRN_CONF used when path is NULL",
	          rc == 0 && streq(c.workspace, "from-env") && streq(c.path, env), "%s", err.msg);
	if (rc == 0)
		cairn_config_free(&c);

	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(arg, &c, &err);
	CHECK_MSG("config: explicit path wins over CAIRN_CONF",
	          rc == 0 && streq(c.workspace, "from-arg"), "%s", err.msg);
	if (rc == 0)
		cairn_config_free(&c);

	setenv("CAIRN_CONF", missing, 1);
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(NULL, &c, &err);
	CHECK_MSG("config: missing file named by CAIRN_CONF is an error",
	          rc == -1 && has(err.msg, "CAIRN_CONF"), "rc=%d %s", rc, err.msg);

	/* Without CAIRN_CONF: cairn.conf beside $SLURM_CONF when it exists. */
	const char *old_slurm = getenv("SLURM_CONF");
	char *saved_slurm = old_slurm ? xstrdup(old_slurm) : NULL;
	char *beside = write_conf("cairn.conf", "Workspace = beside-slurm\n");
	char *slurm_conf = xasprintf("%s/slurm.conf", tmpdir);
	unsetenv("CAIRN_CONF");
	setenv("SLURM_CONF", slurm_conf, 1);
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(NULL, &c, &err);
	CHECK_MSG("config: cairn.conf beside SLURM_CONF",
	          rc == 0 && streq(c.workspace, "beside-slurm") && streq(c.path, beside), "%s",
	          err.msg);
	if (rc == 0)
		cairn_config_free(&c);
	setenv("CAIRN_CONF", env, 1);
	memset(&err, 0, sizeof(err));
	rc = cairn_config_load(NULL, &c, &err);
	CHECK_MSG("config: CAIRN_CONF wins over SLURM_CONF",
	          rc == 0 && streq(c.workspace, "from-env"), "%s", err.msg);
	if (rc == 0)
		cairn_config_free(&c);
	if (saved_slurm)
		setenv("SLURM_CONF", saved_slurm, 1);
	else
		unsetenv("SLURM_CONF");
	free(saved_slurm);
	free(slurm_conf);
	free(beside);

	if (saved)
		setenv("CAIRN_CONF", saved, 1);
	else
		unsetenv("CAIRN_CONF");
	free(saved);
	free(env);
	free(arg);
	free(missing);
}

/* ---------- util.h number helpers ---------- */

static void test_fmt(void)
{
	char b[64];
	fmt_count(b, sizeof(b), 0);
	CHECK_MSG("fmt_count: 0", !strcmp(b, "0"), "%s", b);
	fmt_count(b, sizeof(b), 999);
	CHECK_MSG("fmt_count: 999", !strcmp(b, "999"), "%s", b);
	fmt_count(b, sizeof(b), 1000);
	CHECK_MSG("fmt_count: 1000", !strcmp(b, "1,000"), "%s", b);
	fmt_count(b, sizeof(b), 1234567);
	CHECK_MSG("fmt_count: 1234567", !strcmp(b, "1,234,567"), "%s", b);
	fmt_count(b, sizeof(b), 100000);
	CHECK_MSG("fmt_count: 100000", !strcmp(b, "100,000"), "%s", b);
	fmt_count(b, sizeof(b), ULLONG_MAX);
	CHECK_MSG("fmt_count: max", !strcmp(b, "18,446,744,073,709,551,615"), "%s", b);
	memset(b, 'x', sizeof(b));
	fmt_count(b, 4, 1234567);
	CHECK_MSG("fmt_count: small buffer stays terminated", strlen(b) < 4, "%s", b);

	fmt_bytes(b, sizeof(b), 0);
	CHECK_MSG("fmt_bytes: 0", !strcmp(b, "0 B"), "%s", b);
	fmt_bytes(b, sizeof(b), 1023);
	CHECK_MSG("fmt_bytes: 1023", !strcmp(b, "1023 B"), "%s", b);
	fmt_bytes(b, sizeof(b), 1024);
	CHECK_MSG("fmt_bytes: 1024", !strcmp(b, "1.0 KiB"), "%s", b);
	fmt_bytes(b, sizeof(b), 4300000);
	CHECK_MSG("fmt_bytes: 4.1 MiB", !strcmp(b, "4.1 MiB"), "%s", b);
	fmt_bytes(b, sizeof(b), 1288490189ULL);
	CHECK_MSG("fmt_bytes: 1.2 GiB", !strcmp(b, "1.2 GiB"), "%s", b);
	fmt_bytes(b, sizeof(b), 1ULL << 40);
	CHECK_MSG("fmt_bytes: 1 TiB", !strcmp(b, "1.0 TiB"), "%s", b);
	fmt_bytes(b, sizeof(b), ULLONG_MAX);
	CHECK_MSG("fmt_bytes: max stays in PiB", has(b, " PiB"), "%s", b);
}

static void test_parse(void)
{
	static const struct {
		const char *s;
		unsigned long long v;
	} good_sizes[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"10G", 10ULL << 30},
	    {"512M", 512ULL << 20},
	    {"1k", 1024},
	    {"2K", 2048},
	    {"2KiB", 2048},
	    {"3MB", 3ULL << 20},
	    {"3mib", 3ULL << 20},
	    {"1T", 1ULL << 40},
	    {"16777215T", 16777215ULL << 40},
	    {"18446744073709551615", ULLONG_MAX},
	};
	static const char *const bad_sizes[] = {
	    "",          "-1",   "+1",   " 1",   "1.5G", "10X",
	    "10GG",      "G",    "10 G", "10G ", "10Bi", "18446744073709551616",
	    "16777216T", "0x10",
	};
	unsigned long long v;
	bool all = true;
	for (size_t i = 0; i < sizeof(good_sizes) / sizeof(good_sizes[0]); i++) {
		v = 12345;
		if (parse_size(good_sizes[i].s, &v) != 0 || v != good_sizes[i].v) {
			printf("# parse_size(\"%s\") -> %llu\n", good_sizes[i].s, v);
			all = false;
		}
	}
	CHECK("parse_size: valid sizes", all);
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		char name[96];
		v = 777;
		snprintf(name, sizeof(name), "parse_size: \"%s\" refused", bad_sizes[i]);
		CHECK(name, parse_size(bad_sizes[i], &v) == -1 && v == 777);
	}
	CHECK("parse_size: NULL refused", parse_size(NULL, &v) == -1);

	CHECK("parse_uint: 0", parse_uint("0", 10, &v) == 0 && v == 0);
	CHECK("parse_uint: 42", parse_uint("42", 100, &v) == 0 && v == 42);
	CHECK("parse_uint: leading zeros are decimal", parse_uint("007", 100, &v) == 0 && v == 7);
	CHECK("parse_uint: equal to max", parse_uint("100", 100, &v) == 0 && v == 100);
	v = 5;
	CHECK("parse_uint: above max", parse_uint("101", 100, &v) == -1 && v == 5);
	CHECK("parse_uint: ULLONG_MAX",
	      parse_uint("18446744073709551615", ULLONG_MAX, &v) == 0 && v == ULLONG_MAX);
	v = 5;
	CHECK("parse_uint: overflow",
	      parse_uint("18446744073709551616", ULLONG_MAX, &v) == -1 && v == 5);
	static const char *const bad_uints[] = {"",   "-1",   "+1",  " 1", "1 ",
	                                        "1x", "0x10", "1.0", "k"};
	for (size_t i = 0; i < sizeof(bad_uints) / sizeof(bad_uints[0]); i++) {
		char name[96];
		snprintf(name, sizeof(name), "parse_uint: \"%s\" refused", bad_uints[i]);
		CHECK(name, parse_uint(bad_uints[i], ULLONG_MAX, &v) == -1);
	}
	CHECK("parse_uint: NULL refused", parse_uint(NULL, 10, &v) == -1);
}

/* ---------- wire ---------- */

#define DOC_LEN (2u * CAIRN_WIRE_MAX + CAIRN_WIRE_MAX / 2 + 17)

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
}

/* The writer side, run in a child so that large writes cannot block the reader. */
static int wire_writer(int fd)
{
	char *big = xcalloc(1, CAIRN_WIRE_MAX);
	char *doc = xcalloc(1, DOC_LEN + 1);
	fill(big, CAIRN_WIRE_MAX, 3);
	fill(doc, DOC_LEN, 5);
	int bad = 0;
	bad |= cairn_wire_send(fd, FR_JSON, "hello", 5);
	bad |= cairn_wire_send(fd, FR_END, NULL, 0);
	bad |= cairn_wire_send(fd, FR_DATA, big, CAIRN_WIRE_MAX);
	bad |= cairn_wire_send(fd, FR_DATA, "\0bin\0", 5);
	bad |= cairn_wire_send_str(fd, FR_HASH, "sha md5 42");
	bad |= cairn_wire_send_doc(fd, doc);
	bad |= cairn_wire_send_doc(fd, "");
	bad |= cairn_wire_send_doc(fd, "{\"small\":true}");
	/* A header announcing more than CAIRN_WIRE_MAX. */
	unsigned long n = CAIRN_WIRE_MAX + 1;
	unsigned char hdr[5] = {FR_DATA, (unsigned char)(n & 0xff), (unsigned char)(n >> 8 & 0xff),
	                        (unsigned char)(n >> 16 & 0xff), (unsigned char)(n >> 24 & 0xff)};
	bad |= write_all(fd, hdr, sizeof(hdr));
	free(big);
	free(doc);
	return bad ? 1 : 0;
}

static void test_wire_stream(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		CHECK("wire: socketpair", false);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		int r = wire_writer(sv[1]);
		close(sv[1]);
		_exit(r);
	}
	close(sv[1]);
	CHECK("wire: fork", pid > 0);
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	int fd = sv[0];
	char *buf = NULL, type = 0;
	size_t len = 0, cap = 0;

	int rc = cairn_wire_recv(fd, &type, &buf, &len, &cap);
	CHECK("wire: small frame", rc == 0 && type == FR_JSON && len == 5 && !strcmp(buf, "hello"));
	rc = cairn_wire_recv(fd, &type, &buf, &len, &cap);
	CHECK("wire: empty frame", rc == 0 && type == FR_END && len == 0 && buf[0] == '\0');
	rc = cairn_wire_recv(fd, &type, &buf, &len, &cap);
	bool same = rc == 0 && type == FR_DATA && len == CAIRN_WIRE_MAX;
	if (same) {
		char *want = xcalloc(1, CAIRN_WIRE_MAX);
		fill(want, CAIRN_WIRE_MAX, 3);
		same = !memcmp(buf, want, CAIRN_WIRE_MAX) && buf[CAIRN_WIRE_MAX] == '\0';
		free(want);
	}
	CHECK_MSG("wire: 1 MiB frame", same, "rc=%d type=%c len=%zu", rc, type, len);
	CHECK("wire: buffer grown for the big frame", cap >= CAIRN_WIRE_MAX + 1);
	rc = cairn_wire_recv(fd, &type, &buf, &len, &cap);
	CHECK("wire: binary frame with NUL bytes",
	      rc == 0 && len == 5 && !memcmp(buf, "\0bin\0", 5) && buf[5] == '\0');
	rc = cairn_wire_recv(fd, &type, &buf, &len, &cap);
	CHECK("wire: send_str frame",
	      rc == 0 && type == FR_HASH && !strcmp(buf, "sha md5 42") && len == 10);
	free(buf);

	char *doc = NULL;
	size_t dlen = 0;
	rc = cairn_wire_recv_doc(fd, DOC_LEN, &doc, &dlen);
	same = rc == 0 && dlen == DOC_LEN && doc && strlen(doc) == DOC_LEN;
	if (same) {
		char *want = xcalloc(1, DOC_LEN + 1);
		fill(want, DOC_LEN, 5);
		same = !memcmp(doc, want, DOC_LEN);
		free(want);
	}
	CHECK_MSG("wire: document larger than one frame", same, "rc=%d len=%zu", rc, dlen);
	free(doc);
	doc = NULL;
	rc = cairn_wire_recv_doc(fd, 100, &doc, &dlen);
	CHECK("wire: empty document", rc == 0 && doc && dlen == 0 && doc[0] == '\0');
	free(doc);
	doc = NULL;
	rc = cairn_wire_recv_doc(fd, 100, &doc, NULL);
	CHECK("wire: small document, length optional", rc == 0 && streq(doc, "{\"small\":true}"));
	free(doc);

	buf = NULL;
	cap = 0;
	errno = 0;
	rc = cairn_wire_recv(fd, &type, &buf, &len, &cap);
	CHECK_MSG("wire: frame over CAIRN_WIRE_MAX refused on receive",
	          rc == -1 && errno == EMSGSIZE, "rc=%d errno=%d", rc, errno);
	rc = cairn_wire_recv(fd, &type, &buf, &len, &cap);
	CHECK("wire: EOF is -1", rc == -1);
	free(buf);
	close(fd);

	int status = -1;
	waitpid(pid, &status, 0);
	CHECK("wire: writer sent everything", WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_wire_limits(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		CHECK("wire limits: socketpair", false);
		return;
	}
	char *big = xcalloc(1, CAIRN_WIRE_MAX + 1);
	errno = 0;
	int rc = cairn_wire_send(sv[0], FR_DATA, big, CAIRN_WIRE_MAX + 1);
	CHECK_MSG("wire: frame over CAIRN_WIRE_MAX refused on send", rc == -1 && errno == EMSGSIZE,
	          "rc=%d errno=%d", rc, errno);
	free(big);
	char c;
	ssize_t r = recv(sv[1], &c, 1, MSG_DONTWAIT);
	CHECK("wire: refused frame wrote nothing",
	      r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));

	/* recv_doc with a bound smaller than the document. */
	char doc[200];
	memset(doc, 'd', sizeof(doc) - 1);
	doc[sizeof(doc) - 1] = '\0';
	char *out = NULL;
	size_t len = 0;
	rc = cairn_wire_send_doc(sv[0], doc);
	rc = rc == 0 ? cairn_wire_recv_doc(sv[1], 100, &out, &len) : rc;
	CHECK("wire: document over max refused", rc == -1 && out == NULL);
	/* Resynchronise: the END frame of that document is still queued. */
	char type, *buf = NULL;
	size_t cap = 0;
	while (cairn_wire_recv(sv[1], &type, &buf, &len, &cap) == 0 && type != FR_END)
		;

	/* recv_doc with max exactly the document size. */
	rc = cairn_wire_send_doc(sv[0], doc);
	rc = rc == 0 ? cairn_wire_recv_doc(sv[1], strlen(doc), &out, &len) : rc;
	CHECK("wire: document of exactly max accepted", rc == 0 && len == strlen(doc));
	free(out);
	out = NULL;

	/* An error frame in the middle of a document ends it. */
	rc = cairn_wire_send(sv[0], FR_JSON, "{\"a\":", 5);
	rc |= cairn_wire_send_str(sv[0], FR_ERR, "worker failed");
	rc = rc == 0 ? cairn_wire_recv_doc(sv[1], 100, &out, &len) : -2;
	CHECK("wire: error frame inside a document is a failure", rc == -1 && out == NULL);

	/* A truncated frame: header says 10 bytes, only 3 arrive before EOF. */
	unsigned char hdr[5] = {FR_DATA, 10, 0, 0, 0};
	write_all(sv[0], hdr, sizeof(hdr));
	write_all(sv[0], "abc", 3);
	shutdown(sv[0], SHUT_WR);
	rc = cairn_wire_recv(sv[1], &type, &buf, &len, &cap);
	CHECK("wire: truncated frame is -1", rc == -1);
	rc = cairn_wire_recv_doc(sv[1], 100, &out, &len);
	CHECK("wire: document cut by EOF is -1", rc == -1 && out == NULL);
	free(buf);
	close(sv[0]);
	close(sv[1]);
}

/* slurm.conf settings in Include files (relative, with wildcards, nested)
 * count; the last one wins; an Include loop ends. */
static void test_slurm_conf(void)
{
	const char *old = getenv("SLURM_CONF");
	char *saved = old ? xstrdup(old) : NULL;
	char *dir = xasprintf("%s/slurmconf", tmpdir);
	char *inc = xasprintf("%s/slurmconf/inc.d", tmpdir);
	mkdir(dir, 0755);
	mkdir(inc, 0755);
	free(write_conf("slurmconf/slurm.conf", "ClusterName=main # comment\n"
	                                        "SlurmUser=slurm\n"
	                                        "include inc.d/*.conf\n"));
	free(write_conf("slurmconf/inc.d/a.conf", "ClusterName = from-a\nInclude ../deep.conf\n"));
	free(write_conf("slurmconf/inc.d/b.conf",
	                "AccountingStorageType=accounting_storage/slurmdbd\n"));
	free(write_conf("slurmconf/deep.conf", "ClusterName=from-deep\nInclude deep.conf\n"));
	char *conf = xasprintf("%s/slurm.conf", dir);
	setenv("SLURM_CONF", conf, 1);
	char buf[128];
	bool found = cairn_slurm_conf_get("ClusterName", "none", buf, sizeof(buf));
	CHECK_MSG("slurm.conf: a setting of a nested Include wins when it comes last",
	          found && streq(buf, "from-deep"), "%s", buf);
	found = cairn_slurm_conf_get("AccountingStorageType", "none", buf, sizeof(buf));
	CHECK_MSG("slurm.conf: Include with a wildcard, relative to slurm.conf",
	          found && streq(buf, "accounting_storage/slurmdbd"), "%s", buf);
	found = cairn_slurm_conf_get("SlurmUser", "root", buf, sizeof(buf));
	CHECK_MSG("slurm.conf: settings of the file itself, after an Include loop ended",
	          found && streq(buf, "slurm"), "%s", buf);
	found = cairn_slurm_conf_get("SlurmUserId", "dflt", buf, sizeof(buf));
	CHECK_MSG("slurm.conf: a key is not taken for a longer one", !found && streq(buf, "dflt"),
	          "%s", buf);
	CHECK("slurm.conf: SLURM_CONF names the file", streq(cairn_slurm_conf_path(), conf));
	if (saved)
		setenv("SLURM_CONF", saved, 1);
	else
		unsetenv("SLURM_CONF");
	free(saved);
	free(conf);
	free(inc);
	free(dir);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/cairn-test-config-XXXXXX",
	         base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_defaults();
	test_all_keys();
	test_errors();
	test_paths();
	test_fmt();
	test_parse();
	test_wire_stream();
	test_wire_limits();
	test_slurm_conf();
	if (rm_rf(tmpdir) < 0)
		perror("rm_rf");
	TAP_DONE();
}
