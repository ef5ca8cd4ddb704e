#!/usr/bin/python3
"""CPU time and peak RSS of one program under several allocators, side by side.

usage: bench/cpu_ab.py [--reps N] [--spawn PATH] CONFIG... -- PROGRAM [ARGS...]

CONFIG is NAME=LIBRARY[,VAR=VALUE...]: LIBRARY is preloaded (empty: none)
with the VAR=VALUE settings in the program's environment.  The configs run
in turn, REPS times (interleaved, so a shared machine's slow minutes fall
on all of them), each through bench-spawn (the program's own peak RSS and
CPU time from wait4).  Prints the median user+sys CPU seconds, wall
seconds and peak RSS per config, with ratios to the first.

scripts/bench compares whole suites by wall time; this is for one
workload whose CPU time differs by a few percent, where the wall time of a
2-core shared machine does not settle.  Example (docs/PERFORMANCE.md):

  bench/cpu_ab.py --reps 9 mimalloc=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 \\
      mpool=build/libmpool.so before=build/libmpool.so,MPOOL_MAX_CLASS=64K \\
      -- build/bench/bench-medium -t 2 -n 1500000 -w 10000
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_config(text):
    name, _, rest = text.partition("=")
    if not name or not _:
        sys.exit(f"cpu_ab: bad config {text!r}: want NAME=LIBRARY[,VAR=VALUE...]")
    lib, *settings = rest.split(",")
    env = {}
    for s in settings:
        k, eq, v = s.partition("=")
        if not eq:
            sys.exit(f"cpu_ab: bad setting {s!r} in {text!r}: want VAR=VALUE")
        env[k] = v
    return name, (os.path.abspath(lib) if lib else ""), env


def run_once(spawn, lib, settings, argv):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(settings)
    env["BENCH_PRELOAD"] = lib
    with tempfile.NamedTemporaryFile(prefix="cpu-ab-") as res:
        r = subprocess.run([spawn, res.name] + argv, env=env, stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            sys.exit(f"cpu_ab: bench-spawn failed ({r.returncode}) for {argv}")
        status, rss_kib, wall, user, sys_s = res.read().split()
    if int(status) != 0:
        sys.exit(f"cpu_ab: {argv[0]} ended with wait status {status} under {lib or 'no preload'}")
    return float(user) + float(sys_s), float(wall), int(rss_kib) / 1024


def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    cut = sys.argv.index("--")
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--spawn", default=os.path.join(HERE, "..", "build", "bench", "bench-spawn"))
    p.add_argument("configs", nargs="+")
    args = p.parse_args(sys.argv[1:cut])
    argv = sys.argv[cut + 1:]
    if not argv:
        sys.exit("cpu_ab: no program after --")
    if not os.access(args.spawn, os.X_OK):
        sys.exit(f"cpu_ab: no {args.spawn} (meson compile -C build builds it; or --spawn PATH)")
    configs = [parse_config(c) for c in args.configs]
    runs = {name: [] for name, _, _ in configs}
    for _ in range(args.reps):
        for name, lib, settings in configs:
            runs[name].append(run_once(args.spawn, lib, settings, argv))
    base = None
    for name, _, _ in configs:
        cpu, wall, rss = (statistics.median(r[k] for r in runs[name]) for k in range(3))
        base = base or (cpu, wall, rss)
        print(f"{name:>12}: cpu {cpu:.3f} s ({cpu / base[0]:.2f}x)  wall {wall:.3f} s "
              f"({wall / base[1]:.2f}x)  peak RSS {rss:.1f} MiB ({rss / base[2]:.2f}x)")


if __name__ == "__main__":
    main()
