#!/usr/bin/python3
"""The background thread (mpool-bg) and the time series, run as a user would:

- a program that frees 256 MiB and then sleeps without calling malloc is
  under 32 MiB of RSS within a second (and keeps it all with
  MPOOL_BACKGROUND=0); the thread is there while memory waits, asleep
  (no wake-ups) once nothing does, and never there when turned off;
- MPOOL_STATS_INTERVAL=100ms: a program that grows, sleeps, shrinks and
  sleeps writes whole JSON lines covering the sleeps, RSS following it;
  with MPOOL_PROF the growing function is named; mpool-report draws it;
- MPOOL_SERIES_MAX bounds the file (coarser ticks, then an end line); a
  process killed while writing leaves only whole lines;
- unshare(CLONE_NEWUSER) after the thread started has the outcome it has
  without libmpool, and `unshare --user --map-root-user` runs;
- fork: parent and child keep their own series and decay;
- 16 threads calling exit at once, and a main thread ending with
  pthread_exit, end the process.

    tests/preload/background.py PATH/TO/libmpool.so PATH/TO/ptest_background
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LIB = os.path.abspath(sys.argv[1])
PROG = os.path.abspath(sys.argv[2])
HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "..", "..", "scripts", "mpool-report")
sys.path.insert(0, os.path.join(HERE, ".."))
from pcheck import check, finish  # noqa: E402

MiB = 1 << 20


def run(mode, env_extra=None, preload=True, timeout=60, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
    if preload:
        env["LD_PRELOAD"] = LIB
    env.update(env_extra or {})
    return subprocess.run([PROG, mode], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def fields(stdout):
    """key=value pairs of the program's output lines"""
    out = {}
    for word in stdout.split():
        if "=" in word:
            k, v = word.split("=", 1)
            out[k] = v
    return out


def read_series(path):
    """(header, ticks, other lines); every line must be whole JSON"""
    lines = open(path).read().split("\n")
    check(lines[-1] == "", f"{path}: the last line is not whole: {lines[-1][:80]!r}")
    objs = []
    for i, line in enumerate(lines[:-1]):
        try:
            objs.append(json.loads(line))
        except ValueError:
            check(False, f"{path}: line {i + 1} is not JSON: {line[:80]!r}")
    if not objs:
        check(False, f"{path}: empty")
        return {}, [], []
    head = objs[0]
    check(head.get("mpool_series") == 1 and "pid" in head, f"{path}: header {head}")
    ticks = [o for o in objs[1:] if "rss" in o]
    notes = [o for o in objs[1:] if "rss" not in o]
    return head, ticks, notes


def at(ticks, ms):
    """the first tick at or after ms"""
    return next((t for t in ticks if t["t_ms"] >= ms), ticks[-1])


tmp = tempfile.mkdtemp(prefix="mpool-bg-")

# ---- memory back while the program sleeps -----------------------------------------------------
on = run("idle")
off = run("idle", {"MPOOL_BACKGROUND": "0"})
check(on.returncode == 0 and off.returncode == 0, f"idle exited {on.returncode}/{off.returncode}: "
      f"{on.stderr[-300:]} {off.stderr[-300:]}")
a, b = fields(on.stdout), fields(off.stdout)
if a and b:
    full, one_s, idle_off = int(a["rss_full"]), int(a["rss_1s"]), int(b["rss_1s"])
    check(full >= 256, f"the program's 256 MiB are not resident: {full} MiB")
    check(one_s < 32, f"1 s after freeing 256 MiB, sleeping: RSS {one_s} MiB (budget: under 32)")
    # (the program's own few allocations while it looks at /proc may run a pass)
    check(idle_off >= full - 64, f"MPOOL_BACKGROUND=0: RSS {full} -> {idle_off} MiB a second after "
          "the free (expected mostly kept: nothing runs the decay while the program sleeps)")
    check("mpool-bg" in a["threads_freed"], f"no mpool-bg while memory waits: {a['threads_freed']}")
    check(0 <= int(a["idle_wakeups"]) <= 2,
          f"mpool-bg woke {a['idle_wakeups']} times in the last second with nothing to do")
    check("mpool-bg" not in b["threads_freed"] + b["threads_idle"], "a thread with MPOOL_BACKGROUND=0")

