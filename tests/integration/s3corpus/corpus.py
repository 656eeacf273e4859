#!/usr/bin/env python3
"""Trees and listings for test_s3_corpus.sh.

  corpus.py gen-corpus DIR
      The odd cases, one top-level directory per kind: files/ (empty files,
      sizes around the S3 backend's buffer, part and multipart limits), deep/
      (40 levels), chain/ (256 levels, Cairn's limit), names/ (UTF-8, long,
      control characters, shell metacharacters), longpath/ (a path of exactly
      4095 bytes, Cairn's limit), links/ (relative, absolute, dangling, to
      directories, loops, a 4095-byte target), modes/ (files and directories,
      setuid/setgid, a read-only directory with files in it), times/ (mtimes
      before 1970, after 2038, to the nanosecond) and skipped/ (a FIFO and a
      socket, which Cairn never stores).
  corpus.py gen-many DIR N
      N small files of 1-4 KiB of random bytes, 100 per directory.
  corpus.py gen-long DIR LEN
      A file whose path below DIR is exactly LEN bytes (directories of 255-byte
      names), made with descriptors so that LEN may exceed PATH_MAX.
  corpus.py list [--strip-sxid] DIR
      One line per entry below DIR (not DIR itself), sorted by path, fields
      separated by tabs: top-level name, path (Python bytes repr), type
      (f d l p s c b), permission bits in octal ("-" for symlinks), mtime in
      nanoseconds, size and sha256 (files), target (symlinks). --strip-sxid
      clears the setuid and setgid bits, as Cairn does. Walks with descriptors,
      so paths longer than PATH_MAX are fine; follows no symlink.
"""
import hashlib
import os
import random
import socket
import stat
import sys

