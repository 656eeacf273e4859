#include "manifest.h"

#include <jansson.h>
#include <string.h>

bool cairn_manifest_text_ok(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n); /* NULL for bytes that are not UTF-8 */
	json_decref(j);
	return j != NULL;
}

void cairn_manifest_init(struct cairn_manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void cairn_manifest_free(struct cairn_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].path);
		free(m->e[i].target);
	}
	free(m->e);
	free(m->workspace);
	free(m->volume);
	free(m->job);
	free(m->user);
	free(m->host);
	free(m->key);
	memset(m, 0, sizeof(*m));
}

struct cairn_entry *cairn_manifest_add(struct cairn_manifest *m, const char *path,
                                       enum cairn_ftype type)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->e = xrealloc(m->e, m->cap * sizeof(*m->e));
	}
	struct cairn_entry *e = &m->e[m->n++];
	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	e->type = type;
	return e;
}

/* Byte order of paths with '/' sorting first, so a directory's entries follow it
 * directly and parents always precede children. */
static int pathcmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		/* End of string < '/' < every other byte, so parents sort first. */
		int ca = *a == '/' ? 1 : *a ? (unsigned char)*a + 1 : 0;
		int cb = *b == '/' ? 1 : *b ? (unsigned char)*b + 1 : 0;
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (!ca)
			return 0;
	}
}

static int entcmp(const void *a, const void *b)
{
	return pathcmp(((const struct cairn_entry *)a)->path,
	               ((const struct cairn_entry *)b)->path);
}

void cairn_manifest_sort(struct cairn_manifest *m)
{
	if (m->n > 1)
		qsort(m->e, m->n, sizeof(*m->e), entcmp);
}

struct cairn_entry *cairn_manifest_find(const struct cairn_manifest *m, const char *path)
{
	struct cairn_entry key = {.path = (char *)path};
	if (!m->n)
		return NULL;
	return bsearch(&key, m->e, m->n, sizeof(*m->e), entcmp);
}

int cairn_relpath_check(const char *path, char *why, size_t whylen)
{
	size_t len = strlen(path);
	if (len == 0 || len > CAIRN_PATH_MAX) {
		snprintf(why, whylen, "path is empty or longer than %d bytes", CAIRN_PATH_MAX);
		return -1;
	}
	if (path[0] == '/') {
		snprintf(why, whylen, "path \"%.64s\" is absolute", path);
		return -1;
	}
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n > 255 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(
			    why, whylen,
			    "path \"%.64s\" has an empty, \".\", \"..\" or over-long component",
			    path);
			return -1;
		}
		if (!slash)
			break;
		if (!slash[1]) {
			snprintf(why, whylen, "path \"%.64s\" ends with '/'", path);
			return -1;
		}
		p = slash + 1;
	}
	return 0;
}

int cairn_symlink_target_check(const char *target, size_t len, char *why, size_t whylen)
{
	if (!target || len == 0 || len > CAIRN_PATH_MAX || strlen(target) != len) {
		snprintf(why, whylen, "symlink target is empty, too long or holds a NUL byte");
		return -1;
	}
	return 0;
}

static const char *type_name(enum cairn_ftype t)
{
	return t == CAIRN_FT_DIR ? "dir" : t == CAIRN_FT_SYMLINK ? "symlink" : "file";
}

/* A growing text buffer for the JSON lines. */
struct out_text {
	char *p;
	size_t len, cap;
};

static void out_add_line(struct out_text *t, json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT);
	size_t n = strlen(line);
	if (t->len + n + 2 > t->cap) {
		t->cap = (t->len + n + 2) * 2;
		t->p = xrealloc(t->p, t->cap);
	}
	memcpy(t->p + t->len, line, n);
	t->len += n;
	t->p[t->len++] = '\n';
	t->p[t->len] = '\0';
	free(line);
	json_decref(o);
}

