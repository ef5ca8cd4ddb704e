#!/usr/bin/python3
"""USDT probes, seen by the tools that attach to them: readelf lists the
"mpool" provider's probes in libmpool.so, and bpftrace, attached with no
rebuild, counts them in a program run under the preload:

- large_alloc and large_free: exactly the program's 100 requests of 1 MiB,
  with the size as the second argument;
- refill and flush: the thread cache's batches for 200 000 small blocks;
- sample_alloc and sample_free with MPOOL_PROF=1 MPOOL_PROF_SAMPLE=1;
- dump: one, at exit, with MPOOL_STATS.

    tests/preload/usdt.py PATH/TO/libmpool.so PATH/TO/ptest_usdt
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

LIB, PROG = (os.path.abspath(a) for a in sys.argv[1:3])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish  # noqa: E402

PROBES = ["sample_alloc", "sample_free", "large_alloc", "large_free", "refill", "flush",
          "reclaim_pass", "dump"]

notes = subprocess.run(["readelf", "-n", LIB], capture_output=True, text=True).stdout
listed = set(re.findall(r"Provider: mpool\s+Name: (\w+)", notes))
check(listed == set(PROBES), f"probes in libmpool.so: {sorted(listed)}, want {sorted(PROBES)}")


def counts(env_extra):
    """{probe or probe:arg: count} for one run of PROG, counted by bpftrace
    attached to the library's file (a probe in a library loaded by
    LD_PRELOAD is found once bpftrace attaches by path, before the program
    starts; runs of the same program by others would count too: the comm
    filter keeps to ours)"""
    comm = os.path.basename(PROG)[:15]
    lib = os.path.realpath(LIB)
    extra = {"large_alloc": " @large_size[arg1] = count();"}  # one block per probe: bpftrace
    program = " ".join(                                           # attaches one per location
        f'usdt:{lib}:mpool:{p} /comm == "{comm}"/ {{ @{p} = count();{extra.get(p, "")} }}'
        for p in PROBES)
    program = 'BEGIN { printf("ready\\n"); } ' + program  # BEGIN runs once all are attached
    tracer = subprocess.Popen(["bpftrace", "-e", program], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    ready = any(line == "ready\n" for line in iter(tracer.stdout.readline, ""))
    check(ready, "bpftrace did not attach")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
    env.update(env_extra, LD_PRELOAD=LIB)
    r = subprocess.run([PROG], env=env, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"{PROG} under bpftrace: exit {r.returncode} {r.stderr[-300:]}")
    tracer.send_signal(signal.SIGINT)
    out_text, err = tracer.communicate(timeout=60)
    out = {}
    for m in re.finditer(r"@(\w+)(?:\[(\d+)\])?: (\d+)", out_text):
        out[m.group(1) + (f":{m.group(2)}" if m.group(2) else "")] = int(m.group(3))
    return out


if os.geteuid() != 0:
    check(False, "bpftrace needs root: run the tests as root (CI does)")
elif not shutil.which("bpftrace"):
    check(False, "bpftrace missing (scripts/install-test-deps installs it)")
else:
    with tempfile.TemporaryDirectory() as tmp:
        plain = counts({"MPOOL_STATS": os.path.join(tmp, "s.json")})
        check(plain.get("large_alloc") == 100 and plain.get("large_size:1048576") == 100,
              f"large_alloc: {plain.get('large_alloc')} (1 MiB: {plain.get('large_size:1048576')}), want 100")
        check(plain.get("large_free") == 100, f"large_free: {plain.get('large_free')}, want 100")
        check(plain.get("refill", 0) >= 200000 // 256 and plain.get("flush", 0) >= 200000 // 256,
              f"refill {plain.get('refill')}, flush {plain.get('flush')}: too few for 200 000 blocks")
        check(plain.get("dump") == 1, f"dump: {plain.get('dump')}, want 1 (at exit)")
        check(plain.get("sample_alloc", 0) == 0, f"sample_alloc without MPOOL_PROF: {plain.get('sample_alloc')}")
        prof = counts({"MPOOL_PROF": "1", "MPOOL_PROF_SAMPLE": "1"})
        check(prof.get("sample_alloc", 0) >= 200100 and prof.get("sample_free", 0) >= 200100,
              f"every call sampled: sample_alloc {prof.get('sample_alloc')}, "
              f"sample_free {prof.get('sample_free')}, want >= 200 100")
        check(prof.get("large_alloc", 0) == 0, f"large_alloc while every call is sampled: {prof.get('large_alloc')}")
finish("usdt")
