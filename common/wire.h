/* Framed messages over the socketpair between the root side and the worker that
 * runs as the job's user. A frame is one type byte, a 32-bit length, the payload. */
#ifndef CAIRN_WIRE_H
#define CAIRN_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
	/* Parallel transfers: the worker hands root an open file with the request. */
	FR_FETCH = 'F', /* worker -> root: "ID SHA256" + its new empty temporary file;
	                   root fills it and answers OK "ID" (or ERR) */
	FR_SEND = 'S',  /* worker -> root: "ID PATH" + the file opened for reading; root
	                   stores it and answers HASH "ID sha256 md5 size" (or ERR) */
	FR_FLUSH = 'W', /* worker -> root: it waits for answers now; send what is grouped */
	FR_OK = 'K',    /* root -> worker: "ID": that file is filled and checked */
	FR_SAME = '=',  /* worker -> root: the tree is exactly the cache state; payload
	                   the counters; no manifest follows */
};

int cairn_wire_send(int fd, char type, const void *buf, size_t len);
/* Send a NUL-free string as one frame. */
int cairn_wire_send_str(int fd, char type, const char *s);
/* One sendmsg of buf with descriptor fd attached (SCM_RIGHTS, no SIGPIPE):
 * the bytes sent, or -1. */
ssize_t cairn_sendmsg_fd(int sock, const void *buf, size_t len, int fd);
/* One recvmsg into buf: the bytes received (0 at EOF), or -1. The first
 * descriptor that came with them goes to *passed (else -1; passed NULL: none is
 * wanted); any other is closed. */
ssize_t cairn_recvmsg_fd(int sock, void *buf, size_t len, int *passed);
/* A string frame carrying one open descriptor (SCM_RIGHTS). */
int cairn_wire_send_fd(int sock, char type, const char *s, int fd);
/* As cairn_wire_recv; a descriptor that came with the frame is put in *passed
 * (else -1). Any further descriptor is closed. */
int cairn_wire_recv_fd(int sock, char *type, char **buf, size_t *len, size_t *cap, int *passed);
/* Receive one frame into *buf (reallocated as needed, NUL-terminated).
 * Returns 0, or -1 on EOF or error. */
int cairn_wire_recv(int fd, char *type, char **buf, size_t *len, size_t *cap);
/* Send a long document (a string, or len bytes) as JSON chunks followed by END. */
int cairn_wire_send_doc(int fd, const char *doc);
int cairn_wire_send_doc_len(int fd, const char *doc, size_t len);
/* Receive JSON chunks until END; *out is NUL-terminated. max bounds the size. */
int cairn_wire_recv_doc(int fd, size_t max, char **out, size_t *len);
/* The same when its first chunk (first, first_len bytes) was already read:
 * *out is the whole document. */
int cairn_wire_recv_doc_rest(int fd, const char *first, size_t first_len, size_t max, char **out,
                             size_t *len);

#endif
