#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 proxy for S3 tests (Python 3 standard library only).

Sits between an S3 client and a real server (Ceph RGW) and forwards every
request byte for byte, Host header included, so SigV4 signatures stay valid.
Per request it picks one action, from a deterministic plan or at random:

  pass         forward, relay the answer unchanged
  500 502 503  answer that status with an S3 XML error body, without forwarding
  slowdown     answer 503 with <Code>SlowDown</Code>, without forwarding
  429          answer 429 with <Code>TooManyRequests</Code>, without forwarding
  403 404      answer AccessDenied or NoSuchKey (not transient), without forwarding
  reset        read the request, then reset the connection (RST), not forwarded
  lost         forward, drop the server's answer, answer 500 (the server acted)
  reset_after  forward, drop the server's answer, reset the connection
  reset_mid    forward, send the headers and part of the body, then RST
  truncate     forward, send the headers and part of the body (the Content-Length
               promises more), then close cleanly (FIN)
  slow         forward, wait `delay` seconds before sending the headers
  trickle      forward, send the first `trickle_bytes` of the body in small
               pieces with pauses, then the rest at full speed

reset_mid, truncate and trickle need a body of at least 2 bytes; on other
answers (HEAD, PUT, empty bodies) they act as pass and are counted as
"<fault>-skipped". 500/502/503/slowdown/429 come in bursts: the same request
(same method, target and Range) gets the same answer again on up to `burst`-1
of its next attempts. `outage` adds global bursts: with probability p per
request every request gets 503 for `secs` seconds.

Configuration is a JSON control file, read again whenever it changes (write a
new file and rename it over the old one):

  {"seed": 7,                       # random choices derive from seed + request
                                    # (a request's probabilities: every matching
                                    # entry of faults and rules, later ones winning)
   "faults": {"*": {"503": 0.02},   # per-method probabilities; "*" for all
              "GET": {"trickle": 0.05}},
   "rules": [{"methods": ["GET"], "match": "/objects/",   # and per method and
              "faults": {"reset_mid": 0.05, "truncate": 0.05}}],  # target regex
   "plan": ["GET:503", "PUT:lost",  # consumed first, in arrival order, by the
            {"method": "GET", "match": "/manifests/", "fault": "reset_mid"}],
                                    # next request of that method (any: "503")
                                    # and target (regex "match"), before any
                                    # random fault
   "ordered": false,                # true: only the plan's first entry may match
   "match": "/volumes/",            # regex on the target: only these get faults
   "exclude": "/\\.cairn-probe/",    # regex on the target: these never do
   "burst": 3, "delay": 0.5,
   "scale": 1.0,                    # multiplies every probability of faults/rules
   "trickle_bytes": 262144, "trickle_piece": 8192, "trickle_pause": 0.005,
   "outage": {"p": 0.0, "secs": 1.0}}

A missing file or {} is pass-through. Random choices are derived from the seed,
the request (method, target, Range) and how often that request was seen, so a
seed reproduces the same faults as far as the client repeats its requests.

Control endpoints on the proxy itself (never forwarded):
  GET /__faults/stats          counters {"METHOD fault": n}, as JSON
  GET /__faults/stats?reset=1  the same, then zeroes them

Usage: proxy.py --upstream HOST:PORT [--listen HOST:PORT] [--control FILE]
                [--log FILE]
