"""Allocation-heavy, deterministic Python workload for tests/real/python.sh.

Run with PYTHONMALLOC=malloc so every object goes through malloc/realloc/free.
Prints only deterministic output (no addresses, no timings, no hash order of
str/bytes keys: PYTHONHASHSEED is fixed by the caller anyway).
"""
import array
import bisect
import collections
import hashlib
import heapq
import itertools
import json
import random
import re
import struct
import sys
import threading
import zlib

rng = random.Random(20240601)
out = []


def emit(*a):
    out.append(" ".join(str(x) for x in a))


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


# ---- dicts / lists / strings -------------------------------------------------
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 12)))
         for _ in range(60000)]
counts = collections.Counter(words)
emit("words", len(words), "distinct", len(counts), "top", counts.most_common(5))

d = {}
for i, w in enumerate(words):
    d.setdefault(w[:3], []).append(i)
emit("prefixes", len(d), digest(sorted((k, len(v)) for k, v in d.items())))
for k in list(d)[::2]:
    del d[k]
emit("after-del", len(d), sum(len(v) for v in d.values()))

# growing and shrinking lists, slices, realloc-heavy append/pop
lst = []
for i in range(200000):
    lst.append(i * 7 % 1009)
    if i % 3 == 0:
        lst.pop()
lst[1000:50000] = []
lst.extend(reversed(lst[:20000]))
emit("list", len(lst), sum(lst), digest(lst[:200]))

# strings: concatenation, join, formatting, unicode
s = ""
for i in range(20000):
    s += chr(0x41 + i % 26)
    if i % 1000 == 999:
        s = s[::-1]
emit("str", len(s), hashlib.md5(s.encode()).hexdigest())
u = "".join(chr(c) for c in range(0x100, 0x3000, 7)) * 20
emit("unicode", len(u), len(u.encode("utf-8")), len(u.encode("utf-16")), u.upper()[:10] == u[:10].upper())
parts = [f"{i:08x}-{w}-{len(w):03d}" for i, w in enumerate(words[:30000])]
joined = "|".join(parts)
emit("join", len(joined), hashlib.sha1(joined.encode()).hexdigest())
emit("split", len(joined.split("|")), joined.count("-a"))

# bytes / bytearray / memoryview
ba = bytearray()
for i in range(5000):
    ba += bytes([i % 256]) * (i % 97 + 1)
    if i % 500 == 0:
        del ba[: len(ba) // 3]
emit("bytearray", len(ba), hashlib.sha256(ba).hexdigest()[:20])
b = bytes(ba)
comp = zlib.compress(b * 3, 6)
emit("zlib", len(comp), zlib.decompress(comp) == b * 3)
mv = memoryview(b)
emit("memoryview", len(mv[::3].tobytes()), mv[100:110].hex())
ar = array.array("d", (i * 0.5 for i in range(100000)))
ar.extend(ar[:5000])
emit("array", len(ar), sum(ar), struct.pack("<3d", *ar[1:4]).hex())

# ---- json round trips --------------------------------------------------------
def make_doc(depth, n):
    if depth == 0:
        return rng.choice([rng.randint(-10**9, 10**9), rng.random(), "s" * rng.randint(0, 40),
                           None, True, False, "\u00e9\u4e2d\U0001F600"])
    if rng.random() < 0.5:
        return [make_doc(depth - 1, n) for _ in range(rng.randint(0, n))]
    return {f"k{i}_{rng.randint(0, 999)}": make_doc(depth - 1, n) for i in range(rng.randint(0, n))}

docs = [make_doc(5, 6) for _ in range(40)]
total = 0
for doc in docs:
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    assert back == doc
    text2 = json.dumps(back, sort_keys=True, indent=2, ensure_ascii=False)
    assert json.loads(text2) == doc
    total += len(text) + len(text2)
emit("json", total, digest([json.dumps(x, sort_keys=True) for x in docs]))

# ---- re ----------------------------------------------------------------------
text = " ".join(words[:40000])
pat = re.compile(r"\b([a-e])(\w*)\1\b")
emit("re-findall", len(pat.findall(text)))
emit("re-sub", hashlib.md5(re.sub(r"([aeiou]+)", lambda m: m.group(1).upper(), text).encode()).hexdigest())
emit("re-split", len(re.split(r"[xyz]+", text)))
emit("re-many", sum(1 for w in words if re.fullmatch(r"[a-m]{2,5}[n-z]*", w)))

# ---- sorting / heapq / bisect -------------------------------------------------
recs = [(rng.randint(0, 1000), rng.random(), w) for w in words[:50000]]
recs.sort()
emit("sort", digest(recs[:50]), digest(recs[-50:]))
recs.sort(key=lambda r: (r[2], -r[0]))
emit("sort-key", digest(recs[:50]))
h = []
for i in range(100000):
    heapq.heappush(h, (i * 7919) % 100003)
    if i % 4 == 0:
        heapq.heappop(h)
emit("heap", len(h), heapq.nsmallest(5, h), heapq.nlargest(3, h))
sl = []
for i in range(20000):
    bisect.insort(sl, (i * 104729) % 65537)
emit("bisect", len(sl), sl[:5], bisect.bisect_left(sl, 30000))

# ---- sets, deque, OrderedDict, itertools ------------------------------------
s1 = set(words[:30000]); s2 = set(words[20000:])
emit("sets", len(s1 & s2), len(s1 | s2), len(s1 ^ s2), len(frozenset(s1) - s2))
dq = collections.deque(maxlen=5000)
for i in range(100000):
    dq.append(i)
    if i % 7 == 0:
        dq.appendleft(-i)
emit("deque", len(dq), sum(dq))
od = collections.OrderedDict()
for i in range(50000):
    od[i % 3001] = i
    od.move_to_end(i % 3001, last=bool(i % 2))
emit("odict", len(od), list(od.items())[:3])
emit("itertools", sum(1 for _ in itertools.combinations(range(40), 3)),
     list(itertools.islice(itertools.accumulate(range(1000)), 995, 1000)))

# ---- class hierarchy ---------------------------------------------------------
class Shape:
    count = 0
    def __init__(self, name):
        self.name = name
        Shape.count += 1
    def area(self):
        raise NotImplementedError
    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, {self.area():.3f})"

