#!/usr/bin/python3
"""MPOOL_HEAP_PROFILE, read by the tools people use: google-pprof (Debian
google-perftools) and jeprof (libjemalloc-dev) take libmpool's heap
profiles as they take gperftools' and jemalloc's.

heap_sites (tests/stats/heap_sites.c) keeps 40 MB live in hold(), allocates
and frees 400 MB in churn(), then writes a dump on request (profile 0),
keeps 20 MB more in more(), raises the stats signal (profile 1) and exits
(profile 2).  Checked: --text with --inuse_space and --alloc_space
(figures within 15 % of the truth: sampled every 32 KiB), --collapsed, --svg, --base,
the same with jeprof, and the numbering (%n, %p).

    tests/stats/heap_profile.py PATH/TO/libmpool.so PATH/TO/heap_sites
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

LIB, PROG = (os.path.abspath(a) for a in sys.argv[1:3])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish  # noqa: E402

MB = 1e6


def tool(name, *args):
    r = subprocess.run([name, *args], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"{name} {' '.join(args[:-2])}: exit {r.returncode} {r.stderr[-300:]}")
    return r.stdout


def text_figures(out):
    """{function: flat MB} from a --text report (flat column, in MB)"""
    figures = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)\s+[\d.]+%\s+[\d.]+%\s+[\d.]+\s+[\d.]+%\s+(\S+)", line)
        if m:
            figures[m.group(2)] = float(m.group(1)) * 1024 * 1024 / MB  # pprof's "MB" is MiB
    return figures


def near(value, truth, what):
    check(value is not None and abs(value - truth) <= 0.15 * truth,
          f"{what}: {value} MB, truly {truth} MB (sampled: within 15 %)")


tmp = tempfile.mkdtemp(prefix="mpool-heap-")
env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
# a sample every 32 KiB on average: 600 samples behind 20 MB, so a 15 %
# error is 3.7 standard errors away
env.update(LD_PRELOAD=LIB, MPOOL_PROF_SAMPLE="32K", MPOOL_HEAP_PROFILE=os.path.join(tmp, "heap.%p.%n.prof"),
           MPOOL_STATS=os.path.join(tmp, "stats.%p.%n.json"), MPOOL_STATS_SIGNAL="USR2")
r = subprocess.run([PROG], env=env, capture_output=True, text=True, timeout=120)
check(r.returncode == 0 and r.stderr == "", f"heap_sites exited {r.returncode}: {r.stderr[-300:]}")
profiles = sorted(f for f in os.listdir(tmp) if f.startswith("heap."))
check(len(profiles) == 3 and all(re.fullmatch(r"heap\.\d+\.[012]\.prof", f) for f in profiles),
      f"three numbered profiles (request, signal, exit): {profiles}")
if len(profiles) == 3:
    first, signal, last = (os.path.join(tmp, p) for p in sorted(profiles, key=lambda f: f.split(".")[2]))
    head = open(last).readline()
    check(re.match(r"heap profile:\s*\d+:\s+\d+ \[\s*\d+:\s+\d+\] @ heapprofile$", head.strip()),
          f"header line: {head!r}")
    check("\nMAPPED_LIBRARIES:\n" in open(last).read(), "the mapped-libraries section")

    for reader in ("google-pprof", "jeprof"):
        if not shutil.which(reader):
            check(False, f"{reader} missing (scripts/install-test-deps installs it)")
            continue
        inuse = text_figures(tool(reader, "--text", "--inuse_space", PROG, last))
        near(inuse.get("hold"), 40, f"{reader} --inuse_space hold")
        near(inuse.get("more"), 20, f"{reader} --inuse_space more")
        check("churn" not in inuse or inuse["churn"] < 1, f"{reader} --inuse_space: churn holds nothing: {inuse}")
        alloc = text_figures(tool(reader, "--text", "--alloc_space", PROG, last))
        near(alloc.get("churn"), 400, f"{reader} --alloc_space churn")
        check(alloc and max(alloc, key=alloc.get) == "churn", f"{reader}: churn allocates most: {alloc}")
        # the diff of two profiles: only what more() added since the request
        diff = text_figures(tool(reader, "--text", "--inuse_space", f"--base={first}", PROG, last))
        near(diff.get("more"), 20, f"{reader} --base: more")
        check(abs(diff.get("hold", 0)) < 2, f"{reader} --base: hold did not change: {diff}")

    folded = tool("google-pprof", "--collapsed", "--inuse_space", PROG, last)
    # frames as pprof names them, less its "<address>" suffixes
    stacks = dict(re.sub(r"<[0-9a-f]+>", "", line).rsplit(" ", 1) for line in folded.splitlines()
                  if line.strip())
    hold = [int(v) for k, v in stacks.items() if k.endswith(";hold")]
    check(len(hold) == 1 and "main;hold" in next(k for k in stacks if k.endswith(";hold")),
          f"--collapsed: one stack ending main;hold: {list(stacks)[:4]}")
    if hold:
        near(hold[0] / MB, 40, "--collapsed hold")
    svg = tool("google-pprof", "--svg", "--inuse_space", PROG, last)
    check("<svg" in svg and "hold" in svg, "--svg: an SVG naming hold")
    sig = text_figures(tool("google-pprof", "--text", "--inuse_space", PROG, signal))
    near(sig.get("more"), 20, "the signal's profile: more")

# without MPOOL_STATS: the profile alone, no stats file, nothing on stderr
alone = os.path.join(tmp, "alone")
os.makedirs(alone)
env2 = {k: v for k, v in env.items() if k not in ("MPOOL_STATS", "MPOOL_STATS_SIGNAL")}
env2["MPOOL_HEAP_PROFILE"] = os.path.join(alone, "h.prof")
r = subprocess.run(["/usr/bin/python3", "-c", "x = [bytes(1000) for i in range(50000)]"], env=env2,
                   capture_output=True, text=True, timeout=120)
check(r.returncode == 0 and r.stderr == "" and os.listdir(alone) == ["h.prof"],
      f"MPOOL_HEAP_PROFILE alone: {os.listdir(alone)} {r.stderr[-200:]!r}")

# a profile path that cannot be written: one warning, the program's output
# and exit status unchanged; bad values of the new settings: one warning each
PY = ["/usr/bin/python3", "-c", "import sys; x = [bytes(1000) for i in range(50000)]; print(len(x)); sys.exit(3)"]
base = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
plain = subprocess.run(PY, env=base, capture_output=True, text=True, timeout=120)
for extra, what in (({"MPOOL_HEAP_PROFILE": "/nonexistent/dir/h.prof"}, "the heap profile"),
                    ({"MPOOL_BACKGROUND": "sometimes"}, "MPOOL_BACKGROUND"),
                    ({"MPOOL_SERIES_MAX": "huge"}, "MPOOL_SERIES_MAX"),
                    ({"MPOOL_HEAP_PROFILE": os.path.join(tmp, "x.prof"), "MPOOL_PROF_SAMPLE": "0"},
                     "MPOOL_PROF_SAMPLE")):
    r = subprocess.run(PY, env={**base, "LD_PRELOAD": LIB, **extra}, capture_output=True, text=True,
                       timeout=120)
    lines = r.stderr.splitlines()
    check((r.returncode, r.stdout) == (plain.returncode, plain.stdout) and len(lines) == 1
          and "mpool: warning" in lines[0] and what in lines[0],
          f"{extra}: exit {r.returncode} (alone {plain.returncode}), out {r.stdout!r}, stderr {r.stderr!r}")

# profiled blocks come from the pools, and their spans go back when freed:
# 180 MB of 60 000-byte blocks, every one sampled, freed and trimmed
TRIM = ("import ctypes\nx = [bytearray(60000) for i in range(3000)]\nn = len(x)\ndel x\n"
        "ctypes.CDLL(None).malloc_trim(0)\n"
        "print(n, int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20)")
for sample in ("1", "512K"):
    r = subprocess.run(["/usr/bin/python3", "-c", TRIM], capture_output=True, text=True, timeout=120,
                       env={**base, "LD_PRELOAD": LIB, "MPOOL_PROF": "1", "MPOOL_PROF_SAMPLE": sample})
    out = r.stdout.split()
    check(r.returncode == 0 and len(out) == 2 and int(out[1]) < 60,
          f"MPOOL_PROF_SAMPLE={sample}: 180 MB freed and trimmed leaves {out[1:] or r.stderr[-200:]} MiB "
          "resident (spans of profiled blocks go back)")

shutil.rmtree(tmp, ignore_errors=True)
finish("heap-profile")
