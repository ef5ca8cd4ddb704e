#!/usr/bin/python3
"""Tests of scripts/mpool-report on the dumps in tests/tools/fixtures/.

    tests/tools/test_report.py [PATH/TO/mpool-report]

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

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
REPORT = (sys.argv[1] if len(sys.argv) > 1
          else os.path.join(HERE, "..", "..", "scripts", "mpool-report"))
failures = 0
checks = 0


def run(*args, env=None):
    return subprocess.run([REPORT, *args], capture_output=True, text=True, env=env, timeout=120)


def check(cond, what, detail=""):
    global failures, checks
    checks += 1
    if cond:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what}")
        if detail:
            print("     " + detail.replace("\n", "\n     ")[:3000])


def has_line(out, pattern):
    return any(re.search(pattern, line) for line in out.splitlines())


def fx(name):
    return os.path.join(FIX, name)


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

    # ---- --plot -------------------------------------------------------------------------------
    has_mpl = subprocess.run([sys.executable, "-c", "import matplotlib"],
                             capture_output=True).returncode == 0
    if not has_mpl:
        print("skip --plot: matplotlib is not installed (apt-get install python3-matplotlib)")
    else:
        for name in ("python-run.json", "leak-prof.json", "small.json"):
            png = os.path.join(tmp, name + ".png")
            r = run(fx(name), "--plot", png)
            ok = r.returncode == 0 and os.path.isfile(png)
            head = open(png, "rb").read(8) if ok else b""
            size = os.path.getsize(png) if ok else 0
            check(ok and head == b"\x89PNG\r\n\x1a\n" and size > 10 * 1024,
                  f"--plot {name}: a PNG of {size} bytes", r.stderr)

print(f"{checks - failures}/{checks} checks passed")
sys.exit(1 if failures else 0)
