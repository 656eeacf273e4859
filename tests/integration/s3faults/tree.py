#!/usr/bin/env python3
"""Test trees for test_s3_faults.sh, reproducible from a seed.

  tree.py base DIR SEED
      A new tree: ~300 small files (1-64 KiB) in 10 directories, a few 1-5 MiB
      files, one ~80 MiB file (multipart upload, ranged GETs), empty files, an
      empty and a nested directory, a relative and a dangling absolute symlink.
  tree.py mutate PREV NEW SEED K APPLY
      NEW: a copy of PREV (hard links) with changes: some small files rewritten,
      deleted and added, a medium file rewritten, the symlink pointed elsewhere,
      and a new ~66 MiB file new-big-K.bin (the one of an earlier round, if any,
      removed). APPLY: a sh script that makes the same changes to ./d, copying
      from NEW; run it as the volume's user in the directory where d is mounted.

Files are 0644 and directories 0755, so that any user can copy them.
"""
import os
import random
import shlex
import subprocess
import sys

KIB = 1024
MIB = 1024 * KIB


def write(path, data):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)  # never write through a hard link into PREV
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)


def base(root, seed):
    rng = random.Random("base-%s" % seed)
    os.makedirs(root, mode=0o755)
    for i in range(300):
        write(os.path.join(root, "small/d%02d/f%03d.dat" % (i % 10, i)),
              rng.randbytes(rng.randint(1 * KIB, 64 * KIB)))
    for i in range(4):
        write(os.path.join(root, "medium/m%d.bin" % i),
              rng.randbytes(rng.randint(1 * MIB, 5 * MIB)))
    write(os.path.join(root, "big.bin"), rng.randbytes(80 * MIB + 777))
    for p in ("empty-1", "small/d03/empty-2", "medium/empty-3"):
        write(os.path.join(root, p), b"")
    write(os.path.join(root, "deep/a/b/c/file.txt"), b"nested\n")
    os.makedirs(os.path.join(root, "emptydir"), mode=0o755)
    os.symlink("small/d00/f000.dat", os.path.join(root, "link-rel"))
    os.symlink("/nonexistent/cairn-fault-test", os.path.join(root, "link-abs"))
    for d, _subdirs, _files in os.walk(root):
        os.chmod(d, 0o755)


def mutate(prev, new, seed, k, apply_path):
    rng = random.Random("mutate-%s-%s" % (seed, k))
    subprocess.run(["cp", "-al", prev, new], check=True)
    smalls = sorted(
        os.path.relpath(os.path.join(d, f), new)
        for d, _s, fs in os.walk(os.path.join(new, "small"))
        for f in fs if f.endswith(".dat"))
    picked = rng.sample(smalls, 18)
    changed, deleted = picked[:12], picked[12:]
    added = ["small/d%02d/n%d-%d.dat" % (rng.randrange(10), k, i) for i in range(6)]
    medium = "medium/m%d.bin" % rng.randrange(4)
    old_bigs = sorted(f for f in os.listdir(new) if f.startswith("new-big-"))
    big = "new-big-%d.bin" % k
    target = rng.choice(sorted(set(smalls) - set(deleted)))
    lines = ["set -e"]
    for p in deleted:
        os.unlink(os.path.join(new, p))
        lines.append("rm -f -- d/%s" % shlex.quote(p))
    for p in old_bigs:
        os.unlink(os.path.join(new, p))
        lines.append("rm -f -- d/%s" % shlex.quote(p))
    for p in changed + added:
        write(os.path.join(new, p), rng.randbytes(rng.randint(1 * KIB, 64 * KIB)))
    write(os.path.join(new, medium), rng.randbytes(rng.randint(1 * MIB, 5 * MIB)))
    write(os.path.join(new, big), rng.randbytes(66 * MIB + 1000 * k))
    for p in changed + added + [medium, big]:
        lines.append("cp -- %s d/%s" % (shlex.quote(os.path.join(new, p)), shlex.quote(p)))
    os.unlink(os.path.join(new, "link-rel"))
    os.symlink(target, os.path.join(new, "link-rel"))
    lines.append("ln -sfn -- %s d/link-rel" % shlex.quote(target))
    with open(apply_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(apply_path, 0o644)


def main(argv):
    if len(argv) == 4 and argv[1] == "base":
        base(argv[2], argv[3])
    elif len(argv) == 7 and argv[1] == "mutate":
        mutate(argv[2], argv[3], argv[4], int(argv[5]), argv[6])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