# ---- the series -----------------------------------------------------------------------------------
series = os.path.join(tmp, "grow.%p.jsonl")
r = run("grow", {"MPOOL_STATS_INTERVAL": "100ms", "MPOOL_SERIES": series, "MPOOL_PROF": "1"})
check(r.returncode == 0 and r.stderr == "", f"grow exited {r.returncode}: {r.stderr[-300:]}")
files = glob.glob(os.path.join(tmp, "grow.*.jsonl"))
check(len(files) == 1, f"series files: {files}")
if files:
    head, ticks, notes = read_series(files[0])
    check(head.get("interval_ms") == 100 and head.get("program") == PROG, f"header {head}")
    check(len(ticks) >= 12, f"{len(ticks)} ticks in a 1.4 s run at 100 ms")
    times = [t["t_ms"] for t in ticks]
    check(times == sorted(times), "ticks out of order")
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(max(gaps) <= 250, f"a gap of {max(gaps)} ms: the sleeps are not covered")
    peak = max(t["rss"] for t in ticks)
    check(peak >= 190 * MiB, f"peak RSS in the series {peak / MiB:.0f} MiB, the program held 200")
    check(at(ticks, 400)["active"] >= 190 * MiB, f"active while sleeping full: {at(ticks, 400)}")
    last = ticks[-1]
    check(last["rss"] <= peak - 150 * MiB, f"RSS at the end {last['rss'] / MiB:.0f} MiB: not given back")
    check(last["released"] >= 150 * MiB, f"released {last['released']}")
    full_tick = at(ticks, 400)
    cls = dict((size, b) for size, b in full_tick["classes"])
    check(any(size >= 1000 and b >= 150 * MiB for size, b in cls.items()), f"classes {cls}")
    sites = full_tick.get("sites", [])
    check(sites and any("grow" in f for f in sites[0]["stack"][:3]),
          f"top site does not name grow(): {sites[:1]}")
    check(sites and sites[0]["bytes"] >= 100 * MiB, f"top site's bytes {sites[:1]}")
    png = os.path.join(tmp, "timeline.png")
    rr = subprocess.run([sys.executable, REPORT, "--timeline", png, files[0]],
                        capture_output=True, text=True, timeout=120)
    ok = rr.returncode == 0 and os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    check(ok, f"mpool-report --timeline: {rr.returncode} {rr.stderr[-300:]}")
    rr = subprocess.run([sys.executable, REPORT, files[0]], capture_output=True, text=True, timeout=60)
    check(rr.returncode == 0 and "MiB" in rr.stdout, f"mpool-report SERIES: {rr.returncode} {rr.stderr[-300:]}")

# a relative MPOOL_SERIES lands where the program started; the default name with only the interval
r = run("grow", {"MPOOL_STATS_INTERVAL": "200ms"}, cwd=tmp)
default = glob.glob(os.path.join(tmp, "mpool-series.*.jsonl"))
check(r.returncode == 0 and len(default) == 1, f"default series file: {default} {r.stderr[-200:]}")

# bounded: a 64 KiB cap at 10 ms ticks coarsens, then ends
capped = os.path.join(tmp, "capped.jsonl")
r = run("grow", {"MPOOL_STATS_INTERVAL": "10ms", "MPOOL_SERIES": capped, "MPOOL_SERIES_MAX": "64K",
                 "MPOOL_PROF": "1"})
check(r.returncode == 0, f"capped run exited {r.returncode}")
size = os.path.getsize(capped) if os.path.exists(capped) else -1
check(0 < size <= 64 * 1024, f"capped series is {size} bytes")
head, ticks, notes = read_series(capped)
intervals = [n["interval_ms"] for n in notes if "interval_ms" in n]
check(intervals[:1] == [20] and all(b == 2 * a for a, b in zip(intervals, intervals[1:])),
      f"interval changes {intervals}: each a doubling, the first at half the cap")
