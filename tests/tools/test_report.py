#!/usr/bin/python3
"""Tests of scripts/mpool-report on the dumps in tests/tools/fixtures/, on
variants of them made here, and on dumps of a small C program run under the
library (the run section, leak sites past the dump's list of 64, and the
build-id check of --addr2line: the program is rebuilt after its dump).

    tests/tools/test_report.py [PATH/TO/mpool-report [PATH/TO/libmpool.so]]

The library defaults to build/libmpool.so; without it, or without a C
compiler or addr2line, those checks fail (they do not skip).

fixtures/small.json is hand-made, with numbers worked out by hand:
  totals: 150 allocs, 86 reuses        -> reuse ratio 86/150 = 57.3%
          alloc_ns 6400 + reuse_ns 1100 -> 7500 / 150 = 50.0 ns per allocation
  class 16: 75 of 100 reused -> 75.0%, 10 active -> 160 bytes
  class 32:  1 of   8 reused -> 12.5%,  3 active ->  96 bytes
  class 64: 10 of  40 reused -> 25.0%,  0 active ->   0 bytes
  recent sizes 1 3 16 17 31 32 100 0 5000 -> [16, 32) holds 3, [4K, 8K) holds 1
  one fixed pool: 500 gets, 499 puts -> 1 out
  an unknown "arenas" list -> printed as a generic table
python-run.json and leak-prof.json are real dumps (python3; a C program with
leaks under MPOOL_PROF=1).  version2.json and broken.json must be refused.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from toolcheck import check, finish, load_report

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
REPORT = (sys.argv[1] if len(sys.argv) > 1
          else os.path.join(HERE, "..", "..", "scripts", "mpool-report"))
LIB = os.path.abspath(sys.argv[2] if len(sys.argv) > 2
                      else os.path.join(HERE, "..", "..", "build", "libmpool.so"))


def run(*args, env=None, stdin=None):
    return subprocess.run([REPORT, *args], capture_output=True, text=True, encoding="utf-8",
                          env=env, input=stdin, timeout=120)




def has_line(out, pattern):
    return any(re.search(pattern, line) for line in out.splitlines())


def fx(name):
    return os.path.join(FIX, name)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# the interpreter of the tool's shebang: the one that must have matplotlib
TOOL_PYTHON = open(REPORT).readline()[2:].split()[0]
HAS_MPL = subprocess.run([TOOL_PYTHON, "-c", "import matplotlib"],
                         capture_output=True).returncode == 0


# ---- the hand-made dump: every number known ------------------------------------
r = run(fx("small.json"))
out = r.stdout
check(r.returncode == 0, "small.json: exit 0", r.stderr)
check(has_line(out, r"pid 4242\s+reason signal\s+elapsed 1\.500 s\s+RSS 10\.0 MiB\s+mapped 4\.0 MiB"),
      "small.json: header (pid, reason, elapsed, RSS, mapped)", out)
check(has_line(out, r"^\s+allocations\s+150$"), "small.json: allocations 150", out)
check(has_line(out, r"^\s+reuses\s+86\s+reuse ratio 57\.3%$"), "small.json: reuse ratio 57.3%", out)
check(has_line(out, r"avg 50\.0 ns/alloc"), "small.json: 50.0 ns per allocation", out)
check(has_line(out, r"^\s+peak active bytes\s+2,000,000\s+1\.9 MiB$"), "small.json: peak", out)
check(has_line(out, r"^\s+16\s+100\s+90\s+75\s+75\.0%\s+10\s+160$"), "small.json: class 16 row", out)
check(has_line(out, r"^\s+32\s+8\s+5\s+1\s+12\.5%\s+3\s+96$"), "small.json: class 32 row", out)
check(has_line(out, r"^\s+64\s+40\s+40\s+10\s+25\.0%\s+0\s+0$"), "small.json: class 64 row", out)
sizes = [int(m.group(1)) for m in re.finditer(r"^\s+(16|32|64)\s+\d+\s+\d+", out, re.M)]
check(sizes == [16, 32, 64], "small.json: classes sorted by size", str(sizes))
check(has_line(out, r"Fallback.*allocs 2, frees 1, active 1 block, 1,048,576 bytes \(1\.0 MiB\), "
                    r"8\.0 MiB freed and kept for reuse$"),
      "small.json: fallback line", out)
check(has_line(out, r"Threads: 2 live, 5 exited"), "small.json: threads", out)
check(has_line(out, r"^\s+\[16, 32\)\s+3\s+#{40}$"), "small.json: histogram bucket [16, 32) = 3, longest bar", out)
check(has_line(out, r"^\s+\[4K, 8K\)\s+1\s+#+$"), "small.json: histogram bucket [4K, 8K) = 1", out)
check(has_line(out, r"^\s+0\s+1\s+#+$"), "small.json: size-0 bucket", out)
check(has_line(out, r"#1\s+1,048,576 bytes .* in 1 block$"), "small.json: leak #1", out)
check(has_line(out, r"make_table\+0x2a \(small-prog\+0x1234\)"), "small.json: leak frame", out)
check(has_line(out, r"^Fixed pools \(1\)$") and
      has_line(out, r"^\s+256\s+1,024\s+64\s+500\s+499\s+1\s+3\s+1$"), "small.json: the pools table", out)
check(has_line(out, r"^arenas \(1 entries\)$") and has_line(out, r"^\s+7\s+4,096\s+12$"),
      "small.json: unknown 'arenas' list as a table", out)

r = run(fx("small.json"), "--top", "1")
check("#1" in r.stdout and "#2" not in r.stdout and "Top 1 of 2 leak sites" in r.stdout,
      "--top 1 shows one leak site", r.stdout)

# ---- --json ------------------------------------------------------------------------
r = run(fx("small.json"), "--json")
try:
    j = json.loads(r.stdout)
except ValueError as e:
    j = None
    check(False, "small.json --json parses", f"{e}\n{r.stdout}")
if j is not None:
    t = j["totals"]
    check(r.returncode == 0 and t["allocs"] == 150 and t["frees"] == 136 and t["reuses"] == 86
          and t["active_bytes"] == 1048832 and t["peak_active_bytes"] == 2000000,
          "--json: totals", json.dumps(t))
    check(abs(t["reuse_ratio"] - 86 / 150) < 1e-9 and abs(t["avg_alloc_ns"] - 50.0) < 1e-9,
          "--json: reuse_ratio and avg_alloc_ns", json.dumps(t))
    check([c["size"] for c in j["classes"]] == [16, 32, 64]
          and [c["active_bytes"] for c in j["classes"]] == [160, 96, 0]
          and [c["reuse_pct"] for c in j["classes"]] == [75.0, 12.5, 25.0],
          "--json: classes", json.dumps(j["classes"]))
    check(j["elapsed_s"] == 1.5 and j["pid"] == 4242 and j["reason"] == "signal",
          "--json: header fields")
    b = {(x["lo"], x["count"]) for x in j["recent_sizes"]["log2_buckets"]}
    check((16, 3) in b and (4096, 1) in b and (0, 1) in b, "--json: log2 buckets", str(b))
    check(j["leak_sites"] == 2 and j["leak_bytes"] == 1048736 and len(j["leaks"]) == 2,
          "--json: leaks")
    check(j["pools"][0]["capacity"] == 1024 and j["pools"][0]["made"] == 64, "--json: pools")
    check(j["extra"].get("arenas", [{}])[0].get("capacity") == 4096, "--json: unknown keys kept")

r = run(fx("leak-prof.json"), "--json", "--top", "2")
j = json.loads(r.stdout)
check(j["totals"]["allocs"] == 101101 and j["totals"]["active_blocks"] == 1101
      and len(j["leaks"]) == 2 and j["leak_sites"] == 3,
      "leak-prof.json --json: totals and top 2 leaks")

# ---- the real dumps ------------------------------------------------------------------
r = run(fx("leak-prof.json"))
out = r.stdout
check(r.returncode == 0, "leak-prof.json: exit 0", r.stderr)
check(has_line(out, r"#1\s+1,000,000 bytes \(976\.6 KiB\) in 1,000 blocks"), "leak-prof.json: top leak", out)
check(has_line(out, r"^\s+leaky_function\+0xe \(leak\+0x1167\)$"), "leak-prof.json: leaky_function frame", out)
check(has_line(out, r"^\s+other_leak\+0xe \(leak\+0x1192\)$"), "leak-prof.json: other_leak frame", out)
check(has_line(out, r"^\s+112\s+100,000\s+100,000\s+0\s+0\.0%\s+0\s+0$"), "leak-prof.json: class 112", out)
check(has_line(out, r"^\s+1,024\s+1,000\s+0\s+0\s+0\.0%\s+1,000\s+1,024,000$"), "leak-prof.json: class 1024", out)
check(has_line(out, r"avg 567\.7 ns/alloc"), "leak-prof.json: 567.7 ns per allocation", out)

r = run(fx("python-run.json"))
out = r.stdout
check(r.returncode == 0, "python-run.json: exit 0", r.stderr)
check(has_line(out, r"^\s+reuses\s+179,495\s+reuse ratio 51\.5%$"), "python-run.json: reuse ratio 51.5%", out)
check(has_line(out, r"avg 14\.2 ns/alloc"), "python-run.json: 14.2 ns per allocation", out)
check(has_line(out, r"^\s+32\s+203,839\s+203,806\s+103,390\s+50\.7%\s+33\s+1,056$"), "python-run.json: class 32", out)
check(has_line(out, r"Size classes \(44 used\)"), "python-run.json: 44 classes", out)
check(has_line(out, r"Leak sites: none recorded"), "python-run.json: no leaks recorded", out)

# ---- --diff --------------------------------------------------------------------------
r = run(fx("python-run.json"), "--diff", fx("leak-prof.json"))
check(r.returncode == 0 and has_line(r.stdout, r"^\s+allocs\s+101,101\s+348,658\s+\+247,557\s+\+244\.9%$")
      and has_line(r.stdout, r"^\s+112\s+100,000\s+1,058\s+-98,942"),
      "--diff: totals and class 112 change", r.stdout + r.stderr)

# ---- bad inputs: exit 2 and a message ---------------------------------------------------
r = run(fx("version2.json"))
check(r.returncode == 2 and "unsupported stats schema version 2" in r.stderr and not r.stdout,
      "version 2 dump: exit 2 with a message", f"rc={r.returncode} {r.stderr}")
r = run(fx("broken.json"))
check(r.returncode == 2 and "not valid JSON" in r.stderr, "broken JSON: exit 2 with a message",
      f"rc={r.returncode} {r.stderr}")
r = run(os.path.join(FIX, "no-such-file.json"))
check(r.returncode == 2 and "cannot read" in r.stderr, "missing file: exit 2", f"rc={r.returncode} {r.stderr}")
with tempfile.TemporaryDirectory() as tmp:
    p = os.path.join(tmp, "list.json")
    with open(p, "w") as f:
        f.write("[1, 2]")
    r = run(p)
    check(r.returncode == 2 and "not an mpool stats dump" in r.stderr, "JSON that is not an object: exit 2",
          f"rc={r.returncode} {r.stderr}")
    p = os.path.join(tmp, "empty.json")
    open(p, "w").close()
    r = run(p)
    check(r.returncode == 2 and "empty" in r.stderr, "empty file: exit 2", f"rc={r.returncode} {r.stderr}")
    r = run(fx("small.json"), "--diff", fx("broken.json"))
    check(r.returncode == 2 and "not valid JSON" in r.stderr, "--diff with a broken old dump: exit 2")

    # ---- --addr2line ------------------------------------------------------------------------
    # Modules that do not exist here: raw frames, one note, exit 0.
    r = run(fx("small.json"), "--addr2line", "all")
    check(r.returncode == 0 and "make_table+0x2a (/nonexistent/small-prog+0x1234)" in r.stdout
          and r.stderr.count("/nonexistent/small-prog: not found") == 1,
          "--addr2line: missing module -> raw frames, one note", r.stdout + r.stderr)
    # No addr2line on PATH: said once, raw frames.
    empty_bin = os.path.join(tmp, "bin")
    os.mkdir(empty_bin)
    r = run(fx("leak-prof.json"), "--addr2line", env=dict(os.environ, PATH=empty_bin))
    check(r.returncode == 0 and r.stderr.count("addr2line not found") == 1
          and "0x7fdb976c2249 (/lib/x86_64-linux-gnu/libc.so.6+0x27249)" in r.stdout,
          "--addr2line without binutils: one note, raw frames", r.stdout + r.stderr)

    # ---- --plot (matplotlib is a test dependency: no matplotlib is a failure) --------------
    check(HAS_MPL, "matplotlib can be imported by the tools' python "
          f"({TOOL_PYTHON}; scripts/install-test-deps installs python3-matplotlib)")
    for name in ("python-run.json", "leak-prof.json", "small.json"):
        png = os.path.join(tmp, name + ".png")
        r = run(fx(name), "--plot", png)
        ok = r.returncode == 0 and os.path.isfile(png)
        head = open(png, "rb").read(8) if ok else b""
        size = os.path.getsize(png) if ok else 0
        check(ok and head == PNG_SIGNATURE and size > 10 * 1024,
              f"--plot {name}: a PNG of {size} bytes", r.stderr)

# ==== time series (MPOOL_SERIES) ========================================================
# fixtures/series.jsonl, made by tests/tools/make_series_fixture.py (its docstring tells
# the story): 160 ticks from 0.25 s to 60.00 s (250 ms, then 500 ms from 20 s), RSS
# 16 MiB at start, a decoy rise to 67 MiB, a low of 13 MiB from 7.25 s to 8.00 s, the
# peak 199 MiB at 25.00 s (only there), 183 MiB asleep, 10 MiB (the lowest) from 52 s,
# 36 MiB at the end, and half a line (a killed process) after the last tick.
MiB = 1 << 20
SERIES = fx("series.jsonl")




def fixture_ticks():
    """The ticks of the fixture, read here without the tool."""
    with open(SERIES) as f:
        lines = f.read().split("\n")[1:-1]  # header; the last, incomplete line
    return [t for t in map(json.loads, lines) if "rss" in t]


def line_of(out, pattern):
    m = re.search(pattern, out, re.M)
    return m.group(1) if m else None


def png_size(path):
    """(width, height) from the IHDR of a PNG, or None if it is not one."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


