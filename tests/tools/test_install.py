#!/usr/bin/python3
"""meson install leaves the library, the header, the pkg-config file, both
tools (runnable: --help) and the four man pages in place, and man renders
each page without a warning.

    tests/tools/test_install.py BUILD_DIR
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pcheck import check, finish  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])


def introspect(what):
    import json
    r = subprocess.run(["meson", "introspect", BUILD, what], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {}


opts = {o["name"]: o["value"] for o in introspect("--buildoptions")}
prefix, bindir, mandir = opts.get("prefix", "/usr/local"), opts.get("bindir", "bin"), opts.get("mandir", "share/man")
with tempfile.TemporaryDirectory() as dest:
    r = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"meson install --destdir: {r.stdout[-300:]} {r.stderr[-300:]}")
    root = dest + prefix
    for tool in ("mpool-run", "mpool-report"):
        path = os.path.join(root, bindir, tool)
        check(os.path.isfile(path) and os.access(path, os.X_OK), f"{tool} installed, executable")
        h = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
        check(h.returncode == 0 and "usage:" in h.stdout, f"{tool} --help: {h.stdout[:200]!r}")
    check(os.path.isfile(os.path.join(root, "include", "mpool.h")), "mpool.h installed")
    libs = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.startswith("libmpool.so")]
    check(libs, "libmpool.so installed")
    pcs = [f for d, _, fs in os.walk(root) for f in fs if f == "libmpool.pc"]
    check(pcs, "libmpool.pc installed")
    for page in ("mpool-run.1", "mpool-report.1", "libmpool.3", "libmpool.7"):
        path = os.path.join(root, mandir, "man" + page.split(".")[1], page)
        check(os.path.isfile(path), f"man page {page} installed")
        if not os.path.isfile(path):
            continue
        m = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                           env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"), timeout=60)
        name = page.split(".")[0]
        check(m.returncode == 0 and "NAME" in m.stdout and name in m.stdout and "SEE ALSO" in m.stdout,
              f"man -l {page} renders: {m.stdout[:200]!r}")
        check(m.stderr.strip() == "", f"man -l {page} warns: {m.stderr[:300]!r}")

finish("install")
