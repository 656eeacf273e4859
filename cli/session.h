/* What the volume commands share: --json/--workspace parsing, and a session
 * with the configuration, the store and the workspace. */
#ifndef CAIRN_CLI_SESSION_H
#define CAIRN_CLI_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct common_opts {
	bool json;
	const char *workspace;
	const char *conflict; /* ls/get: read a conflict copy instead of the current version */
	int first_arg;
};

/* Parse --json / --workspace (and --conflict); leaves positional arguments from
 * first_arg on. Returns -1 to go on, else the exit status (help, usage). */
int cairn_cli_parse_common(int argc, char **argv, struct common_opts *o, const char *usage);

struct session {
	struct cairn_config cfg;
	struct cairn_store *st;
	char *ws;
};

int cairn_cli_open_session(struct session *s, const struct common_opts *o, const char *cmd);
void cairn_cli_close_session(struct session *s);

/* "2026-11-25 18:30:37", local time. */
void cairn_cli_fmt_time(char *buf, size_t len, int64_t t);

/* The version numbers of a volume, oldest first, from its version index plus
 * the head (whose index entry is written after its commit). */
struct cairn_cli_versions {
	unsigned *v;
	size_t n;
};
void cairn_cli_list_versions(struct session *s, const char *vol, unsigned head,
                             struct cairn_cli_versions *out);

#endif