M = load_report(REPORT)
ticks = fixture_ticks()
check(len(ticks) == 160 and ticks[0]["t_ms"] == 250 and ticks[-1]["t_ms"] == 60000,
      "series fixture: 160 complete ticks, 0.25 s to 60.00 s", f"{len(ticks)} ticks")
# the biggest rise by brute force, as a check of the fixture's story
rise, lo_t, hi_t = max((b["rss"] - a["rss"], a["t_ms"], b["t_ms"])
                       for i, a in enumerate(ticks) for b in ticks[i + 1:])
check(rise == 186 * MiB and hi_t == 25000, "series fixture: the biggest rise is +186 MiB to 25.00 s",
      f"{rise} {lo_t} {hi_t}")

# ---- the text report ------------------------------------------------------------------
r = run(SERIES)
out = r.stdout
check(r.returncode == 0 and r.stderr == "", "series: exit 0, nothing on stderr (the cut last line "
      "is left out silently)", f"rc={r.returncode} {r.stderr}")
check(has_line(out, r"^mpool series: .*series\.jsonl$")
      and has_line(out, r"^\s+program /usr/local/bin/ingest\s+pid 48213\s+started 2025-12-03 13:53:20 UTC$"),
      "series: program, pid, start", out)
check(has_line(out, r"^\s+1m 00\.00s in 160 ticks, every 250 ms, then 500 ms from 20\.00 s$"),
      "series: duration, ticks, interval change", out)
