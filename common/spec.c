/* What a job asks for: parsing of --volume / --sandbox values and of script
 * annotations, volume-name rules and placeholders, mount-path rules, and the
 * one-line encoding used to hand a spec from one component to the next.
 *
 * Every message is one line: where (the option or "SCRIPT:LINE"), the cause,
 * and the fix. Functions that have no location of their own (name and path
 * checks) return the cause and fix; their callers add the location. */
#include "spec.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox_request.h"
#include "util.h"

#define NAME_RULE                                                                                  \
	"2 to 255 characters of a-z A-Z 0-9 . _ -, starting and ending with a letter or digit"
#define PLACEHOLDER_LIST "$workspace, $user, $account, $args[N], $args[NAME] or $args[NAME.field]"
#define PATH_MAX_LEN 4096    /* a mount path must be shorter than this */
#define TEMPLATE_MAX 4096    /* a name template (before resolution) */
#define LINE_MAX_LEN 4096    /* a script line in the annotation block */
#define ORIGIN_MAX 512       /* an origin inside an encoded spec */
#define ENCODED_MAX 65536    /* an encoded spec */
#define RESOLVED_MAX 65536   /* a name while it is being resolved */
#define ARG_INDEX_MAX 100000 /* $args[N] */
#define QBUF 300             /* a quoted string inside a message */

/* ---------- small helpers ---------- */

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *xstrndup_(const char *s, size_t n)
{
	char *r = xcalloc(1, n + 1);

	memcpy(r, s, n);
	return r;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_name_char(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (overlong forms,
 * surrogates and values past U+10FFFF are invalid, as for JSON). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static bool utf8_valid(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0, k; i < n; i += k)
		if (!(k = utf8_len((const unsigned char *)s + i, n - i)))
			return false;
	return true;
}

/* Render n bytes of s for a message: control characters and invalid UTF-8
 * escaped as \xNN (and, in quotes, '"' and '\\' too), cut after max bytes
 * with "...". Never fails; out is always terminated and valid UTF-8. */
static char *esc(char *out, size_t outlen, const char *s, size_t n, size_t max, bool quotes)
{
	size_t o = 0, i = 0;

	if (!outlen)
		return out;
	if (!s) {
		snprintf(out, outlen, "(none)");
		return out;
	}
	/* leave room for an escape (4), "..." (3), a quote and the terminator */
	if (quotes && o + 1 < outlen)
		out[o++] = '"';
	while (i < n && i < max && o + 9 < outlen) {
		unsigned char c = (unsigned char)s[i];
		size_t k = utf8_len((const unsigned char *)s + i, n - i);

		if (quotes && (c == '"' || c == '\\')) {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c < 0x20 || c == 0x7f || !k) {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		} else if (k > 1) {
			if (i + k > max || o + k + 9 >= outlen)
				break;
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
			continue;
		} else {
			out[o++] = (char)c;
		}
		i++;
	}
	if (i < n && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (quotes && o + 1 < outlen)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

char *cairn_printable(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	size_t len = 4 * n + 16;
	char *out = xcalloc(1, len);

	return esc(out, len, s ? s : "", n, n, false);
}

/* Short printable ASCII without quotes or backslashes: safe to echo as is. */
static bool simple_word(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == '\\')
			return false;
	return true;
}

/* A string in double quotes, for messages. */
static char *q(char *out, const char *s)
{
	return esc(out, QBUF, s, s ? strlen(s) : 0, 64, true);
}

static char *qn(char *out, const char *s, size_t n)
{
	return esc(out, QBUF, s, n, 64, true);
}

/* "'/'" or "a space" or "byte 0x01" */
static void describe_char(char *out, size_t len, unsigned char c)
{
	if (c == ' ')
		snprintf(out, len, "a space");
	else if (c == '\t')
		snprintf(out, len, "a tab");
	else if (c == '\n')
		snprintf(out, len, "a newline");
	else if (c < 0x20 || c >= 0x7f)
		snprintf(out, len, "the byte 0x%02x", c);
	else
		snprintf(out, len, "'%c'", c);
}

/* ---------- error lists ---------- */

void cairn_errlist_add(struct cairn_errlist *l, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m)
		m = xstrdup("out of memory while formatting an error message");
	l->msg = xrealloc(l->msg, (l->n + 1) * sizeof(*l->msg));
	l->msg[l->n++] = m;
}

void cairn_errlist_free(struct cairn_errlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->msg[i]);
	free(l->msg);
	l->msg = NULL;
	l->n = 0;
}

/* ---------- volume names ---------- */

/* A name a user could use instead of a bad one: bad characters become '-',
 * leading and trailing non-alphanumerics go. Falls back to "agent-state". */
static void suggest_name(char *out, size_t len, const char *name, size_t n)
{
	size_t o = 0, start = 0, end = n;

	while (start < end && !is_alnum((unsigned char)name[start]))
		start++;
	while (end > start && !is_alnum((unsigned char)name[end - 1]))
		end--;
	for (size_t i = start; i < end && o + 1 < len && o < CAIRN_NAME_MAX; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!is_name_char(c)) {
			if (o > 0 && out[o - 1] == '-')
				continue;
			c = '-';
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (o < CAIRN_NAME_MIN)
		snprintf(out, len, "agent-state");
}

/* The name rules on name[0..n). shown is the name as the message shows it;
 * has_ph relaxes the minimum length (a placeholder may stand for more than
 * one character); fix replaces the default "rename it" hint. */
static int name_rules(const char *name, size_t n, bool has_ph, const char *shown, const char *fix,
                      char *err, size_t errlen)
{
	char sug[CAIRN_NAME_MAX + 1], cdesc[32], fixbuf[QBUF + 32];

	if (!fix) {
		suggest_name(sug, sizeof(sug), name, n);
		char qs[QBUF];
		snprintf(fixbuf, sizeof(fixbuf), "rename it, e.g. %s",
		         q(qs, has_ph ? "agent-state" : sug));
		fix = fixbuf;
	}
	if (n == 0) {
		errf(err, errlen,
		     "volume name is empty (%s); give the volume a name, e.g. \"agent-state\"",
		     NAME_RULE);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!is_name_char(c)) {
			describe_char(cdesc, sizeof(cdesc), c);
			errf(err, errlen,
			     "volume name %s contains %s, which is not allowed (%s); %s", shown,
			     cdesc, NAME_RULE, fix);
			return -1;
		}
	}
	if (n > CAIRN_NAME_MAX) {
		errf(err, errlen,
		     "volume name %s is too long (%zu characters; %s); shorten it to at most %d "
		     "characters",
		     shown, n, NAME_RULE, CAIRN_NAME_MAX);
		return -1;
	}
	if (n < CAIRN_NAME_MIN && !has_ph) {
		errf(err, errlen, "volume name %s is too short (%s); %s", shown, NAME_RULE, fix);
		return -1;
	}
	if (!is_alnum((unsigned char)name[0]) || !is_alnum((unsigned char)name[n - 1])) {
		errf(err, errlen,
		     "volume name %s must start and end with a letter or digit (%s); %s", shown,
		     NAME_RULE, fix);
		return -1;
	}
	return 0;
}

int cairn_name_check(const char *name, char *err, size_t errlen)
{
	char qs[QBUF];

	if (!name)
		name = "";
	return name_rules(name, strlen(name), false, q(qs, name), NULL, err, errlen);
}

/* ---------- placeholders ---------- */

