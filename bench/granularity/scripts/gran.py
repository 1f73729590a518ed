#!/usr/bin/env python3
"""Fill a mounted test volume from /usr, or apply a "week" of changes to it.

  gran.py fill MNT FRACTION          copy /usr/lib, /usr/share files in path order
                                     until the volume is FRACTION full (df used)
  gran.py mutate MNT FRACTION SEED LOG
                                     pick random files until FRACTION of the used
                                     bytes are chosen; rewrite half (by bytes) in
                                     place, half write-new+fsync+rename.  Every byte
                                     is changed (b -> b+1 mod 256).  LOG gets one
                                     line per file and a summary.
"""
import os, random, shutil, sys

ROT = bytes((i + 1) & 255 for i in range(256))

def used(mnt):
    s = os.statvfs(mnt)
    return (s.f_blocks - s.f_bfree) * s.f_frsize, s.f_blocks * s.f_frsize

def walk(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            out.append(p)
    return out

def fill(mnt, frac):
    frac = float(frac)
    n = 0
    for src in walk("/usr/lib") + walk("/usr/share"):
        u, t = used(mnt)
        if u >= frac * t:
            break
        try:
            sz = os.path.getsize(src)
        except OSError:
            continue
        if u + sz > (frac + 0.01) * t:   # don't overshoot by a big file
            continue
        dst = os.path.join(mnt, src.lstrip("/"))
        try:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            n += 1
        except OSError as e:
            print("skip", src, e, file=sys.stderr)
    u, t = used(mnt)
    print(f"fill: {n} files, used {u} of {t} bytes ({100*u/t:.1f}%)")

def mutate(mnt, frac, seed, log):
    frac = float(frac)
    u, t = used(mnt)
    target = frac * u
    files = walk(mnt)
    rnd = random.Random(int(seed))
    rnd.shuffle(files)
    chosen, tot = [], 0
    for p in files:
        sz = os.path.getsize(p)
        # no single file above 1/8 of the target, so both halves are mixes
        if sz == 0 or sz > target / 8 or tot + sz > target * 1.002:
            continue
        chosen.append((p, sz)); tot += sz
        if tot >= target * 0.998:
            break
    # Split the chosen files into two halves of (nearly) equal bytes: greedy,
    # largest first, into the lighter half; then apply in the random order.
    half, a, b = {}, 0, 0
    for p, sz in sorted(chosen, key=lambda x: -x[1]):
        if a <= b: half[p] = "inplace"; a += sz
        else: half[p] = "rename"; b += sz
    only = os.environ.get("MODE", "mixed")   # MODE=inplace|rename: all one way
    if only != "mixed":
        half = {p: only for p in half}
    inplace = rename = 0
    with open(log, "w") as L:
        for p, sz in chosen:
            with open(p, "rb") as f:
                data = f.read().translate(ROT)
            if half[p] == "inplace":
                with open(p, "r+b") as f:   # overwrite, no truncation (dd conv=notrunc)
                    f.write(data); f.flush(); os.fsync(f.fileno())
                inplace += sz; how = "inplace"
            else:
                tmp = p + ".~new"
                with open(tmp, "wb") as f:
                    f.write(data); f.flush(); os.fsync(f.fileno())
                os.rename(tmp, p)
                rename += sz; how = "rename"
            L.write(f"{how}\t{sz}\t{p}\n")
        L.write(f"# used_before {u} target {int(target)} files {len(chosen)} "
                f"changed_bytes {tot} inplace {inplace} rename {rename}\n")
    print(f"mutate: {len(chosen)} files, changed {tot} bytes "
          f"({100*tot/u:.2f}% of used {u}); inplace {inplace}, rename {rename}")

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "fill": fill(*sys.argv[2:4])
    elif cmd == "mutate": mutate(*sys.argv[2:6])
    else: sys.exit(__doc__)
