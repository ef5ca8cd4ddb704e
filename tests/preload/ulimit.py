#!/usr/bin/python3
"""Under an address-space limit set before start (`ulimit -v 400000`, as
sandboxes, batch schedulers and CI systems set it), a program runs with
libmpool's pools and libmpool prints nothing; and its VSZ at start is a
few MiB above the program's own, not a 1 TiB reservation.

    tests/preload/ulimit.py PATH/TO/libmpool.so
"""
import os
import subprocess
import sys
import tempfile

LIB = os.path.abspath(sys.argv[1])
PROGRAM = "x = [bytes(600 + i % 400) for i in range(200000)]; print(len(x))"  # past pymalloc: malloc
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish, load_dump  # noqa: E402


with tempfile.TemporaryDirectory() as tmp:
    stats = os.path.join(tmp, "stats.json")
    env = dict(os.environ, LD_PRELOAD=LIB, MPOOL_STATS=stats)
    r = subprocess.run(["/bin/sh", "-c", 'ulimit -v 400000 && exec "$0" -c "$1"',
                        "/usr/bin/python3", PROGRAM], env=env, capture_output=True, text=True,
                       timeout=120)
    check(r.returncode == 0 and r.stdout.strip() == "200000",
          f"python3 under ulimit -v 400000 exited {r.returncode}: {r.stdout!r} {r.stderr[-300:]!r}")
    check(r.stderr == "", f"libmpool wrote to stderr under the limit: {r.stderr[-300:]!r}")
    d = load_dump(stats)
    if d:
        pooled = sum(c["allocs"] for c in d["classes"])
        check(pooled >= 200000, f"pooled allocations {pooled}: the pools did not serve the program")
        check(d["mapped_bytes"] > 0, "no pool spans mapped")
        check(d["fallback"]["allocs"] < pooled / 100,
              f"{d['fallback']['allocs']} fallback allocations against {pooled} pooled")

    # VSZ at start: the program's own plus a few MiB, not the whole claim
    def vsz(preload):
        e = dict(os.environ)
        if preload:
            e["LD_PRELOAD"] = LIB
        out = subprocess.run(["/bin/grep", "VmSize", "/proc/self/status"], env=e,
                             capture_output=True, text=True).stdout
        return int(out.split()[1]) * 1024
    plain, ours = vsz(False), vsz(True)
    check(ours < plain + (64 << 20), f"VSZ of grep: {ours >> 10} kB under libmpool, "
          f"{plain >> 10} kB without (want < 64 MiB more)")

finish("ulimit")