enum ph_kind { PH_WORKSPACE, PH_USER, PH_ACCOUNT, PH_ARGN, PH_ENV };

struct placeholder {
	enum ph_kind kind;
	const char *text; /* "$args[X.a]" as written */
	size_t textlen;
	unsigned long argn;
	const char *inner; /* "X.a" for PH_ENV */
	size_t innerlen;
};

/* Parse the placeholder at s (s[0] == '$') inside template tmpl. Returns the
 * number of bytes it spans, or 0 with a message. */
static size_t ph_parse(const char *s, const char *tmpl, struct placeholder *ph, char *err,
                       size_t errlen)
{
	char qt[QBUF], qp[QBUF], qi[QBUF];
	size_t n = 1;

	memset(ph, 0, sizeof(*ph));
	ph->text = s;
	while (is_ident_char((unsigned char)s[n]))
		n++;
	if (n == 1) {
		errf(err, errlen,
		     "volume name %s contains a '$' that does not start a placeholder; "
		     "use one of %s, or remove the '$'",
		     q(qt, tmpl), PLACEHOLDER_LIST);
		return 0;
	}
	if (n - 1 == 9 && !strncmp(s + 1, "workspace", 9))
		ph->kind = PH_WORKSPACE;
	else if (n - 1 == 4 && !strncmp(s + 1, "user", 4))
		ph->kind = PH_USER;
	else if (n - 1 == 7 && !strncmp(s + 1, "account", 7))
		ph->kind = PH_ACCOUNT;
	else if (n - 1 == 4 && !strncmp(s + 1, "args", 4)) {
		const char *close;
		const char *in;
		size_t il;

		if (s[n] != '[') {
			errf(err, errlen,
			     "placeholder \"$args\" in volume name %s needs a number or a variable "
			     "name "
			     "in brackets; write e.g. $args[1] (first script argument) or "
			     "$args[ENV] "
			     "(environment variable ENV)",
			     q(qt, tmpl));
			return 0;
		}
		close = strchr(s + n, ']');
		if (!close) {
			errf(err, errlen,
			     "placeholder %s in volume name %s is not closed; add the missing ']', "
			     "e.g. $args[1]",
			     q(qp, s), q(qt, tmpl));
			return 0;
		}
		in = s + n + 1;
		il = (size_t)(close - in);
		ph->textlen = (size_t)(close - s) + 1;
		qn(qp, s, ph->textlen);
		if (il == 0) {
			errf(err, errlen,
			     "placeholder %s in volume name %s is empty; put an argument number "
			     "(from "
			     "1) or an environment variable name in the brackets, e.g. $args[1]",
			     qp, q(qt, tmpl));
			return 0;
		}
		if (is_digit((unsigned char)in[0])) {
			unsigned long v = 0;

			for (size_t i = 0; i < il; i++) {
				if (!is_digit((unsigned char)in[i])) {
					errf(err, errlen,
					     "placeholder %s in volume name %s is neither an "
					     "argument "
					     "number nor a variable name (letters, digits and _, "
					     "not "
					     "starting with a digit); write e.g. $args[1] or "
					     "$args[ENV]",
					     qp, q(qt, tmpl));
					return 0;
				}
				if (v <= ARG_INDEX_MAX)
					v = v * 10 + (unsigned long)(in[i] - '0');
			}
			if (v == 0) {
				errf(err, errlen,
				     "placeholder %s in volume name %s: script arguments count "
				     "from 1 "
				     "($args[0] would be the script itself); use $args[1] for the "
				     "first argument",
				     qp, q(qt, tmpl));
				return 0;
			}
			if (in[0] == '0') {
				errf(err, errlen,
				     "placeholder %s in volume name %s has a leading zero; write "
				     "the "
				     "argument number without it, e.g. $args[%lu]",
				     qp, q(qt, tmpl), v);
				return 0;
			}
			if (v > ARG_INDEX_MAX) {
				errf(err, errlen,
				     "placeholder %s in volume name %s: argument number is too "
				     "large "
				     "(at most %d); use a smaller number",
				     qp, q(qt, tmpl), ARG_INDEX_MAX);
				return 0;
			}
			ph->kind = PH_ARGN;
			ph->argn = v;
			return ph->textlen;
		}
		/* NAME or NAME.field.field */
		size_t i = 0;
		if (!is_ident_start((unsigned char)in[0])) {
			errf(err, errlen,
			     "placeholder %s in volume name %s: %s is not an environment variable "
			     "name (letters, digits and _, not starting with a digit); write e.g. "
			     "$args[ENV] or $args[ENV.field]",
			     qp, q(qt, tmpl), qn(qi, in, il));
			return 0;
		}
		while (i < il && is_ident_char((unsigned char)in[i]))
			i++;
		while (i < il) {
			size_t f;

			if (in[i] != '.') {
				char cd[32];
				describe_char(cd, sizeof(cd), (unsigned char)in[i]);
				errf(err, errlen,
				     "placeholder %s in volume name %s contains %s; inside "
				     "$args[...] "
				     "use a variable name (letters, digits, _) optionally followed "
				     "by "
				     ".field parts, e.g. $args[ENV.field]",
				     qp, q(qt, tmpl), cd);
				return 0;
			}
			i++;
			f = i;
			while (i < il && (is_ident_char((unsigned char)in[i]) || in[i] == '-'))
				i++;
			if (i == f) {
				errf(
				    err, errlen,
				    "placeholder %s in volume name %s has an empty field name; "
				    "write "
				    "the JSON fields separated by single dots, e.g. $args[ENV.a.b]",
				    qp, q(qt, tmpl));
				return 0;
			}
		}
		ph->kind = PH_ENV;
		ph->inner = in;
		ph->innerlen = il;
		return ph->textlen;
	} else {
		bool digits = true;

		for (size_t i = 1; i < n; i++)
			digits = digits && is_digit((unsigned char)s[i]);
		qn(qp, s, n);
		if (digits)
			errf(err, errlen,
			     "unknown placeholder %s in volume name %s; script arguments are "
			     "written "
			     "$args[N], e.g. $args[%.*s]",
			     qp, q(qt, tmpl), (int)(n - 1 > 6 ? 6 : n - 1), s + 1);
		else
			errf(err, errlen,
			     "unknown placeholder %s in volume name %s; use one of %s (a "
			     "placeholder "
			     "ends at the first character that is not a letter, digit or _, so "
			     "write "
			     "e.g. \"$user-cache\", not \"$user_cache\")",
			     qp, q(qt, tmpl), PLACEHOLDER_LIST);
		return 0;
	}
	ph->textlen = n;
	return n;
}

/* Static template check: placeholders must be known and well formed, and with
 * each placeholder standing for one letter, the name must follow the rules
 * (the length minimum applies after resolution only). */
