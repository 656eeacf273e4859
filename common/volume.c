#include "volume.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

char *cairn_key_object(const char *ws, const char *sha256)
{
	return xasprintf("%s/objects/%.2s/%s", ws, sha256, sha256);
}

char *cairn_key_version(const char *ws, const char *vol, unsigned version)
{
	return xasprintf("%s/volumes/%s/versions/%010u", ws, vol, version);
}

char *cairn_key_head(const char *ws, const char *vol)
{
	return xasprintf("%s/volumes/%s/head", ws, vol);
}

char *cairn_key_volume_prefix(const char *ws, const char *vol)
{
	return xasprintf("%s/volumes/%s/", ws, vol);
}

int cairn_volume_load_version(struct cairn_store *st, const char *ws, const char *vol,
                              unsigned version, struct cairn_manifest *out, struct cairn_err *err)
{
	autofree char *key = cairn_key_version(ws, vol, version);
	autofree char *text = NULL;
	size_t len = 0;
	int r = cairn_store_get_buf(st, key, CAIRN_MANIFEST_MAX, &text, &len, err);
	if (r == CAIRN_STORE_NOTFOUND) {
		cairn_setuerr(err, "volume %s: version %u does not exist; see 'cairn show %s'", vol,
		              version, vol);
		return r;
	}
	if (r < 0)
		return r;
	struct cairn_err perr = {0};
	if (cairn_manifest_from_json(text, len, out, &perr) < 0) {
		cairn_seterr(err, "volume %s: version %u is unreadable (%s)", vol, version,
		             perr.msg);
		return -1;
	}
	if (out->version != version) {
		cairn_seterr(err, "volume %s: version %u holds version %u", vol, version,
		             out->version);
		cairn_manifest_free(out);
		return -1;
	}
	return 0;
}

int cairn_volume_load_head(struct cairn_store *st, const char *ws, const char *vol,
                           struct cairn_manifest *out, int *exists, struct cairn_err *err)
{
	autofree char *hkey = cairn_key_head(ws, vol);
	autofree char *htext = NULL;
	unsigned long long hint = 0;
	int r = cairn_store_get_buf(st, hkey, 64, &htext, NULL, err);
	if (r == 0) {
		htext[strcspn(htext, "\n")] = '\0';
		if (parse_uint(htext, UINT32_MAX, &hint) < 0)
			hint = 0;
	} else if (r != CAIRN_STORE_NOTFOUND) {
		return -1;
	}
	/* The hint may lag behind a commit whose writer died before updating it. */
	unsigned v = (unsigned)hint;
	for (;;) {
		autofree char *key = cairn_key_version(ws, vol, v + 1);
		r = cairn_store_exists(st, key, NULL, err);
		if (r == CAIRN_STORE_NOTFOUND)
			break;
		if (r < 0)
			return -1;
		v++;
	}
	if (v == 0) {
		cairn_manifest_init(out);
		out->workspace = xstrdup(ws);
		out->volume = xstrdup(vol);
		*exists = 0;
		return 0;
	}
	*exists = 1;
	return cairn_volume_load_version(st, ws, vol, v, out, err);
}

int cairn_volume_commit(struct cairn_store *st, const char *ws, const char *vol,
                        struct cairn_manifest *m, unsigned base, struct cairn_err *err)
{
	m->version = base + 1;
	m->parent = base;
	free(m->workspace);
	free(m->volume);
	m->workspace = xstrdup(ws);
	m->volume = xstrdup(vol);
	if (!m->created)
		m->created = (int64_t)time(NULL);
	autofree char *json = cairn_manifest_to_json(m, false);
	autofree char *key = cairn_key_version(ws, vol, m->version);
	int r = cairn_store_put_buf(st, key, json, strlen(json), CAIRN_PUT_IF_ABSENT, err);
	if (r == CAIRN_STORE_EXISTS) {
		autofree char *ckey =
		    xasprintf("%s/volumes/%s/conflicts/%010u-job%s-%lld", ws, vol, m->version,
		              m->job ? m->job : "none", (long long)time(NULL));
		struct cairn_err cerr = {0};
		if (cairn_store_put_buf(st, ckey, json, strlen(json), 0, &cerr) < 0)
			cairn_seterr(err,
			             "volume %s: another job committed version %u first, and the "
			             "conflict copy could not be saved: %s",
			             vol, m->version, cerr.msg);
		else
			cairn_seterr(err,
			             "volume %s: another job committed version %u first; this "
			             "job's changes are kept as conflict copy %s",
			             vol, m->version, ckey);
		return CAIRN_STORE_EXISTS;
	}
	if (r < 0)
		return -1;
	char head[32];
	int hl = snprintf(head, sizeof(head), "%u\n", m->version);
	autofree char *hkey = cairn_key_head(ws, vol);
	struct cairn_err herr = {0};
	/* Best effort: readers probe past a stale hint. */
	(void)cairn_store_put_buf(st, hkey, head, (size_t)hl, 0, &herr);
	return 0;
}

struct name_acc {
	char **v;
	size_t n;
	size_t skip;
};

static int collect_volume(void *arg, const char *key, uint64_t size)
{
	(void)size;
	struct name_acc *a = arg;
	const char *rest = key + a->skip;
	const char *slash = strchr(rest, '/');
	if (!slash || strncmp(slash, "/versions/", 10))
		return 0;
	size_t len = (size_t)(slash - rest);
	if (a->n && strlen(a->v[a->n - 1]) == len && !strncmp(a->v[a->n - 1], rest, len))
		return 0;
	a->v = xrealloc(a->v, (a->n + 1) * sizeof(char *));
	a->v[a->n++] = strndup(rest, len);
	return 0;
}

int cairn_volume_list(struct cairn_store *st, const char *ws, char ***names, size_t *n,
                      struct cairn_err *err)
{
	autofree char *prefix = xasprintf("%s/volumes/", ws);
	struct name_acc a = {.skip = strlen(prefix)};
	if (cairn_store_list(st, prefix, collect_volume, &a, err) < 0) {
		cairn_strv_free(a.v, a.n);
		return -1;
	}
	*names = a.v;
	*n = a.n;
	return 0;
}
