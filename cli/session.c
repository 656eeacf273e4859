#include "session.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "spec.h"

int cairn_cli_parse_common(int argc, char **argv, struct common_opts *o, const char *usage)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"workspace", required_argument, NULL, 'w'},
	                                     {"conflict", required_argument, NULL, 'c'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "jw:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->conflict = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'w':
			o->workspace = optarg;
			break;
		case 'h':
			printf("Usage: cairn %s\n", usage);
			return 0;
		default:
			fprintf(stderr, "Usage: cairn %s\n", usage);
			return 2;
		}
	}
	o->first_arg = optind;
	return -1;
}

int cairn_cli_open_session(struct session *s, const struct common_opts *o, const char *cmd)
{
	struct cairn_err err = {0};
	memset(s, 0, sizeof(*s));
	if (cairn_config_load(NULL, &s->cfg, &err) < 0) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return -1;
	}
	s->ws = o->workspace ? xstrdup(o->workspace) : cairn_workspace_for(&s->cfg, NULL);
	if (cairn_name_check(s->ws, err.msg, sizeof(err.msg)) < 0) {
		fprintf(stderr, "cairn %s: --workspace %s: %s\n", cmd, s->ws, err.msg);
		return -1;
	}
	if (cairn_store_open(s->cfg.storage, &s->st, &err) < 0) {
		fprintf(stderr, "cairn %s: %s%s\n", cmd, err.msg,
		        geteuid() ? " (reading the store needs root in this version: use sudo)"
		                  : "");
		return -1;
	}
	return 0;
}

void cairn_cli_close_session(struct session *s)
{
	cairn_store_close(s->st);
	free(s->ws);
	cairn_config_free(&s->cfg);
}

static int collect_version(void *arg, const char *key, uint64_t size)
{
	(void)size;
	struct cairn_cli_versions *a = arg;
	unsigned long long v;
	if (cairn_key_number(key, UINT32_MAX, &v) < 0)
		return 0;
	a->v = xrealloc(a->v, (a->n + 1) * sizeof(unsigned));
	a->v[a->n++] = (unsigned)v;
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

void cairn_cli_list_versions(struct session *s, const char *vol, unsigned head,
                             struct cairn_cli_versions *out)
{
	struct cairn_err err = {0};
	memset(out, 0, sizeof(*out));
	autofree char *prefix = xasprintf("%s/volumes/%s/versions/", s->ws, vol);
	cairn_store_list(s->st, prefix, collect_version, out, &err);
	qsort(out->v, out->n, sizeof(unsigned), cmp_unsigned);
	if (head && (!out->n || out->v[out->n - 1] < head)) {
		out->v = xrealloc(out->v, (out->n + 1) * sizeof(unsigned));
		out->v[out->n++] = head;
	}
}

void cairn_cli_fmt_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}