static int tmpl_check(const char *tmpl, bool *has_ph_out, char *err, size_t errlen)
{
	char subst[CAIRN_NAME_MAX + 2];
	size_t n = 0, len, i = 0;
	bool has_ph = false;
	char qt[QBUF];

	if (!tmpl || !*tmpl) {
		errf(err, errlen,
		     "volume name is empty (%s); give the volume a name, e.g. \"agent-state\"",
		     NAME_RULE);
		return -1;
	}
	len = strlen(tmpl);
	if (len > TEMPLATE_MAX) {
		errf(err, errlen,
		     "volume name %s is too long (%zu characters; %s); shorten it to at most %d "
		     "characters",
		     q(qt, tmpl), len, NAME_RULE, CAIRN_NAME_MAX);
		return -1;
	}
	while (i < len) {
		char c = tmpl[i];

		if (c == '$') {
			struct placeholder ph;
			size_t k = ph_parse(tmpl + i, tmpl, &ph, err, errlen);

			if (!k)
				return -1;
			i += k;
			c = 'x';
			has_ph = true;
		} else {
			i++;
		}
		if (n < sizeof(subst) - 1)
			subst[n] = c;
		n++;
	}
	if (n > CAIRN_NAME_MAX) {
		/* every placeholder adds at least one character, so this is final */
		errf(err, errlen,
		     "volume name %s is too long (at least %zu characters; %s); shorten it to at "
		     "most %d characters",
		     q(qt, tmpl), n, NAME_RULE, CAIRN_NAME_MAX);
		return -1;
	}
	subst[n] = '\0';
	if (has_ph_out)
		*has_ph_out = has_ph;
	return name_rules(subst, n, has_ph, q(qt, tmpl),
	                  has_ph ? "rename it, e.g. \"$user-state\"" : NULL, err, errlen);
}

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->n + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static const char *json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

/* The value of placeholder ph; a new string or NULL with a message. */
static char *ph_value(const struct placeholder *ph, const char *tmpl,
                      const struct cairn_placeholder_ctx *ctx, char *err, size_t errlen)
{
	char qp[QBUF], qt[QBUF];
	const char *v = NULL;

	qn(qp, ph->text, ph->textlen);
	q(qt, tmpl);
	switch (ph->kind) {
	case PH_WORKSPACE:
		v = ctx ? ctx->workspace : NULL;
		if (!v || !*v) {
			errf(err, errlen,
			     "placeholder $workspace in volume name %s is empty for this job; "
			     "submit "
			     "with --account=NAME, or ask the admin to check the Workspace setting",
			     qt);
			return NULL;
		}
		return xstrdup(v);
	case PH_USER:
		v = ctx ? ctx->user : NULL;
		if (!v || !*v) {
			errf(err, errlen,
			     "placeholder $user in volume name %s is empty: the job's user name is "
			     "unknown; use a fixed name instead of $user",
			     qt);
			return NULL;
		}
		return xstrdup(v);
	case PH_ACCOUNT:
		v = ctx ? ctx->account : NULL;
		if (!v || !*v) {
			errf(err, errlen,
			     "placeholder $account in volume name %s is empty: the job has no "
			     "account; submit with --account=NAME",
			     qt);
			return NULL;
		}
		return xstrdup(v);
	case PH_ARGN: {
		int nargs = (ctx && ctx->argv && ctx->argc > 1) ? ctx->argc - 1 : 0;

		if (ph->argn > (unsigned long)nargs) {
			errf(
			    err, errlen,
			    "placeholder %s in volume name %s: the batch script got %d argument%s; "
			    "pass at least %lu, e.g. sbatch SCRIPT ARG1 ...",
			    qp, qt, nargs, nargs == 1 ? "" : "s", ph->argn);
			return NULL;
		}
		v = ctx->argv[ph->argn];
		if (!v || !*v) {
			errf(
			    err, errlen,
			    "placeholder %s in volume name %s: argument %lu of the batch script is "
			    "empty; pass a non-empty value",
			    qp, qt, ph->argn);
			return NULL;
		}
		return xstrdup(v);
	}
	case PH_ENV:
		break;
	}

	/* PH_ENV: NAME[.field...] */
	const char *dot = memchr(ph->inner, '.', ph->innerlen);
	size_t nl = dot ? (size_t)(dot - ph->inner) : ph->innerlen;
	char qv[QBUF];

	qn(qv, ph->inner, nl);
	if (ctx && ctx->envp) {
		for (char *const *e = ctx->envp; *e; e++) {
			if (!strncmp(*e, ph->inner, nl) && (*e)[nl] == '=') {
				v = *e + nl + 1;
				break;
			}
		}
	}
	if (!v) {
		errf(err, errlen,
		     "placeholder %s in volume name %s: environment variable %.*s is not set in "
		     "the job; set it when submitting, e.g. sbatch --export=ALL,%.*s=VALUE SCRIPT",
		     qp, qt, (int)nl, ph->inner, (int)nl, ph->inner);
		return NULL;
	}
	if (!dot) {
		if (!*v) {
			errf(
			    err, errlen,
			    "placeholder %s in volume name %s: environment variable %.*s is empty; "
			    "give it a value, e.g. sbatch --export=ALL,%.*s=VALUE SCRIPT",
			    qp, qt, (int)nl, ph->inner, (int)nl, ph->inner);
			return NULL;
		}
		return xstrdup(v);
	}

	json_error_t jerr;
	json_t *root = json_loads(v, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char why[QBUF];

		esc(why, sizeof(why), jerr.text, strlen(jerr.text), 80, false);
		errf(err, errlen,
		     "placeholder %s in volume name %s: the value of %.*s is not a JSON object "
		     "(%s); "
		     "set %.*s to JSON such as {\"a\":{\"b\":\"value\"}}",
		     qp, qt, (int)nl, ph->inner, why, (int)nl, ph->inner);
		return NULL;
	}
	json_t *cur = root;
	const char *p = dot + 1, *end = ph->inner + ph->innerlen;
	while (p < end) {
		const char *d = memchr(p, '.', (size_t)(end - p));
		size_t fl = d ? (size_t)(d - p) : (size_t)(end - p);
		char *field = xstrndup_(p, fl);
		size_t sofar = (size_t)(p + fl - ph->inner);

		if (!json_is_object(cur)) {
			errf(err, errlen,
			     "placeholder %s in volume name %s: %.*s is %s, not a JSON object, so "
			     "it "
			     "has no field \"%s\"; fix the value of %.*s or the placeholder",
			     qp, qt, (int)(p - 1 - ph->inner), ph->inner, json_type_name(cur),
			     field, (int)nl, ph->inner);
			free(field);
			json_decref(root);
			return NULL;
		}
		cur = json_object_get(cur, field);
		if (!cur) {
			errf(
			    err, errlen,
			    "placeholder %s in volume name %s: the JSON in %.*s has no field %.*s; "
			    "add it to %.*s or fix the placeholder",
			    qp, qt, (int)nl, ph->inner, (int)sofar, ph->inner, (int)nl, ph->inner);
			free(field);
			json_decref(root);
			return NULL;
		}
		free(field);
		p += fl + (d ? 1 : 0);
		if (!d)
			break;
	}
	char *out = NULL;
	if (json_is_string(cur)) {
		if (json_string_length(cur) != strlen(json_string_value(cur)) ||
		    !*json_string_value(cur)) {
			errf(err, errlen,
			     "placeholder %s in volume name %s: %.*s is an empty string; give it a "
			     "non-empty value",
			     qp, qt, (int)ph->innerlen, ph->inner);
		} else {
			out = xstrdup(json_string_value(cur));
		}
	} else if (json_is_integer(cur)) {
		out = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(cur));
	} else {
		errf(err, errlen,
		     "placeholder %s in volume name %s: %.*s is %s, not a string or an integer; "
		     "point the placeholder at a string or integer field",
		     qp, qt, (int)ph->innerlen, ph->inner, json_type_name(cur));
	}
	json_decref(root);
	return out;
}

