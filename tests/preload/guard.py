#!/usr/bin/python3
"""Sampled guard pages (MPOOL_GUARD_SAMPLE, MPOOL_GUARD_SLOTS), run as a user
would, with the programs guard_bugs.c and guard_handler.c:

(a) each bug of guard_bugs, 100 runs with MPOOL_GUARD_SAMPLE=1: every run
    dies by SIGABRT with a report of the right kind -- heap-buffer-overflow
    (overflow-write-1; overflow-read-8 as a READ), heap-buffer-underflow,
    use-after-free (WRITE; READ), double-free, and invalid-free (free(p + 8),
    beyond the brief) -- all its lines starting with "mpool: ", its block
    described as guarded with the right size and offset and placed at its
    page's start or end, its stacks naming the bug's function (the access or
    the free, "allocated by", and "freed by" exactly when the block had been
    freed), all in the main thread;
(b) hot-site at the default rate: at least 95 % of 40 runs end in a
    heap-buffer-overflow report found at free, the rest exit quietly;
(c) clean and threads (every byte checked, alignments 32..4096, realloc both
    ways) exit 0 with "ok" and a silent stderr at MPOOL_GUARD_SAMPLE=1 and
    100, and at 1 with only 2 slots;
(d) guard_handler: a program's own SIGSEGV handler gets all its faults
    (installed before and after libmpool's), sigaction() reads back the
    program's handler, and with no handler, or an SA_RESETHAND one spent, a
    bad access dies by SIGSEGV with no "mpool:" line -- under the preload at
    MPOOL_GUARD_SAMPLE=1 and the default rate, and without it (which checks
    the program itself);
(e) MPOOL_GUARD_SAMPLE=abc and MPOOL_GUARD_SLOTS=-3: one "mpool: warning:"
    line each, naming the setting, and the clean mix runs;
(f) a fork child's write after free is reported naming its function, and
    the parent goes on; guarded blocks count against MPOOL_LIMIT (64 KiB
    holds at most 1 024 blocks of 64 bytes, guarded or not).

    tests/preload/guard.py PATH/TO/libmpool.so PATH/TO/guard_bugs PATH/TO/guard_handler

The programs are built with -fno-builtin -O1 -g -D_GNU_SOURCE -rdynamic
(-rdynamic, so that dladdr names their functions) and -pthread.
"""
import collections
import concurrent.futures
import os
import re
import resource
import signal
import subprocess
import sys

LIB, BUGS, HANDLER = (os.path.abspath(a) for a in sys.argv[1:4])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish  # noqa: E402

JOBS = 2          # runs at once: the CI machines have 2 cores
RUNS = 100        # runs of each bug
HOT_RUNS = 40     # runs of the hot site at the default rate
SIGABRT, SIGSEGV = -signal.SIGABRT, -signal.SIGSEGV


class Result:
    def __init__(self, pid, returncode, stdout, stderr):
        self.pid, self.returncode, self.stdout, self.stderr = pid, returncode, stdout, stderr


