/* A command run on the other side of a UNIX socket with the caller's standard
 * streams: the srun broker (srun_broker.h) and the CLI server (`cairn serve`).
 *
 *   caller                                   server
 *   ARG* ENV* STDIN STDOUT STDERR RUN   ->   (descriptors passed with SCM_RIGHTS)
 *   SIGNAL "N" (any number of them)     ->
 *                                      <-    STATUS "wait status" | ERR "line" */
#ifndef CAIRN_RCMD_H
#define CAIRN_RCMD_H

#include <stdbool.h>
#include <stddef.h>

enum cairn_rcmd_frame {
	RC_ARG = 'a',    /* one argument, argv[0] first */
	RC_ENV = 'v',    /* one NAME=VALUE */
	RC_STDIN = '0',  /* with descriptor 0 */
	RC_STDOUT = '1', /* with descriptor 1 */
	RC_STDERR = '2', /* with descriptor 2 */
	RC_RUN = 'r',    /* start it */
	RC_SIGNAL = 'k', /* forward this signal number */
	RC_STATUS = 'x', /* the wait status, in decimal */
	RC_ERR = 'X',    /* refused or failed: one line for the caller */
};

#define CAIRN_RCMD_MAX_ARGS 4096
#define CAIRN_RCMD_MAX_ENV 4096

struct cairn_rcmd {
	char *argv[CAIRN_RCMD_MAX_ARGS + 1];
	size_t argc;
	char *envp[CAIRN_RCMD_MAX_ENV + 4]; /* room for a few the server adds */
	size_t envc;
	int fds[3];
};

/* Send argv (and envp, if not NULL) with this process's descriptors 0-2. */
int cairn_rcmd_send(int sock, int argc, char *const *argv, char *const *envp);

/* Read a request up to RUN: at least one argument and the three descriptors.
 * keep_env (may be NULL: keep none) decides which ENV entries to keep. Returns
 * 0, -1 on a broken or oversized request (4 MiB in all). */
int cairn_rcmd_recv(int sock, struct cairn_rcmd *r, bool (*keep_env)(const char *entry));
void cairn_rcmd_free(struct cairn_rcmd *r);

/* Exit the way a waited-for process did: the same code, or death by the same signal. */
int cairn_rcmd_exit_like(int status);

#endif
