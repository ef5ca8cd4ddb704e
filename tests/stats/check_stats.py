#!/usr/bin/python3
"""End-to-end checks of libmpool's stats dumps.

usage: check_stats.py BUILD_DIR
BUILD_DIR holds libmpool.so and the test programs (tests/stats/*).
"""
import json
import os
import shutil
import re
import signal
import subprocess
import sys
import tempfile
import time

build = sys.argv[1]
lib = os.path.join(build, "libmpool.so")
prog = lambda name: os.path.join(build, "tests", "stats", name)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish  # noqa: E402


def run(args, env_extra, timeout=60, preload=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
    env.update(env_extra)
    if preload:
        env["LD_PRELOAD"] = lib
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def load(path):
    with open(path) as f:
        return json.load(f)


def by_size(dump):
    return {c["size"]: c for c in dump["classes"]}


tmp = tempfile.mkdtemp(prefix="mpool-stats-")

# --- a known pattern, number by number --------------------------------------
a, b, atexit = (os.path.join(tmp, n) for n in ("a.json", "b.json", "exit.json"))
# (no background thread: glibc's pthread_create, which starts it once the
# big blocks are freed, allocates, and the count here is the program's alone;
# no guarded sampling: the first guarded block's stack has glibc load
# libgcc_s, whose allocations, one time in 40 between the dumps, counted too)
r = run([prog("known_pattern"), a, b],
        {"MPOOL_STATS": atexit, "MPOOL_PROF": "1", "MPOOL_PROF_SAMPLE": "1",
         "MPOOL_BACKGROUND": "0", "MPOOL_GUARD_SAMPLE": "0"})
check(r.returncode == 0, f"known_pattern exit {r.returncode}: {r.stderr}")
A, B, E = load(a), load(b), load(atexit)
check(A["reason"] == "request" and E["reason"] == "exit", "reasons request/exit")
check(A["version"] == 1 and B["pid"] == A["pid"], "version and pid")
d = lambda k: B["totals"][k] - A["totals"][k]
# 1000 + 600 pooled, 10 fallback, 7 + 2 leaked (sampled: served by the fallback)
check(d("allocs") == 1000 + 600 + 10 + 9, f"allocs delta {d('allocs')}")
check(d("frees") == 1600 + 10, f"frees delta {d('frees')}")
check(d("active_blocks") == 9, f"active_blocks delta {d('active_blocks')}")
ca, cb = by_size(A).get(112, {"allocs": 0, "frees": 0, "reuses": 0}), by_size(B)[112]
check(cb["allocs"] - ca["allocs"] == 1600, f"class 112 allocs delta {cb['allocs'] - ca['allocs']}")
check(cb["frees"] - ca["frees"] == 1600, "class 112 frees delta")
fa, fb = A["fallback"], B["fallback"]
# every call is sampled (MPOOL_PROF_SAMPLE=1), so pooled sizes are served by
# the fallback too but counted in their class; the 10 big ones count here
check(fb["allocs"] - fa["allocs"] == 10 + 2, f"fallback allocs delta {fb['allocs'] - fa['allocs']}")
check(fb["frees"] - fa["frees"] == 10, "fallback frees delta")
# sites grouped by the allocating function (the compiler may unroll a loop
# into several call sites, each its own stack)
leaks = {}
for l in B["leaks"]:
    fn = l["stack"][0].split("+")[0]
    agg = leaks.setdefault(fn, {"bytes": 0, "blocks": 0, "stack": l["stack"]})
    agg["bytes"] += l["bytes"]
    agg["blocks"] += l["blocks"]
check("leak_in_named_function" in leaks, f"leak site named: {list(leaks)}")
check("big_leak_in_named_function" in leaks, "big leak site named")
if "leak_in_named_function" in leaks:
    l = leaks["leak_in_named_function"]
    check(l["bytes"] == 7 * 3000 and l["blocks"] == 7, f"leak bytes/blocks {l['bytes']}/{l['blocks']}")
    check(any("main+" in f for f in l["stack"]), "leak stack reaches main")
    check("known_pattern+0x" in l["stack"][0], f"frame names module+offset: {l['stack'][0]}")
if "big_leak_in_named_function" in leaks:
    l = leaks["big_leak_in_named_function"]
    check(l["bytes"] == 600000 and l["blocks"] == 2, "big leak bytes/blocks")
check(B["leaks"][0]["bytes"] >= B["leaks"][-1]["bytes"], "leaks largest first")
check(E["totals"]["allocs"] - E["totals"]["frees"] == E["totals"]["active_blocks"], "exit: allocs - frees == active")
check(E["totals"]["allocs"] == sum(c["allocs"] for c in E["classes"]) + E["fallback"]["allocs"],
      "totals.allocs == classes + fallback")
check(E["totals"]["peak_active_bytes"] >= E["totals"]["active_bytes"], "peak >= active")
check(0 < len(B["recent_sizes"]) <= 256, "recent sizes bounded")
check(B["recent_sizes"][-2:] == [300000, 300000], f"recent sizes end with the last requests: {B['recent_sizes'][-3:]}")
check(B["threads"]["live"] >= 1, "a live thread")

# --- text format, %p, stderr --------------------------------------------------
pat = os.path.join(tmp, "t-%p.txt")
r = run([prog("known_pattern"), os.path.join(tmp, "x.json"), os.path.join(tmp, "y.json")],
        {"MPOOL_STATS": pat, "MPOOL_STATS_FORMAT": "text"})
txt = [f for f in os.listdir(tmp) if f.startswith("t-") and f.endswith(".txt")]
check(len(txt) == 1 and txt[0][2:-4].isdigit(), f"%p expanded: {txt}")
if txt:
    body = open(os.path.join(tmp, txt[0])).read()
    check(body.startswith("mpool stats\n") and "size classes" in body and "reason                   exit" in body,
          "text dump content")
# bash, not dash: dash leaves with _exit(), which runs no exit-time dump
r = run(["/bin/bash", "-c", "echo out"], {"MPOOL_STATS": "-"}, preload=True)
check(r.stdout == "out\n" and '"version": 1' in r.stderr, "MPOOL_STATS=- goes to stderr")

# --- signals: dumps while threads churn, then a storm ---------------------------
sig = os.path.join(tmp, "sig.json")
r = run([prog("signal_churn"), "20", "50000", sig], {"MPOOL_STATS": sig, "MPOOL_STATS_SIGNAL": "USR2"},
        preload=True, timeout=120)
check(r.returncode == 0, f"signal_churn exit {r.returncode}: {r.stderr[-500:]}")
S = load(sig)
check(S["reason"] == "exit" and S["totals"]["allocs"] > 1000, "dump after signals")
check(not [f for f in os.listdir(tmp) if ".tmp." in f], "no temporary files left")
# a dump written by the signal itself (no exit dump to overwrite it)
sig2 = os.path.join(tmp, "sig2.json")
p = subprocess.Popen(["/bin/sleep", "5"], env={**os.environ, "LD_PRELOAD": lib, "MPOOL_STATS": sig2,
                                               "MPOOL_STATS_SIGNAL": "12"})
time.sleep(0.5)
p.send_signal(signal.SIGUSR2)
time.sleep(0.5)
check(os.path.exists(sig2) and load(sig2)["reason"] == "signal", "a signal writes a dump with reason signal")
p.kill()
p.wait()
t0 = time.time()
r = run([prog("signal_churn"), "500", "0"], {"MPOOL_STATS": sig, "MPOOL_STATS_SIGNAL": "SIGUSR2"},
        preload=True, timeout=180)
check(r.returncode == 0, f"signal storm exit {r.returncode}: {r.stderr[-500:]}")
check(load(sig)["version"] == 1, "dump valid after a storm")
print(f"signal storm: 500 signals in {time.time() - t0:.1f}s", file=sys.stderr)

# --- MPOOL_SHOW_STATS: a summary on stderr at exit, without a file -------------
grow = "x = [bytes(600 + i % 400) for i in range(100000)]"  # past pymalloc: malloc
for prof in (False, True):
    extra = {"MPOOL_SHOW_STATS": "1", **({"MPOOL_PROF": "1", "MPOOL_PROF_SAMPLE": "1"} if prof else {})}
    r = run(["/usr/bin/python3", "-c", grow], extra, preload=True)
    lines = [l for l in r.stderr.splitlines() if l.startswith("mpool: ")]
    m = re.match(r"mpool: peak (\d+)\.(\d) (KiB|MiB|GiB) in use, .* live at exit in \d+ blocks; "
                 r"(\d+) allocations, (\d+)\.\d% of them reusing", lines[0] if lines else "")
    peak = (int(m.group(1)) << {"KiB": 10, "MiB": 20, "GiB": 30}[m.group(3)]) if m else 0
    check(r.returncode == 0 and m and peak >= 70 << 20 and int(m.group(4)) >= 100000,
          f"MPOOL_SHOW_STATS summary line (peak {peak >> 20} MiB): {lines[:1]}")
    check(any(l.startswith("mpool: busiest classes: ") and " B " in l for l in lines),
          f"MPOOL_SHOW_STATS busiest classes: {lines}")
    check(any(l.startswith("mpool: live at exit: ") for l in lines) == prof,
          f"MPOOL_SHOW_STATS live sites only with MPOOL_PROF={int(prof)}: {lines}")
r = run(["/usr/bin/python3", "-c", grow], {}, preload=True)
check(r.returncode == 0 and "mpool:" not in r.stderr, f"no summary unless asked: {r.stderr[-200:]!r}")

# --- a relative MPOOL_STATS: where the program started, though it changes directory
os.makedirs(os.path.join(tmp, "rel", "sub"), exist_ok=True)
env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
r = subprocess.run(["/usr/bin/python3", "-c", "import os; os.chdir('sub'); x = bytes(100000)"],
                   env={**env, "LD_PRELOAD": lib, "MPOOL_STATS": "rel-%p.json"},
                   cwd=os.path.join(tmp, "rel"), capture_output=True, text=True, timeout=60)
here = [f for f in os.listdir(os.path.join(tmp, "rel")) if f.startswith("rel-")]
moved = os.listdir(os.path.join(tmp, "rel", "sub"))
check(r.returncode == 0 and len(here) == 1 and not moved,
      f"relative MPOOL_STATS lands where the program started: {here}, in its new directory: {moved}")

# --- MPOOL_STATS_FORMAT=openmetrics, read by prometheus_client's parser ---------
om = os.path.join(tmp, "metrics-%p.prom")
r = run(["/usr/bin/python3", "-c", "x = [bytes(600 + i % 400) for i in range(20000)]"],
        {"MPOOL_STATS": om, "MPOOL_STATS_FORMAT": "openmetrics"}, preload=True)
files = [f for f in os.listdir(tmp) if f.startswith("metrics-") and f.endswith(".prom")]
families = {}
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    text = open(os.path.join(tmp, files[0])).read() if files else ""
    families = {f.name: f for f in text_string_to_metric_families(text)}
except ImportError:
    check(False, "prometheus_client is not installed (scripts/install-test-deps installs it)")
except (ValueError, IndexError) as e:
    check(False, f"OpenMetrics parser refused the dump: {e}")
if families:
    def value(name, **labels):
        return [s.value for s in families[name].samples
                if all(s.labels.get(k) == v for k, v in labels.items())] if name in families else []
    pid = files[0][len("metrics-"):-len(".prom")]
    allocs = value("mpool_allocs", pid=pid, program="python3")
    check(allocs and allocs[0] >= 20000 and families["mpool_allocs"].type == "counter",
          f"openmetrics: mpool_allocs counter with pid and program labels: {allocs}")
    check(value("mpool_rss_bytes") and value("mpool_rss_bytes")[0] > 1 << 20, "openmetrics: RSS gauge")
    sizes = {s.labels["size"] for s in families.get("mpool_class_allocs", type("", (), {"samples": []})).samples}
    check({"640", "768", "896", "1024"} <= sizes, f"openmetrics: per-class allocations by size: {sorted(sizes)}")
    check(families.get("mpool_fallback_active_bytes") is not None
          and families["mpool_fallback_active_bytes"].type == "gauge", "openmetrics: fallback gauge")

# --- MPOOL_STATS_FORMAT=prometheus, read by node_exporter's textfile collector ---
# The real consumer: node_exporter (Debian prometheus-node-exporter) serves a
# directory of such files; a file it cannot parse shows as
# node_textfile_scrape_error 1 and its samples are missing.
import socket
import urllib.request
textdir = os.path.join(tmp, "textfile")
os.makedirs(textdir)
r = run(["/usr/bin/python3", "-c", "x = [bytes(600 + i % 400) for i in range(20000)]"],
        {"MPOOL_STATS": os.path.join(textdir, "mpool-%p.prom"), "MPOOL_STATS_FORMAT": "prometheus"},
        preload=True)
check(r.returncode == 0 and len(os.listdir(textdir)) == 1, f"prometheus format dump: {os.listdir(textdir)}")
exporter = shutil.which("prometheus-node-exporter")
check(exporter is not None, "prometheus-node-exporter missing (scripts/install-test-deps installs it)")
if exporter:
    with socket.socket() as s_:
        s_.bind(("127.0.0.1", 0))
        port = s_.getsockname()[1]
    ne = subprocess.Popen([exporter, "--collector.disable-defaults", "--collector.textfile",
                           f"--collector.textfile.directory={textdir}",
                           f"--web.listen-address=127.0.0.1:{port}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    body = ""
    for _ in range(100):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            break
        except OSError:
            time.sleep(0.1)
    ne.terminate()
    err = ne.communicate(timeout=10)[1]
    scrape = [l for l in body.splitlines() if l.startswith("node_textfile_scrape_error")]
    check(scrape == ["node_textfile_scrape_error 0"], f"node_exporter read the file: {scrape} {err[-300:]}")
    allocs = [l for l in body.splitlines() if l.startswith("mpool_allocs_total{")]
    check(len(allocs) == 1 and 'program="python3"' in allocs[0] and float(allocs[0].split()[-1]) >= 20000,
          f"node_exporter serves mpool_allocs_total: {allocs}")
    check("# TYPE mpool_allocs_total counter" in body and "# TYPE mpool_rss_bytes gauge" in body,
          "node_exporter keeps the counter and gauge types")
    classes = [l for l in body.splitlines() if l.startswith("mpool_class_allocs_total{")]
    check(len(classes) >= 4, f"per-class samples through node_exporter: {len(classes)}")

# --- %n: two signals and the exit leave three whole dumps ------------------------
numbered = os.path.join(tmp, "n-%p-%n.json")
p = subprocess.Popen(["/usr/bin/python3", "-c",
                      "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n"],
                     env={**os.environ, "LD_PRELOAD": lib, "MPOOL_STATS": numbered,
                          "MPOOL_STATS_SIGNAL": "USR2"},
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
p.stdout.readline()  # libmpool's handler is in place before the program runs
for i in range(2):
    p.send_signal(signal.SIGUSR2)
    deadline = time.time() + 60  # the next signal only once this dump is there
    while time.time() < deadline and not os.path.exists(os.path.join(tmp, f"n-{p.pid}-{i}.json")):
        time.sleep(0.02)
p.communicate("go\n", timeout=60)
names = sorted(f for f in os.listdir(tmp) if f.startswith(f"n-{p.pid}-"))
check(names == [f"n-{p.pid}-{i}.json" for i in range(3)], f"%n: three numbered dumps, got {names}")
reasons = [load(os.path.join(tmp, f))["reason"] for f in names]
check(reasons == ["signal", "signal", "exit"], f"%n dumps' reasons: {reasons}")

# --- a fork while another thread dumps: the child's exit dump must not wait --
r = run([prog("fork_dump"), os.path.join(tmp, "fd-%p.json")], {"MPOOL_STATS": os.path.join(tmp, "fdx-%p.json")},
        timeout=120)
check(r.returncode == 0, f"fork during a dump: {r.stderr.strip()}")

# --- profiled blocks that are resized: sites debited what they were credited --
pr = os.path.join(tmp, "prof_realloc.json")
r = run([prog("prof_realloc")], {"MPOOL_STATS": pr, "MPOOL_PROF": "1", "MPOOL_PROF_SAMPLE": "1"}, preload=True)
site = [l for l in load(pr)["leaks"] if l["stack"][0].startswith("resized_site+")]
check(sum(l["bytes"] for l in site) == 400000 and sum(l["blocks"] for l in site) == 2,
      f"resized site keeps 400000 bytes in 2 blocks: {site}")

# --- MPOOL_LIMIT from the environment, on a real program -----------------------
r = run(["/usr/bin/python3", "-c",
         "try:\n    bytearray(64 << 20)\nexcept MemoryError:\n    print('refused')\n"
         "x = bytearray(8 << 20)\nprint('ok', len(x))"],
        {"MPOOL_LIMIT": "16M", "PYTHONMALLOC": "malloc"}, preload=True)
check(r.returncode == 0 and r.stdout == "refused\nok 8388608\n",
      f"MPOOL_LIMIT=16M: python3 refused 64 MiB and took 8 MiB: {r.stdout!r} {r.stderr[-300:]!r}")

# --- bad paths and settings: one warning line, output and status unchanged ----
def warned_once(env, what, needle):
    r = run(["/bin/bash", "-c", "echo hello; exit 7"], env, preload=True)
    lines = [l for l in r.stderr.splitlines() if l.startswith("mpool:")]
    check(r.stdout == "hello\n" and r.returncode == 7, f"{what}: output and status unchanged")
    check(len(lines) == 1 and needle in lines[0], f"{what}: one warning naming {needle}: {r.stderr!r}")

warned_once({"MPOOL_STATS": "/nonexistent-dir/x.json"}, "unwritable path", "/nonexistent-dir/x.json")
warned_once({"MPOOL_STATS_FORMAT": "xml"}, "bad format", "MPOOL_STATS_FORMAT")
warned_once({"MPOOL_STATS_SIGNAL": "KILL"}, "uncatchable signal", "MPOOL_STATS_SIGNAL")
warned_once({"MPOOL_STATS_SIGNAL": "NOPE"}, "unknown signal", "MPOOL_STATS_SIGNAL")
warned_once({"MPOOL_PROF_SAMPLE": "lots"}, "bad sample", "MPOOL_PROF_SAMPLE")
warned_once({"MPOOL_PROF": "maybe"}, "bad bool", "MPOOL_PROF")
warned_once({"MPOOL_LIMIT": "lots"}, "bad limit", "MPOOL_LIMIT")

# a symlink at the path is replaced, never written through
target = os.path.join(tmp, "target.txt")
open(target, "w").write("precious\n")
link = os.path.join(tmp, "link.json")
os.symlink(target, link)
r = run(["/bin/true"], {"MPOOL_STATS": link}, preload=True)
check(open(target).read() == "precious\n", "symlink target untouched")
check(not os.path.islink(link) and load(link)["version"] == 1, "symlink replaced by the dump")

finish("check_stats")
