/* cairn gc: delete the file contents that no volume of a workspace names any
 * more (gc.h); `cairn rm` runs one after it removed a volume. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "gc.h"
#include "session.h"

static void print_stats(const char *ws, const struct cairn_gc_stats *g, bool dry_run, bool json)
{
	if (json) {
		json_t *o =
		    json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		              "workspace", ws, "dry_run", dry_run, "complete", !g->out_of_time,
		              "volumes", (json_int_t)g->volumes, "manifests",
		              (json_int_t)g->manifests, "objects", (json_int_t)g->objects, "bytes",
		              (json_int_t)g->bytes, "deleted", (json_int_t)g->deleted,
		              "deleted_bytes", (json_int_t)g->deleted_bytes, "kept_named",
		              (json_int_t)g->kept_named, "kept_recent", (json_int_t)g->kept_recent);
		char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
		if (text)
			puts(text);
		free(text);
		json_decref(o);
		return;
	}
	char del[32], all[32];
	fmt_bytes(del, sizeof(del), g->deleted_bytes);
	fmt_bytes(all, sizeof(all), g->bytes);
	printf("workspace %s: %llu volume%s, %llu manifest%s read; %s %llu of %llu stored "
	       "content%s (%s of %s)",
	       ws, g->volumes, g->volumes == 1 ? "" : "s", g->manifests,
	       g->manifests == 1 ? "" : "s", dry_run ? "would delete" : "deleted", g->deleted,
	       g->objects, g->objects == 1 ? "" : "s", del, all);
	if (g->kept_recent)
		printf("; kept %llu written since the collection began", g->kept_recent);
	printf("\n");
	if (g->out_of_time)
		printf("workspace %s: the collection stopped after %d seconds; run 'cairn gc "
		       "--workspace %s' again for the rest\n",
		       ws, CAIRN_GC_DELETE_UNTIL, ws);
}

int cairn_cli_collect(struct session *s, const char *cmd, bool dry_run, bool json)
{
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	autofree char *who = xasprintf("cairn %s by %s on %s, pid %d", cmd, cairn_cli_invoker(),
	                               host, (int)getpid());
	struct cairn_gc_opts o = {.dry_run = dry_run, .who = who};
	struct cairn_gc_stats g;
	struct cairn_err err = {0};
	if (cairn_gc(s->st, s->ws, &o, &g, &err) < 0) {
		if (strcmp(cmd, "gc")) {
			/* The command itself succeeded: a busy collector only defers. */
			fprintf(
			    stderr,
			    "cairn %s: the contents were not collected (%s); an admin's 'cairn gc "
			    "--workspace %s' collects them later\n",
			    cmd, err.msg, s->ws);
			return err.user ? 0 : 1;
		}
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return 1;
	}
	print_stats(s->ws, &g, dry_run, json);
	return 0;
}

int cmd_gc(int argc, char **argv)
{
	static const char usage[] = "gc [--workspace W] [--dry-run] [--json]";
	static const struct option opts[] = {{"workspace", required_argument, NULL, 'w'},
	                                     {"dry-run", no_argument, NULL, 'n'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	struct common_opts o;
	memset(&o, 0, sizeof(o));
	bool dry_run = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "w:njh", opts, NULL)) != -1) {
		if (c == 'w')
			o.workspace = optarg;
		else if (c == 'n')
			dry_run = true;
		else if (c == 'j')
			o.json = true;
		else {
			fprintf(c == 'h' ? stdout : stderr, "Usage: cairn %s\n", usage);
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "Usage: cairn %s\n", usage);
		return 2;
	}
	struct session s;
	memset(&s, 0, sizeof(s));
	int rv = 1;
	if (cairn_cli_open_session(&s, &o, "gc") < 0)
		goto out;
	if (!cairn_cli_admin(&s)) {
		fprintf(stderr, "cairn gc: only an admin (root, AdminGroup) collects a workspace; "
		                "'cairn rm' collects after it removes a volume\n");
		goto out;
	}
	rv = cairn_cli_collect(&s, "gc", dry_run, o.json);
out:
	cairn_cli_close_session(&s);
	return rv;
}
