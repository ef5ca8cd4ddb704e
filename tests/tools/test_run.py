#!/usr/bin/python3
"""Tests of scripts/mpool-run with real programs under the real library.

    tests/tools/test_run.py /path/to/libmpool.so [PATH/TO/mpool-run]

Checks that the program's stdout and stdin pass through untouched, that its
exit status (and 128+N for a signal) comes back, that the report lands on
stderr with a totals section, that the dump exists, is JSON with version 1
and is the top-level process's when the program forks, and, when a C compiler
is around, that --prof + --report-args "--addr2line" names a leaking function
with its source line.  --interval / --series: the environment the program
gets, and the series' report after the dump's (with a stand-in library and a
program that writes the files itself, so that it does not depend on the
library's series).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from toolcheck import check, finish

HERE = os.path.dirname(os.path.abspath(__file__))
if len(sys.argv) < 2:
    sys.exit("usage: test_run.py LIBMPOOL.so [mpool-run]")
LIB = os.path.abspath(sys.argv[1])
RUN = (sys.argv[2] if len(sys.argv) > 2
       else os.path.join(HERE, "..", "..", "scripts", "mpool-run"))
PY = "/usr/bin/python3"




MPOOL_VARS = ("LD_PRELOAD", "MPOOL_STATS", "MPOOL_PROF", "MPOOL_LIB", "MPOOL_STATS_SIGNAL",
              "MPOOL_SERIES", "MPOOL_STATS_INTERVAL")


def mpool_run(args, env=None, stdin=None, cwd=None):
    e = dict(os.environ)
    for k in MPOOL_VARS:
        e.pop(k, None)
    e["TMPDIR"] = TMP  # default dumps go there, not to /tmp
    e.update(env or {})
    return subprocess.run([RUN, *args], capture_output=True, text=True, encoding="utf-8", env=e,
                          input=stdin, timeout=300, cwd=cwd)


def dump_path(stderr):
    m = re.search(r"^mpool-run: stats dump: (.+)$", stderr, re.M)
    return m.group(1) if m else None


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


check(os.path.isfile(LIB), f"library exists: {LIB}")

with tempfile.TemporaryDirectory() as tmp:
    TMP = tmp
    # ---- a real program, default dump path in $TMPDIR -------------------------------
    prog = ("import sys, json\n"
            "d = {str(i): list(range(i)) for i in range(200)}\n"
            "print('hello from python', len(json.dumps(d)))\n"
            "print('second line')\n")
    expected = "hello from python %d\nsecond line\n" % len(
        json.dumps({str(i): list(range(i)) for i in range(200)}))
    r = mpool_run(["--lib", LIB, "--", PY, "-c", prog], env={"TMPDIR": tmp})
    check(r.returncode == 0, "python3: exit 0", r.stderr)
    check(r.stdout == expected, "python3: stdout unchanged", repr(r.stdout))
    check(re.search(r"^Totals$", r.stderr, re.M) and
          re.search(r"^\s+allocations\s+[\d,]+$", r.stderr, re.M) and
          re.search(r"reuse ratio \d+\.\d%", r.stderr),
          "python3: report with totals on stderr", r.stderr)
    path = dump_path(r.stderr)
    check(path is not None and re.fullmatch(re.escape(tmp) + r"/mpool-\d+\.json", path),
          "python3: default dump $TMPDIR/mpool-PID.json, path printed", r.stderr[-500:])
    d = load(path) if path else None
    check(d is not None and d.get("version") == 1 and d.get("reason") == "exit"
          and d["totals"]["allocs"] > 0,
          "python3: dump kept, valid JSON, version 1", path)
    if d is not None:
        check(path.endswith(f"mpool-{d['pid']}.json"), "python3: dump named by the pid inside it")

    # ---- exit status ----------------------------------------------------------------------
    r = mpool_run(["--lib", LIB, "--", "sh", "-c", "exit 3"])
    check(r.returncode == 3, "sh -c 'exit 3': status 3", f"rc={r.returncode} {r.stderr}")
    r = mpool_run(["--lib", LIB, "--no-report", "--", PY, "-c", "import sys; sys.exit(7)"])
    check(r.returncode == 7 and "Totals" not in r.stderr, "python3 exit 7 + --no-report", r.stderr)
    r = mpool_run(["--lib", LIB, "--", "sh", "-c", "kill -TERM $$"])
    check(r.returncode == 128 + 15 and "killed by SIGTERM" in r.stderr,
          "killed by SIGTERM: status 143", f"rc={r.returncode} {r.stderr}")
    r = mpool_run(["--lib", LIB, "--", "/nonexistent/prog"])
    check(r.returncode == 127 and "not found" in r.stderr, "missing program: status 127", r.stderr)

    # ---- stdin passes through; --out with %p; environment ---------------------------------
    out = os.path.join(tmp, "custom-%p.json")
    r = mpool_run(["--lib", LIB, "--out", out, "--prof", "--sample", "4096", "--signal", "USR2",
                   "--report-args", "--top 1", "--",
                   PY, "-c", "import os, sys; data = sys.stdin.read(); print(data.upper(), end='');"
                   "print(os.environ['MPOOL_PROF'], os.environ['MPOOL_PROF_SAMPLE'],"
                   " os.environ['MPOOL_STATS_SIGNAL'], os.environ['MPOOL_STATS'])"],
                  stdin="some input\n")
    check(r.returncode == 0 and r.stdout == f"SOME INPUT\n1 4096 USR2 {out}\n",
          "stdin passed through; MPOOL_PROF / _SAMPLE / _STATS_SIGNAL / MPOOL_STATS set",
          repr(r.stdout) + r.stderr)
    path = dump_path(r.stderr)
    check(path and re.fullmatch(re.escape(os.path.join(tmp, "custom-")) + r"\d+\.json", path)
          and load(path) is not None, "--out FILE with %p", r.stderr[-300:])

    # LD_PRELOAD is prepended to, not replaced
    other = "/lib/x86_64-linux-gnu/libm.so.6"
    if os.path.exists(other):
        r = mpool_run(["--lib", LIB, "--no-report", "--", PY, "-c",
                       "import os; print(os.environ['LD_PRELOAD'])"], env={"LD_PRELOAD": other})
        check(r.stdout.strip() == f"{LIB}:{other}", "LD_PRELOAD prepended", r.stdout)

    # the library from $MPOOL_LIB; a bad --lib is an error
    r = mpool_run(["--no-report", "--", PY, "-c", "import os; print(os.environ['LD_PRELOAD'])"],
                  env={"MPOOL_LIB": LIB})
    check(r.stdout.strip() == LIB, "library from $MPOOL_LIB", r.stdout + r.stderr)
    r = mpool_run(["--lib", os.path.join(tmp, "nope.so"), "--", "true"])
    check(r.returncode == 2 and "no such file" in r.stderr, "--lib missing: exit 2", r.stderr)

    # ---- --interval / --series: the program's environment ------------------------------------
    show = ["sh", "-c", 'echo "${MPOOL_STATS_INTERVAL-unset}|${MPOOL_SERIES-unset}"']
    r = mpool_run(["--lib", LIB, "--no-report", "--interval", "1.5s", "--", *show])
    check(r.returncode == 0 and r.stdout == f"1500ms|{tmp}/mpool-%p.series.jsonl\n",
          "--interval 1.5s: MPOOL_STATS_INTERVAL=1500ms, MPOOL_SERIES beside the default dump",
          repr(r.stdout) + r.stderr)
    r = mpool_run(["--lib", LIB, "--no-report", "--interval", "250ms", "--out",
                   os.path.join(tmp, "o-%p-%n.json"), "--", *show])
    check(r.stdout == f"250ms|{tmp}/o-%p.series.jsonl\n",
          "--interval with --out FILE-%p-%n.json: the series is FILE-%p.series.jsonl", repr(r.stdout))
    r = mpool_run(["--lib", LIB, "--no-report", "--series", "s-%p.jsonl", "--", *show], cwd=tmp)
    check(r.stdout == f"unset|{tmp}/s-%p.jsonl\n",
          "--series FILE alone: MPOOL_SERIES made absolute, the library's default interval",
          repr(r.stdout))
    r = mpool_run(["--lib", LIB, "--no-report", "--", *show])
    check(r.stdout == "unset|unset\n", "without --interval or --series: no series", repr(r.stdout))
    for bad, message in (("1", "a duration with a unit"), ("2x", "a duration with a unit"),
                         ("5ms", "between 10ms and 24h"), ("25h", "between 10ms and 24h")):
        r = mpool_run(["--lib", LIB, "--interval", bad, "--", "true"])
        check(r.returncode == 2 and message in r.stderr and not r.stdout,
              f"--interval {bad}: exit 2, {message}", f"rc={r.returncode} {r.stderr}")

    # ---- the series' report after the dump's ------------------------------------------------
    # A stand-in library (libm: no libmpool, so nothing of the library's own) and a program
    # that writes a dump and a series where mpool-run told it to, as libmpool would.
    standin = "/lib/x86_64-linux-gnu/libm.so.6"
    check(os.path.exists(standin), f"a harmless library to preload instead of libmpool: {standin}")
    writer = ("import os, shutil, sys\n"
              "pid = str(os.getpid())\n"
              "shutil.copy(sys.argv[1], os.environ['MPOOL_STATS'].replace('%p', pid))\n"
              "shutil.copy(sys.argv[2], os.environ['MPOOL_SERIES'].replace('%p', pid))\n"
              "print('wrote both')\n")
    fixtures = os.path.join(HERE, "fixtures")
    r = mpool_run(["--lib", standin, "--interval", "250ms", "--", PY, "-c", writer,
                   os.path.join(fixtures, "small.json"), os.path.join(fixtures, "series.jsonl")])
    err = r.stderr
    m = re.search(r"runs as pid (\d+)", err)
    series_path = os.path.join(tmp, f"mpool-{m.group(1) if m else '?'}.series.jsonl")
    check(r.returncode == 0 and r.stdout == "wrote both\n", "series writer: exit 0, stdout its own",
          repr(r.stdout) + err)
    i_dump, i_series = err.find("mpool stats: "), err.find("mpool series: ")
    check(0 <= i_dump < i_series, "the series' report follows the dump's", err)
    check(re.search(r"^\s+RSS\s+[▁▂▃▄▅▆▇█]{60}\s+min 10\.0 MiB\s+max 199\.0 MiB at 25\.00 s$", err, re.M)
          and "Biggest growth: RSS +186.0 MiB" in err,
          "the series' report: the RSS sparkline and the biggest growth", err)
    check(err.rstrip().endswith(f"mpool-run: time series: {series_path}")
          and f"mpool-run: stats dump: {tmp}/mpool-" in err,
          "the series' path is printed last, after the dump's", err[-400:])
    r = mpool_run(["--lib", standin, "--interval", "250ms", "--no-report", "--", PY, "-c", writer,
                   os.path.join(fixtures, "small.json"), os.path.join(fixtures, "series.jsonl")])
    check("mpool series:" not in r.stderr and "mpool-run: time series: " in r.stderr,
          "--no-report: no series report, its path all the same", r.stderr)
    r = mpool_run(["--lib", standin, "--interval", "250ms", "--", "sh", "-c", "exit 4"])
    check(r.returncode == 4 and re.search(r"no time series from pid \d+ at ", r.stderr)
          and "time series: " not in r.stderr.replace("no time series", ""),
          "no series written: a note, and the program's exit status", f"rc={r.returncode} {r.stderr}")

    # ---- a program that forks: the report is the top-level pid's ----------------------------
    fork_prog = ("import os, sys\n"
                 "kids = []\n"
                 "for i in range(2):\n"
                 "    pid = os.fork()\n"
                 "    if pid == 0:\n"
                 "        x = [bytes(64) for _ in range(50000)]\n"
                 "        sys.exit(0)\n"
                 "    kids.append(pid)\n"
                 "for k in kids: os.waitpid(k, 0)\n"
                 "print('parent', os.getpid())\n")
    r = mpool_run(["--lib", LIB, "--", PY, "-c", fork_prog], env={"TMPDIR": tmp})
    m = re.match(r"parent (\d+)$", r.stdout.strip())
    path = dump_path(r.stderr)
    d = load(path) if path else None
    check(m and d and d["pid"] == int(m.group(1)) and path.endswith(f"mpool-{m.group(1)}.json"),
          "forking program: report of the top-level pid", r.stdout + r.stderr[-600:])
    check(re.search(r"2 more dump\(s\) written during the run", r.stderr),
          "forking program: children's dumps listed", r.stderr)

    # ---- signals sent to mpool-run reach the program; its pid is printed; %n ---------
    e = dict(os.environ)
    for k in MPOOL_VARS:
        e.pop(k, None)
    e["TMPDIR"] = TMP
    waiter = ("import sys\n"
              "x = [bytes(1000) for _ in range(1000)]\n"
              "print('ready', flush=True)\n"   # libmpool's handler is in place by now
              "sys.stdin.readline()\n")
    out_n = os.path.join(TMP, "sig-%p-%n.json")
    p = subprocess.Popen([RUN, "--lib", LIB, "--signal", "USR2", "--out", out_n, "--",
                          "/usr/bin/python3", "-c", waiter],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=e)
    ready = p.stdout.readline().strip()
    p.send_signal(signal.SIGUSR2)  # to mpool-run, which passes it on
    deadline = time.time() + 60
    while time.time() < deadline and not [f for f in os.listdir(TMP)
                                          if f.startswith("sig-") and f.endswith("-0.json")]:
        time.sleep(0.05)
    out, err = p.communicate("go\n", timeout=120)
    m = re.search(r"^mpool-run: /usr/bin/python3 runs as pid (\d+)$", err, re.M)
    pid = m.group(1) if m else "?"
    first = load(os.path.join(TMP, f"sig-{pid}-0.json"))
    check(ready == "ready" and p.returncode == 0 and first and first["reason"] == "signal",
          "USR2 sent to mpool-run reaches the program, which dumps; mpool-run lives on",
          f"exit {p.returncode}, dump -0 {first and first['reason']}, stderr {err[-400:]!r}")
    check(m and dump_path(err) == os.path.join(TMP, f"sig-{pid}-1.json"),
          "mpool-run prints the pid, and with %n reports the program's last dump (its exit)",
          err[-400:])
    check(re.search(r"1 more dump\(s\) written during the run.*sig-" + pid + r"-0\.json", err),
          "with %n the earlier dump is listed", err[-400:])

    # ---- --prof and offline symbolisation of a C program ------------------------------------
    cc = shutil.which("cc") or shutil.which("gcc")
    check(cc and shutil.which("addr2line"), "--prof/--addr2line test needs cc and addr2line "
          "(scripts/install-deps installs gcc and binutils)")
    if cc and shutil.which("addr2line"):
        src = os.path.join(tmp, "leak.c")
        with open(src, "w") as f:
            f.write("#include <stdlib.h>\n"
                    "#include <string.h>\n"
                    "__attribute__((noinline)) void *leaky_function(size_t n)\n"
                    "{\n"
                    "    void *p = malloc(n);\n"          # line 5
                    "    memset(p, 1, n);\n"
                    "    return p;\n"
                    "}\n"
                    "int main(void)\n"
                    "{\n"
                    "    for (int i = 0; i < 1000; i++)\n"
                    "        leaky_function(1000);\n"    # line 12
                    "    return 0;\n"
                    "}\n")
        exe = os.path.join(tmp, "leak")
        c = subprocess.run([cc, "-g", "-O1", "-o", exe, src], capture_output=True, text=True)
        check(c.returncode == 0, "compile leak.c", c.stderr)
        r = mpool_run(["--lib", LIB, "--prof", "--sample", "1", "--out",
                       os.path.join(tmp, "leak-%p.json"),
                       "--report-args", "--addr2line --top 1", "--", exe])
        check(r.returncode == 0, "leak: exit 0", r.stderr)
        check(re.search(r"#1\s+1,000,000 bytes .* in 1,000 blocks", r.stderr),
              "leak: 1,000,000 bytes in 1,000 blocks at the top", r.stderr)
        # The first frame of a site is the return address after the call to
        # malloc (src/profile/sites.c subtracts 1 only from the frames above
        # it), so addr2line may name the line after the malloc (6) rather
        # than the malloc itself (5); the callers' frames are exact.
        m = re.search(r"^\s+leaky_function at .*leak\.c:(\d+)$", r.stderr, re.M)
        check(m and m.group(1) in ("5", "6")
              and re.search(r"^\s+main at .*leak\.c:12$", r.stderr, re.M),
              "leak: --addr2line names leaky_function at leak.c:5 (or 6), main at leak.c:12",
              r.stderr)
        if m and m.group(1) == "6":
            print("note: the first frame names leak.c:6, the line after the malloc call "
                  "(its return address is not adjusted by -1)")

finish()