int cairn_name_resolve(const char *tmpl, const struct cairn_placeholder_ctx *ctx, char **out,
                       char *err, size_t errlen)
{
	struct sbuf b = {0};
	bool has_ph = false;
	size_t i = 0, len;

	*out = NULL;
	if (tmpl_check(tmpl, &has_ph, err, errlen))
		return -1;
	len = strlen(tmpl);
	while (i < len) {
		if (tmpl[i] != '$') {
			size_t j = i;

			while (j < len && tmpl[j] != '$')
				j++;
			sb_add(&b, tmpl + i, j - i);
			i = j;
			continue;
		}
		struct placeholder ph;
		size_t k = ph_parse(tmpl + i, tmpl, &ph, err, errlen);
		if (!k) {
			free(b.p);
			return -1;
		}
		char *v = ph_value(&ph, tmpl, ctx, err, errlen);
		if (!v) {
			free(b.p);
			return -1;
		}
		size_t vl = strlen(v);
		if (b.n + vl > RESOLVED_MAX)
			vl = RESOLVED_MAX - b.n; /* too long anyway; keep the message bounded */
		sb_add(&b, v, vl);
		free(v);
		i += k;
	}
	if (!b.p)
		sb_add(&b, "", 0);
	if (has_ph) {
		char shown[2 * QBUF + 16], qr[QBUF], qt[QBUF];

		snprintf(shown, sizeof(shown), "%s (from %s)", q(qr, b.p), q(qt, tmpl));
		if (name_rules(b.p, b.n, false, shown,
		               "change the value the placeholders stand for, or the name template",
		               err, errlen)) {
			free(b.p);
			return -1;
		}
	} else if (cairn_name_check(b.p, err, errlen)) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	return 0;
}

/* ---------- mount paths ---------- */

/* Collapse "//", drop "." components and trailing slashes. "" and "./" give ".",
 * "/" stays "/". ".." components are kept (the checks reject them). */
char *cairn_path_normalize(const char *path)
{
	struct sbuf b = {0};
	bool abs_ = path && path[0] == '/';
	const char *p = path ? path : "";

	if (abs_)
		sb_add(&b, "/", 1);
	while (*p) {
		const char *s;
		size_t n;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (b.n > 0 && b.p[b.n - 1] != '/')
			sb_add(&b, "/", 1);
		sb_add(&b, s, n);
	}
	if (!b.n)
		sb_add(&b, ".", 1);
	return b.p;
}

static bool has_dotdot(const char *p)
{
	while (*p) {
		const char *s;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		if (p - s == 2 && s[0] == '.' && s[1] == '.')
			return true;
	}
	return false;
}

/* The sandbox-independent path rules. */
static int path_static_check(const char *path, char *err, size_t errlen)
{
	char qp[QBUF], cd[32];
	size_t len;

	if (!path || !*path) {
		errf(
		    err, errlen,
		    "mount path is empty; give a directory, e.g. \".agent\" (relative to the job's "
		    "working directory)");
		return -1;
	}
	len = strlen(path);
	q(qp, path);
	if (len >= PATH_MAX_LEN) {
		errf(err, errlen,
		     "mount path %s is too long (%zu bytes; at most %d); use a shorter path", qp,
		     len, PATH_MAX_LEN - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c == ':') {
			errf(err, errlen,
			     "mount path %s contains ':', which separates NAME:PATH:ro in --volume "
			     "and "
			     "cannot be part of a mount path; use a directory name without ':'",
			     qp);
			return -1;
		}
		if (c == ' ' || c == '\t' || c < 0x20 || c == 0x7f) {
			describe_char(cd, sizeof(cd), c);
			errf(err, errlen,
			     "mount path %s contains %s; mount paths cannot contain whitespace or "
			     "control characters; use a directory name without them",
			     qp, cd);
			return -1;
		}
	}
	if (!utf8_valid(path)) {
		errf(err, errlen,
		     "mount path %s is not valid UTF-8; use a directory name in UTF-8 (or plain "
		     "ASCII)",
		     qp);
		return -1;
	}
	if (path[0] == '~') {
		errf(err, errlen,
		     "mount path %s starts with '~', which is not expanded; write it relative to "
		     "the job's working directory (e.g. \".agent\") or as an absolute path with "
		     "--sandbox (e.g. \"/home/USER/.agent\")",
		     qp);
		return -1;
	}
	if (has_dotdot(path)) {
		errf(err, errlen,
		     "mount path %s contains a \"..\" component; a mount path may not climb out of "
		     "its base directory; write the path without \"..\"",
		     qp);
		return -1;
	}
	autofree char *norm = cairn_path_normalize(path);
	if (!strcmp(norm, ".")) {
		errf(err, errlen,
		     "mount path %s is the job's working directory itself; mount the volume on a "
		     "subdirectory, e.g. \".agent\"",
		     qp);
		return -1;
	}
	if (!strcmp(norm, "/")) {
		errf(
		    err, errlen,
		    "mount path %s is the root directory; mount the volume on a directory under an "
		    "allowed prefix, e.g. \"/tmp/agent\"",
		    qp);
		return -1;
	}
	return 0;
}

/* "/data/models" -> "models", for the "use a relative path" hint */
static const char *last_component(const char *norm)
{
	const char *s = strrchr(norm, '/');

	return s ? s + 1 : norm;
}

static int absolute_needs_sandbox(const char *path, enum cairn_sandbox sandbox, char *err,
                                  size_t errlen)
{
	char qp[QBUF], qr[QBUF];

	if (path[0] != '/' || sandbox != CAIRN_SANDBOX_NONE)
		return 0;
	autofree char *norm = cairn_path_normalize(path);
	errf(err, errlen,
	     "mount path %s is absolute, and absolute mount paths need --sandbox (or a '# sandbox' "
	     "annotation); add --sandbox, or use a relative path such as %s",
	     q(qp, path), q(qr, last_component(norm)));
	return -1;
}

int cairn_mount_path_check(const char *path, enum cairn_sandbox sandbox,
                           char *const *allowed_prefixes, size_t nprefixes, char *err,
                           size_t errlen)
{
	char qp[QBUF], list[QBUF];
	size_t o = 0;

	if (path_static_check(path, err, errlen))
		return -1;
	if (path[0] != '/')
		return 0;
	if (absolute_needs_sandbox(path, sandbox, err, errlen))
		return -1;

	autofree char *norm = cairn_path_normalize(path);
	list[0] = '\0';
	for (size_t i = 0; i < nprefixes; i++) {
		const char *pre = allowed_prefixes ? allowed_prefixes[i] : NULL;

		if (!pre || pre[0] != '/')
			continue;
		autofree char *pn = cairn_path_normalize(pre);
		size_t pl = strlen(pn);

		if (o + pl + 3 < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s%s", o ? " " : "",
			                      pn, strcmp(pn, "/") ? "/" : "");
		if (!strcmp(pn, "/"))
			return 0; /* everything but "/" itself, which was rejected above */
		if (!strncmp(norm, pn, pl) && norm[pl] == '/' && norm[pl + 1])
			return 0;
		if (!strcmp(norm, pn)) {
			errf(err, errlen,
			     "absolute mount path %s is an allowed prefix itself, and mounts must "
			     "be "
			     "strictly under it; use a directory inside it, e.g. \"%s/agent\"",
			     q(qp, path), pn);
			return -1;
		}
	}
	if (!o) {
		errf(err, errlen,
		     "absolute mount path %s is not allowed: this cluster allows no absolute mount "
		     "paths (AllowedMountPrefixes is empty); use a relative path such as %s",
		     q(qp, path), q(list, last_component(norm)));
		return -1;
	}
	errf(err, errlen,
	     "absolute mount path %s is not under an allowed prefix (%s); use a path under one of "
	     "them, e.g. \"/tmp/%s\", or a relative path",
	     q(qp, path), list, last_component(norm));
	return -1;
}

