/* Framed messages over the socketpair between the root side and the worker that
 * runs as the job's user. A frame is one type byte, a 32-bit length, the payload. */
#ifndef CAIRN_WIRE_H
#define CAIRN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_WIRE_MAX (1024u * 1024)

enum cairn_frame {
	FR_GET = 'G', /* worker -> root: payload sha256 hex; root answers DATA* END or ERR */
	FR_PUT = 'P', /* worker -> root: payload relative path; then DATA* END; root answers HASH */
	FR_DATA = 'D', /* a chunk of an object */
	FR_END = 'E',  /* end of an object or of a JSON document */
	FR_HASH = 'H', /* root -> worker: "sha256 md5 size" of what it stored */
	FR_JSON = 'J', /* a chunk of a JSON document (state, manifest, summary) */
	FR_ERR = 'X',  /* either way: one error line; the transfer is over */
	FR_DONE = 'Z', /* worker -> root: finished */
};

int cairn_wire_send(int fd, char type, const void *buf, size_t len);
/* Send a NUL-free string as one frame. */
int cairn_wire_send_str(int fd, char type, const char *s);
/* Receive one frame into *buf (reallocated as needed, NUL-terminated).
 * Returns 0, or -1 on EOF or error. */
int cairn_wire_recv(int fd, char *type, char **buf, size_t *len, size_t *cap);
/* Send a long document as JSON chunks followed by END. */
int cairn_wire_send_doc(int fd, const char *doc);
/* Receive JSON chunks until END; *out is NUL-terminated. max bounds the size. */
int cairn_wire_recv_doc(int fd, size_t max, char **out, size_t *len);

#endif