spark = line_of(out, r"^\s+RSS\s+(\S+)\s+min 10\.0 MiB\s+max 199\.0 MiB at 25\.00 s$")
check(spark is not None, "series: RSS sparkline with min 10.0 MiB and max 199.0 MiB at 25.00 s", out)
if spark:
    # 60 slices of (60000 - 250) / 60 ms; the peak at 25000 ms falls in slice 24
    peak_slice = (25000 - 250) * 60 // (60000 - 250)
    low_slice = (50000 - 250) * 60 // (60000 - 250)
    check(len(spark) == 60 and set(spark) <= set(M.SPARK), "series: the RSS sparkline is 60 blocks",
          repr(spark))
    check(spark.count("█") == 1 and spark.index("█") == peak_slice,
          f"series: the one highest bar is at the peak (slice {peak_slice})", spark)
    check(spark[low_slice] == "▁" and spark[0] == "▁" and max(spark[25:40]) == "▇",
          "series: low bars at the start and at the lowest point, high ones asleep", spark)
active = line_of(out, r"^\s+active\s+(\S+)\s+min 576\.0 KiB\s+max 130\.6 MiB at 25\.00 s$")
check(active is not None and len(active) == 60, "series: active sparkline, 60 blocks, min and max", out)
check(has_line(out, r"^\s+0\.25 s\s+1m 00\.00s$"), "series: the time under the sparklines", out)
check(has_line(out, r"^Last tick, at 1m 00\.00s$")
      and has_line(out, r"^\s+RSS\s+37,748,736\s+36\.0 MiB$")
      and has_line(out, r"^\s+released so far\s+198,180,864\s+189\.0 MiB$")
      and has_line(out, r"^\s+frees so far\s+654,017$"),
      "series: the last tick's figures", out)
check(has_line(out, r"^Biggest growth: RSS \+186\.0 MiB, from 13\.0 MiB at 8\.00 s to 199\.0 MiB at "
                    r"25\.00 s \(in 17\.00 s\)$"),
      "series: biggest growth 13 MiB at 8.00 s (the last tick of the low) to 199 MiB at 25.00 s", out)
check(has_line(out, r"over that window: active \+130\.0 MiB, mapped \+138\.0 MiB, fallback \+48\.0 MiB$"),
      "series: active, mapped and fallback over the window", out)
rows = re.findall(r"^\s+([\d,]+)\s+\S+ \S+\s+\S+ \S+\s+(\+\S+ MiB)$", out, re.M)
check(rows == [("4,096", "+100.0 MiB"), ("64", "+30.0 MiB")],
      "series: the classes that grew, most first (4096 then 64; 1024 grew outside the window)", out)
grew = re.findall(r"^\s+#\d+\s+(\w+): (\+\S+ MiB)", out, re.M)
check(grew == [("grow_table", "+100.0 MiB"), ("resize_index", "+48.0 MiB"), ("parse_record", "+30.0 MiB")],
      "series: the sites that grew, most first, named by their innermost named function", out)
check(has_line(out, r"^\s+0x55d4c1e02a40 \(ingest\+0x2a40\)$"), "series: frames shortened", out)

r = run("-", stdin=open(SERIES).read())
check(r.returncode == 0 and "mpool series: stdin" in r.stdout and spark and spark in r.stdout,
      "series from stdin ('-')", r.stderr)

# ---- --at -----------------------------------------------------------------------------
def at(time_arg, *more):
    r = run(SERIES, "--at", time_arg, *more)
    return r, line_of(r.stdout, r"^Tick at (.+?): the nearest to")


for arg, want, why in (("2500ms", "2.50 s", "a tick exactly"), ("2.6s", "2.50 s", "nearest below"),
                       ("2.65", "2.75 s", "a bare number is seconds"),
                       ("20.25s", "20.00 s", "a tie goes to the earlier tick (20.00 / 20.50)"),
                       ("1125ms", "1.00 s", "a tie goes to the earlier tick (1.00 / 1.25)"),
                       ("1m", "1m 00.00s", "1m is the last tick"),
                       ("0", "0.25 s", "before the first tick: the first"),
                       ("10m", "1m 00.00s", "after the last tick: the last")):
    r, got = at(arg)
    check(r.returncode == 0 and got == want, f"--at {arg}: {want} ({why})",
          f"rc={r.returncode} got {got!r}\n{r.stdout[:300]}{r.stderr}")
r, _ = at("10m")
check("which is after the last tick (tick 160 of 160)" in r.stdout, "--at 10m says it is past the end",
      r.stdout[:300])
r, _ = at("0")
check("which is before the first tick (tick 1 of 160)" in r.stdout, "--at 0 says it is before the start",
      r.stdout[:300])
r, _ = at("20.25s", "--top", "1", "--frames", "2")
out = r.stdout
check(has_line(out, r"^\s+RSS\s+123,731,968\s+118\.0 MiB$")
      and has_line(out, r"^\s+fallback \(jemalloc\)\s+8,388,608\s+8\.0 MiB$"),
      "--at 20.25s: the tick's figures", out)