/* ---------- --volume and --sandbox ---------- */

static char *option_origin(const char *value)
{
	char ev[QBUF];

	esc(ev, sizeof(ev), value, strlen(value), 200, false);
	return xasprintf("--volume=%s", ev);
}

int cairn_spec_parse_option(const char *value, struct cairn_volume_spec *out, char *err,
                            size_t errlen)
{
	char msg[1024], qs[QBUF];
	const char *c1, *c2;

	memset(out, 0, sizeof(*out));
	if (!value || !*value) {
		errf(err, errlen,
		     "--volume: missing value; the form is NAME:PATH or NAME:PATH:ro, e.g. "
		     "--volume=agent-state:.agent");
		return -1;
	}
	autofree char *origin = option_origin(value);
	c1 = strchr(value, ':');
	if (!c1) {
		errf(err, errlen,
		     "%s: missing ':PATH'; the form is NAME:PATH or NAME:PATH:ro, e.g. "
		     "--volume=%s:.agent",
		     origin, simple_word(value, strlen(value)) ? value : "agent-state");
		return -1;
	}
	c2 = strchr(c1 + 1, ':');
	if (c2 && strchr(c2 + 1, ':')) {
		errf(
		    err, errlen,
		    "%s: too many ':' separators; the form is NAME:PATH or NAME:PATH:ro, and mount "
		    "paths cannot contain ':'",
		    origin);
		return -1;
	}
	if (c1 == value) {
		errf(err, errlen,
		     "%s: the volume name is empty; put a name before the ':', e.g. "
		     "--volume=agent-state:.agent",
		     origin);
		return -1;
	}
	if ((c2 ? c2 : c1 + strlen(c1)) == c1 + 1) {
		errf(err, errlen,
		     "%s: the mount path is empty; put a path after the ':', e.g. "
		     "--volume=NAME:.agent",
		     origin);
		return -1;
	}
	bool ro = false;
	if (c2) {
		const char *flag = c2 + 1;

		if (!strcmp(flag, "ro"))
			ro = true;
		else if (!strcmp(flag, "rw"))
			ro = false;
		else if (!*flag) {
			errf(err, errlen,
			     "%s: empty flag after the last ':'; write NAME:PATH:ro for read-only, "
			     "or NAME:PATH for read-write",
			     origin);
			return -1;
		} else {
			errf(err, errlen,
			     "%s: unknown flag %s; use :ro for read-only, or nothing (or :rw) for "
			     "read-write",
			     origin, q(qs, flag));
			return -1;
		}
	}
	autofree char *name = xstrndup_(value, (size_t)(c1 - value));
	autofree char *path = c2 ? xstrndup_(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1);

	if (tmpl_check(name, NULL, msg, sizeof(msg)) || path_static_check(path, msg, sizeof(msg))) {
		errf(err, errlen, "%s: %s", origin, msg);
		return -1;
	}
	out->name_template = steal_ptr(&name);
	out->path = steal_ptr(&path);
	out->readonly = ro;
	out->origin = steal_ptr(&origin);
	return 0;
}

int cairn_spec_parse_sandbox(const char *value, enum cairn_sandbox *out, struct cairn_limits *lim,
                             char *err, size_t errlen)
{
	struct cairn_sandbox_request r = {.mode = CAIRN_SANDBOX_FULL};
	char msg[CAIRN_ERRLEN], ev[QBUF];
	const char *p = value ? value : "";

	while (*p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n == 0 || cairn_sandbox_request_word(&r, p, n, msg, sizeof(msg)) < 0) {
			if (n == 0)
				snprintf(msg, sizeof(msg),
				         "an empty setting; separate settings with "
				         "single commas");
			goto bad;
		}
		p += n + (c ? 1 : 0);
		if (c && !*p) {
			snprintf(msg, sizeof(msg), "a trailing comma; remove it");
			goto bad;
		}
	}
	if (cairn_sandbox_request_check(&r, msg, sizeof(msg)) < 0)
		goto bad;
	*out = r.mode;
	*lim = r.limits;
	return 0;
bad:
	esc(ev, sizeof(ev), value, strlen(value), 64, false);
	errf(err, errlen,
	     "--sandbox=%s: %s (the forms: --sandbox, --sandbox=pid, "
	     "--sandbox=full,memory=4G,pids=512,cpus=2)",
	     ev, msg);
	return -1;
}

/* ---------- building a spec ---------- */

static void volume_free(struct cairn_volume_spec *v)
{
	free(v->name_template);
	free(v->name);
	free(v->path);
	free(v->origin);
	memset(v, 0, sizeof(*v));
}

void cairn_spec_free(struct cairn_job_spec *spec)
{
	if (!spec)
		return;
	for (size_t i = 0; i < spec->nvol && i < CAIRN_MAX_VOLUMES; i++)
		volume_free(&spec->vol[i]);
	memset(spec, 0, sizeof(*spec));
}

static const char *origin_of(const struct cairn_volume_spec *v)
{
	return v->origin && *v->origin ? v->origin : "volume";
}

/* The reason v cannot join spec, added to errs; 0 if it can. */
static int add_conflict(const struct cairn_job_spec *spec, const struct cairn_volume_spec *v,
                        struct cairn_errlist *errs)
{
	char qn_[QBUF], qp[QBUF];

	if (!v->name_template || !v->path) {
		cairn_errlist_add(errs,
		                  "%s: volume without a name or a mount path; write NAME:PATH",
		                  origin_of(v));
		return -1;
	}
	for (size_t i = 0; i < spec->nvol; i++) {
		const struct cairn_volume_spec *o = &spec->vol[i];

		if (!strcmp(o->name_template, v->name_template)) {
			cairn_errlist_add(errs,
			                  "%s: volume %s is already mounted by %s; a volume can be "
			                  "mounted only once per job; remove one of the two",
			                  origin_of(v), q(qn_, v->name_template), origin_of(o));
			return -1;
		}
	}
	autofree char *np = cairn_path_normalize(v->path);
	for (size_t i = 0; i < spec->nvol; i++) {
		const struct cairn_volume_spec *o = &spec->vol[i];
		autofree char *op = cairn_path_normalize(o->path);

		if (!strcmp(np, op)) {
			cairn_errlist_add(errs,
			                  "%s: mount path %s is already used by volume %s at %s; "
			                  "mount each volume on its own path",
			                  origin_of(v), q(qp, v->path), q(qn_, o->name_template),
			                  origin_of(o));
			return -1;
		}
	}
	if (spec->nvol >= CAIRN_MAX_VOLUMES) {
		cairn_errlist_add(errs,
		                  "%s: too many volumes: volume %s would be number %zu, and a job "
		                  "can have at most %d; remove one, or keep related data in one "
		                  "volume",
		                  origin_of(v), q(qn_, v->name_template), spec->nvol + 1,
		                  CAIRN_MAX_VOLUMES);
		return -1;
	}
	return 0;
}

