#!/usr/bin/python3
"""Every script in scripts/ answers --help: exit 0 and a usage text on
stdout, doing nothing else (no install, no build).

    tests/tools/test_help.py [REPO]
"""
import os
import subprocess
import sys

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
from pcheck import check, finish  # noqa: E402

scripts = sorted(os.listdir(os.path.join(REPO, "scripts")))
check(len(scripts) >= 9, f"scripts found: {scripts}")
for name in scripts:
    path = os.path.join(REPO, "scripts", name)
    if not os.access(path, os.X_OK):
        continue
    r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PATH="/usr/bin:/bin"))
    check(r.returncode == 0 and len(r.stdout.split()) >= 10,
          f"{name} --help: exit {r.returncode}, {len(r.stdout)} bytes: {r.stdout[:120]!r} {r.stderr[-200:]!r}")
finish("help")
