/* Privilege separation: the part that walks and writes a user's tree runs in a
 * child that became the user for good; the root parent only talks to storage
 * and answers the child's framed requests over a socketpair. */
#ifndef CAIRN_WORKER_H
#define CAIRN_WORKER_H

#include "creds.h"
#include "manifest.h"
#include "util.h"

typedef int (*cairn_worker_fn)(int sock, void *arg, struct cairn_err *err);

/* A worker silent this long is killed and the transfer fails. */
#define CAIRN_WORKER_STALL_S 120

/* Fork; the child drops to u and runs child_fn(sock), then reports DONE or ERR.
 * The child keeps only the socket and *tree_fd (the tree it works on; updated to
 * the child's number): every other descriptor of the root process, such as the
 * store's, is closed before the drop. The parent runs serve_fn(sock) which must
 * return when it sees DONE (0) or ERR (-1, message in err, user flag kept).
 * Returns -1 if either side failed. */
int cairn_worker_run(const struct cairn_user *u, int *tree_fd, cairn_worker_fn child_fn,
                     cairn_worker_fn serve_fn, void *arg, struct cairn_err *err);

/* For a serve loop: turn a received ERR frame into err. */
void cairn_worker_error_frame(const char *payload, struct cairn_err *err);

/* The worker's tree for root, in the compact form (manifest_bin.c), as a
 * document of JSON-typed chunks and END: 0, or -1 if the socket failed. */
int cairn_worker_send_tree(int sock, const struct cairn_manifest *m);
/* In the serve loop, after the document's first chunk (first, first_len): the
 * rest of it, decoded into m (freed first, so a second document replaces the
 * first). -1 if it did not arrive (perr empty) or does not decode (perr says
 * why). */
int cairn_worker_recv_tree(int sock, const char *first, size_t first_len, struct cairn_manifest *m,
                           struct cairn_err *perr);

#endif