int cairn_spec_add(struct cairn_job_spec *spec, struct cairn_volume_spec *v,
                   struct cairn_errlist *errs)
{
	if (add_conflict(spec, v, errs)) {
		volume_free(v);
		return -1;
	}
	spec->vol[spec->nvol++] = *v;
	memset(v, 0, sizeof(*v));
	return 0;
}

/* ---------- script annotations ---------- */

struct tok {
	const char *s;
	size_t n;
};

/* Split s[0..n) on blanks; stores up to max tokens, returns the count. */
static size_t tokenize(const char *s, size_t n, struct tok *t, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n) {
		size_t st;

		while (i < n && is_blank((unsigned char)s[i]))
			i++;
		if (i >= n)
			break;
		st = i;
		while (i < n && !is_blank((unsigned char)s[i]))
			i++;
		if (k < max) {
			t[k].s = s + st;
			t[k].n = i - st;
		}
		k++;
	}
	return k;
}

static bool tok_is(const struct tok *t, const char *w)
{
	return t->n == strlen(w) && !memcmp(t->s, w, t->n);
}

/* body[0..n) starts with the keyword kw as a whole word (followed by the end,
 * a blank or ':'). */
static bool keyword(const char *body, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	return n >= k && !memcmp(body, kw, k) &&
	       (n == k || is_blank((unsigned char)body[k]) || body[k] == ':');
}

struct script_ctx {
	const char *name;
	size_t line;
	const char *pfx; /* "#" or "//" */
	struct cairn_job_spec *spec;
	struct cairn_errlist *errs;
	enum cairn_sandbox sb_mode;
	struct cairn_limits sb_limits;
	size_t sb_line;
};

static void parse_volume_annotation(struct script_ctx *c, const char *rest, size_t n,
                                    bool had_colon)
{
	struct tok t[4];
	size_t nt = tokenize(rest, n, t, 4);
	char q1[QBUF], q2[QBUF], msg[1024];

	if (!had_colon) {
		cairn_errlist_add(c->errs,
		                  "%s:%zu: \"%s volume\" is missing the ':' after \"volume\"; "
		                  "write \"%s volume: NAME PATH\" (or \"... PATH ro\"), e.g. \"%s "
		                  "volume: agent-state .agent\" (if this is an ordinary comment, "
		                  "reword it so it does not start with \"volume\")",
		                  c->name, c->line, c->pfx, c->pfx, c->pfx);
		return;
	}
	if (nt < 2) {
		if (nt == 0)
			cairn_errlist_add(c->errs,
			                  "%s:%zu: \"%s volume:\" needs a volume name and a mount "
			                  "path; write e.g. \"%s volume: agent-state .agent\"",
			                  c->name, c->line, c->pfx, c->pfx);
		else
			cairn_errlist_add(
			    c->errs,
			    "%s:%zu: \"%s volume:\" has a name (%s) but no mount path; "
			    "add one, e.g. \"%s volume: %.*s .agent\"",
			    c->name, c->line, c->pfx, qn(q1, t[0].s, t[0].n), c->pfx,
			    simple_word(t[0].s, t[0].n) ? (int)t[0].n : 4,
			    simple_word(t[0].s, t[0].n) ? t[0].s : "NAME");
		return;
	}
	if (nt > 3) {
		cairn_errlist_add(c->errs,
		                  "%s:%zu: \"%s volume:\" has %zu fields, expected NAME PATH "
		                  "[ro]; mount paths cannot contain spaces, and comments cannot "
		                  "follow an annotation; remove the extra fields",
		                  c->name, c->line, c->pfx, nt);
		return;
	}
	bool ro = false;
	if (nt == 3) {
		if (tok_is(&t[2], "ro"))
			ro = true;
		else if (!tok_is(&t[2], "rw")) {
			cairn_errlist_add(c->errs,
			                  "%s:%zu: unknown flag %s after the mount path; write "
			                  "\"ro\" for read-only, or leave it out (or \"rw\") for "
			                  "read-write",
			                  c->name, c->line, qn(q2, t[2].s, t[2].n));
			return;
		}
	}
	autofree char *name = xstrndup_(t[0].s, t[0].n);
	autofree char *path = xstrndup_(t[1].s, t[1].n);
	if (tmpl_check(name, NULL, msg, sizeof(msg)) || path_static_check(path, msg, sizeof(msg))) {
		cairn_errlist_add(c->errs, "%s:%zu: %s", c->name, c->line, msg);
		return;
	}
	struct cairn_volume_spec v = {
	    .name_template = steal_ptr(&name),
	    .path = steal_ptr(&path),
	    .readonly = ro,
	    .origin = xasprintf("%s:%zu", c->name, c->line),
	};
	cairn_spec_add(c->spec, &v, c->errs);
}

const char *cairn_sandbox_name(enum cairn_sandbox m)
{
	switch (m) {
	case CAIRN_SANDBOX_FULL:
		return "full";
	case CAIRN_SANDBOX_PID:
		return "pid";
	case CAIRN_SANDBOX_NONE:
		break;
	}
	return "none";
}

static void parse_sandbox_annotation(struct script_ctx *c, const char *rest, size_t n,
                                     bool had_colon)
{
	struct tok t[8];
	size_t nt = tokenize(rest, n, t, 8);
	struct cairn_sandbox_request r = {.mode = CAIRN_SANDBOX_FULL};
	char msg[CAIRN_ERRLEN];

	if (!had_colon && nt > 0) {
		if (nt == 1 && (tok_is(&t[0], "full") || tok_is(&t[0], "pid")))
			cairn_errlist_add(c->errs,
			                  "%s:%zu: \"%s sandbox %.*s\" is missing the ':' after "
			                  "\"sandbox\"; write \"%s sandbox: %.*s\"",
			                  c->name, c->line, c->pfx, (int)t[0].n, t[0].s, c->pfx,
			                  (int)t[0].n, t[0].s);
		else
			cairn_errlist_add(
			    c->errs,
			    "%s:%zu: unexpected text after \"%s sandbox\"; write \"%s "
			    "sandbox\" (full isolation), \"%s sandbox: full\" or \"%s "
			    "sandbox: pid\" alone on the line (if this is an ordinary "
			    "comment, reword it so it does not start with \"sandbox\")",
			    c->name, c->line, c->pfx, c->pfx, c->pfx, c->pfx);
		return;
	}
	if (had_colon && (nt == 0 || nt > 4)) {
		cairn_errlist_add(c->errs,
		                  "%s:%zu: \"%s sandbox:\" needs a mode or limits; write \"%s "
		                  "sandbox\" (full), \"%s sandbox: pid\" or e.g. \"%s sandbox: "
		                  "full memory=4G pids=512 cpus=2\"",
		                  c->name, c->line, c->pfx, c->pfx, c->pfx, c->pfx);
		return;
	}
	for (size_t i = 0; i < nt; i++)
		if (cairn_sandbox_request_word(&r, t[i].s, t[i].n, msg, sizeof(msg)) < 0) {
			cairn_errlist_add(c->errs, "%s:%zu: \"%s sandbox:\": %s", c->name, c->line,
			                  c->pfx, msg);
			return;
		}
	if (cairn_sandbox_request_check(&r, msg, sizeof(msg)) < 0) {
		cairn_errlist_add(c->errs, "%s:%zu: \"%s sandbox:\": %s", c->name, c->line, c->pfx,
		                  msg);
		return;
	}
	if (!c->sb_line) {
		c->sb_mode = r.mode;
		c->sb_limits = r.limits;
		c->sb_line = c->line;
	} else if (c->sb_mode != r.mode || memcmp(&c->sb_limits, &r.limits, sizeof(r.limits))) {
		cairn_errlist_add(c->errs,
		                  "%s:%zu: this sandbox annotation conflicts with the one on line "
		                  "%zu; keep only one",
		                  c->name, c->line, c->sb_line);
	}
}

