#!/usr/bin/env python3
"""Write hand-made seed inputs for tests/fuzz/fuzz_alloc.c: one or two per
operation family, both threads on shared slots.  The kept corpus
(tests/fuzz/corpus) is these seeds merged (-merge=1) with what fuzzing found;
see README.md.

    tests/fuzz/gen_corpus.py DIR
"""
import hashlib
import os
import sys

OPS = ["malloc", "calloc", "realloc", "aligned", "free", "usable", "check",
       "valloc", "fixed_create", "fixed_get", "fixed_put", "fixed_destroy",
       "shared_get", "buf_new", "buf_retain", "chain", "chain_priv", "limit",
       "stats", "trim", "burst", "spawn"]
OP = {name: i for i, name in enumerate(OPS)}


def tiny(n):            # 0..255
    return n


def mid(n):             # multiples of 4 up to 65532
    return 0x4000 | (n // 4)


def near(idx, delta):   # boundaries[idx] + delta, delta in -32..31
    return 0x8000 | (idx << 6) | (delta + 32)


def big(n):             # 64 KiB .. 256 KiB, steps of 16
    return 0xC000 | ((n - 65536) // 16)


def huge(kib):          # up to 3.75 MiB
    return 0xC000 | (0x3000 + kib)


def giant(step):        # 4 MiB + step * 64 KiB, step < 256: the huge-block cache
    return 0xC000 | 0x3f00 | step


def rec(thread, op, slot=0, e=0, size=0, flags=0):
    return bytes([(thread << 7) | OP[op], (flags << 6) | slot, e,
                  size & 0xff, size >> 8])


def seeds():
    s = {}
    s["malloc-free-cross"] = b"".join([
        rec(0, "malloc", 1, 0, tiny(24)), rec(0, "malloc", 2, 1, mid(4000)),
        rec(1, "malloc", 3, 0, big(100000)), rec(1, "free", 1, 0),
        rec(0, "free", 3, 2), rec(1, "free", 2, 1), rec(0, "check", 2)])
    s["calloc"] = b"".join([
        rec(0, "calloc", 1, 3, mid(2000)), rec(1, "calloc", 2, 0x41, tiny(100)),
        rec(0, "calloc", 3, 0x80 | 2, tiny(8)), rec(1, "free", 1, 0),
        rec(0, "calloc", 4, 6, huge(1200))])
    s["realloc-grow-shrink"] = b"".join([
        rec(0, "malloc", 5, 0, tiny(40)), rec(0, "realloc", 5, 0, mid(3000)),
        rec(1, "realloc", 5, 1, big(90000)), rec(0, "realloc", 5, 2, tiny(10)),
        rec(1, "realloc", 5, 3, tiny(10)), rec(0, "realloc", 5, 0, tiny(0)),
        rec(1, "realloc", 6, 0, huge(2000)), rec(0, "realloc", 6, 0, huge(3000))])
    s["aligned"] = b"".join(
        [rec(t, "aligned", 8 + i, (fn << 6) | ex, near(i % 40, 0), flags=i & 1)
         for i, (t, fn, ex) in enumerate([(0, 0, 6), (1, 1, 12), (0, 2, 16),
                                          (1, 3, 4), (0, 1, 2), (1, 2, 20),
                                          (0, 0, 13), (1, 1, 17)])])
    s["usable"] = b"".join([
        rec(0, "malloc", 1, 0, tiny(17)), rec(1, "usable", 1, 0),
        rec(0, "valloc", 2, 1, mid(5000)), rec(1, "usable", 2, 1),
        rec(0, "valloc", 3, 0, tiny(1)), rec(0, "usable", 3, 0)])
    s["boundaries"] = b"".join(
        [rec(i & 1, "malloc", i, 0, near(i, d)) for i, d in
         zip(range(0, 64, 3), [-1, 0, 1, -16, 16, 31, -32] * 4)])
    s["fixed-pool"] = b"".join([
        rec(0, "fixed_create", 0, (3 << 5) | (4 << 1), tiny(48), flags=3),
        rec(0, "fixed_get", 0, 0), rec(0, "fixed_get", 0, 1), rec(0, "fixed_get", 0, 2),
        rec(0, "fixed_get", 0, 3), rec(0, "fixed_get", 0, 0), rec(0, "fixed_put", 0, 1),
        rec(0, "fixed_get", 0, 1), rec(0, "fixed_destroy", 0, 0),
        rec(1, "fixed_create", 1, 0, big(70000), flags=1), rec(1, "fixed_get", 1, 2),
        rec(1, "fixed_get", 1, 2), rec(1, "fixed_put", 1, 0)])
    s["shared-pool"] = b"".join(
        [rec(i & 1, "shared_get", i % 20, i & 1, tiny(96)) for i in range(40)] +
        [rec(i & 1, "free", (i * 7) % 20, 0) for i in range(20)])
    s["buffers"] = b"".join([
        rec(0, "buf_new", 1, 0, tiny(200)), rec(1, "buf_retain", 1, 2),
        rec(0, "buf_retain", 2, 3, flags=1), rec(1, "free", 1, 0),
        rec(0, "check", 3), rec(1, "buf_new", 4, 0, big(80000)),
        rec(0, "buf_retain", 4, 5), rec(1, "free", 5), rec(0, "free", 4)])
    s["chain-shared"] = b"".join(
        [rec(i & 1, "chain", 0, 0, tiny(200) if i & 1 == 0 else mid(1000))
         for i in range(30)] + [rec(0, "chain", 0, 0, mid(4096))])
    s["chain-private"] = b"".join([
        rec(0, "chain_priv", 0, 3, tiny(100), flags=1), rec(0, "chain_priv", 0, 1, mid(2000)),
        rec(0, "chain_priv", 0, 0, mid(500)), rec(0, "chain_priv", 0, 1, mid(3000)),
        rec(0, "chain_priv", 0, 0, mid(8000)), rec(1, "chain_priv", 0, 0xf0, tiny(15)),
        rec(1, "chain_priv", 0, 0xe7, tiny(40)), rec(1, "chain_priv", 0, 1, mid(9000))])
    s["limit"] = b"".join([
        rec(1, "malloc", 1, 0, mid(1000)), rec(0, "limit", 0, 8, mid(4000)),
        rec(1, "malloc", 2, 0, mid(2000)), rec(1, "free", 1, 0),
        rec(0, "limit", 0, 0, tiny(0), flags=2), rec(1, "calloc", 3, 1, big(70000))])
    s["stats-trim"] = b"".join([
        rec(0, "malloc", 1, 0, tiny(64)), rec(1, "stats", 0, 3, mid(8000)),
        rec(0, "trim", 0, 0), rec(1, "trim", 0, 1), rec(0, "stats", 0, 1, tiny(10)),
        rec(0, "check", 1)])
    s["burst-park"] = b"".join([
        rec(0, "burst", 0, 200, tiny(32), flags=2), rec(1, "burst", 0, 200, tiny(32)),
        rec(1, "burst", 0, 40, mid(8192), flags=3), rec(0, "burst", 0, 40, mid(8192), flags=1),
        rec(0, "trim", 0, 1)])
    s["spawn"] = b"".join([
        rec(0, "malloc", 7, 0, tiny(100)), rec(0, "spawn", 7, 5, tiny(200)),
        rec(1, "spawn", 8, 15, mid(1000)), rec(1, "free", 7, 0),
        rec(0, "spawn", 9, 0x13, tiny(50)), rec(1, "burst", 0, 2, tiny(16)),
        rec(0, "burst", 0, 1, tiny(16))])
    s["huge-cache"] = b"".join([
        rec(0, "malloc", 1, 0, giant(60)), rec(0, "free", 1, 0),
        rec(1, "calloc", 2, 3, giant(10)), rec(1, "realloc", 2, 1, giant(200)),
        rec(0, "malloc", 3, 2, giant(0)), rec(1, "free", 2, 1), rec(0, "free", 3, 2),
        rec(1, "malloc", 4, 0, mid(3000)), rec(0, "calloc", 5, 4, giant(150)),
        rec(0, "trim", 0, 1), rec(1, "check", 5), rec(1, "free", 5, 0)])
    s["all-ops"] = b"".join(
        [rec(i & 1, name, i % 64, i * 37 & 0xff, [tiny(i), mid(i * 300), big(65536 + i * 1000)][i % 3])
         for i, name in enumerate(OPS * 2)])
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        # named like libFuzzer's own files, so a merge does not duplicate them
        with open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
