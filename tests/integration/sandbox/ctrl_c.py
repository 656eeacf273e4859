#!/usr/bin/env python3
"""Run a command on a new terminal, press Ctrl-C once it prints "ready", and
print what it wrote. Usage: ctrl_c.py COMMAND [ARG...]"""
import os
import pty
import select
import sys
import time

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
sent = False
deadline = time.time() + 30
while time.time() < deadline:
    if not sent and b"ready" in out:
        os.write(fd, b"\x03")
        sent = True
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            break
        out += data
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