check(has_line(out, r"^Size classes \(5 with active bytes, 92\.3 MiB in all\)$")
      and has_line(out, r"^\s+4,096\s+18,070\s+74,014,720\s+70\.6 MiB\s+76\.5%$"),
      "--at 20.25s: the classes table", out)
check(has_line(out, r"^Live allocation sites \(top 1 of 4 in this tick, estimated\)$")
      and has_line(out, r"^\s+#1\s+grow_table: 70\.6 MiB in 18,070 blocks$")
      and has_line(out, r"^\s+load_file\+0x91 \(ingest\+0x3011\)$")
      and has_line(out, r"^\s+\.\.\. 2 more frames$") and "#2" not in out,
      "--at 20.25s --top 1 --frames 2: one site, two frames", out)
r, _ = at("0.25s")
check(has_line(r.stdout, r"^\s+#1\s+inflate_setup: 256\.0 KiB in 4 blocks$")
      and has_line(r.stdout, r"^\s+libz\.so\.1\+0x3a1c$") and has_line(r.stdout, r"^\s+0x7f0c3e2d1a10$"),
      "--at 0.25s: a site of module+offset and bare-address frames", r.stdout)
for bad in ("2x", "-1s", "1.5.2", ""):
    r = run(SERIES, f"--at={bad}")
    check(r.returncode == 2 and "is not a time" in r.stderr and not r.stdout,
          f"--at {bad!r}: exit 2 with a message", f"rc={r.returncode} {r.stderr}")
check(M.parse_time("2.5s") == 2500 and M.parse_time("2500ms") == 2500 and M.parse_time("1m") == 60000
      and M.parse_time("1.5") == 1500 and M.parse_time("1h") == 3600000,
      "parse_time: 2.5s, 2500ms, 1m, 1.5 (seconds), 1h")

# ---- --json ---------------------------------------------------------------------------
r = run(SERIES, "--json")
try:
    j = json.loads(r.stdout)
except ValueError as e:
    j = {}
    check(False, "series --json parses", f"{e}\n{r.stdout[:500]}{r.stderr}")
if j:
    g = j["biggest_growth"]
    check(j["kind"] == "series" and j["ticks"] == 160 and j["duration_s"] == 60.0 and j["pid"] == 48213
          and j["intervals"] == [{"from_s": 0.0, "interval_ms": 250}, {"from_s": 20.0, "interval_ms": 500}]
          and j["end"] is None and j["has_sites"] is True,
          "series --json: ticks, duration, intervals", r.stdout[:600])
    check(j["rss"] == {"min": 10 * MiB, "max": 199 * MiB, "last": 36 * MiB, "max_at_s": 25.0},
          "series --json: rss min/max/last", json.dumps(j["rss"]))
    check(g["from_s"] == 8.0 and g["to_s"] == 25.0 and g["rss_delta"] == 186 * MiB
          and [c["size"] for c in g["classes"]] == [4096, 64]
          and [x["function"] for x in g["sites"]] == ["grow_table", "resize_index", "parse_record"],
          "series --json: the biggest growth, its classes and sites", json.dumps(g)[:600])
r = run(SERIES, "--json", "--at", "20.25")
check(r.returncode == 0 and json.loads(r.stdout)["tick"]["t_s"] == 20.0
      and json.loads(r.stdout)["tick"]["classes"][-1] == {"size": 4096, "active_bytes": 74014720},
      "series --json --at 20.25: the tick at 20.00 s", r.stdout[:300] + r.stderr)

# ---- the pure parts: growth, nearest tick, sparkline, labels ---------------------------
T = lambda *rss: [{"t_ms": 100 * (i + 1), "rss": v} for i, v in enumerate(rss)]
check(M.biggest_growth(T(5, 9, 1, 4, 3, 8, 0, 2)) == (2, 5),
      "biggest_growth: 1 -> 8 (+7), not 0 -> 2 after it nor 5 -> 9 before", str(M.biggest_growth(T(5, 9, 1, 4, 3, 8, 0, 2))))
check(M.biggest_growth(T(3, 1, 1, 1, 6, 6)) == (3, 4),
      "biggest_growth: from the last tick of the low to the first of the high")
check(M.biggest_growth(T(9, 7, 7, 2)) is None and M.biggest_growth(T(4)) is None,
      "biggest_growth: none when RSS never rises")
check([M.nearest_tick(T(0, 0, 0), t) for t in (0, 100, 149, 150, 151, 250, 1000)] == [0, 0, 0, 0, 1, 1, 2],
      "nearest_tick: nearest, ties to the earlier, clamped at both ends")
check(M.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█" and M.sparkline([5, 5]) == "▁▁",
      "sparkline: one level per value, flat is the lowest")
check(M.resample_max([(0, 1), (10, 9), (40, 2), (90, 3)], 3) == [9, 2, 3]
      and M.resample_max([(0, 1), (10, 9), (20, 2), (90, 3)], 3) == [9, 9, 3]
      and M.resample_max([(0, 1), (90, 3)], 4) == [1, 1, 1, 3],
      "resample_max: the largest value per slice; an empty slice keeps the one before",
      str(M.resample_max([(0, 1), (10, 9), (40, 2), (90, 3)], 3)))
check(M.site_label(["0x55d4 (/bin/p+0x10)", "parse_record+0x33 (/bin/p+0x20)"]) == "parse_record"
      and M.site_label(["operator new(unsigned long)+0x1c (/lib/libstdc++.so.6+0xa1)",
                        "Table::grow()+0x10 (/bin/p+0x30)"]) == "Table::grow()"
      and M.site_label(["_Znwm+0x1c (/lib/libstdc++.so.6+0xa1)", "strdup+0x1 (/lib/libc.so.6+0x2)",
                        "main+0x5 (/bin/p+0x40)"]) == "main"
      and M.site_label(["/lib/libz.so.1+0x3a1c", "0x7f0c3e2d1a10"]) == "libz.so.1+0x3a1c",
      "site_label: the innermost named function, past allocation wrappers; else the first frame")
check(M.byte_unit(199 * MiB) == ("MiB", MiB) and M.byte_unit(2.5 * 1024 * MiB) == ("GiB", 1 << 30)
      and M.byte_unit(500 * 1024) == ("KiB", 1024) and M.byte_unit(MiB) == ("MiB", MiB),
      "byte_unit: KiB, MiB or GiB by the largest value, never bytes")
check([M.axis_tick_text(v, u) for v, u in ((0, "MiB"), (150.0, "MiB"), (1.25, "GiB"), (2500.0, "MiB"))]
      == ["0", "150 MiB", "1.25 GiB", "2,500 MiB"], "axis_tick_text: a unit on every tick but 0")
check(M.time_unit(60000) == ("s", 1000) and M.time_unit(2 * 3600000) == ("min", 60000)
      and M.time_unit(20 * 3600000) == ("h", 3600000), "time_unit: seconds, minutes, hours")