int cairn_spec_parse_script(const char *text, size_t len, const char *script_name,
                            struct cairn_job_spec *spec, struct cairn_errlist *errs)
{
	autofree char *sname =
	    cairn_printable(script_name && *script_name ? script_name : "script");
	struct script_ctx c = {
	    .name = sname,
	    .spec = spec,
	    .errs = errs,
	};
	size_t nerr0 = errs->n, pos = 0;
	const char *nul;

	if (!text)
		len = 0;
	nul = len ? memchr(text, '\0', len) : NULL;
	if (nul) {
		size_t line = 1;

		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		cairn_errlist_add(
		    errs,
		    "%s:%zu: the script contains a NUL byte, so it is not plain text; "
		    "save it as plain text (UTF-8), not as a binary or UTF-16 file",
		    c.name, line);
		return -1;
	}
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3; /* UTF-8 byte order mark */
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		size_t i = 0, plen;

		pos += ll + (nl ? 1 : 0);
		c.line++;
		if (ll && line[ll - 1] == '\r')
			ll--;
		while (i < ll && is_blank((unsigned char)line[i]))
			i++;
		bool shebang = c.line == 1 && ll >= 2 && line[0] == '#' && line[1] == '!';
		if (i < ll && line[i] == '#')
			plen = 1;
		else if (i + 1 < ll && line[i] == '/' && line[i + 1] == '/')
			plen = 2;
		else if (i == ll)
			plen = 0; /* blank */
		else
			break; /* the first command ends the annotation block */
		if (ll > LINE_MAX_LEN) {
			cairn_errlist_add(
			    errs,
			    "%s:%zu: line is %zu bytes long, more than %d in the "
			    "comment block at the top of the script; split or shorten it",
			    c.name, c.line, ll, LINE_MAX_LEN);
			continue;
		}
		if (shebang || !plen)
			continue;
		c.pfx = plen == 1 ? "#" : "//";

		const char *body = line + i + plen;
		size_t bn = ll - i - plen;
		while (bn && is_blank((unsigned char)*body)) {
			body++;
			bn--;
		}
		while (bn && is_blank((unsigned char)body[bn - 1]))
			bn--;

		bool is_vol = keyword(body, bn, "volume");
		if (!is_vol && !keyword(body, bn, "sandbox"))
			continue; /* an ordinary comment, including #SBATCH */
		size_t k = is_vol ? 6 : 7;
		while (k < bn && is_blank((unsigned char)body[k]))
			k++;
		bool colon = k < bn && body[k] == ':';
		if (colon)
			k++;
		if (is_vol)
			parse_volume_annotation(&c, body + k, bn - k, colon);
		else
			parse_sandbox_annotation(&c, body + k, bn - k, colon);
	}
	/* An explicit --sandbox option wins over the annotation, as Slurm's command
	 * line wins over #SBATCH. */
	if (c.sb_line && spec->sandbox == CAIRN_SANDBOX_NONE) {
		spec->sandbox = c.sb_mode;
		spec->limits = c.sb_limits;
	}
	return errs->n > nerr0 ? -1 : 0;
}

/* ---------- resolution ---------- */

int cairn_spec_resolve(struct cairn_job_spec *spec, const struct cairn_placeholder_ctx *ctx,
                       char *const *allowed_prefixes, size_t nprefixes, struct cairn_errlist *errs)
{
	size_t nerr0 = errs->n;
	char msg[1024], q1[QBUF], q2[QBUF], q3[QBUF];

	for (size_t i = 0; i < spec->nvol; i++) {
		struct cairn_volume_spec *v = &spec->vol[i];

		free(v->name);
		v->name = NULL;
		if (cairn_name_resolve(v->name_template, ctx, &v->name, msg, sizeof(msg)))
			cairn_errlist_add(errs, "%s: %s", origin_of(v), msg);
		if (cairn_mount_path_check(v->path, spec->sandbox, allowed_prefixes, nprefixes, msg,
		                           sizeof(msg)))
			cairn_errlist_add(errs, "%s: %s", origin_of(v), msg);
	}
	for (size_t i = 0; i < spec->nvol; i++) {
		const struct cairn_volume_spec *v = &spec->vol[i];

		if (!v->name)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct cairn_volume_spec *o = &spec->vol[j];

			if (o->name && !strcmp(o->name, v->name)) {
				cairn_errlist_add(
				    errs,
				    "%s: volume %s (from %s) is the same volume as %s "
				    "(from %s); a volume can be mounted only once per "
				    "job; remove one of the two or change its name",
				    origin_of(v), q(q1, v->name), q(q2, v->name_template),
				    origin_of(o), q(q3, o->name_template));
				break;
			}
		}
	}
	return errs->n > nerr0 ? -1 : 0;
}

/* ---------- encoding ---------- */

/* Set key to a new string; false if s is not valid UTF-8 (jansson refuses it). */
static bool set_str(json_t *o, const char *key, const char *s)
{
	json_t *j = json_string(s);

	return j && json_object_set_new(o, key, j) == 0;
}

char *cairn_spec_encode(const struct cairn_job_spec *spec)
{
	json_t *root = json_object(), *vols = json_array();
	char *s = NULL;
	bool ok = root && vols;

	if (ok)
		ok = json_object_set_new(root, "v", json_integer(1)) == 0 &&
		     set_str(root, "sandbox", cairn_sandbox_name(spec->sandbox));
	const struct cairn_limits *l = &spec->limits;
	if (ok && (l->memory || l->pids || l->cpus))
		ok = json_object_set_new(root, "limits",
		                         json_pack("{sIsIsI}", "memory", (json_int_t)l->memory,
		                                   "pids", (json_int_t)l->pids, "cpus",
		                                   (json_int_t)l->cpus)) == 0;
	for (size_t i = 0; ok && i < spec->nvol && i < CAIRN_MAX_VOLUMES; i++) {
		const struct cairn_volume_spec *v = &spec->vol[i];
		json_t *o = json_object();

		ok = o && set_str(o, "name", v->name_template ? v->name_template : "") &&
		     set_str(o, "path", v->path ? v->path : "") &&
		     json_object_set_new(o, "ro", json_boolean(v->readonly)) == 0 &&
		     set_str(o, "origin", origin_of(v)) &&
		     (!v->name || set_str(o, "resolved", v->name));
		if (json_array_append_new(vols, o))
			ok = false;
	}
	if (ok && json_object_set(root, "volumes", vols) == 0)
		s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(vols);
	json_decref(root);
	return s;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (!strcmp(key, *allowed))
			return true;
	return false;
}

/* A string member: present, a string, no NUL inside. */
static const char *get_str(json_t *o, const char *key)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_string(j) || json_string_length(j) != strlen(json_string_value(j)))
		return NULL;
	return json_string_value(j);
}

