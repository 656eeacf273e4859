/* cairn lint: check a batch script's Cairn annotations and its
 * "#SBATCH --volume/--sandbox" lines without submitting it. Only static checks
 * are possible here: placeholders need a job to be resolved. */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec.h"
#include "util.h"

#define LINT_MAX_SCRIPT (64u << 20)
#define LINT_MAX_LINE 4096

static char *const default_prefixes[] = {"/tmp/", "/mnt/", "/opt/", "/home/", "/data/"};

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: cairn lint [--json] [--allow-prefix PREFIX]... SCRIPT\n"
	        "\n"
	        "Check the Cairn annotations of a batch script without submitting it:\n"
	        "  # volume: NAME PATH [ro]     # sandbox     # sandbox: full|pid\n"
	        "  # sandbox: [full] [memory=SIZE] [pids=N] [cpus=N]\n"
	        "(also with // comments), and its '#SBATCH --volume=...' and '#SBATCH --sandbox'\n"
	        "lines. Annotations are read from the comment block at the top of the script,\n"
	        "up to the first line that is neither blank nor a comment. SCRIPT may be '-'\n"
	        "for standard input.\n"
	        "\n"
	        "  --json                 print the result as JSON\n"
	        "  --allow-prefix PREFIX  allow absolute mount paths under PREFIX (repeatable;\n"
	        "                         replaces the defaults /tmp/ /mnt/ /opt/ /home/ /data/)\n"
	        "  -h, --help             show this help\n"
	        "\n"
	        "Placeholders ($workspace, $user, $account, $args[...]) need a job to be\n"
	        "resolved; lint checks their syntax only.\n"
	        "Exit status: 0 no errors, 1 errors (printed as SCRIPT:LINE: message), 2 usage.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "cairn lint: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'cairn lint --help'.\n");
	return 2;
}

/* Read all of path ("-": stdin). Returns 0, or -1 with errno set. */
static int read_script(const char *path, char **out, size_t *outlen)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	size_t len = 0, cap = 0;
	char *buf = NULL;

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r;

		if (len + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 65536 * 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			if (fd != STDIN_FILENO)
				close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > LINT_MAX_SCRIPT) {
			free(buf);
			if (fd != STDIN_FILENO)
				close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (!buf)
		buf = xcalloc(1, 1);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

struct line {
	const char *s;
	size_t n;
	size_t no;
};

/* Iterate over lines; returns false at the end. CR before LF is dropped. */
static bool next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
	const char *nl;

	if (*pos >= len)
		return false;
	l->s = text + *pos;
	nl = memchr(l->s, '\n', len - *pos);
	l->n = nl ? (size_t)(nl - l->s) : len - *pos;
	*pos += l->n + (nl ? 1 : 0);
	l->no++;
	if (l->n && l->s[l->n - 1] == '\r')
		l->n--;
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Blank line, comment ("#" or "//" after optional blanks), or neither. Sets
 * *body to the text after the comment prefix and following blanks. */
enum line_kind { L_BLANK, L_COMMENT, L_OTHER };

static enum line_kind classify(const struct line *l, const char **body, size_t *bn)
{
	size_t i = 0, p;

	while (i < l->n && is_blank(l->s[i]))
		i++;
	if (i == l->n)
		return L_BLANK;
	if (l->s[i] == '#')
		p = 1;
	else if (i + 1 < l->n && l->s[i] == '/' && l->s[i + 1] == '/')
		p = 2;
	else
		return L_OTHER;
	i += p;
	while (i < l->n && is_blank(l->s[i]))
		i++;
	*body = l->s + i;
	*bn = l->n - i;
	return L_COMMENT;
}

static bool starts_word(const char *s, size_t n, const char *w, bool allow_end)
{
	size_t k = strlen(w);

	if (n < k || memcmp(s, w, k))
		return false;
	if (n == k)
		return allow_end;
	return is_blank(s[k]) || s[k] == ':';
}

/* One "#SBATCH" line: the --volume and --sandbox options on it. */
static void sbatch_line(const struct line *l, const char *script, struct cairn_job_spec *spec,
                        struct cairn_errlist *errs)
{
	char *copy = xcalloc(1, l->n + 1), *save = NULL, *tok;
	char err[1024];
	bool want_volume = false;

	memcpy(copy, l->s + 7, l->n - 7);
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		const char *val = NULL;
		char *w = tok, *r = tok;

		if (*tok == '#' && !want_volume)
			break; /* a comment after the options */
		/* drop quotes: --volume="a:b" */
		for (; *r; r++)
			if (*r != '"' && *r != '\'')
				*w++ = *r;
		*w = '\0';
		if (want_volume) {
			val = tok;
			want_volume = false;
		} else if (!strcmp(tok, "--volume")) {
			want_volume = true;
			continue;
		} else if (!strncmp(tok, "--volume=", 9)) {
			val = tok + 9;
		} else if (!strcmp(tok, "--sandbox") || !strncmp(tok, "--sandbox=", 10)) {
			enum cairn_sandbox m;
			struct cairn_limits lim;

			if (cairn_spec_parse_sandbox(tok[9] ? tok + 10 : NULL, &m, &lim, err,
			                             sizeof(err)))
				cairn_errlist_add(errs, "%s:%zu: %s", script, l->no, err);
			else {
				spec->sandbox = m;
				spec->limits = lim;
			}
			continue;
		} else {
			continue;
		}
		struct cairn_volume_spec v;
		if (cairn_spec_parse_option(val, &v, err, sizeof(err))) {
			cairn_errlist_add(errs, "%s:%zu: %s", script, l->no, err);
			continue;
		}
		free(v.origin);
		v.origin = xasprintf("%s:%zu", script, l->no);
		cairn_spec_add(spec, &v, errs);
	}
	if (want_volume)
		cairn_errlist_add(errs,
		                  "%s:%zu: --volume: missing value; the form is NAME:PATH or "
		                  "NAME:PATH:ro, e.g. --volume=agent-state:.agent",
		                  script, l->no);
	free(copy);
}