Prints the listening port on the first line of stdout.
"""
import argparse
import hashlib
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time

IO = 256 * 1024
HEAD_MAX = 64 * 1024

ERRORS = {
    "500": (500, "Internal Server Error", "InternalError",
            "We encountered an internal error. Please try again."),
    "502": (502, "Bad Gateway", "BadGateway", "Injected bad gateway."),
    "503": (503, "Service Unavailable", "ServiceUnavailable",
            "Please reduce your request rate."),
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "429": (429, "Too Many Requests", "TooManyRequests", "Please reduce your request rate."),
    "403": (403, "Forbidden", "AccessDenied", "Access Denied."),
    "404": (404, "Not Found", "NoSuchKey", "The specified key does not exist."),
}
BURSTY = {"500", "502", "503", "slowdown", "429"}
BODY_FAULTS = {"reset_mid", "truncate", "trickle"}
ALL = set(ERRORS) | BODY_FAULTS | {"pass", "reset", "lost", "reset_after", "slow"}


class Closed(Exception):
    """The peer closed the connection (or sent garbage)."""


class Reader:
    """Buffered reads from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(IO)
        if not data:
            raise Closed("eof")
        self.buf += data

    def head(self):
        """Bytes up to and including the blank line; None at a clean EOF."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > HEAD_MAX:
                raise Closed("header too long")
            try:
                self._fill()
            except Closed:
                if not self.buf:
                    return None
                raise
        i = self.buf.index(b"\r\n\r\n") + 4
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def some(self, n):
        """Up to n bytes (at least 1)."""
        if not self.buf:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def exact(self, n):
        parts = []
        while n > 0:
            b = self.some(min(n, IO))
            parts.append(b)
            n -= len(b)
        return b"".join(parts)

    def until_eof(self):
        parts = [self.buf]
        self.buf = b""
        while True:
            d = self.sock.recv(IO)
            if not d:
                return b"".join(parts)
            parts.append(d)


def parse_head(raw):
    lines = raw[:-4].split(b"\r\n")
    first = lines[0].decode("latin-1").split(" ", 2)
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return first, hdrs


def chunked_raw(rd):
    """The raw bytes of a chunked body, trailer included."""
    parts = []
    while True:
        ln = rd.line()
        parts.append(ln)
        size = int(ln.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:
                t = rd.line()
                parts.append(t)
                if t == b"\r\n":
                    return b"".join(parts)
        parts.append(rd.exact(size + 2))


def rst(sock):
    """Close with a TCP reset."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def fin(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Config:
    def __init__(self, d):
        self.seed = d.get("seed", 0)
        # rules: [(methods or None for all, compiled regex or None, {fault: p})]
        self.rules = []
        for m, table in (d.get("faults") or {}).items():
            self.rules.append((None if m == "*" else {m.upper()}, None, dict(table)))
        for r in d.get("rules") or []:
            ms = r.get("methods") or "*"
            ms = None if ms == "*" else {x.upper() for x in ms}
            rx = re.compile(r["match"]) if r.get("match") else None
            self.rules.append((ms, rx, dict(r.get("faults") or {})))
        for _m, _rx, table in self.rules:
            for f, p in table.items():
                if f not in ALL:
                    raise ValueError("unknown fault %r" % f)
                if not 0 <= float(p) <= 1:
                    raise ValueError("probability of %s out of [0,1]" % f)
        # plan: [(method or None, compiled regex or None, fault)]
        self.plan = []
        for x in d.get("plan") or []:
            if isinstance(x, dict):
                m, rx, f = x.get("method"), x.get("match"), x.get("fault", "")
            else:
                m, _, f = str(x).rpartition(":")
                rx = None
            if f not in ALL:
                raise ValueError("unknown fault in plan: %r" % (x,))
            self.plan.append((m.upper() if m and m != "*" else None,
                              re.compile(rx) if rx else None, f))
        self.ordered = bool(d.get("ordered", False))
        self.match = re.compile(d["match"]) if d.get("match") else None
        self.exclude = re.compile(d["exclude"]) if d.get("exclude") else None
        self.burst = max(1, int(d.get("burst", 1)))
        self.scale = float(d.get("scale", 1.0))
        self.delay = float(d.get("delay", 0.5))
        self.trickle_bytes = int(d.get("trickle_bytes", 256 * 1024))
        self.trickle_piece = max(1, int(d.get("trickle_piece", 8192)))
        self.trickle_pause = float(d.get("trickle_pause", 0.005))
        o = d.get("outage") or {}
        self.outage_p = float(o.get("p", 0))
        self.outage_secs = float(o.get("secs", 1.0))

    def table(self, method, target):
        """Fault probabilities for one request: every matching rule, later ones
        overriding earlier ones."""
        t = {}
        for ms, rx, table in self.rules:
            if (ms is None or method in ms) and (rx is None or rx.search(target)):
                t.update(table)
        return t