/* Absent: none. Present: an object of three non-negative integers, full mode. */
static int decode_limits(json_t *o, enum cairn_sandbox mode, struct cairn_limits *out)
{
	static const char *const keys[] = {"memory", "pids", "cpus", NULL};
	unsigned long long *slots[] = {&out->memory, &out->pids, &out->cpus};
	const char *key;
	json_t *j;

	memset(out, 0, sizeof(*out));
	if (!o)
		return 0;
	if (!json_is_object(o) || mode != CAIRN_SANDBOX_FULL)
		return -1;
	json_object_foreach(o, key, j)
	{
		if (!key_allowed(key, keys))
			return -1;
	}
	for (size_t i = 0; keys[i]; i++) {
		j = json_object_get(o, keys[i]);
		if (!json_is_integer(j) || json_integer_value(j) < 0)
			return -1;
		*slots[i] = (unsigned long long)json_integer_value(j);
	}
	return 0;
}

#define DECODE_FIX "it is written by Cairn itself, so do not edit it; resubmit the job instead"

int cairn_spec_decode(const char *s, struct cairn_job_spec *spec, char *err, size_t errlen)
{
	static const char *const top_keys[] = {"v", "sandbox", "volumes", "limits", NULL};
	static const char *const vol_keys[] = {"name", "path", "ro", "origin", "resolved", NULL};
	struct cairn_job_spec tmp = {0};
	struct cairn_errlist errs = {0};
	json_error_t jerr;
	json_t *root = NULL, *j;
	const char *key, *str;
	char msg[1024];
	int rc = -1;

	memset(spec, 0, sizeof(*spec));
	if (!s || !*s) {
		errf(err, errlen, "encoded job spec is empty; %s", DECODE_FIX);
		return -1;
	}
	if (strlen(s) > ENCODED_MAX) {
		errf(err, errlen, "encoded job spec is too long (more than %d bytes); %s",
		     ENCODED_MAX, DECODE_FIX);
		return -1;
	}
	root = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		esc(msg, sizeof(msg), jerr.text, strlen(jerr.text), 80, false);
		errf(err, errlen, "encoded job spec is not valid JSON (%s at character %d); %s",
		     msg, jerr.position, DECODE_FIX);
		return -1;
	}
	if (!json_is_object(root)) {
		errf(err, errlen, "encoded job spec is not a JSON object; %s", DECODE_FIX);
		goto out;
	}
	json_object_foreach(root, key, j)
	{
		if (!key_allowed(key, top_keys)) {
			errf(err, errlen, "encoded job spec has an unknown field %s; %s",
			     q(msg, key), DECODE_FIX);
			goto out;
		}
	}
	j = json_object_get(root, "v");
	if (!json_is_integer(j) || json_integer_value(j) != 1) {
		errf(err, errlen,
		     "encoded job spec has a missing or unsupported version (\"v\"); %s",
		     DECODE_FIX);
		goto out;
	}
	str = get_str(root, "sandbox");
	if (str && !strcmp(str, "none"))
		tmp.sandbox = CAIRN_SANDBOX_NONE;
	else if (str && !strcmp(str, "full"))
		tmp.sandbox = CAIRN_SANDBOX_FULL;
	else if (str && !strcmp(str, "pid"))
		tmp.sandbox = CAIRN_SANDBOX_PID;
	else {
		errf(err, errlen,
		     "encoded job spec has a missing or unknown sandbox mode (expected \"none\", "
		     "\"full\" or \"pid\"); %s",
		     DECODE_FIX);
		goto out;
	}
	if (decode_limits(json_object_get(root, "limits"), tmp.sandbox, &tmp.limits) < 0) {
		errf(err, errlen,
		     "encoded job spec has invalid limits (memory, pids and cpus: whole numbers, "
		     "full sandbox only); %s",
		     DECODE_FIX);
		goto out;
	}
	json_t *vols = json_object_get(root, "volumes");
	if (!json_is_array(vols)) {
		errf(err, errlen, "encoded job spec has no \"volumes\" list; %s", DECODE_FIX);
		goto out;
	}
	if (json_array_size(vols) > CAIRN_MAX_VOLUMES) {
		errf(err, errlen, "encoded job spec has %zu volumes, more than %d; %s",
		     json_array_size(vols), CAIRN_MAX_VOLUMES, DECODE_FIX);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(vols); i++) {
		json_t *o = json_array_get(vols, i);
		const char *name, *path, *origin, *resolved = NULL;
		json_t *ro;
		bool has_ph = false;

		if (!json_is_object(o)) {
			errf(err, errlen, "encoded job spec: volume %zu is not a JSON object; %s",
			     i + 1, DECODE_FIX);
			goto out;
		}
		json_object_foreach(o, key, j)
		{
			if (!key_allowed(key, vol_keys)) {
				errf(err, errlen,
				     "encoded job spec: volume %zu has an unknown field %s; %s",
				     i + 1, q(msg, key), DECODE_FIX);
				goto out;
			}
		}
		name = get_str(o, "name");
		path = get_str(o, "path");
		origin = get_str(o, "origin");
		ro = json_object_get(o, "ro");
		if (!name || !path || !origin || !json_is_boolean(ro)) {
			errf(err, errlen,
			     "encoded job spec: volume %zu needs string fields \"name\", \"path\", "
			     "\"origin\" and a boolean \"ro\"; %s",
			     i + 1, DECODE_FIX);
			goto out;
		}
		size_t ol = strlen(origin);
		bool origin_ok = ol > 0 && ol <= ORIGIN_MAX;
		for (size_t k = 0; k < ol && origin_ok; k++)
			origin_ok = (unsigned char)origin[k] >= 0x20 && origin[k] != 0x7f;
		if (!origin_ok) {
			errf(err, errlen,
			     "encoded job spec: volume %zu has an empty, overlong or unprintable "
			     "\"origin\"; %s",
			     i + 1, DECODE_FIX);
			goto out;
		}
		if (tmpl_check(name, &has_ph, msg, sizeof(msg)) ||
		    path_static_check(path, msg, sizeof(msg)) ||
		    absolute_needs_sandbox(path, tmp.sandbox, msg, sizeof(msg))) {
			errf(err, errlen, "encoded job spec: volume %zu (%s): %s", i + 1, origin,
			     msg);
			goto out;
		}
		if (json_object_get(o, "resolved")) {
			resolved = get_str(o, "resolved");
			if (!resolved || cairn_name_check(resolved, msg, sizeof(msg))) {
				errf(err, errlen,
				     "encoded job spec: volume %zu (%s) has an invalid resolved "
				     "name: "
				     "%s; %s",
				     i + 1, origin, resolved ? msg : "not a string", DECODE_FIX);
				goto out;
			}
			if (!has_ph && strcmp(resolved, name)) {
				errf(
				    err, errlen,
				    "encoded job spec: volume %zu (%s): resolved name differs from "
				    "its name, which has no placeholders; %s",
				    i + 1, origin, DECODE_FIX);
				goto out;
			}
		}
		struct cairn_volume_spec v = {
		    .name_template = xstrdup(name),
		    .name = resolved ? xstrdup(resolved) : NULL,
		    .path = xstrdup(path),
		    .readonly = json_is_true(ro),
		    .origin = xstrdup(origin),
		};
		if (cairn_spec_add(&tmp, &v, &errs)) {
			errf(err, errlen, "encoded job spec: %s", errs.msg[0]);
			goto out;
		}
	}
	*spec = tmp;
	memset(&tmp, 0, sizeof(tmp));
	rc = 0;
out:
	cairn_errlist_free(&errs);
	cairn_spec_free(&tmp);
	json_decref(root);
	return rc;
}
