#!/usr/bin/python3
"""The accuracy of MPOOL_PROF at the default rate (128 KiB between samples):
bench-accuracy-sites has three sites whose figures are known (hold() keeps
40 MiB, churn() allocates 2 GiB in 64-byte blocks, peak_then_free() holds
150 MiB at the peak and frees it).  Runs it N times (default 10) and prints,
per site, each run's estimate in its view, its error, and whether the 95 %
interval mpool-report prints contains the truth.

    bench/prof_accuracy.py [--runs N] [--sample 128K] [--lib build/libmpool.so]
                           [--prog build/bench/bench-accuracy-sites]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MiB = 1 << 20
SITES = [("hold", "inuse", 40 * MiB), ("churn", "alloc", 2048 * MiB), ("peak_then_free", "peak", 150 * MiB)]


def view_rows(report, dump, view):
    r = subprocess.run([sys.executable, report, "--view", view, "--json", "--top", "50", dump],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--sample", help="MPOOL_PROF_SAMPLE (default: the library's)")
    ap.add_argument("--lib", default=os.path.join(REPO, "build", "libmpool.so"))
    ap.add_argument("--prog", default=os.path.join(REPO, "build", "bench", "bench-accuracy-sites"))
    args = ap.parse_args()
    report = os.path.join(REPO, "scripts", "mpool-report")
    results = {name: [] for name, _, _ in SITES}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            dump = os.path.join(tmp, f"run{run}.json")
            env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
            env.update(LD_PRELOAD=os.path.abspath(args.lib), MPOOL_PROF="1", MPOOL_STATS=dump)
            if args.sample:
                env["MPOOL_PROF_SAMPLE"] = args.sample
            subprocess.run([args.prog], env=env, check=True)
            for name, view, truth in SITES:
                rows = view_rows(report, dump, view)
                row = next((s for s in rows.get("top", []) if s.get("function") == name), None)
                if row is None:
                    results[name].append((0, 0, 0, False))
                    continue
                lo, hi = row["bytes_low"], row["bytes_high"]
                results[name].append((row["bytes"], row["samples"], (row["bytes"] - truth) / truth,
                                      lo <= truth <= hi))
    print(f"{'site':16} {'view':6} {'truth':>10}  within 10 %  interval holds truth  errors")
    for name, view, truth in SITES:
        r = results[name]
        within = sum(abs(e) <= 0.10 for _, _, e, _ in r)
        holds = sum(h for *_, h in r)
        errs = " ".join(f"{e * 100:+.1f}%" for _, _, e, _ in r)
        print(f"{name:16} {view:6} {truth / MiB:7.0f} MiB  {within:4}/{len(r)}  {holds:12}/{len(r)}      {errs}")


if __name__ == "__main__":
    main()