/* Walk the script as sbatch does: "#SBATCH" options in the leading comment
 * block, and warnings for annotations that come too late to count. */
static void scan_script(const char *text, size_t len, const char *script,
                        struct cairn_job_spec *spec, struct cairn_errlist *errs,
                        struct cairn_errlist *warns)
{
	struct line l = {0};
	size_t pos = 0, end_line = 0;
	const char *body;
	size_t bn;

	if (memchr(text, '\0', len))
		return; /* cairn_spec_parse_script reports it */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	while (next_line(text, len, &pos, &l)) {
		enum line_kind k = classify(&l, &body, &bn);

		if (!end_line) {
			if (k == L_OTHER) {
				end_line = l.no;
				continue;
			}
			if (l.n <= LINT_MAX_LINE && l.n >= 7 && !memcmp(l.s, "#SBATCH", 7) &&
			    (l.n == 7 || is_blank(l.s[7])))
				sbatch_line(&l, script, spec, errs);
			continue;
		}
		if (k != L_COMMENT)
			continue;
		if (starts_word(body, bn, "volume", false) ||
		    starts_word(body, bn, "sandbox", true) ||
		    (l.n >= 7 && !memcmp(l.s, "#SBATCH", 7) &&
		     (memmem(l.s, l.n, "--volume", 8) || memmem(l.s, l.n, "--sandbox", 9))))
			cairn_errlist_add(
			    warns,
			    "%s:%zu: warning: this line is ignored: annotations and "
			    "#SBATCH options are read only from the comment block at the "
			    "top of the script, and the first command (line %zu) ends it; "
			    "move this line above line %zu",
			    script, l.no, end_line, end_line);
	}
}

static size_t line_of(const char *msg, const char *script)
{
	size_t sl = strlen(script);

	if (strncmp(msg, script, sl) || msg[sl] != ':')
		return 0;
	return strtoul(msg + sl + 1, NULL, 10);
}

/* Errors by line number, keeping the order of errors on the same line. */
static void sort_by_line(struct cairn_errlist *l, const char *script)
{
	for (size_t i = 1; i < l->n; i++) {
		char *m = l->msg[i];
		size_t ln = line_of(m, script), j = i;

		while (j > 0 && line_of(l->msg[j - 1], script) > ln) {
			l->msg[j] = l->msg[j - 1];
			j--;
		}
		l->msg[j] = m;
	}
}

static json_t *strlist(const struct cairn_errlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->msg[i]));
	return a;
}

