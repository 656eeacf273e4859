/* The words of a sandbox request, shared by the --sandbox option
 * ("full,memory=4G") and the annotation ("# sandbox: full memory=4G"): a mode
 * and the per-job limits, which may only lower the admin's. */
#ifndef CAIRN_SANDBOX_REQUEST_H
#define CAIRN_SANDBOX_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "spec.h"

struct cairn_sandbox_request {
	enum cairn_sandbox mode; /* FULL unless "pid" was given */
	bool mode_given;
	struct cairn_limits limits;
};

/* One word (not NUL-terminated): "full", "pid", "memory=SIZE", "pids=N" or
 * "cpus=N". Returns 0, or -1 with a message naming the word and the fix. */
int cairn_sandbox_request_word(struct cairn_sandbox_request *r, const char *w, size_t n, char *err,
                               size_t errlen);

/* After the last word: limits need the full mode. */
int cairn_sandbox_request_check(const struct cairn_sandbox_request *r, char *err, size_t errlen);

/* The limits a job runs with: what it asked for, else the admin's. Returns -1
 * with a message (the user's mistake) if it asked for more than the admin allows. */
int cairn_limits_effective(const struct cairn_config *cfg, const struct cairn_limits *asked,
                           struct cairn_limits *out, char *err, size_t errlen);

#endif