# ---- other series: an end marker, unknown records, no sites; bad ones -----------------
with tempfile.TemporaryDirectory() as tmp:
    def series_file(name, text):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    HEAD = '{"mpool_series":1,"pid":7,"program":"/bin/x","interval_ms":100,"start_unix_ms":0}\n'
    ended = series_file("ended.jsonl", HEAD +
                        '{"t_ms":100,"rss":3145728,"active":1048576}\n'
                        '{"t_ms":200,"rss":5242880,"active":2097152,"future":{"a":1}}\n'
                        '{"kind":"a record of a later version"}\n'
                        '{"t_ms":300,"rss":4194304,"active":1048576}\n'
                        '{"t_ms":300,"end":"size cap"}\n'
                        '{"t_ms":400,"rss":99999999}\n')
    r = run(ended)
    check(r.returncode == 0 and has_line(r.stdout, r"0\.30 s in 3 ticks, every 100 ms; ended at 0\.30 s: size cap$")
          and has_line(r.stdout, r"^\s+RSS\s+▁█▅\s+min 3\.0 MiB\s+max 5\.0 MiB at 0\.20 s$")
          and has_line(r.stdout, r"Sites: none recorded \(run with MPOOL_PROF=1"),
          "series with an end marker: ticks after it, unknown keys and records ignored; "
          "a sparkline as long as the ticks", r.stdout + r.stderr)
    falling = series_file("falling.jsonl", HEAD + "".join(
        f'{{"t_ms":{t},"rss":{v}}}\n' for t, v in ((100, 9 << 20), (200, 5 << 20), (300, 5 << 20))))
    r = run(falling)
    check(r.returncode == 0 and "Biggest growth: none (RSS never rose" in r.stdout,
          "series that only shrinks: no growth", r.stdout)
    header_only = series_file("header.jsonl", HEAD + '{"t_ms":100,"rss":31')
    r = run(header_only)
    check(r.returncode == 0 and "0 ticks" in r.stdout and "No complete tick yet." in r.stdout,
          "series with a header and a cut tick: 0 ticks, exit 0", r.stdout + r.stderr)
    r = run(header_only, "--at", "1s")
    check(r.returncode == 2 and "no complete tick" in r.stderr, "--at on a series without ticks: exit 2",
          r.stderr)
    for name, text, message in (
            ("v2.jsonl", '{"mpool_series":2,"pid":1}\n{"t_ms":100,"rss":1}\n',
             "unsupported series version 2"),
            ("midline.jsonl", HEAD + '{"t_ms":100,"rss":1}\n{"t_ms":200,"rss":\n{"t_ms":300,"rss":1}\n',
             "line 3: not valid JSON"),
            ("notobject.jsonl", HEAD + '[1, 2]\n', "line 2: not a JSON object"),
            ("cuthead.jsonl", '{"mpool_series":1,"pid":1,"prog', "header is incomplete")):
        r = run(series_file(name, text))
        check(r.returncode == 2 and message in r.stderr and r.stderr.startswith("mpool-report: error: ")
              and r.stderr.count("\n") == 1 and not r.stdout,
              f"bad series {name}: exit 2, one line: {message}", f"rc={r.returncode} {r.stderr}")
    for args, message in (((SERIES, "--plot", os.path.join(tmp, "x.png")), "for a series use --timeline"),
                          ((SERIES, "--diff", fx("small.json")), "--diff compares two dumps"),
                          ((fx("small.json"), "--at", "1s"), "--at reads a time series"),
                          ((fx("small.json"), "--timeline", os.path.join(tmp, "x.png")),
                           "--timeline reads a time series")):
        r = run(*args)
        check(r.returncode == 2 and message in r.stderr, f"{' '.join(args[1:2])} on the wrong kind of file: "
              "exit 2", f"rc={r.returncode} {r.stderr}")

    # ---- --timeline (matplotlib is a test dependency: no matplotlib is a failure) ---------
    check(HAS_MPL, f"matplotlib can be imported by {TOOL_PYTHON} (for --timeline)")
    for name, path, rows in (("series.jsonl", SERIES, 2), ("ended.jsonl", ended, 1)):
        png = os.path.join(tmp, name + ".png")
        r = run(path, "--timeline", png)
        wh = png_size(png) if r.returncode == 0 else None
        check(wh is not None and 800 <= wh[0] <= 2000 and (600 if rows == 2 else 300) <= wh[1] <= 1200
              and f"wrote {png}" in r.stderr and r.stdout == "",
              f"--timeline {name}: a PNG of {wh} pixels, {rows} panel(s)", f"rc={r.returncode} {r.stderr}")
    # the figure itself, drawn by the tool's python: units on the y ticks, no offset
    probe = r"""
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader("mpool_report", sys.argv[1])
spec = importlib.util.spec_from_loader("mpool_report", loader)
m = importlib.util.module_from_spec(spec)
loader.exec_module(m)
plt = m.import_pyplot("--timeline")
fig = m.timeline_figure(plt, m.load_input(sys.argv[2])[1], "t", 10)
fig.canvas.draw()
print(json.dumps([{"y": [t.get_text() for t in ax.get_yticklabels()],
                   "offset": ax.yaxis.get_offset_text().get_text(), "xlabel": ax.get_xlabel(),
                   "legend": [t.get_text() for t in ax.get_legend().get_texts()]} for ax in fig.axes]))
"""
    r = subprocess.run([TOOL_PYTHON, "-c", probe, REPORT, SERIES], capture_output=True, text=True,
                       timeout=120)
    try:
        axes = json.loads(r.stdout)
    except ValueError:
        axes = []
    check(len(axes) == 2, "--timeline figure: two panels (memory, sites)", r.stdout[-300:] + r.stderr[-600:])
    for i, ax in enumerate(axes):
        ticks_y = [t for t in ax["y"] if t]
        check(len(ticks_y) >= 3 and all(t == "0" or re.fullmatch(r"[\d,.]+ MiB", t) for t in ticks_y)
              and ax["offset"] == "", f"--timeline panel {i + 1}: y ticks in MiB, no offset", str(ax))
    if len(axes) == 2:
        check(axes[1]["xlabel"].endswith("(s)") and axes[0]["legend"][:3] == [
              "RSS (resident)", "active (pool blocks held)", "fallback (jemalloc blocks)"]
              and "biggest growth (RSS +186.0 MiB)" in axes[0]["legend"],
              "--timeline: x in seconds; RSS, active, fallback and the growth window", str(axes))
        check([l.split(" (peak")[0] for l in axes[1]["legend"]] ==
              ["#1 grow_table", "#2 cache_insert", "#3 resize_index", "#4 parse_record",
               "#5 inflate_setup"],
              "--timeline: the sites stacked, each in the legend by its innermost named function "
              "(numbered: matplotlib drops a label that starts with '_', as C++ and CPython "
              "names often do)", str(axes[1]))


# ==== issues seen by a new user: each check below failed before its fix ==================
SMALL = json.load(open(fx("small.json")))