class Rect(Shape):
    def __init__(self, name, w, h):
        super().__init__(name); self.w, self.h = w, h
    def area(self):
        return self.w * self.h

class Square(Rect):
    __slots__ = ()
    def __init__(self, name, s):
        super().__init__(name, s, s)

class Circle(Shape):
    __slots__ = ("r",)
    def __init__(self, name, r):
        super().__init__(name); self.r = r
    def area(self):
        return 3.141592653589793 * self.r * self.r

class Node:
    __slots__ = ("val", "children", "parent")
    def __init__(self, val, parent=None):
        self.val, self.children, self.parent = val, [], parent

shapes = []
for i in range(30000):
    k = i % 3
    if k == 0:
        shapes.append(Rect(f"r{i}", i % 17 + 1, i % 13 + 1))
    elif k == 1:
        shapes.append(Square(f"s{i}", i % 11 + 1))
    else:
        shapes.append(Circle(f"c{i}", (i % 19) / 3))
by_type = collections.defaultdict(float)
for sh in shapes:
    by_type[type(sh).__name__] += sh.area()
emit("shapes", Shape.count, sorted((k, round(v, 3)) for k, v in by_type.items()))
emit("shapes-repr", repr(sorted(shapes, key=lambda x: (-x.area(), x.name))[:3]))

root = Node(0)
nodes = [root]
for i in range(1, 50000):
    p = nodes[rng.randrange(len(nodes))]
    n = Node(i, p)
    p.children.append(n)
    nodes.append(n)
def depth(n):
    dd = 0
    while n.parent is not None:
        n, dd = n.parent, dd + 1
    return dd
emit("tree", max(depth(n) for n in nodes[::97]), sum(len(n.children) for n in nodes))
# reference cycles -> collected by gc
import gc
for i in range(2000):
    a = Node(i); b = Node(-i, a); a.parent = b; a.children.append(b)
del a, b
emit("gc", gc.collect() >= 0)
del nodes, root, shapes

# ---- threads: concurrent allocation ------------------------------------------
results = [None] * 4
def worker(idx):
    r = random.Random(idx)
    acc = {}
    for i in range(30000):
        key = f"t{idx}-{r.randint(0, 5000 + 1000 * idx)}"
        acc[key] = acc.get(key, "") + "x" * (i % 13)
        if len(acc[key]) > 200:
            del acc[key]
    results[idx] = (len(acc), sum(len(v) for v in acc.values()))
ths = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in ths: t.start()
for t in ths: t.join()
emit("threads", results)

# ---- big objects (mmap-sized) -----------------------------------------------
big = [bytes(range(256)) * (4096 * k) for k in (1, 4, 16)]
emit("big", [len(x) for x in big], hashlib.sha256(b"".join(big)).hexdigest()[:16])
bigl = list(range(2_000_000))
bigl.reverse()
emit("biglist", bigl[0], bigl[-1], len(bigl))
del big, bigl

sys.stdout.write("\n".join(out) + "\n")
emit_count = len(out)
print("lines", emit_count + 1)
