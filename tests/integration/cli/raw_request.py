"""Send one request to `cairn serve` by hand, as a client that is not cairn.

Usage: raw_request.py SOCKET [--stdout-dir DIR] ARG...
Prints the server's first reply frame as "TYPE BODY".
"""
import os
import socket
import sys


def frame(kind, body=b""):
    return kind.encode() + len(body).to_bytes(4, "little") + body


def recv_exactly(sock, n):
    got = b""
    while len(got) < n:
        part = sock.recv(n - len(got))
        if not part:
            break
        got += part
    return got


def main():
    path, args = sys.argv[1], sys.argv[2:]
    fds = [0, 1, 2]
    if args[:1] == ["--stdout-dir"]:
        fds[1] = os.open(args[1], os.O_RDONLY | os.O_DIRECTORY)
        args = args[2:]
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    for a in args:
        s.sendall(frame("a", a.encode()))
    for kind, fd in zip("012", fds):
        socket.send_fds(s, [frame(kind)], [fd])
    s.sendall(frame("r"))
    head = recv_exactly(s, 5)
    size = int.from_bytes(head[1:5], "little") if len(head) == 5 else 0
    body = recv_exactly(s, size)
    sys.stdout.flush()
    print(head[:1].decode(), body.decode(errors="replace"), flush=True)


main()
