#!/usr/bin/python3
"""malloc_info(3) and malloc_stats(3) under libmpool, read as a program
would: a Python interpreter with libmpool preloaded calls them through
ctypes after allocating; the document is parsed by a real XML parser and
its figures checked against what was allocated.

    tests/preload/glibc_info.py PATH/TO/libmpool.so
"""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

LIB = sys.argv[1]
CHILD = r"""
import ctypes, sys
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
keep = [libc.malloc(5 << 20) for _ in range(3)]      # 15 MiB on the fallback
small = [libc.malloc(100) for _ in range(20000)]     # 2 MB in the pools
fp = libc.fopen(sys.argv[1].encode(), b"w")
print("rc0", libc.malloc_info(0, ctypes.c_void_p(fp)))
print("rc1", libc.malloc_info(1, ctypes.c_void_p(fp)))
libc.fclose(ctypes.c_void_p(fp))
sys.stdout.flush()
libc.malloc_stats()
"""

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish  # noqa: E402


with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "info.xml")
    env = dict(os.environ, LD_PRELOAD=LIB)
    r = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, f"the child exited {r.returncode}: {r.stderr[-500:]}")
    check("rc0 0" in r.stdout, f"malloc_info(0, fp) did not return 0: {r.stdout!r}")
    check("rc1 22" in r.stdout, f"malloc_info(1, fp) did not return EINVAL (22): {r.stdout!r}")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        root = None
        check(False, f"malloc_info wrote no well-formed XML: {e}")
    if root is not None:
        check(root.tag == "malloc" and root.get("version") == "1",
              f"root element <{root.tag} version={root.get('version')}>, want <malloc version=1>")
        heaps = root.findall("heap")
        check(len(heaps) >= 1 and heaps[0].get("nr") == "0", "no <heap nr=\"0\">")
        totals = {t.get("type"): t for t in root.findall("total")}
        check({"fast", "rest", "mmap"} <= set(totals), f"top-level totals {sorted(totals)}")
        mmap = totals.get("mmap")
        if mmap is not None:
            check(int(mmap.get("count")) >= 3 and int(mmap.get("size")) >= 15 << 20,
                  f"<total type=mmap count={mmap.get('count')} size={mmap.get('size')}>: "
                  "want the three 5 MiB blocks")
        system = {s.get("type"): int(s.get("size")) for s in root.findall("system")}
        check(system.get("current", 0) >= (15 << 20) + 2_000_000,
              f"<system type=current> {system.get('current')}: less than what is in use")
        for el in root.iter():
            for k, v in el.attrib.items():
                if k in ("size", "count", "from", "to", "total"):
                    check(v.isdigit(), f"<{el.tag} {k}={v!r}>: not a number")
    stats = r.stderr.splitlines()
    want = ["Arena 0:", "system bytes", "in use bytes", "Total (incl. mmap):", "max mmap regions",
            "max mmap bytes"]
    for w in want:
        check(any(line.startswith(w) for line in stats), f"malloc_stats printed no line {w!r}")
    in_use = [int(line.split("=")[1]) for line in stats if line.startswith("in use bytes")]
    check(len(in_use) == 2 and in_use[1] >= (15 << 20) + 2_000_000,
          f"malloc_stats' total in use bytes {in_use}: less than what is in use")

finish("glibc-info")