static json_t *entry_json(const struct cairn_entry *e, bool with_local)
{
	json_t *o = json_object();
	json_object_set_new(o, "path", json_string(e->path));
	json_object_set_new(o, "type", json_string(type_name(e->type)));
	if (e->type != CAIRN_FT_SYMLINK)
		json_object_set_new(o, "mode", json_integer(e->mode));
	json_object_set_new(o, "mtime_ns", json_integer(e->mtime_ns));
	if (e->type == CAIRN_FT_FILE) {
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
		json_object_set_new(o, "sha256", json_string(e->sha256));
		json_object_set_new(o, "md5", json_string(e->md5));
		if (e->pack[0]) {
			json_object_set_new(o, "pack", json_string(e->pack));
			json_object_set_new(o, "offset", json_integer((json_int_t)e->offset));
		}
	}
	if (e->type == CAIRN_FT_SYMLINK)
		json_object_set_new(o, "target", json_string(e->target));
	if (with_local) {
		json_object_set_new(o, "ino", json_integer((json_int_t)e->ino));
		json_object_set_new(o, "ctime_ns", json_integer(e->ctime_ns));
	}
	return o;
}

/* Format 2: JSON lines, a header object then one object per entry. Each line is
 * built and dumped on its own, so memory stays at the text plus one entry
 * however large the volume (a whole-document tree costs several times the text). */
char *cairn_manifest_to_json(const struct cairn_manifest *m, bool with_local)
{
	struct out_text t = {0};
	json_t *root = json_object();
	json_object_set_new(root, "format", json_integer(2));
	json_object_set_new(root, "version", json_integer(m->version));
	json_object_set_new(root, "parent", json_integer(m->parent));
	if (m->workspace)
		json_object_set_new(root, "workspace", json_string(m->workspace));
	if (m->volume)
		json_object_set_new(root, "volume", json_string(m->volume));
	json_object_set_new(root, "created", json_integer(m->created));
	if (m->job)
		json_object_set_new(root, "job", json_string(m->job));
	if (m->user)
		json_object_set_new(root, "user", json_string(m->user));
	if (m->host)
		json_object_set_new(root, "host", json_string(m->host));
	json_object_set_new(root, "entries", json_integer((json_int_t)m->n));
	out_add_line(&t, root);
	for (size_t i = 0; i < m->n; i++)
		out_add_line(&t, entry_json(&m->e[i], with_local));
	return t.p;
}

