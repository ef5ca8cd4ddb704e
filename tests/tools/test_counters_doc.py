#!/usr/bin/python3
"""Every counter the dump shows is documented: each row of
src/core/counters.def whose section is not `hidden` must name its key in
docs/STATS.md's schema block, on the line of its section (top-level keys
anywhere before `totals:`).

    tests/tools/test_counters_doc.py [REPO]
"""
import os
import re
import sys

REPO = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
ROW = re.compile(r'^MP_COUNTER\((\w+),\s*(\w+),\s*(\w+),\s*"([^"]+)",\s*"([^"]+)",\s*(COUNTER|GAUGE)\)', re.M)

rows = ROW.findall(open(os.path.join(REPO, "src", "core", "counters.def")).read())
doc = open(os.path.join(REPO, "docs", "STATS.md")).read()
m = re.search(r"## The JSON dump, schema version 1\s*```\n(.*?)```", doc, re.S)
if not m:
    print("docs/STATS.md: no schema block under '## The JSON dump, schema version 1'")
    sys.exit(1)
block = m.group(1)

def section_text(section):
    """The schema block's text for one section: from `section:` to the next
    line that starts a new top-level member."""
    if section == "top":
        return block.split("\ntotals:")[0]
    m = re.search(r"^%s:(.*?)(?=^\S)" % re.escape(section), block + "\nEND", re.M | re.S)
    return m.group(1) if m else ""

failed = 0
shown = [r for r in rows if r[2] != "hidden"]
for ident, kind, section, key, label, metric in shown:
    if not re.search(r"\b%s\b" % re.escape(key), section_text(section)):
        print(f"FAIL: counter {ident} ({section}.{key}) is not in docs/STATS.md's schema block")
        failed += 1
kinds = {r[1] for r in rows}
if not rows or not kinds <= {"PER_THREAD", "GLOBAL", "DERIVED"}:
    print(f"FAIL: counters.def has {len(rows)} rows, kinds {sorted(kinds)}")
    failed += 1
print(f"{len(shown) - (failed if rows else 0)} passed, {failed} failed")
sys.exit(1 if failed else 0)