first_change = next((n["t_ms"] for n in notes if "interval_ms" in n), None)
if first_change is not None:
    before = [t["t_ms"] for t in ticks if t["t_ms"] < first_change]
    after = [t["t_ms"] for t in ticks if t["t_ms"] > first_change]
    gap = lambda ts: sorted(b - a for a, b in zip(ts, ts[1:]))[len(ts) // 2] if len(ts) > 2 else 0
    check(gap(after) >= 1.6 * gap(before), f"median tick gap {gap(before)} ms, then {gap(after)} ms")

# killed: only whole lines
killed = os.path.join(tmp, "killed.jsonl")
env = dict(os.environ, LD_PRELOAD=LIB, MPOOL_STATS_INTERVAL="10ms", MPOOL_SERIES=killed, MPOOL_PROF="1")
p = subprocess.Popen([PROG, "grow"], env=env)
time.sleep(0.35)
p.send_signal(signal.SIGKILL)
p.wait()
head, ticks, notes = read_series(killed)
check(len(ticks) >= 5, f"{len(ticks)} ticks before the kill")

# bad settings: one warning each, the program runs
r = run("grow", {"MPOOL_STATS_INTERVAL": "fast", "MPOOL_SERIES": os.path.join(tmp, "bad.jsonl")})
check(r.returncode == 0 and r.stderr.count("\n") == 1 and "MPOOL_STATS_INTERVAL" in r.stderr,
      f"MPOOL_STATS_INTERVAL=fast: {r.stderr!r}")
r = run("grow", {"MPOOL_SERIES": "/nonexistent/dir/s.jsonl"})
check(r.returncode == 0 and r.stderr.count("\n") == 1 and "time series" in r.stderr,
      f"unwritable series: {r.stderr!r}")

# ---- single-threaded calls ------------------------------------------------------------------------
bare, pre = run("unshare", preload=False), run("unshare")
fb, fp = fields(bare.stdout), fields(pre.stdout)
check(pre.returncode == 0, f"unshare mode exited {pre.returncode}: {pre.stderr[-300:]}")
check("mpool-bg" in fp.get("threads_before", ""), f"the thread did not run before unshare: {fp}")
check(fp.get("unshare") == fb.get("unshare"),
      f"unshare(CLONE_NEWUSER): {fp.get('unshare')} under libmpool, {fb.get('unshare')} without")
if shutil.which("unshare"):
    bare = subprocess.run(["unshare", "--user", "--map-root-user", "id", "-u"], capture_output=True, text=True)
    env = dict(os.environ, LD_PRELOAD=LIB, MPOOL_STATS_INTERVAL="50ms",
               MPOOL_SERIES=os.path.join(tmp, "unshare.%p.jsonl"))
    pre = subprocess.run(["unshare", "--user", "--map-root-user", "id", "-u"], env=env,
                         capture_output=True, text=True, timeout=60)
    check((pre.returncode, pre.stdout) == (bare.returncode, bare.stdout),
          f"unshare --user --map-root-user with the thread running: {pre.returncode} {pre.stdout!r} "
          f"{pre.stderr[-200:]!r}, without libmpool {bare.returncode} {bare.stdout!r}")
else:
    check(False, "unshare(1) missing (util-linux)")

# ---- fork: two series, two decays -------------------------------------------------------------------
r = run("fork", {"MPOOL_STATS_INTERVAL": "100ms", "MPOOL_SERIES": os.path.join(tmp, "fork.%p.jsonl")})
out = fields(r.stdout)
check(r.returncode == 0 and "parent" in out and "child" in out, f"fork: {r.returncode} {r.stdout!r} {r.stderr[-300:]}")
for who in ("parent", "child"):
    path = os.path.join(tmp, f"fork.{out.get(who)}.jsonl")
    if not os.path.exists(path):
        check(False, f"no series of the {who}: {path}")
        continue
    head, ticks, notes = read_series(path)
    check(head.get("pid") == int(out[who]), f"{who}'s header {head}")
    late = [t for t in ticks if t["t_ms"] >= ticks[-1]["t_ms"] - 400]
    check(len(ticks) >= 6 and len(late) >= 3, f"{who}: {len(ticks)} ticks, {len(late)} in its last 0.4 s")
    peak = max(t["active"] for t in ticks)
    check(peak >= 90 * MiB and ticks[-1]["released"] >= 60 * MiB,
          f"{who}: active peak {peak / MiB:.0f} MiB, released at the end {ticks[-1]['released'] / MiB:.0f} MiB")

# ---- the end of a process -----------------------------------------------------------------------------
for mode in ("exits", "pthread_exit"):
    try:
        r = run(mode, {"MPOOL_STATS_INTERVAL": "50ms", "MPOOL_SERIES": os.path.join(tmp, mode + ".jsonl")},
                timeout=20)
        check(r.returncode == 0, f"{mode}: exit status {r.returncode} {r.stderr[-300:]}")
    except subprocess.TimeoutExpired:
        check(False, f"{mode}: the process did not end in 20 s")

shutil.rmtree(tmp, ignore_errors=True)
finish("background")