def call(name, *args):
    """M.name(*args), or what it raised: a FAIL, not a crash, when the tool is older."""
    try:
        return getattr(M, name)(*args)
    except BaseException as e:  # SystemExit from argparse too
        return e


def variant(tmp, name, **changes):
    """small.json with some top-level keys changed (None: removed), as a file."""
    d = json.loads(json.dumps(SMALL))
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        json.dump(d, f)
    return path


def profile_site(i, inuse_bytes, inuse_blocks):
    frames = [f"0x55d0c0de{i:04x} (/nonexistent/prog+0x{0x1000 + i:x})", "main+0x5 (/nonexistent/prog+0x1500)"]
    return {"inuse_bytes": inuse_bytes, "inuse_blocks": inuse_blocks, "inuse_samples": inuse_blocks,
            "alloc_bytes": max(inuse_bytes, 64), "alloc_blocks": max(inuse_blocks, 1),
            "alloc_samples": max(inuse_blocks, 1), "peak_bytes": inuse_bytes,
            "peak_blocks": inuse_blocks, "peak_samples": inuse_blocks,
            "pcs": [f"0x55d0c0de{i:04x}", "0x55d0c0de1501"], "stack": frames}


with tempfile.TemporaryDirectory() as tmp:
    # ---- 1. no leak sites: profiling off, or on with nothing live -----------------------
    prof_empty = {"sample_bytes": 524288, "live_bytes": 0, "peak_bytes": 0, "peak_view_bytes": 0,
                  "peak_ms": 0, "sites_total": 0, "sites": []}
    p = variant(tmp, "prof-noleak.json", leaks=[], profile=prof_empty, reason="exit")
    r = run(p)
    check(r.returncode == 0 and has_line(r.stdout, r"^Leak sites: none: no live block was sampled at exit "
                                                   r"\(MPOOL_PROF was on")
          and "run with MPOOL_PROF=1" not in r.stdout,
          "1. a profile and no leak: 'no live block was sampled at exit (MPOOL_PROF was on)'",
          r.stdout + r.stderr)
    r = run(variant(tmp, "noprof.json", leaks=[]))
    check(has_line(r.stdout, r"^Leak sites: none recorded \(run with MPOOL_PROF=1 to record them\)$"),
          "1. no profile and no leak: still 'run with MPOOL_PROF=1'", r.stdout)
    j = json.loads(run(p, "--json").stdout)
    check(j.get("profiling") is True and j["leak_sites"] == 0 and j.get("live_sites") == 0,
          "1. --json: profiling true, no live site", json.dumps({k: j.get(k) for k in
                                                                ("profiling", "leak_sites", "live_sites")}))

    # ---- 2. more live sites than the dump's list of 64 ------------------------------------
    # 100 live sites (1,000 + 8 i bytes, i blocks), 20 sites all freed; the list has the 64 largest
    sites = [profile_site(i, 1000 + 8 * i, 1 + i % 3) for i in range(100)]
    sites += [profile_site(100 + i, 0, 0) for i in range(20)]
    live_total = sum(1000 + 8 * i for i in range(100))
    leaks = sorted(({"bytes": x["inuse_bytes"], "blocks": x["inuse_blocks"], "stack": x["stack"]}
                    for x in sites if x["inuse_bytes"]), key=lambda l: -l["bytes"])[:64]
    listed = sum(l["bytes"] for l in leaks)
    prof = dict(prof_empty, sample_bytes=1, live_bytes=live_total, sites_total=120, sites=sites)
    p = variant(tmp, "many-sites.json", leaks=leaks, profile=prof, reason="exit")
    r = run(p, "--top", "3")
    check(r.returncode == 0 and has_line(r.stdout, rf"^Top 3 of 100 leak sites \(live at exit, estimated; "
                                                   rf"{live_total:,} bytes in all\)$"),
          "2. 'Top 3 of 100 leak sites': the live sites of the profile, not the list's 64",
          r.stdout + r.stderr)
    check(has_line(r.stdout, rf"^\s+the dump lists the largest 64 \({listed:,} bytes\); 36 smaller sites "
                             r"not listed \(--view inuse"),
          "2. says the dump's list dropped 36 sites", r.stdout)
    j = json.loads(run(p, "--json").stdout)
    check(j.get("live_sites") == 100 and j.get("live_sites_exact") is True and j["leak_sites"] == 64,
          "2. --json: live_sites 100 (exact), leak_sites 64 listed", str(j.get("live_sites")))
    # the profile lists only some of its sites: the live ones it lists are a lower bound
    p = variant(tmp, "many-sites-cut.json", leaks=leaks, profile=dict(prof, sites_total=3000), reason="exit")
    r = run(p, "--top", "3")
    check(has_line(r.stdout, r"^Top 3 of at least 100 leak sites")
          and has_line(r.stdout, r"at least 36 smaller sites not listed"),
          "2. a profile that lists 120 of its 3,000 sites: 'at least 100'", r.stdout)
    # no profile (an older dump) with a full list: at least 64
    r = run(variant(tmp, "full-list.json", leaks=leaks), "--top", "3")
    check(has_line(r.stdout, r"^Top 3 of at least 64 leak sites") and "(--view inuse" not in r.stdout,
          "2. no profile, a full list of 64: 'at least 64'", r.stdout)

    # ---- 3. --addr2line's optional value must not swallow the file name ---------------------
    want = "make_table+0x2a (/nonexistent/small-prog+0x1234)"
    for args, mode in (((fx("small.json"), "--addr2line"), "missing"),
                       (("--addr2line", fx("small.json")), "missing"),
                       (("--addr2line", "all", fx("small.json")), "all"),
                       ((fx("small.json"), "--addr2line", "all"), "all"),
                       (("--addr2line=all", fx("small.json")), "all"),
                       (("--addr2line", "missing", fx("small.json")), "missing"),
                       (("--addr2line", "--top", "1", fx("small.json")), "missing")):
        r = run(*args)
        parsed = call("parse_args", list(args))
        check(r.returncode == 0 and r.stdout.startswith("mpool stats: ") and want in r.stdout
              and r.stderr.count("/nonexistent/small-prog: not found") == 1
              and getattr(parsed, "addr2line", None) == mode
              and getattr(parsed, "dump", None) == fx("small.json"),
              f"3. mpool-report {' '.join(a if a.startswith('-') else os.path.basename(a) for a in args)}"
              f": the file is read, mode {mode}", f"rc={r.returncode} {parsed}\n{r.stdout[:400]}{r.stderr}")
    r = run("--addr2line", "bogus", fx("small.json"))
    check(r.returncode == 2 and "--addr2line takes missing or all, not 'bogus'" in r.stderr,
          "3. --addr2line bogus FILE: exit 2, says what --addr2line takes", r.stderr)
    check(call("addr2line_argv", ["--addr2line", "x.json", "--top", "3"])
          == ["--addr2line=missing", "x.json", "--top", "3"]
          and call("addr2line_argv", ["--addr", "all", "x.json"]) == ["--addr2line=all", "x.json"]
          and call("addr2line_argv", ["x.json", "--", "--addr2line"]) == ["x.json", "--", "--addr2line"],
          "3. addr2line_argv: a bare option gets 'missing', 'all' is joined, '--' ends it")

    # ---- 4. --diff compares every column ------------------------------------------------------
    classes = json.loads(json.dumps(SMALL["classes"]))
    classes[0]["reuses"] += 5                            # class 16: 75 -> 80 reuses, nothing else
    fb = dict(SMALL["fallback"], cached_bytes=SMALL["fallback"]["cached_bytes"] + 4096)
    p = variant(tmp, "reuses-moved.json", classes=classes, fallback=fb)
    r = run(p, "--diff", fx("small.json"))
    out = r.stdout
    check(r.returncode == 0 and "(no change)" not in out
          and has_line(out, r"^\s+16\s+100\s+100\s+0\s+0\s+\+5\s+\+5\.0 pts\s+0\s+0$"),
          "4. --diff: a class whose reuses alone moved is shown (reuses +5, reuse % +5.0 pts)", out + r.stderr)
    check(has_line(out, r"^Fallback") and has_line(out, r"^\s+cached_bytes\s+8,388,608\s+8,392,704\s+\+4,096\s+\+0\.0%$"),
          "4. --diff: the fallback's figures (cached_bytes +4,096)", out)
    check(has_line(out, r"^\s+threads_live\s+2\s+2\s+0\s+\+0\.0%$") and has_line(out, r"^\s+released_bytes\s"),
          "4. --diff: threads and released bytes among the totals", out)
    r = run(fx("small.json"), "--diff", fx("small.json"))
    check(r.returncode == 0 and "(no change)" in r.stdout, "4. --diff of a dump with itself: no class changed",
          r.stdout)
    j = json.loads(run(p, "--diff", fx("small.json"), "--json").stdout)["diff"]
    c16 = next(c for c in j["classes"] if c["size"] == 16)
    check(c16["reuses"]["delta"] == 5 and c16.get("reuse_pct", {}).get("delta") == 5.0
          and j.get("fallback", {}).get("cached_bytes", {}).get("delta") == 4096,
          "4. --diff --json: reuses, reuse_pct and the fallback", json.dumps(c16))

    # ---- 5. the time estimates: the samples behind them ------------------------------------------
    r = run(fx("leak-prof.json"))
    check(has_line(r.stdout, r"^\s+time allocating\s+~57\.4 ms\s+avg 567\.7 ns/alloc ±15% \(fresh ~57\.4 ms, reuse 0 ns\)$")
          and has_line(r.stdout, r"^\s+timed calls\s+~48\s+about one per 256 KiB allocated"),
          "5. leak-prof.json: ~57.4 ms, ±15% from ~48 timed calls", r.stdout)
    r = run(fx("python-run.json"))
    check(has_line(r.stdout, r"^\s+time allocating\s+~4\.94 ms\s+avg 14\.2 ns/alloc ±14%")
          and has_line(r.stdout, r"^\s+timed calls\s+~83\s"),
          "5. python-run.json: ~4.94 ms, ±14% from ~83 timed calls", r.stdout)
    r = run(fx("small.json"))
    check(has_line(r.stdout, r"^\s+time allocating\s+too few samples\s+the estimate, 7\.50 \S+ "
                             r"\(avg 50\.0 ns/alloc\), rests on ~1 timed call: not meaningful$")
          and not has_line(r.stdout, r"time allocating\s+7,500 ns"),
          "5. small.json: too few samples (the estimate rests on one timed call)", r.stdout)
    totals = dict(SMALL["totals"], alloc_ns=0, reuse_ns=0)
    r = run(variant(tmp, "untimed.json", totals=totals))
    check(has_line(r.stdout, r"^\s+time allocating\s+too few samples\s+no call was timed$")
          and not has_line(r.stdout, r"\b0 ns\b"),
          "5. nothing timed (gcc): 'too few samples', not '0 ns'", r.stdout)
    j = json.loads(run(fx("leak-prof.json"), "--json").stdout).get("timing") or {}
    check(abs(j.get("timed_calls", 0) - 47.7) < 0.2 and j["too_few_samples"] is False
          and abs(j["relative_error"] - 0.151) < 0.001,
          "5. --json: timing.timed_calls 47.7, relative_error 0.151", json.dumps(j))
    # one class of 1 KiB: p = 1/256, 25,600 allocations -> 100 timed calls, error sqrt(255/25600)
    base = {"totals": {"alloc_ns": 1000, "reuse_ns": 0}, "classes": [{"size": 1024, "allocs": 25600,
            "reuses": 0}], "fallback": {"allocs": 0}, "recent_sizes": [], "profile": None}
    tm = call("timing", base)
    check(isinstance(tm, dict) and tm["timed_calls"] == 100 and abs(tm["relative_error"] - (255 / 25600) ** 0.5) < 1e-9
          and not tm["too_few_samples"], "5. timing(): 1/256 of 25,600 calls: 100 timed, ±1/sqrt(100)",
          str(tm))
    tm = call("timing", dict(base, classes=[{"size": 1024, "allocs": 2560, "reuses": 0}]))
    check(isinstance(tm, dict) and tm["timed_calls"] == 10 and tm["too_few_samples"], "5. timing(): 10 timed calls are too few", str(tm))
    tm = call("timing", dict(base, profile={"sample_bytes": 1}))
    check(isinstance(tm, dict) and tm["relative_error"] == 0 and not tm["too_few_samples"],
          "5. timing(): every call timed (MPOOL_PROF_SAMPLE=1): no sampling error", str(tm))
    r = run(fx("python-run.json"), "--diff", fx("small.json"))
    check(has_line(r.stdout, r"^\s+avg ns/alloc \(est\.\)\s+50\.0\s+14\.2")
          and has_line(r.stdout, r"\(est\.\): sampled estimates; old: ~1 timed call, too few samples; "
                                 r"new: ~83 timed calls, ±14%$"),
          "5. --diff: the estimates marked, with each dump's timed calls", r.stdout)

    # ---- 6. the run section -------------------------------------------------------------------------
    run_sec = {"program": "/usr/bin/app", "argv": ["app", "--name", "two words"] + ["x" * 30] * 5,
               "start_unix_ms": 1764770000250,
               "modules": [{"path": "/usr/bin/app", "base": "0x55d0c0de0000", "build_id": "ab12"},
                           {"path": "/usr/lib/x86_64-linux-gnu/libc.so.6", "base": "0x7f0000000000",
                            "build_id": "cd34"}]}
    p = variant(tmp, "with-run.json", run=run_sec)
    r = run(p)
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and len(lines) > 3
          and re.fullmatch(r"\s+program /usr/bin/app\s+started 2025-12-03 13:53:20 UTC\s+2 modules mapped", lines[2])
          and lines[3].startswith("  argv    app --name 'two words' xxxxx") and lines[3].endswith("...")
          and len(lines[3]) <= 100,
          "6. the run near the top: program, start (UTC), modules, argv quoted and cut to a line",
          "\n".join(lines[:5]))
    check(not has_line(r.stdout, r"^run:") and "build_note: hand-made fixture" in r.stdout,
          "6. no generic 'run: {...}' line (other unknown keys still shown)", r.stdout[-400:])
    j = json.loads(run(p, "--json").stdout)
    check((j.get("run") or {}).get("program") == "/usr/bin/app" and "run" not in j["extra"]
          and j["run"]["modules"][1]["build_id"] == "cd34",
          "6. --json: 'run' at the top level, not under extra", json.dumps(j.get("run"))[:300])

    # The build-id check of --addr2line: a program dumped, then rebuilt.
    cc = shutil.which("cc") or shutil.which("gcc")
    readelf = shutil.which("readelf")
    check(cc is not None and shutil.which("addr2line") is not None and readelf is not None
          and os.path.isfile(LIB),
          f"6. a C compiler, addr2line, readelf and the library ({LIB}) for the checks with a real program")
    if cc and shutil.which("addr2line") and readelf and os.path.isfile(LIB):
        src = os.path.join(tmp, "sites.c")
        with open(src, "w") as f:
            f.write(r"""/* 100 live allocation sites: one call of grab() per line of main */
#include <stdlib.h>
#include <string.h>
void *volatile keep[100];
__attribute__((noinline)) static void *grab(size_t n)
{
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}
#define GRAB(i) keep[i] = grab(1000 + 8 * (i))
#define TEN(t) GRAB(10 * t + 0); GRAB(10 * t + 1); GRAB(10 * t + 2); GRAB(10 * t + 3); \
    GRAB(10 * t + 4); GRAB(10 * t + 5); GRAB(10 * t + 6); GRAB(10 * t + 7); GRAB(10 * t + 8); \
    GRAB(10 * t + 9)
int main(void)
{
#ifdef REBUILT
    keep[0] = grab(7);
#endif
    TEN(0); TEN(1); TEN(2); TEN(3); TEN(4); TEN(5); TEN(6); TEN(7); TEN(8); TEN(9);
    return 0;
}
""")
        exe = os.path.join(os.path.realpath(tmp), "sites")  # as /proc/self/maps will name it

        def build(*flags):
            """Build the program; its build-id as readelf -n reads it."""
            b = subprocess.run([cc, "-g", "-O1", "-Wl,--build-id", *flags, "-o", exe, src],
                               capture_output=True, text=True)
            n = subprocess.run([readelf, "-n", exe], capture_output=True, text=True).stdout
            m = re.search(r"Build ID: ([0-9a-f]+)", n)
            return b.returncode == 0 and m and m.group(1)

        first = build()
        dump = os.path.join(tmp, "sites.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
        env.update(LD_PRELOAD=LIB, MPOOL_PROF="1", MPOOL_PROF_SAMPLE="1", MPOOL_STATS=dump)
        ran = bool(first) and subprocess.run([exe], env=env, timeout=60).returncode == 0
        check(ran and os.path.isfile(dump), "6. the program built (with a build-id), run, dumped", str(first))
        if ran and os.path.isfile(dump):
            d = json.load(open(dump))
            mod = next((m for m in d.get("run", {}).get("modules", []) if m["path"] == exe), None)
            check(mod is not None and mod["build_id"] == first,
                  "6. the dump's run section has the program with the build-id read here from its file",
                  f"{first} {mod}")
            check(call("elf_build_id", exe) == first, "6. elf_build_id agrees with readelf -n",
                  f"{first} {call('elf_build_id', exe)}")
            r = run(dump, "--top", "3")
            live = sum(1 for x in d["profile"]["sites"] if x["inuse_blocks"] > 0)
            check(live >= 100 and has_line(r.stdout, rf"^Top 3 of {live} leak sites \(live at exit")
                  and has_line(r.stdout, rf"the dump lists the largest 64 .*; {live - 64} smaller sites not listed"),
                  f"2. a real dump of 100 live sites: 'Top 3 of {live}', {live - 64} not listed", r.stdout)
            check(has_line(r.stdout, rf"^\s+program {re.escape(exe)}\s+started \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+\d+ modules mapped$")
                  and has_line(r.stdout, rf"^\s+argv\s+{re.escape(exe)}$"),
                  "6. a real dump: program, start and modules; argv", r.stdout[:600])
            r = run("--addr2line", dump, "--top", "1", "--frames", "2")
            check(r.returncode == 0 and has_line(r.stdout, r"^\s+grab at .*sites\.c:\d+$")
                  and has_line(r.stdout, r"^\s+main at .*sites\.c:\d+$") and "no longer matches" not in r.stderr,
                  "6. --addr2line DUMP: the same build: frames named (grab, main)", r.stdout + r.stderr)
            second = build("-DREBUILT")
            check(second and second != first, "6. rebuilt differently: another build-id", f"{first} {second}")
            r = run("--addr2line", dump, "--top", "5", "--frames", "2")
            msg = (f"{exe} no longer matches the build-id it had when the dump was written; "
                   "frames from it are not symbolised")
            check(r.returncode == 0 and r.stderr.count(msg) == 1 and "grab at" not in r.stdout
                  and has_line(r.stdout, rf"^\s+0x[0-9a-f]+ \({re.escape(exe)}\+0x[0-9a-f]+\)$"),
                  "6. --addr2line after a rebuild: one warning for the program, its frames raw",
                  r.stdout[-800:] + r.stderr)
            r = run(dump, "--addr2line", "all", "--top", "1")
            check(r.returncode == 0 and r.stderr.count("no longer matches") == 1,
                  "6. --addr2line all: the same one warning", r.stderr)
            r = run(dump, "--collapsed", "--view", "inuse", "--addr2line")
            check(r.returncode == 0 and r.stderr.count(msg) == 1 and ";grab" not in r.stdout,
                  "6. --collapsed --addr2line after a rebuild: the warning, no names from the new file",
                  r.stdout[:300] + r.stderr)
            os.unlink(exe)
            r = run(dump, "--addr2line", "--top", "1")
            check(r.returncode == 0 and r.stderr.count(f"{exe}: not found here; frames in it stay raw "
                                                       f"(it had build-id {first})") == 1,
                  "6. --addr2line with the program gone: one note with the build-id it had", r.stderr)
        # a profile, and nothing live at exit: /bin/true under MPOOL_PROF=1
        true_dump = os.path.join(tmp, "true.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
        env.update(LD_PRELOAD=LIB, MPOOL_PROF="1", MPOOL_STATS=true_dump)
        subprocess.run(["/bin/true"], env=env, timeout=60)
        r = run(true_dump)
        check(has_line(r.stdout, r"^Leak sites: none: no live block was sampled at exit \(MPOOL_PROF was on")
              and has_line(r.stdout, r"^\s+time allocating\s+too few samples"),
              "1./5. a real dump of /bin/true with MPOOL_PROF=1: no leak, MPOOL_PROF was on; too few samples",
              r.stdout)

finish()