static int get_str(json_t *o, const char *k, char **out, bool required, struct cairn_err *err)
{
	json_t *v = json_object_get(o, k);
	if (!v) {
		if (required)
			cairn_seterr(err, "manifest: missing \"%s\"", k);
		return required ? -1 : 0;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    json_string_length(v) > 4096) {
		cairn_seterr(err, "manifest: \"%s\" must be a string without NUL bytes", k);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_int(json_t *o, const char *k, json_int_t min, json_int_t max, json_int_t *out,
                   bool required, struct cairn_err *err)
{
	json_t *v = json_object_get(o, k);
	if (!v) {
		if (required)
			cairn_seterr(err, "manifest: missing \"%s\"", k);
		return required ? -1 : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		cairn_seterr(err, "manifest: \"%s\" must be an integer in [%lld, %lld]", k,
		             (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int parse_entry(json_t *o, struct cairn_manifest *m, struct cairn_err *err)
{
	char why[256];
	autofree char *path = NULL, *type = NULL, *sha = NULL, *md5 = NULL, *target = NULL,
	              *pack = NULL;
	json_int_t mode = 0644, size = 0, mtime = 0, ino = 0, ctime = 0, offset = 0;
	enum cairn_ftype t;

	if (!json_is_object(o)) {
		cairn_seterr(err, "manifest: a files[] entry is not an object");
		return -1;
	}
	if (get_str(o, "path", &path, true, err) < 0 || get_str(o, "type", &type, true, err) < 0)
		return -1;
	if (cairn_relpath_check(path, why, sizeof(why)) < 0) {
		cairn_seterr(err, "manifest: %s", why);
		return -1;
	}
	if (!strcmp(type, "file"))
		t = CAIRN_FT_FILE;
	else if (!strcmp(type, "dir"))
		t = CAIRN_FT_DIR;
	else if (!strcmp(type, "symlink"))
		t = CAIRN_FT_SYMLINK;
	else {
		cairn_seterr(err, "manifest: entry \"%.64s\" has unknown type \"%.16s\"", path,
		             type);
		return -1;
	}
	if (get_int(o, "mode", 0, 07777, &mode, false, err) < 0 ||
	    get_int(o, "mtime_ns", INT64_MIN, INT64_MAX, &mtime, false, err) < 0 ||
	    get_int(o, "ino", 0, INT64_MAX, &ino, false, err) < 0 ||
	    get_int(o, "ctime_ns", INT64_MIN, INT64_MAX, &ctime, false, err) < 0)
		return -1;
	if (t == CAIRN_FT_FILE) {
		if (get_int(o, "size", 0, INT64_MAX, &size, true, err) < 0 ||
		    get_str(o, "sha256", &sha, true, err) < 0 ||
		    get_str(o, "md5", &md5, true, err) < 0)
			return -1;
		if (!cairn_is_hex(sha, 64) || !cairn_is_hex(md5, 32)) {
			cairn_seterr(err, "manifest: entry \"%.64s\" has a malformed digest", path);
			return -1;
		}
		if (get_str(o, "pack", &pack, false, err) < 0 ||
		    get_int(o, "offset", 0, INT64_MAX - size, &offset, pack != NULL, err) < 0)
			return -1;
		if (pack && !cairn_is_hex(pack, 64)) {
			cairn_seterr(err, "manifest: entry \"%.64s\" has a malformed pack", path);
			return -1;
		}
	}
	if (t == CAIRN_FT_SYMLINK) {
		json_t *tv = json_object_get(o, "target");
		if (!json_is_string(tv) ||
		    cairn_symlink_target_check(json_string_value(tv), json_string_length(tv), why,
		                               sizeof(why)) < 0) {
			cairn_seterr(err, "manifest: entry \"%.64s\": %s", path,
			             json_is_string(tv) ? why : "symlink without a target");
			return -1;
		}
		target = xstrdup(json_string_value(tv));
	}
	struct cairn_entry *e = cairn_manifest_add(m, path, t);
	e->mode = (unsigned)mode & 01777; /* never setuid/setgid */
	e->size = (uint64_t)size;
	e->mtime_ns = mtime;
	e->ino = (uint64_t)ino;
	e->ctime_ns = ctime;
	if (sha) {
		memcpy(e->sha256, sha, 65);
		memcpy(e->md5, md5, 33);
	}
	if (pack) {
		memcpy(e->pack, pack, 65);
		e->offset = (uint64_t)offset;
	}
	e->target = steal_ptr(&target);
	return 0;
}

static int parse_header(json_t *root, struct cairn_manifest *m, struct cairn_err *err)
{
	json_int_t version = 0, parent = 0, created = 0;
	if (get_int(root, "version", 0, UINT32_MAX, &version, true, err) < 0 ||
	    get_int(root, "parent", 0, UINT32_MAX, &parent, false, err) < 0 ||
	    get_int(root, "created", 0, INT64_MAX, &created, false, err) < 0 ||
	    get_str(root, "workspace", &m->workspace, false, err) < 0 ||
	    get_str(root, "volume", &m->volume, false, err) < 0 ||
	    get_str(root, "job", &m->job, false, err) < 0 ||
	    get_str(root, "user", &m->user, false, err) < 0 ||
	    get_str(root, "host", &m->host, false, err) < 0)
		return -1;
	m->version = (unsigned)version;
	m->parent = (unsigned)parent;
	m->created = created;
	return 0;
}

/* Sorted, no path twice, every parent a directory entry. */
int cairn_manifest_check_tree(struct cairn_manifest *m, struct cairn_err *err)
{
	/* What Cairn wrote is sorted already: sorting it again moves every entry. */
	bool sorted = true;
	for (size_t i = 1; i < m->n && sorted; i++)
		sorted = pathcmp(m->e[i - 1].path, m->e[i].path) < 0;
	if (!sorted)
		cairn_manifest_sort(m);
	for (size_t i = 1; i < m->n; i++)
		if (!strcmp(m->e[i - 1].path, m->e[i].path)) {
			cairn_seterr(err, "manifest: entry \"%.64s\" appears twice", m->e[i].path);
			return -1;
		}
	/* Neighbours share a parent: look it up once for all of them. */
	const struct cairn_entry *last = NULL;
	for (size_t i = 0; i < m->n; i++) {
		const char *path = m->e[i].path, *slash = strrchr(path, '/');
		if (!slash)
			continue;
		size_t len = (size_t)(slash - path);
		if (last && strlen(last->path) == len && !memcmp(last->path, path, len))
			continue;
		char dir[CAIRN_PATH_MAX + 1];
		memcpy(dir, path, len);
		dir[len] = '\0';
		const struct cairn_entry *p = cairn_manifest_find(m, dir);
		if (!p || p->type != CAIRN_FT_DIR) {
			cairn_seterr(err, "manifest: entry \"%.64s\" has no parent directory entry",
			             path);
			return -1;
		}
		last = p;
	}
	return 0;
}

/* Format 1: one JSON document with a "files" array. */
static int from_document(const char *text, size_t len, struct cairn_manifest *m,
                         struct cairn_err *err)
{
	json_error_t jerr;
	json_int_t format = 0;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		cairn_seterr(err, "manifest: invalid JSON at line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	int rv = -1;
	if (!json_is_object(root)) {
		cairn_seterr(err, "manifest: not a JSON object");
		goto out;
	}
	if (get_int(root, "format", 1, 1, &format, true, err) < 0 || parse_header(root, m, err) < 0)
		goto out;
	json_t *files = json_object_get(root, "files");
	if (!json_is_array(files)) {
		cairn_seterr(err, "manifest: \"files\" must be an array");
		goto out;
	}
	size_t i;
	json_t *o;
	json_array_foreach(files, i, o)
	{
		if (parse_entry(o, m, err) < 0)
			goto out;
	}
	rv = 0;
out:
	json_decref(root);
	return rv;
}

/* Format 2: the header line (already parsed), then one entry per line. */
static int from_lines(json_t *hdr, const char *p, const char *end, struct cairn_manifest *m,
                      struct cairn_err *err)
{
	json_int_t entries = 0;
	if (parse_header(hdr, m, err) < 0 ||
	    get_int(hdr, "entries", 0, INT32_MAX, &entries, true, err) < 0)
		return -1;
	size_t line = 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		line++;
		if (stop > p) {
			json_error_t jerr;
			json_t *o =
			    json_loadb(p, (size_t)(stop - p), JSON_REJECT_DUPLICATES, &jerr);
			if (!o) {
				cairn_seterr(err, "manifest: invalid JSON at line %zu: %s", line,
				             jerr.text);
				return -1;
			}
			int r = parse_entry(o, m, err);
			json_decref(o);
			if (r < 0)
				return -1;
		}
		p = nl ? nl + 1 : end;
	}
	if ((json_int_t)m->n != entries) {
		cairn_seterr(err, "manifest: %zu entries where the header says %lld (truncated?)",
		             m->n, (long long)entries);
		return -1;
	}
	return 0;
}

int cairn_manifest_from_json(const char *text, size_t len, struct cairn_manifest *m,
                             struct cairn_err *err)
{
	cairn_manifest_init(m);
	const char *nl = memchr(text, '\n', len);
	json_error_t jerr;
	json_t *first =
	    nl ? json_loadb(text, (size_t)(nl - text), JSON_REJECT_DUPLICATES, &jerr) : NULL;
	json_t *fv = json_is_object(first) ? json_object_get(first, "format") : NULL;
	int rv;
	if (json_is_integer(fv) && json_integer_value(fv) == 2)
		rv = from_lines(first, nl + 1, text + len, m, err);
	else
		rv = from_document(text, len, m, err);
	json_decref(first);
	if (rv == 0)
		rv = cairn_manifest_check_tree(m, err);
	if (rv < 0)
		cairn_manifest_free(m);
	return rv;
}

uint64_t cairn_manifest_bytes(const struct cairn_manifest *m)
{
	uint64_t t = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].type == CAIRN_FT_FILE)
			t += m->e[i].size;
	return t;
}

size_t cairn_manifest_files(const struct cairn_manifest *m)
{
	size_t t = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].type != CAIRN_FT_DIR)
			t++;
	return t;
}

static bool same_entry(const struct cairn_entry *a, const struct cairn_entry *b)
{
	if (strcmp(a->path, b->path) || a->type != b->type)
		return false;
	switch (a->type) {
	case CAIRN_FT_FILE:
		return a->mode == b->mode && a->size == b->size && a->mtime_ns == b->mtime_ns &&
		       !strcmp(a->sha256, b->sha256);
	case CAIRN_FT_DIR:
		return a->mode == b->mode;
	case CAIRN_FT_SYMLINK:
		return !strcmp(a->target, b->target);
	}
	return false;
}

bool cairn_manifest_same_content(const struct cairn_manifest *a, const struct cairn_manifest *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!same_entry(&a->e[i], &b->e[i]))
			return false;
	return true;
}

bool cairn_manifest_unchanged(const struct cairn_manifest *scan, const struct cairn_manifest *state)
{
	if (scan->n != state->n)
		return false;
	for (size_t i = 0; i < scan->n; i++) {
		const struct cairn_entry *a = &scan->e[i], *b = &state->e[i];
		if (strcmp(a->path, b->path) || a->type != b->type)
			return false;
		switch (a->type) {
		case CAIRN_FT_FILE:
			if (a->mode != b->mode || a->size != b->size ||
			    a->mtime_ns != b->mtime_ns || a->ino != b->ino || !b->ino ||
			    a->ctime_ns != b->ctime_ns)
				return false;
			break;
		case CAIRN_FT_DIR:
			if (a->mode != b->mode)
				return false;
			break;
		case CAIRN_FT_SYMLINK:
			if (strcmp(a->target, b->target))
				return false;
			break;
		}
	}
	return true;
}

static int cmp_entry_sha(const void *a, const void *b)
{
	return strcmp((*(const struct cairn_entry *const *)a)->sha256,
	              (*(const struct cairn_entry *const *)b)->sha256);
}

void cairn_sha_index_build(struct cairn_sha_index *ix, const struct cairn_manifest *m)
{
	ix->e = xcalloc(m->n + 1, sizeof(*ix->e));
	ix->n = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].type == CAIRN_FT_FILE)
			ix->e[ix->n++] = &m->e[i];
	qsort(ix->e, ix->n, sizeof(*ix->e), cmp_entry_sha);
}

const struct cairn_entry *cairn_sha_index_find(const struct cairn_sha_index *ix, const char *sha)
{
	struct cairn_entry key;
	snprintf(key.sha256, sizeof(key.sha256), "%s", sha);
	const struct cairn_entry *kp = &key;
	const struct cairn_entry *const *hit =
	    bsearch(&kp, ix->e, ix->n, sizeof(*ix->e), cmp_entry_sha);
	return hit ? *hit : NULL;
}

void cairn_sha_index_free(struct cairn_sha_index *ix)
{
	free(ix->e);
	ix->e = NULL;
	ix->n = 0;
}
