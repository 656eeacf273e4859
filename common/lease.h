/* A volume's state in storage: which version is current and who holds the lease.
 * Every change is a new numbered revision, created only if absent: that is the
 * compare-and-swap every backend can do (link() on file://, If-None-Match: * on
 * S3), so acquire, renew, take over, commit and release are all atomic, and a
 * commit is fenced by the lease: it lands only while its holder's epoch is still
 * the current one.
 *
 *   WS/volumes/VOL/state/000000000042   revision 42 (JSON), never rewritten
 *   WS/volumes/VOL/head                 hint: a recent revision number */
#ifndef CAIRN_LEASE_H
#define CAIRN_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define CAIRN_LEASE_LOST (-4)
#define CAIRN_LEASE_TIMEOUT (-5)
#define CAIRN_STATE_KEEP 1000 /* revisions kept; older ones are pruned */

struct cairn_holder {
	char *job, *node, *user;
	int64_t since, expires; /* seconds since the epoch */
	char nonce[33];
};

/* A grant on a volume to a user or a group. */
struct cairn_share {
	bool group; /* name is a group, else a user */
	char *name;
	bool rw;
};

struct cairn_vstate {
	uint64_t rev;   /* 0: the volume has no state yet */
	uint64_t epoch; /* grows with every acquire and take-over */
	unsigned version;
	char *manifest; /* key of the current version's manifest, NULL for version 0 */
	bool held;
	struct cairn_holder holder;
	char *op; /* what made this revision: acquire, takeover, renew, commit, release */
	int64_t time;
	int64_t commit_epoch; /* epoch of the lease under which the version was committed */
	/* Carried from revision to revision. The owner is the user whose job
	 * created the volume (NULL for volumes created before owners were kept). */
	char *owner;
	int64_t owner_uid;          /* -1: unknown */
	int64_t created;            /* 0: unknown */
	char *last_job, *last_user; /* the newest job that took the lease */
	int64_t last_used;
	/* No shares: every member of the workspace may use the volume. */
	struct cairn_share *shares;
	size_t nshares;
	bool shares_invalid; /* unreadable shares: only the owner and admins */
	/* This revision only: what the job that released the lease did (JSON). */
	char *activity;
	char *last_activity; /* carried: the newest such activity */
};

struct cairn_lease {
	char *ws, *vol;
	uint64_t epoch;
	char nonce[33];
	char *job, *node;
};

void cairn_vstate_free(struct cairn_vstate *s);
char *cairn_key_state(const char *ws, const char *vol, uint64_t rev);
int cairn_vstate_load(struct cairn_store *st, const char *ws, const char *vol,
                      struct cairn_vstate *out, struct cairn_err *err);
/* Write next as revision next->rev (must be the current revision + 1).
 * CAIRN_STORE_EXISTS when someone else wrote that revision first. */
int cairn_vstate_put(struct cairn_store *st, const char *ws, const char *vol,
                     const struct cairn_vstate *next, struct cairn_err *err);
/* Revision history from oldest kept to newest (for `cairn show` and checkers). */
int cairn_vstate_history(struct cairn_store *st, const char *ws, const char *vol,
                         struct cairn_vstate **out, size_t *n, struct cairn_err *err);

/* The shares as a JSON list of {"kind", "name", "mode"} (a new reference). */
json_t *cairn_shares_json(const struct cairn_vstate *s);

/* Create the volume's state (revision 1, version 0) owned by owner/owner_uid.
 * CAIRN_STORE_EXISTS if the volume exists already. */
int cairn_vstate_create(struct cairn_store *st, const char *ws, const char *vol, const char *owner,
                        int64_t owner_uid, struct cairn_err *err);
/* Grant (rw or ro) or, with remove, withdraw a share, as a new revision.
 * CAIRN_STORE_NOT_FOUND (a user error in err) if the volume has no state;
 * withdrawing a share that is not there is a user error too. */
int cairn_vstate_share(struct cairn_store *st, const char *ws, const char *vol, bool group,
                       const char *name, bool rw, bool remove, struct cairn_err *err);

/* Keep what a job that held no lease did (a read-only job) as a revision of
 * its own (op "read"). Best effort: a busy volume may make it give up. */
int cairn_vstate_note(struct cairn_store *st, const char *ws, const char *vol, const char *activity,
                      struct cairn_err *err);

bool cairn_lease_is_ours(const struct cairn_vstate *s, const struct cairn_lease *l);
bool cairn_vstate_expired(const struct cairn_vstate *s, int64_t now);

/* Called once when the volume is held by another job and we start to wait. */
typedef void (*cairn_wait_fn)(void *arg, const char *vol, const struct cairn_vstate *s);

/* Acquire the exclusive lease, waiting up to wait_s for a holder to release it or
 * for its lease to expire. The same job on the same node takes its own lease over
 * (a requeued job, a re-run Prolog). CAIRN_LEASE_TIMEOUT (a user-facing err) when
 * the wait ran out. */
int cairn_lease_acquire(struct cairn_store *st, const char *ws, const char *vol, const char *job,
                        const char *node, const char *user, unsigned ttl_s, unsigned wait_s,
                        cairn_wait_fn waiting, void *arg, struct cairn_lease *out,
                        struct cairn_err *err);
/* 0, CAIRN_LEASE_LOST when another holder took over, or -1. */
int cairn_lease_renew(struct cairn_store *st, const struct cairn_lease *l, unsigned ttl_s,
                      struct cairn_err *err);
int cairn_lease_release(struct cairn_store *st, const struct cairn_lease *l, struct cairn_err *err);
/* The same, keeping what the job did (a JSON object, see `cairn history`). */
int cairn_lease_release_noting(struct cairn_store *st, const struct cairn_lease *l,
                               const char *activity, struct cairn_err *err);
void cairn_lease_free(struct cairn_lease *l);

/* Lease as a one-line string and back, for job records. */
char *cairn_lease_encode(const struct cairn_lease *l);
int cairn_lease_decode(const char *s, struct cairn_lease *l);

#endif