KIB = 1024
MIB = 1024 * KIB
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def put(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def long_path(top, length):
    """Create under top a file whose path relative to top is exactly length bytes."""
    fd = os.open(top, DIR_FLAGS)
    left = length
    i = 0
    while left > 255:  # directories of up to 255 bytes, at least 1 byte left for the file
        n = min(255, left - 2)
        name = ("%03d" % i) + "p" * (n - 3)
        os.mkdir(name, 0o755, dir_fd=fd)
        nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
        os.close(fd)
        fd = nfd
        left -= n + 1
        i += 1
    nfd = os.open("f" * left, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
    os.write(nfd, b"at the end of a %d-byte path\n" % length)
    os.close(nfd)
    os.close(fd)


def gen_files(d):
    os.mkdir(d)
    for i in range(1, 4):
        put(f"{d}/empty-{i}", b"")
    for size in (1, 4095, 4096, 4097, MIB - 1, MIB, MIB + 1, 16 * MIB + 1, 64 * MIB, 64 * MIB + 1):
        put(f"{d}/size-{size}", os.urandom(size))
    dup = os.urandom(10 * KIB)
    put(f"{d}/dup-a", dup)
    put(f"{d}/dup-b", dup)
    put(f"{d}/zeros-1MiB", bytes(MIB))
    put(f"{d}/text.md", "héllo wörld 日本\n".encode())


def gen_deep(d):
    p = d
    for level in range(1, 41):
        p = f"{p}/level-{level:02d}"
        os.makedirs(p)
        put(f"{p}/at-level-{level:02d}", b"level %d\n" % level)
    put(f"{p}/empty-at-the-bottom", b"")


def gen_chain(d):
    # d is level 1 below the volume root; 255 more make 256 levels, Cairn's limit.
    p = d + "/d" * 255
    os.makedirs(p)
    put(f"{p}/bottom", b"256 levels down\n")


NAMES = [
    "caf\u00e9 (NFC)",
    "cafe\u0301 (NFD)",
    "\u65e5\u672c\u8a9e\u306e\u30d5\u30a1\u30a4\u30eb\u540d.txt",
    "\U0001f389 party \U0001f680",
    "with space",
    " leading space",
    "trailing space ",
    "it's",
    'say "hi"',
    "back\\slash",
    "new\nline",
    "tab\tchar",
    "cr\rchar",
    "ctrl\x01char",
    "del\x7fchar",
    "-dash-first",
    ".hidden",
    "...",
    "..x",
    "semi;colon & amp | pipe",
    "star*question?",
    "$HOME $(echo x) `id`",
    "percent%s%n",
    "<angle>{brace}[bracket]",
    "#hash",
    "~tilde",
    "=",
    "README",
    "Readme",
    "\u03a9\u2248\u00e7\u221a\u222b",
    "\u05e2\u05d1\u05e8\u05d9\u05ea",
    "zero\u200bwidth",
    "bom\ufeff",
    "a" * 255,
    "\u8a9e" * 85,  # 255 bytes of 3-byte characters
    "\U0001f389" * 63 + "abc",  # 252 bytes of 4-byte characters, 255 in all
    "\u00e9" * 127 + "x",  # 255 bytes of 2-byte characters
]


def gen_names(d):
    os.mkdir(d)
    for n in NAMES:
        assert len(n.encode()) <= 255, n
        put(f"{d}/{n}", n.encode() + b"\n")
    sub = f"{d}/\u76ee\u5f55 with space"
    os.mkdir(sub)
    put(f"{sub}/\u6587\u4ef6", b"in a directory with a UTF-8 name\n")
    sub = f"{d}/" + "D" * 255
    os.mkdir(sub)
    put(f"{sub}/" + "F" * 255, b"255 bytes in a 255-byte directory\n")


def gen_links(d):
    os.mkdir(d)
    links = {
        "rel-file": "../files/size-1",
        "rel-dir": "../deep",
        "abs-file": "/etc/hostname",
        "abs-dir": "/usr",
        "dangling": "does/not/exist",
        "dangling-abs": "/nonexistent/cairn-corpus",
        "self": ".",
        "parent": "..",
        "loop-a": "loop-b",
        "loop-b": "loop-a",
        "utf8": "../names/\u65e5\u672c\u8a9e\u306e\u30d5\u30a1\u30a4\u30eb\u540d.txt",
        "odd-target": "a target with spaces\nand a newline\tand a tab",
        "long-target": "L" * 4095,
        "\U0001f517 link with UTF-8 name": "../names/it's",
    }
    for name, target in links.items():
        os.symlink(target, f"{d}/{name}")
    os.utime(f"{d}/rel-file", ns=(0, 1_234_567_890_123_456_789), follow_symlinks=False)


def gen_modes(d):
    os.mkdir(d)
    for m in (0o600, 0o644, 0o755, 0o444, 0o400, 0o700, 0o777, 0o640, 0o4755, 0o2755, 0o6700):
        put(f"{d}/f{m:04o}", b"mode %o\n" % m, m)
    for m in (0o700, 0o755, 0o711, 0o750, 0o2775):
        sub = f"{d}/d{m:04o}"
        os.mkdir(sub)
        put(f"{sub}/inside", b"in a %o directory\n" % m)
        os.chmod(sub, m)
    for m in (0o700, 0o755):
        os.mkdir(f"{d}/empty-{m:04o}")
        os.chmod(f"{d}/empty-{m:04o}", m)
    ro = f"{d}/readonly-0555"
    os.mkdir(ro)
    put(f"{ro}/file-0644", b"writable file in a read-only directory\n")
    put(f"{ro}/file-0444", b"read-only file in a read-only directory\n", 0o444)
    os.symlink("file-0644", f"{ro}/link")
    os.mkdir(f"{ro}/sub-0555")
    put(f"{ro}/sub-0555/deeper", b"two read-only levels down\n")
    os.chmod(f"{ro}/sub-0555", 0o555)
    os.chmod(ro, 0o555)


def gen_times(d):
    os.mkdir(d)
    times = {
        "before-1970": -1_500_000_000,
        "epoch": 0,
        "epoch-plus-1ns": 1,
        "all-nines-ns": 1_700_000_000_999_999_999,
        "after-2038": 2_147_483_648_000_000_001,
        "year-2100": 4_102_444_800_123_456_789,
    }
    for name, t in times.items():
        put(f"{d}/{name}", name.encode() + b"\n")
        os.utime(f"{d}/{name}", ns=(0, t))
    os.symlink("epoch", f"{d}/old-link")
    os.utime(f"{d}/old-link", ns=(0, 86_400_000_000_007), follow_symlinks=False)
    os.mkdir(f"{d}/old-dir")
    put(f"{d}/old-dir/inside", b"x\n")
    os.utime(f"{d}/old-dir", ns=(0, 1_000_000_000_500_000_000))


def gen_skipped(d):
    os.mkdir(d)
    put(f"{d}/regular", b"kept\n")
    os.mkfifo(f"{d}/fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(f"{d}/socket")
    s.close()


def gen_corpus(top):
    gen_files(f"{top}/files")
    gen_deep(f"{top}/deep")
    gen_chain(f"{top}/chain")
    gen_names(f"{top}/names")
    os.mkdir(f"{top}/longpath")
    long_path(f"{top}/longpath", 4095 - len("longpath/"))
    gen_links(f"{top}/links")
    gen_times(f"{top}/times")
    gen_skipped(f"{top}/skipped")
    gen_modes(f"{top}/modes")  # last: its read-only directories


def gen_many(top, n):
    rnd = random.Random(20000)
    for i in range(n):
        d = f"{top}/d{i // 100:03d}"
        if i % 100 == 0:
            os.mkdir(d)
        put(f"{d}/f{i % 100:02d}", rnd.randbytes(rnd.randint(KIB, 4 * KIB)))


def sha256_fd(fd):
    h = hashlib.sha256()
    while True:
        b = os.read(fd, 4 * MIB)
        if not b:
            return h.hexdigest()
        h.update(b)


TYPES = [
    (stat.S_ISREG, "f"),
    (stat.S_ISDIR, "d"),
    (stat.S_ISLNK, "l"),
    (stat.S_ISFIFO, "p"),
    (stat.S_ISSOCK, "s"),
    (stat.S_ISCHR, "c"),
    (stat.S_ISBLK, "b"),
]


def walk(dfd, rel, strip, out):
    for name in sorted(os.fsencode(n) for n in os.listdir(dfd)):
        path = rel + b"/" + name if rel else name
        st = os.lstat(name, dir_fd=dfd)
        t = next((c for f, c in TYPES if f(st.st_mode)), "?")
        mode = stat.S_IMODE(st.st_mode) & (~0o6000 if strip else 0o7777)
        size = sha = target = "-"
        if t == "f":
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            try:
                sha = sha256_fd(fd)
            finally:
                os.close(fd)
            size = str(st.st_size)
        elif t == "l":
            target = repr(os.readlink(name, dir_fd=dfd))
        top = path.split(b"/")[0].decode("utf-8", "backslashreplace")
        out.write(
            "\t".join(
                [
                    top,
                    repr(path),
                    t,
                    "-" if t == "l" else "%04o" % mode,
                    str(st.st_mtime_ns),
                    size,
                    sha,
                    target,
                ]
            )
            + "\n"
        )
        if t == "d":
            sub = os.open(name, DIR_FLAGS, dir_fd=dfd)
            try:
                walk(sub, path, strip, out)
            finally:
                os.close(sub)


def main(argv):
    if len(argv) == 3 and argv[1] == "gen-corpus":
        gen_corpus(argv[2])
    elif len(argv) == 4 and argv[1] == "gen-many":
        gen_many(argv[2], int(argv[3]))
    elif len(argv) == 4 and argv[1] == "gen-long":
        long_path(argv[2], int(argv[3]))
    elif len(argv) in (3, 4) and argv[1] == "list":
        strip = argv[2] == "--strip-sxid"
        if len(argv) == 4 and not strip:
            sys.exit("corpus.py list [--strip-sxid] DIR")
        fd = os.open(argv[-1], DIR_FLAGS)
        walk(fd, b"", strip, sys.stdout)
        os.close(fd)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