def no_core():
    """no core files from 600 aborts (and no time spent writing them)"""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(prog, mode, env_extra=None, preload=True, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPOOL_")}
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = LIB
    env.update(env_extra or {})
    p = subprocess.Popen([prog, mode], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=no_core)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += f"\n[guard.py: killed after {timeout} s]\n".encode()
        return Result(p.pid, None, out.decode(errors="replace"), err.decode(errors="replace"))
    return Result(p.pid, p.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def run_many(prog, mode, n, env_extra=None, timeout=30):
    """n runs, JOBS at a time; once 2 have timed out (a fault handled over and over, say)
    the rest are not started, so a hanging library costs a minute, not an hour"""
    timeouts = []

    def one(_):
        if len(timeouts) >= 2:
            return Result(0, None, "", "[guard.py: not run: 2 runs before it timed out]\n")
        r = run(prog, mode, env_extra, timeout=timeout)
        if r.returncode is None:
            timeouts.append(r)
        return r

    with concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
        return list(pool.map(one, range(n)))


def outcome(r):
    if r.returncode is None:
        return "timed out"
    if r.returncode < 0:
        return f"killed by {signal.Signals(-r.returncode).name}"
    return f"exit {r.returncode}"


def excerpt(r, lines=16):
    text = r.stderr.splitlines()
    cut = text[:lines] + ([f"... ({len(text) - lines} more lines)"] if len(text) > lines else [])
    out = r.stdout.strip().splitlines()[:3]
    return ("\n    stderr: " + "\n            ".join(cut or ["(empty)"]) +
            ("\n    stdout: " + " | ".join(out) if out else ""))


# ---- the report -------------------------------------------------------------------------------
# "in thread T" may carry the thread's name, "in thread T (main)"; double and invalid frees may
# have no "(ACCESS)"; "(guarded)" may say more, "(guarded, freed)"
THREAD = r"thread (\d+)(?: \([^()]*\))?"
HEAD = re.compile(r"^mpool: ERROR: ([a-z-]+) on address (0x[0-9a-f]+)(?: \(([^()]*)\))? in "
                  + THREAD + "$")
DESC = re.compile(r"^mpool: (0x[0-9a-f]+) is (.*?) (?:of )?the (\d+)-byte block at (0x[0-9a-f]+) "
                  r"\(guarded[^()]*\)$")
SECTION = re.compile(r"^mpool: (the access|the free|the second free|allocated by|freed by),? "
                     + THREAD + ":$")
FRAME = re.compile(r"^mpool: +#(\d+) (\S+)(?: \((.*)\))?$")


def parse(stderr):
    """{'head': match, 'desc': match, 'sections': {title: (tid, [(func, module)])},
    'stray': [lines not starting with "mpool: "]}"""
    rep = {"head": None, "desc": None, "sections": {}, "stray": []}
    current = None
    for line in stderr.splitlines():
        if not line.startswith("mpool: "):
            rep["stray"].append(line)
            continue
        m = HEAD.match(line)
        if m and rep["head"] is None:
            rep["head"] = m
            continue
        m = DESC.match(line)
        if m and rep["desc"] is None:
            rep["desc"] = m
            continue
        m = SECTION.match(line)
        if m:
            current = m.group(1)
            rep["sections"][current] = (int(m.group(2)), [])
            continue
        m = FRAME.match(line)
        if m and current is not None:
            func = m.group(2).split("+0x")[0]
            rep["sections"][current][1].append((func, m.group(3) or ""))
            continue
        current = None  # a line of the report this test does not know: allowed, ends a section
    return rep


def names(frames, func):
    """the frame of func among frames (func itself, or a compiler's func.cold/.part)"""
    return next((f for f in frames if f[0] == func or f[0].startswith(func + ".")), None)


# What each bug must report.  access: the accepted texts in parentheses (None: not checked);
# size: the block's size (None: not checked -- see uaf-write); where: a pattern for the
# offset text of the description; freed: whether a "freed by" section belongs there.
EXPECT = {
    "overflow-write-1": dict(func="overflow_write_1", kind="heap-buffer-overflow",
                             access=("WRITE", "WRITE, found at free"), size=32,
                             where=r"^0 bytes past the end$", freed=False),
    "overflow-read-8": dict(func="overflow_read_8", kind="heap-buffer-overflow", access=("READ",),
                            size=32, where=r"^0 bytes past the end$", freed=False),
    "underflow-write-1": dict(func="underflow_write_1", kind="heap-buffer-underflow",
                              access=("WRITE", "WRITE, found at free"), size=32,
                              where=r"^1 bytes? before\b", freed=False),
    # after 1000 other blocks the slot may have served one of them (it is freed too, and
    # allocated and freed from uaf_write through churn_small): any size
    "uaf-write": dict(func="uaf_write", kind="use-after-free", access=("WRITE",), size=None,
                      where=None, freed=True),
    "uaf-read": dict(func="uaf_read", kind="use-after-free", access=("READ",), size=64,
                     where=None, freed=True),
    "double-free": dict(func="double_free", kind="double-free", access=None, size=40,
                        where=None, freed=True),
    "invalid-free": dict(func="invalid_free", kind="invalid-free", access=None, size=64,
                         where=None, freed=False),
    "hot-site": dict(func="hot_site", kind="heap-buffer-overflow", access=("WRITE, found at free",),
                     size=100, where=r"^0 bytes past the end$", freed=False),
}


def report_problems(r, mode):
    """what is wrong with run r of bug mode (empty: a right report)"""
    e = EXPECT[mode]
    func = e["func"]
    if r.returncode != SIGABRT:
        return [f"{outcome(r)}, want SIGABRT"]
    rep = parse(r.stderr)
    bad = []
    if rep["stray"]:
        bad.append(f"a stderr line not starting with 'mpool: ': {rep['stray'][0][:100]!r}")
    head = rep["head"]
    if head is None:
        return bad + ["no 'mpool: ERROR: KIND on address 0x... [(ACCESS)] in thread T' line"]
    kind, addr, tid = head.group(1), int(head.group(2), 16), int(head.group(4))
    access = head.group(3) or ""
    if kind != e["kind"]:
        bad.append(f"ERROR: {kind}, want {e['kind']}")
    if e["access"] is not None and access not in e["access"]:
        bad.append(f"access ({access}), want " + " or ".join(f"({a})" for a in e["access"]))
    if tid != r.pid:
        bad.append(f"in thread {tid}: the main thread is {r.pid}")

    desc = rep["desc"]
    if desc is None:
        bad.append("no 'mpool: 0x... is ... the N-byte block at 0x... (guarded)' line")
    else:
        daddr, where, size, block = (int(desc.group(1), 16), desc.group(2), int(desc.group(3)),
                                     int(desc.group(4), 16))
        if daddr != addr:
            bad.append(f"the description's address {daddr:#x} is not the error's {addr:#x}")
        if e["size"] is not None and size != e["size"]:
            bad.append(f"a {size}-byte block, want {e['size']}")
        if e["where"] and not re.search(e["where"], where):
            bad.append(f"'{where}' the block, want /{e['where']}/")
        m = re.match(r"^(\d+) bytes? (past the end|before)", where)
        if m:
            n = int(m.group(1))
            want = block + size + n if m.group(2) == "past the end" else block - n
            if addr != want:
                bad.append(f"address {addr:#x} is not '{where}' the block at {block:#x}")
        align = 16  # glibc's promise for every block, which the guarded ones keep
        if block % align:
            bad.append(f"the {size}-byte block at {block:#x} is not {align}-byte aligned")
        at_start = block % 4096 == 0
        at_end = (-(block + size)) % 4096 < align
        if not (at_start or at_end):
            bad.append(f"the {size}-byte block at {block:#x} is neither at its page's start nor "
                       "at its end")

    secs = rep["sections"]
    if kind == "double-free":
        now = "the second free"
    elif access.endswith("found at free"):
        now = "the free"
    elif kind == "invalid-free":  # the brief leaves its title open
        now = "the access" if "the access" in secs else "the free"
    else:
        now = "the access"
    wanted = [now, "allocated by"] + (["freed by"] if e["freed"] else [])
    for title in wanted:
        if title not in secs:
            bad.append(f"no '{title}' section")
            continue
        stid, frames = secs[title]
        f = names(frames, func)
        if f is None:
            bad.append(f"'{title}' does not name {func}: {[x[0] for x in frames[:6]]}")
        elif os.path.basename(BUGS) not in f[1]:
            bad.append(f"'{title}': {func}'s frame names the module {f[1]!r}, not the program")
        if stid != r.pid:
            bad.append(f"'{title}' in thread {stid}: the program's only thread is {r.pid}")
    extra = set(secs) - set(wanted)
    if extra:
        bad.append(f"sections that do not belong: {sorted(extra)}")
    return bad


def check_runs(what, results, judge, allowed=0):
    """judge(r) -> problems; at most `allowed` runs may have any; shows the commonest problems"""
    problems = [(r, judge(r)) for r in results]
    wrong = [(r, p) for r, p in problems if p]
    key = lambda p: re.sub(r"0x[0-9a-f]+|\b\d+\b", "N", p[0])  # alike but for addresses, ids
    common = collections.Counter(key(p) for _, p in wrong)
    detail = ""
    for first, count in common.most_common(3):
        r, p = next((r, p) for r, p in wrong if key(p) == first)
        detail += f"\n  {count} run(s): " + "; ".join(p) + excerpt(r)
    check(len(wrong) <= allowed, f"{what}: {len(wrong)} of {len(results)} runs wrong"
          f"{f' (allowed {allowed})' if allowed else ''}{detail}")
    return wrong


# ---- (a) each bug, every allocation guarded ------------------------------------------------------
for mode in ["overflow-write-1", "overflow-read-8", "underflow-write-1", "uaf-write", "uaf-read",
             "double-free", "invalid-free"]:
    results = run_many(BUGS, mode, RUNS, {"MPOOL_GUARD_SAMPLE": "1"})
    check_runs(f"{mode} with MPOOL_GUARD_SAMPLE=1", results, lambda r, m=mode: report_problems(r, m))

# ---- (b) the hot site, at the default rate -----------------------------------------------------------
results = run_many(BUGS, "hot-site", HOT_RUNS)
quiet = [r for r in results if r.returncode == 0 and not r.stderr and not r.stdout]
caught = [r for r in results if r.returncode == SIGABRT]
check(len(quiet) + len(caught) == len(results),
      "hot-site at the default rate: runs neither caught nor quiet: " +
      "; ".join(f"{outcome(r)}{excerpt(r)}" for r in results if r not in quiet and r not in caught)[:3000])
check_runs("hot-site at the default rate (caught ones)", caught, lambda r: report_problems(r, "hot-site"))
check(len(caught) >= 0.95 * HOT_RUNS,
      f"hot-site at the default rate: {len(caught)} of {HOT_RUNS} runs caught the overflow, want "
      f">= {int(0.95 * HOT_RUNS + 0.999)}" + (excerpt(quiet[0]) if quiet else ""))

# ---- (c) correct programs stay correct -----------------------------------------------------------------
def clean_problems(r):
    bad = []
    if r.returncode != 0 or r.stdout != "ok\n":
        bad.append(f"{outcome(r)}, stdout {r.stdout[:80]!r}, want exit 0 and 'ok'")
    if r.stderr:
        bad.append("stderr not empty")
    return bad


for mode in ["clean", "threads"]:
    check_runs(f"{mode} without libmpool (the program itself)",
               [run(BUGS, mode, preload=False)], clean_problems)
    for env in [{"MPOOL_GUARD_SAMPLE": "1"}, {"MPOOL_GUARD_SAMPLE": "100"},
                {"MPOOL_GUARD_SAMPLE": "1", "MPOOL_GUARD_SLOTS": "2"}]:
        setting = " ".join(f"{k}={v}" for k, v in env.items())
        check_runs(f"{mode} with {setting}", [run(BUGS, mode, env, timeout=60)], clean_problems)

# ---- (d) the program's own SIGSEGV handler ----------------------------------------------------------------
HANDLER_WANT = {
    "before": (0, "ok\n"),
    "after": (0, "ok\n"),
    "query": (0, "ok\n"),
    "none": (SIGSEGV, "faulting\n"),
    "resethand": (SIGSEGV, "first fault handled\n"),
}


def handler_problems(r, mode):
    code, out = HANDLER_WANT[mode]
    bad = []
    if r.returncode != code or r.stdout != out:
        want = "exit 0" if code == 0 else "killed by SIGSEGV"
        bad.append(f"{outcome(r)}, stdout {r.stdout[:80]!r}; want {want}, stdout {out!r}")
    if "mpool:" in r.stderr:
        bad.append("an 'mpool:' line on stderr")
    elif r.stderr:
        bad.append("stderr not empty")
    return bad


for mode in HANDLER_WANT:
    for label, env, preload in [("without libmpool", None, False),
                                ("with MPOOL_GUARD_SAMPLE=1", {"MPOOL_GUARD_SAMPLE": "1"}, True),
                                ("at the default rate", None, True)]:
        check_runs(f"guard_handler {mode} {label}", [run(HANDLER, mode, env, preload, timeout=60)],
                   lambda r, m=mode: handler_problems(r, m))

# ---- (f) fork and the memory cap ------------------------------------------------------------------------
# A fork child keeps its guarded slots: its write after free is reported, naming its function.
for r in run_many(BUGS, "fork-child", 10, {"MPOOL_GUARD_SAMPLE": "1"}):
    check(r.returncode == 0 and r.stdout.strip() == "child: signal 6",
          f"fork-child: parent {outcome(r)}, stdout {r.stdout[:120]!r}, want 'child: signal 6'{excerpt(r)}")
    rep = parse(r.stderr)
    secs = rep["sections"]
    check(rep["head"] is not None and rep["head"].group(1) == "use-after-free"
          and names(secs.get("allocated by", (0, []))[1], "child_uaf")
          and names(secs.get("freed by", (0, []))[1], "child_uaf"),
          f"fork-child: the child's report does not name child_uaf as a use after free{excerpt(r)}")

# Guarded blocks count against MPOOL_LIMIT at their class size: 64 KiB holds 1 024 blocks of 64
# bytes, guarded (the first 1 024 with every allocation guarded) or not.
for env in [{"MPOOL_GUARD_SAMPLE": "1"}, {"MPOOL_GUARD_SAMPLE": "0"}]:
    r = run(BUGS, "limit", dict(env, MPOOL_LIMIT="64K"), timeout=60)
    m = re.match(r"blocks (\d+) errno (\d+)", r.stdout)
    check(r.returncode == 0 and m and 900 <= int(m.group(1)) <= 1024 and int(m.group(2)) == 12,
          f"limit with MPOOL_LIMIT=64K {env}: {outcome(r)}, {r.stdout.strip()!r}, want 900..1024 "
          f"blocks and ENOMEM{excerpt(r)}")

# ---- the stats dump: written at the fault, its guard section counts the bug --------------------------
import json  # noqa: E402
import tempfile  # noqa: E402
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "stats.json")
    r = run(BUGS, "overflow-write-1", {"MPOOL_GUARD_SAMPLE": "1", "MPOOL_STATS": path}, timeout=60)
    try:
        with open(path) as f:
            dump = json.load(f)
    except (OSError, ValueError) as e:
        dump = {"error": str(e)}
    g = dump.get("guard", {})
    check(r.returncode == SIGABRT and dump.get("reason") == "fault" and g.get("faults") == 1
          and g.get("guarded", 0) >= 1 and g.get("sample") == 1 and g.get("slots") == 1024,
          f"the dump at the fault: {outcome(r)}, reason {dump.get('reason')!r}, guard {g}{excerpt(r)}")
    path = os.path.join(tmp, "clean.json")
    r = run(BUGS, "clean", {"MPOOL_STATS": path}, timeout=60)
    with open(path) as f:
        dump = json.load(f)
    g = dump.get("guard", {})
    check(dump.get("reason") == "exit" and g.get("faults") == 0 and g.get("sample") == 30000
          and g.get("live", -1) >= 0 and g.get("guarded", -1) >= 0,
          f"the exit dump of a clean run at the default rate: guard {g}")

# ---- (e) bad settings -----------------------------------------------------------------------------------------
for name, value in [("MPOOL_GUARD_SAMPLE", "abc"), ("MPOOL_GUARD_SLOTS", "-3")]:
    r = run(BUGS, "clean", {name: value}, timeout=60)
    lines = r.stderr.splitlines()
    check(r.returncode == 0 and r.stdout == "ok\n",
          f"clean with {name}={value}: {outcome(r)}, stdout {r.stdout[:80]!r}{excerpt(r)}")
    check(len(lines) == 1 and lines[0].startswith("mpool: warning:") and name in lines[0],
          f"{name}={value}: stderr {r.stderr[:400]!r}, want one 'mpool: warning:' line naming {name}")

finish("guard")