static void print_json(const char *script, const struct cairn_job_spec *spec,
                       const struct cairn_errlist *errs, const struct cairn_errlist *warns)
{
	json_t *root = json_object(), *vols = json_array();

	json_object_set_new(root, "script", json_string(script));
	json_object_set_new(root, "ok", json_boolean(errs->n == 0));
	json_object_set_new(root, "sandbox", json_string(cairn_sandbox_name(spec->sandbox)));
	for (size_t i = 0; i < spec->nvol; i++) {
		const struct cairn_volume_spec *v = &spec->vol[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(v->name_template));
		json_object_set_new(o, "path", json_string(v->path));
		json_object_set_new(o, "readonly", json_boolean(v->readonly));
		json_object_set_new(o, "line",
		                    json_integer((json_int_t)line_of(v->origin, script)));
		json_array_append_new(vols, o);
	}
	json_object_set_new(root, "volumes", vols);
	json_object_set_new(root, "errors", strlist(errs));
	json_object_set_new(root, "warnings", strlist(warns));
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(root);
}

/* Lint one script; returns the exit status. */
static int lint(const char *path, bool json, char *const *prefixes, size_t nprefixes)
{
	autofree char *script = cairn_printable(strcmp(path, "-") ? path : "<stdin>");
	struct cairn_job_spec spec = {0};
	struct cairn_errlist errs = {0}, warns = {0};
	autofree char *text = NULL;
	char msg[1024];
	size_t len = 0;
	int rc;

	if (read_script(path, &text, &len)) {
		fprintf(stderr, "cairn lint: cannot read %s: %s\n", script,
		        errno == EFBIG ? "larger than 64 MiB, not a batch script"
		                       : strerror(errno));
		return 1;
	}
	scan_script(text, len, script, &spec, &errs, &warns);
	cairn_spec_parse_script(text, len, script, &spec, &errs);
	for (size_t i = 0; i < spec.nvol; i++) {
		const struct cairn_volume_spec *v = &spec.vol[i];

		if (cairn_mount_path_check(v->path, spec.sandbox, prefixes, nprefixes, msg,
		                           sizeof(msg)))
			cairn_errlist_add(&errs, "%s: %s", v->origin, msg);
	}
	sort_by_line(&errs, script);
	if (json) {
		print_json(script, &spec, &errs, &warns);
	} else {
		for (size_t i = 0; i < warns.n; i++)
			fprintf(stderr, "%s\n", warns.msg[i]);
		for (size_t i = 0; i < errs.n; i++)
			printf("%s\n", errs.msg[i]);
	}
	fflush(stdout);
	rc = errs.n ? 1 : 0;
	cairn_spec_free(&spec);
	cairn_errlist_free(&errs);
	cairn_errlist_free(&warns);
	return rc;
}

int cmd_lint(int argc, char **argv)
{
	bool json = false, opts_done = false;
	const char *path = NULL;
	autofree char **prefixes = NULL;
	size_t nprefixes = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *pre = NULL;

		if (opts_done || a[0] != '-' || !strcmp(a, "-")) {
			if (path)
				return usage_error("one SCRIPT only (got also '%s')", a);
			path = a;
		} else if (!strcmp(a, "--")) {
			opts_done = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--allow-prefix")) {
			if (i + 1 >= argc)
				return usage_error(
				    "%s needs a value, e.g. --allow-prefix /scratch/", a);
			pre = argv[++i];
		} else if (!strncmp(a, "--allow-prefix=", 15)) {
			pre = a + 15;
		} else {
			return usage_error("unknown option '%s'", a);
		}
		if (pre) {
			if (pre[0] != '/')
				return usage_error(
				    "--allow-prefix '%s' is not an absolute path; write "
				    "e.g. --allow-prefix /scratch/",
				    pre);
			prefixes = xrealloc(prefixes, (nprefixes + 1) * sizeof(*prefixes));
			prefixes[nprefixes++] = (char *)pre;
		}
	}
	if (!path)
		return usage_error("%s", "missing SCRIPT (use '-' for standard input)");
	if (!nprefixes)
		return lint(path, json, default_prefixes,
		            sizeof(default_prefixes) / sizeof(*default_prefixes));
	return lint(path, json, prefixes, nprefixes);
}
