#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "util.h"

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
	if (write_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	return len ? write_all(fd, buf, len) : 0;
}

int cairn_wire_send_str(int fd, char type, const char *s)
{
	return cairn_wire_send(fd, type, s, strlen(s));
}

int cairn_wire_recv(int fd, char *type, char **buf, size_t *len, size_t *cap)
{
	unsigned char hdr[5];
	if (read_full(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return -1;
	size_t n =
	    (size_t)hdr[1] | (size_t)hdr[2] << 8 | (size_t)hdr[3] << 16 | (size_t)hdr[4] << 24;
	if (n > CAIRN_WIRE_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (!*buf || *cap < n + 1) {
		*cap = n + 1 < 4096 ? 4096 : n + 1;
		*buf = xrealloc(*buf, *cap);
	}
	if (n && read_full(fd, *buf, n) != (ssize_t)n)
		return -1;
	(*buf)[n] = '\0';
	*type = (char)hdr[0];
	*len = n;
	return 0;
}

int cairn_wire_send_doc(int fd, const char *doc)
{
	size_t len = strlen(doc), off = 0;
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
