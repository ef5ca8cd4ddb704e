#!/usr/bin/python3
"""Generate successive worktree states for tests/real/git.sh.

gen_git.py OUTDIR NSTATES: writes OUTDIR/0 .. OUTDIR/NSTATES-1, each a full
tree (~200 files in nested dirs). Later states modify, add, delete and rename
files so `git log --stat` has something to report. Deterministic.
"""
import os
import random
import sys

out, nstates = sys.argv[1], int(sys.argv[2])
rng = random.Random(77)
words = ["alloc", "free", "pool", "arena", "chunk", "slab", "page", "lock", "thread",
         "cache", "size", "class", "bin", "span", "heap", "map", "tree", "list"]


def text(nlines):
    return "".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) + "\n"
                   for _ in range(nlines))


def c_file(name, nfuncs):
    body = [f"/* {name}: generated */\n#include <stddef.h>\n\n"]
    for i in range(nfuncs):
        body.append(f"size_t {name}_f{i}(size_t x)\n{{\n    return x * {rng.randint(2, 99)}u + {i}u;\n}}\n\n")
    return "".join(body)


files = {}
for i in range(200):
    d = f"dir{i % 7}/sub{i % 3}"
    if i % 4 == 0:
        files[f"{d}/mod{i}.c"] = c_file(f"mod{i}", rng.randint(3, 30))
    elif i % 4 == 1:
        files[f"{d}/notes{i}.txt"] = text(rng.randint(5, 200))
    elif i % 4 == 2:
        files[f"{d}/data{i}.bin"] = bytes(rng.randrange(256) for _ in range(rng.randint(100, 5000))).hex()
    else:
        files[f"{d}/README{i}.md"] = "# README\n\n" + text(rng.randint(1, 40))
files["top.txt"] = text(1000)

for s in range(nstates):
    if s > 0:
        keys = sorted(files)
        for k in rng.sample(keys, 40):           # modify
            lines = files[k].splitlines(True)
            pos = rng.randrange(len(lines) + 1)
            files[k] = "".join(lines[:pos]) + text(rng.randint(1, 20)) + "".join(lines[pos + 3:])
        for k in rng.sample(keys, 5):            # delete
            files.pop(k, None)
        for k in rng.sample(sorted(files), 5):   # rename
            files[k.replace("/sub", "/moved") + ".r"] = files.pop(k)
        for j in range(10):                      # add
            files[f"new{s}/f{j}.txt"] = text(rng.randint(1, 60))
    base = os.path.join(out, str(s))
    for k, v in files.items():
        p = os.path.join(base, k)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(v)
