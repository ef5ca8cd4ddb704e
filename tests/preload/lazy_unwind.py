#!/usr/bin/python3
"""libunwind is loaded only when a stack is profiled (profile/stack.c).

A program run without MPOOL_PROF maps neither libunwind nor its liblzma; one
run with MPOOL_PROF=1 maps libunwind by the time it has allocated, and its
dump names the allocating frames.

    tests/preload/lazy_unwind.py PATH/TO/libmpool.so
"""
import os
import subprocess
import sys
import tempfile

LIB = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish, load_dump  # noqa: E402

# allocates past pymalloc (malloc), then prints its own mappings
PROGRAM = ("def keep_blocks():\n"
           "    return [bytes(600 + i % 400) for i in range(100000)]\n"
           "x = keep_blocks()\n"
           "print(open('/proc/self/maps').read())\n")


def mapped(maps, name):
    return any(name in line for line in maps.splitlines())


with tempfile.TemporaryDirectory() as tmp:
    for prof in ("0", "1"):
        stats = os.path.join(tmp, f"stats-{prof}.json")
        env = dict(os.environ, LD_PRELOAD=LIB, MPOOL_STATS=stats, MPOOL_PROF=prof)
        r = subprocess.run(["/usr/bin/python3", "-c", PROGRAM], env=env, capture_output=True,
                           text=True, timeout=120)
        check(r.returncode == 0 and r.stderr == "",
              f"MPOOL_PROF={prof}: exit {r.returncode}, stderr {r.stderr[-300:]!r}")
        check(mapped(r.stdout, "libmpool"), f"MPOOL_PROF={prof}: libmpool is not mapped")
        if prof == "0":
            check(not mapped(r.stdout, "libunwind") and not mapped(r.stdout, "liblzma"),
                  "without MPOOL_PROF, libunwind or liblzma is mapped")
        else:
            check(mapped(r.stdout, "libunwind.so"), "with MPOOL_PROF=1, libunwind is not mapped")
            d = load_dump(stats)
            if d:
                frames = [f for l in d.get("leaks", []) for f in l["stack"]]
                check(d.get("leaks") and any("python3" in f for f in frames),
                      f"with MPOOL_PROF=1, no leak site with the program's frames: {frames[:5]}")
finish("lazy_unwind")
