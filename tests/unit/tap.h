/* Minimal test reporting shared by the unit tests: one line per check,
 * "ok NAME" or "not ok NAME: why", counted by tests/run. */
#ifndef CAIRN_TAP_H
#define CAIRN_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_failed;

#define CHECK(name, cond)                                                                          \
	do {                                                                                       \
		if (cond) {                                                                        \
			printf("ok %s\n", (name));                                                 \
		} else {                                                                           \
			printf("not ok %s: %s (%s:%d)\n", (name), #cond, __FILE__, __LINE__);      \
			tap_failed++;                                                              \
		}                                                                                  \
	} while (0)

#define CHECK_MSG(name, cond, fmt, ...)                                                            \
	do {                                                                                       \
		if (cond) {                                                                        \
			printf("ok %s\n", (name));                                                 \
		} else {                                                                           \
			printf("not ok %s: " fmt "\n", (name), __VA_ARGS__);                       \
			tap_failed++;                                                              \
		}                                                                                  \
	} while (0)

#define TAP_DONE() return tap_failed ? 1 : 0

#endif
