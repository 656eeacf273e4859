#include "sandbox_request.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define WORD_MAX 64

static bool word_is(const char *w, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(w, lit, n);
}

int cairn_sandbox_request_word(struct cairn_sandbox_request *r, const char *w, size_t n, char *err,
                               size_t errlen)
{
	char word[WORD_MAX + 1];
	snprintf(word, sizeof(word), "%.*s", (int)(n < WORD_MAX ? n : WORD_MAX), w);
	/* Control characters never reach a message. */
	for (char *c = word; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (word_is(w, n, "full") || word_is(w, n, "pid")) {
		enum cairn_sandbox m = w[0] == 'p' ? CAIRN_SANDBOX_PID : CAIRN_SANDBOX_FULL;
		if (r->mode_given && r->mode != m) {
			snprintf(err, errlen, "two sandbox modes (%s and %s); keep one",
			         cairn_sandbox_name(r->mode), word);
			return -1;
		}
		r->mode = m;
		r->mode_given = true;
		return 0;
	}
	const char *eq = memchr(w, '=', n);
	size_t kn = eq ? (size_t)(eq - w) : n;
	unsigned long long *slot = NULL;
	if (eq && word_is(w, kn, "memory"))
		slot = &r->limits.memory;
	else if (eq && word_is(w, kn, "pids"))
		slot = &r->limits.pids;
	else if (eq && word_is(w, kn, "cpus"))
		slot = &r->limits.cpus;
	if (!slot) {
		snprintf(err, errlen,
		         "unknown sandbox setting \"%s\"; use full or pid, and limits such as "
		         "memory=4G, pids=512 or cpus=2",
		         word);
		return -1;
	}
	if (*slot) {
		snprintf(err, errlen, "%.*s is given twice; keep one", (int)kn, w);
		return -1;
	}
	char val[WORD_MAX + 1];
	size_t vn = n - kn - 1;
	if (vn > WORD_MAX)
		vn = WORD_MAX;
	memcpy(val, eq + 1, vn);
	val[vn] = '\0';
	int bad = slot == &r->limits.memory ? parse_size(val, slot)
	                                    : parse_uint(val, 1000000000ULL, slot);
	if (bad || *slot == 0) {
		*slot = 0;
		snprintf(err, errlen, "\"%s\" needs %s; write e.g. %s", word,
		         slot == &r->limits.memory ? "a size above 0" : "a whole number above 0",
		         slot == &r->limits.memory ? "memory=4G"
		         : slot == &r->limits.pids ? "pids=512"
		                                   : "cpus=2");
		return -1;
	}
	return 0;
}

int cairn_sandbox_request_check(const struct cairn_sandbox_request *r, char *err, size_t errlen)
{
	const struct cairn_limits *l = &r->limits;
	if (r->mode == CAIRN_SANDBOX_PID && (l->memory || l->pids || l->cpus)) {
		snprintf(err, errlen,
		         "limits (memory=, pids=, cpus=) need the full sandbox, and pid mode has "
		         "none; drop \"pid\" or the limits");
		return -1;
	}
	return 0;
}

/* A size as a user writes it: "4G", "512M", "1000". */
static void size_word(char *buf, size_t len, unsigned long long v)
{
	static const char units[] = "TGMK";
	for (int i = 0; i < 4; i++) {
		unsigned long long u = 1ULL << (10 * (4 - i));
		if (v >= u && v % u == 0) {
			snprintf(buf, len, "%llu%c", v / u, units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", v);
}

static int lower_only(const char *key, const char *conf_key, unsigned long long asked,
                      unsigned long long cap, bool size, unsigned long long *out, char *err,
                      size_t errlen)
{
	*out = asked ? asked : cap;
	if (!asked || !cap || asked <= cap)
		return 0;
	char a[32], c[32];
	if (size) {
		size_word(a, sizeof(a), asked);
		size_word(c, sizeof(c), cap);
	} else {
		snprintf(a, sizeof(a), "%llu", asked);
		snprintf(c, sizeof(c), "%llu", cap);
	}
	snprintf(err, errlen,
	         "sandbox: %s=%s is more than this cluster allows (%s = %s); ask for %s or "
	         "less, or leave %s out",
	         key, a, conf_key, c, c, key);
	return -1;
}

int cairn_limits_effective(const struct cairn_config *cfg, const struct cairn_limits *asked,
                           struct cairn_limits *out, char *err, size_t errlen)
{
	if (lower_only("memory", "SandboxMemory", asked->memory, cfg->sandbox_memory, true,
	               &out->memory, err, errlen) < 0 ||
	    lower_only("pids", "SandboxPids", asked->pids, cfg->sandbox_pids, false, &out->pids,
	               err, errlen) < 0 ||
	    lower_only("cpus", "SandboxCPUs", asked->cpus, cfg->sandbox_cpus, false, &out->cpus,
	               err, errlen) < 0)
		return -1;
	return 0;
}
