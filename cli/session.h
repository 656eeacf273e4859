/* What the volume commands share: --json/--workspace parsing, and a session
 * with the configuration, the store and the workspace. */
#ifndef CAIRN_CLI_SESSION_H
#define CAIRN_CLI_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct common_opts {
	bool json;
	const char *workspace;
	const char *conflict; /* ls/get: read a conflict copy instead of the current version */
	const char *owner;    /* list: only the volumes of this owner */
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

/* The user `cairn serve` acts for (NULL: root at a terminal, who may do
 * anything). Commands check it with cairn_cli_authorize. */
struct cairn_user;
extern const struct cairn_user *cairn_cli_caller;

/* Who runs the command: the caller, else the user behind sudo, else the process's user. */
const char *cairn_cli_invoker(void);

/* May the caller use vol as asked (need: 1 read, 2 read and write; owner_only:
 * the owner or an admin)? 0, or -1 after one line on stderr saying why not. */
/* Non-admin callers must belong to the session's workspace to make volumes in
 * it (membership.h); prints the refusal. 0 or -1. */
int cairn_cli_check_member(struct session *s, const char *cmd);
int cairn_cli_authorize(struct session *s, const char *cmd, const char *vol, int need,
                        bool owner_only);
/* Is the caller an admin (root, AdminGroup)? */
bool cairn_cli_admin(const struct session *s);

/* Collect the session's workspace (gc.h) and print what was deleted; 0, or 1
 * after one line on stderr. */
int cairn_cli_collect(struct session *s, const char *cmd, bool dry_run, bool json);

/* One job's activity with a volume (see `cairn history`) as a line, at time. */
void cairn_cli_print_activity(int64_t time, json_t *a);

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
