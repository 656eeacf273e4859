#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"

/* Like write_all, but a peer that went away is EPIPE, never SIGPIPE: the
 * worker may exit while transfer threads still answer it. */
static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			return write_all(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cairn_wire_send(int fd, char type, const void *buf, size_t len)
{
	unsigned char hdr[5];
	if (len > CAIRN_WIRE_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len & 0xff);
	hdr[2] = (unsigned char)((len >> 8) & 0xff);
	hdr[3] = (unsigned char)((len >> 16) & 0xff);
	hdr[4] = (unsigned char)((len >> 24) & 0xff);
	/* A small frame goes out in one piece, so a peer that reads once (a
	 * script, say) sees the whole of it. */
	if (len <= 512) {
		unsigned char whole[sizeof(hdr) + 512];
		memcpy(whole, hdr, sizeof(hdr));
		if (len)
			memcpy(whole + sizeof(hdr), buf, len);
		return send_all(fd, whole, sizeof(hdr) + len);
	}
	if (send_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	return send_all(fd, buf, len);
}

int cairn_wire_send_str(int fd, char type, const char *s)
{
	return cairn_wire_send(fd, type, s, strlen(s));
}

ssize_t cairn_sendmsg_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

int cairn_wire_send_fd(int sock, char type, const char *s, int fd)
{
	size_t len = strlen(s);
	unsigned char hdr[5] = {
	    (unsigned char)type, (unsigned char)(len & 0xff), (unsigned char)((len >> 8) & 0xff),
	    (unsigned char)((len >> 16) & 0xff), (unsigned char)((len >> 24) & 0xff)};
	if (len > CAIRN_WIRE_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	ssize_t n = cairn_sendmsg_fd(sock, hdr, sizeof(hdr), fd);
	if (n < 0)
		return -1;
	/* The descriptor went with the first byte; the rest is plain data. */
	if ((size_t)n < sizeof(hdr) && send_all(sock, hdr + n, sizeof(hdr) - (size_t)n) < 0)
		return -1;
	return len ? send_all(sock, s, len) : 0;
}

/* Descriptors that came with a frame: the first goes to *passed (if wanted),
 * any other is closed, so a peer cannot make the receiver leak descriptors. */
static void take_fds(struct msghdr *msg, int *passed)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (passed && *passed < 0)
				*passed = fd;
			else
				close(fd);
		}
	}
}

ssize_t cairn_recvmsg_fd(int sock, void *buf, size_t len, int *passed)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf)};
	ssize_t got;
	if (passed)
		*passed = -1;
	do
		got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got >= 0)
		take_fds(&msg, passed);
	return got;
}

int cairn_wire_recv_fd(int sock, char *type, char **buf, size_t *len, size_t *cap, int *passed)
{
	unsigned char hdr[5];
	ssize_t got = cairn_recvmsg_fd(sock, hdr, sizeof(hdr), passed);
	if (got <= 0)
		goto fail;
	if ((size_t)got < sizeof(hdr) && read_full(sock, hdr + got, sizeof(hdr) - (size_t)got) !=
	                                     (ssize_t)(sizeof(hdr) - (size_t)got))
		goto fail;
	size_t n =
	    (size_t)hdr[1] | (size_t)hdr[2] << 8 | (size_t)hdr[3] << 16 | (size_t)hdr[4] << 24;
	if (n > CAIRN_WIRE_MAX) {
		errno = EMSGSIZE;
		goto fail;
	}
	if (!*buf || *cap < n + 1) {
		*cap = n + 1 < 4096 ? 4096 : n + 1;
		*buf = xrealloc(*buf, *cap);
	}
	if (n && read_full(sock, *buf, n) != (ssize_t)n)
		goto fail;
	(*buf)[n] = '\0';
	*type = (char)hdr[0];
	*len = n;
	return 0;
fail:
	if (passed && *passed >= 0) {
		close(*passed);
		*passed = -1;
	}
	return -1;
}

int cairn_wire_recv(int fd, char *type, char **buf, size_t *len, size_t *cap)
{
	return cairn_wire_recv_fd(fd, type, buf, len, cap, NULL);
}

int cairn_wire_send_doc(int fd, const char *doc)
{
	return cairn_wire_send_doc_len(fd, doc, strlen(doc));
}

int cairn_wire_send_doc_len(int fd, const char *doc, size_t len)
{
	size_t off = 0;
	while (off < len) {
		size_t n = len - off > CAIRN_WIRE_MAX ? CAIRN_WIRE_MAX : len - off;
		if (cairn_wire_send(fd, FR_JSON, doc + off, n) < 0)
			return -1;
		off += n;
	}
	return cairn_wire_send(fd, FR_END, NULL, 0);
}

int cairn_wire_recv_doc(int fd, size_t max, char **out, size_t *outlen)
{
	char *buf = NULL, *doc = NULL, type;
	size_t len, cap = 0, total = 0;
	int rv = -1;
	for (;;) {
		if (cairn_wire_recv(fd, &type, &buf, &len, &cap) < 0)
			break;
		if (type == FR_END) {
			rv = 0;
			break;
		}
		if (type != FR_JSON || total + len > max)
			break;
		doc = xrealloc(doc, total + len + 1);
		memcpy(doc + total, buf, len);
		total += len;
	}
	free(buf);
	if (rv < 0) {
		free(doc);
		return -1;
	}
	if (!doc)
		doc = xcalloc(1, 1);
	doc[total] = '\0';
	*out = doc;
	if (outlen)
		*outlen = total;
	return 0;
}

int cairn_wire_recv_doc_rest(int fd, const char *first, size_t first_len, size_t max, char **out,
                             size_t *outlen)
{
	char *rest = NULL;
	size_t rlen = 0;
	if (first_len > max || cairn_wire_recv_doc(fd, max - first_len, &rest, &rlen) < 0)
		return -1;
	char *doc = xrealloc(NULL, first_len + rlen + 1);
	memcpy(doc, first, first_len);
	memcpy(doc + first_len, rest, rlen);
	doc[first_len + rlen] = '\0';
	free(rest);
	*out = doc;
	if (outlen)
		*outlen = first_len + rlen;
	return 0;
}