class Proxy:
    def __init__(self, upstream, control, log):
        self.upstream = upstream
        self.control = control
        self.lock = threading.Lock()
        self.logf = open(log, "a", buffering=1) if log else None
        self.stamp = None
        self.cfg = Config({})
        self.plan = []
        self.seen = {}      # request identity -> attempts seen
        self.bursts = {}    # request identity -> (fault, answers left)
        self.outage_until = 0.0
        self.stats = {}
        self.reload()

    # ------------------------------------------------------------ config
    def reload(self):
        """Read the control file again if it changed (call with the lock held)."""
        if not self.control:
            return
        try:
            st = os.stat(self.control)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self.stamp:
            return
        try:
            if stamp is None:
                cfg = Config({})
            else:
                with open(self.control) as f:
                    cfg = Config(json.load(f))
        except (OSError, ValueError) as e:
            self.log("control file %s ignored: %s" % (self.control, e))
            return  # keep the old one; retried when the file changes again
        self.stamp = stamp
        self.cfg = cfg
        self.plan = list(cfg.plan)
        self.seen.clear()
        self.bursts.clear()
        self.outage_until = 0.0
        self.log("config: %s" % json.dumps({"seed": cfg.seed, "plan": [
                                                 [m or "*", rx.pattern if rx else "", f]
                                                 for m, rx, f in cfg.plan],
                                             "burst": cfg.burst, "rules": [
                                                 [sorted(ms) if ms else "*",
                                                  rx.pattern if rx else "", t]
                                                 for ms, rx, t in cfg.rules]}))

    def log(self, msg):
        if self.logf:
            self.logf.write("%.3f %s\n" % (time.time(), msg))

    def count(self, method, fault):
        k = "%s %s" % (method, fault)
        self.stats[k] = self.stats.get(k, 0) + 1

    def decide(self, method, target, rng_hdr):
        """The action for one request (and the rng that shapes it)."""
        with self.lock:
            self.reload()
            cfg = self.cfg
            ident = "%s %s %s" % (method, target, rng_hdr)
            n = self.seen.get(ident, 0)
            self.seen[ident] = n + 1
            h = hashlib.sha256(("%s|%s|%d" % (cfg.seed, ident, n)).encode()).digest()
            rng = random.Random(int.from_bytes(h[:8], "big"))
            if (cfg.match and not cfg.match.search(target)) or (
                    cfg.exclude and cfg.exclude.search(target)):
                return "pass", rng
            for i, (m, rx, f) in enumerate(self.plan):
                if (m is None or m == method) and (rx is None or rx.search(target)):
                    del self.plan[i]
                    return f, rng
                if cfg.ordered:
                    break  # only the first entry may match
            now = time.monotonic()
            if now < self.outage_until:
                return "503", rng
            if cfg.outage_p and rng.random() < cfg.outage_p:
                self.outage_until = now + cfg.outage_secs
                return "503", rng
            b = self.bursts.get(ident)
            if b:
                fault, left = b
                if left > 1:
                    self.bursts[ident] = (fault, left - 1)
                else:
                    del self.bursts[ident]
                return fault, rng
            x = rng.random()
            acc = 0.0
            for fault, p in sorted(cfg.table(method, target).items()):
                acc += min(1.0, float(p) * cfg.scale)
                if x < acc:
                    if fault in BURSTY and cfg.burst > 1:
                        extra = rng.randint(0, cfg.burst - 1)
                        if extra:
                            self.bursts[ident] = (fault, extra)
                    return fault, rng
            return "pass", rng

    # ------------------------------------------------------------ serving
    def serve(self, listen):
        host, _, port = listen.rpartition(":")
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host or "127.0.0.1", int(port)))
        srv.listen(128)
        print(srv.getsockname()[1], flush=True)
        n = 0
        while True:
            conn, _ = srv.accept()
            n += 1
            t = threading.Thread(target=self.client, args=(conn, n), daemon=True)
            t.start()

    def connect_up(self):
        s = socket.create_connection(self.upstream, timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def client(self, conn, cid):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(300)
        rd = Reader(conn)
        up = None
        try:
            while True:
                raw = rd.head()
                if raw is None:
                    break
                (method, target, _ver), hdrs = parse_head(raw)
                method = method.upper()
                if "content-length" in hdrs:
                    body = rd.exact(int(hdrs["content-length"]))
                elif "chunked" in hdrs.get("transfer-encoding", "").lower():
                    body = chunked_raw(rd)
                else:
                    body = b""
                if target.startswith("/__faults/"):
                    self.control_answer(conn, target)
                    continue
                fault, rng = self.decide(method, target, hdrs.get("range", "-"))
                with self.lock:
                    self.count(method, fault)
                    self.log("c%d %s %s %s -> %s" % (cid, method, target,
                                                     hdrs.get("range", ""), fault))
                keep, up = self.one(conn, up, method, raw, body, fault, rng)
                if not keep or hdrs.get("connection", "").lower() == "close":
                    return
        except (Closed, OSError, ValueError) as e:
            with self.lock:
                self.log("c%d closed: %s" % (cid, e))
        finally:
            if up is not None:
                up.close()
            try:
                conn.close()
            except OSError:
                pass

    def control_answer(self, conn, target):
        with self.lock:
            data = json.dumps(self.stats, sort_keys=True).encode() + b"\n"
            if "reset=1" in target:
                self.stats = {}
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(data) + data)

    def error_answer(self, conn, method, fault):
        code, reason, s3code, msg = ERRORS[fault]
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                "<Message>%s (injected by the fault proxy)</Message>"
                "<RequestId>fault-proxy</RequestId></Error>" % (s3code, msg)).encode()
        head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
                "Content-Length: %d\r\n" % (code, reason, len(body)))
        if fault in ("slowdown", "503", "429"):
            head += "Retry-After: 1\r\n"
        conn.sendall(head.encode() + b"\r\n" + (b"" if method == "HEAD" else body))

    def one(self, conn, up, method, raw, body, fault, rng):
        """Handle one request. Returns (keep the client connection, upstream socket)."""
        if fault in ERRORS:
            self.error_answer(conn, method, fault)
            return True, up
        if fault == "reset":
            rst(conn)
            return False, up
        # Forward. A kept-alive upstream connection may have been closed by the
        # server meanwhile: then try once more on a new one.
        for attempt in (1, 2):
            fresh = up is None
            if fresh:
                up = self.connect_up()
            urd = Reader(up)
            try:
                up.sendall(raw + body)
                shead = urd.head()
                if shead is None:
                    raise Closed("upstream closed before answering")
                break
            except (Closed, OSError):
                up.close()
                up = None
                if fresh or attempt == 2:
                    raise
        (_ver, status, *_r), uh = parse_head(shead)
        status = int(status)
        while 100 <= status < 200:  # interim answers (100 Continue) go through
            conn.sendall(shead)
            shead = urd.head()
            if shead is None:
                raise Closed("upstream closed after an interim answer")
            (_ver, status, *_r), uh = parse_head(shead)
            status = int(status)
        # Framing of the answer's body.
        if method == "HEAD" or status in (204, 304):
            length, mode = 0, "none"
        elif "chunked" in uh.get("transfer-encoding", "").lower():
            length, mode = None, "chunked"
        elif "content-length" in uh:
            length, mode = int(uh["content-length"]), "length"
        else:
            length, mode = None, "eof"
        up_close = mode == "eof" or uh.get("connection", "").lower() == "close"

        if fault in ("lost", "reset_after"):
            self.drain(urd, mode, length)
            if up_close:
                up.close()
                up = None
            if fault == "reset_after":
                rst(conn)
                return False, up
            self.error_answer(conn, method, "500")
            return True, up

        if fault in BODY_FAULTS and (mode != "length" or length < 2):
            with self.lock:
                self.count(method, fault + "-skipped")
            fault = "pass"
        if fault == "slow":
            time.sleep(self.cfg.delay)

        if fault in ("reset_mid", "truncate"):
            cut = rng.randint(1, length - 1)
            conn.sendall(shead)
            sent = 0
            while sent < cut:
                chunk = urd.some(min(IO, cut - sent))
                conn.sendall(chunk)
                sent += len(chunk)
            up.close()  # the rest of the answer is still in it
            if fault == "reset_mid":
                time.sleep(0.01)  # let the client read what was sent
                rst(conn)
            else:
                fin(conn)
            return False, None

        conn.sendall(shead)
        if mode == "length":
            left = length
            if fault == "trickle":
                slow = min(self.cfg.trickle_bytes, left)
                while slow > 0:
                    chunk = urd.some(min(self.cfg.trickle_piece, slow))
                    conn.sendall(chunk)
                    slow -= len(chunk)
                    left -= len(chunk)
                    time.sleep(self.cfg.trickle_pause)
            while left > 0:
                chunk = urd.some(min(IO, left))
                conn.sendall(chunk)
                left -= len(chunk)
        elif mode == "chunked":
            conn.sendall(chunked_raw(urd))
        elif mode == "eof":
            conn.sendall(urd.until_eof())
            up.close()
            fin(conn)
            return False, None
        if up_close:
            up.close()
            up = None
        return True, up

    @staticmethod
    def drain(urd, mode, length):
        if mode == "length":
            urd.exact(length)
        elif mode == "chunked":
            chunked_raw(urd)
        elif mode == "eof":
            urd.until_eof()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the S3 server")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--control", help="JSON control file, read again when it changes")
    ap.add_argument("--log", help="append one line per request to this file")
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    p = Proxy((host, int(port)), a.control, a.log)
    try:
        p.serve(a.listen)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
