#!/usr/bin/python3
"""Write tests/tools/fixtures/series.jsonl: a hand-modelled libmpool time
series (MPOOL_STATS_INTERVAL=250ms, MPOOL_PROF=1) of a program, "ingest",
that loads a file, sleeps and lets go, killed in the middle of a tick.

    tests/tools/make_series_fixture.py [OUT]     (default: the fixture)

The story (times since start; MiB = 2^20 bytes):
  0.25-1 s   start-up: RSS 16 MiB (12 base + 1 mapped + 3 start-up buffers)
  1-5 s      warm_cache fills class 1024 to 48 MiB: RSS 67 MiB (a decoy rise)
  5-7 s      the cache is freed; at 6 s the start-up buffers go: RSS 13 MiB,
             flat from 7.25 s to 8.00 s (the low of the biggest growth)
  8-25 s     grow_table (class 4096) to 100 MiB, parse_record (class 64) to
             30 MiB, resize_index (jemalloc) 8 -> 16 -> 32 MiB, and at 25.00 s
             a doubling to 32 MiB while the 16 MiB block is still live:
             RSS peaks at 199 MiB at 25.00 s (the only tick that high)
  20 s       the interval becomes 500 ms (an interval-change line)
  25.5-40 s  sleeps: RSS 183 MiB give or take a page or two
  40-46 s    lets go: classes back to the base, the index freed at 44 s
             (kept for reuse as fallback_cached until 45 s), and the base
             falls to 9 MiB: RSS 10 MiB from 46 s (the lowest, after the peak)
  52-60 s    warm_cache again, to 24 MiB: RSS 36 MiB at 60.00 s (the last tick)
  then       half a tick: killed while writing it (no newline)

So the biggest growth of RSS is 13 MiB at 8.00 s -> 199 MiB at 25.00 s
(+186 MiB), not the start-up low (16 MiB) and not the lowest point (10 MiB,
which comes after the peak).  Some lines carry keys the reader must ignore.
"""
import json
import os
import random
import sys

MiB = 1 << 20
KiB = 1 << 10
BASE_CLASSES = {16: 64 * KiB, 32: 128 * KiB, 64: 256 * KiB, 128: 128 * KiB}
EXE = "/usr/local/bin/ingest"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
STACKS = {
    "grow_table": [f"grow_table+0x4c ({EXE}+0x2d4c)", f"load_file+0x91 ({EXE}+0x3011)",
                   f"main+0x1d2 ({EXE}+0x35a2)", f"__libc_start_call_main+0x7a ({LIBC}+0x271ca)"],
    # the innermost frame has no name (a static function): labelled parse_record
    "parse_record": [f"0x55d4c1e02a40 ({EXE}+0x2a40)", f"parse_record+0x33 ({EXE}+0x2b13)",
                     f"load_file+0x7e ({EXE}+0x2ffe)", f"main+0x1d2 ({EXE}+0x35a2)"],
    "resize_index": [f"resize_index+0x61 ({EXE}+0x1f81)", f"load_file+0xb4 ({EXE}+0x3034)",
                     f"main+0x1d2 ({EXE}+0x35a2)"],
    "warm_cache": [f"cache_insert+0x2f ({EXE}+0x2210)", f"warm_cache+0x40 ({EXE}+0x2300)",
                   f"main+0x9c ({EXE}+0x346c)"],
    # a library without symbols: module+offset frames, then a bare address
    "zlib": ["/lib/x86_64-linux-gnu/libz.so.1+0x3a1c", "0x7f0c3e2d1a10",
             f"inflate_setup+0x12 ({EXE}+0x1c40)"],
}


def ramp(t, t0, t1, v0, v1):
    """v0 before t0, v1 after t1, a straight line between."""
    if t <= t0:
        return v0
    if t >= t1:
        return v1
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def parts(t):
    """Live bytes per source at time t (seconds)."""
    cache = ramp(t, 1, 5, 0, 48 * MiB) if t <= 5 else ramp(t, 5, 7, 48 * MiB, 0)
    if t >= 52:
        cache = ramp(t, 52, 60, 0, 24 * MiB)
    grow = ramp(t, 8, 25, 0, 100 * MiB) if t <= 40 else ramp(t, 40, 46, 100 * MiB, 0)
    records = ramp(t, 8, 25, 0, 30 * MiB) if t <= 40 else ramp(t, 40, 46, 30 * MiB, 0)
    index = [(12, 0), (16, 8 * MiB), (21, 16 * MiB), (25, 32 * MiB), (44, 32 * MiB)]
    idx = 0
    for start, size in index:
        if t >= start:
            idx = size
    if t >= 44:
        idx = 0
    idx_blocks = 2 if t == 25 else (1 if idx else 0)
    if t == 25:
        idx += 16 * MiB  # the old block, not yet freed
    return {"cache": int(cache), "grow": int(grow), "records": int(records),
            "index": idx, "index_blocks": idx_blocks}


def classes_at(p):
    c = dict(BASE_CLASSES)
    c[1024] = (p["cache"] // 1024) * 1024
    c[4096] = (p["grow"] // 4096) * 4096
    c[64] += (p["records"] // 64) * 64
    return {k: v for k, v in sorted(c.items()) if v > 0}


def sites_at(p):
    sites = [("zlib", 256 * KiB, 4), ("grow_table", p["grow"], p["grow"] // 4096),
             ("parse_record", p["records"], p["records"] // 64),
             ("resize_index", p["index"], p["index_blocks"]),
             ("warm_cache", p["cache"], p["cache"] // 1024)]
    sites = [s for s in sites if s[1] > 0]
    sites.sort(key=lambda s: -s[1])
    return [{"bytes": b, "blocks": n, "stack": STACKS[name]} for name, b, n in sites[:4]]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fixtures", "series.jsonl")
    rng = random.Random(20251203)
    lines = [{"mpool_series": 1, "pid": 48213, "program": EXE, "start_unix_ms": 1764770000000,
              "interval_ms": 250, "cap_bytes": 64 * MiB, "hostname": "build7"}]
    times = [i * 250 for i in range(1, 81)] + [20000 + i * 500 for i in range(1, 81)]
    prev_active = None
    mapped_before = 0
    released = allocs = frees = 0
    blocks_before = {}
    for t_ms in times:
        t = t_ms / 1000
        p = parts(t)
        classes = classes_at(p)
        active = sum(classes.values())
        # pool spans stay mapped for one tick after they empty (decay)
        held = max(active, prev_active if prev_active is not None else active)
        mapped = -(-int(held * 1.06) // MiB) * MiB
        released += max(0, mapped_before - mapped)
        cached = 32 * MiB if 44 <= t < 45 else 0
        base = 12 * MiB if t < 46 else 9 * MiB
        startup = 3 * MiB if t < 6 else 0
        rss = base + startup + mapped + p["index"] + cached
        if 25 < t <= 40:
            rss -= rng.randrange(0, 3) * 4096  # a page or two come and go
        blocks = {size: b // size for size, b in classes.items()}
        for size in set(blocks) | set(blocks_before):
            d = blocks.get(size, 0) - blocks_before.get(size, 0)
            allocs += max(d, 0)
            frees += max(-d, 0)
        churn = 500 + rng.randrange(0, 100)  # short-lived blocks, freed by the next tick
        allocs += churn + p["index_blocks"]
        frees += churn
        tick = {"t_ms": t_ms, "rss": rss, "active": active, "mapped": mapped,
                "released": released, "fallback": p["index"], "fallback_cached": cached,
                "allocs": allocs, "frees": frees,
                "classes": [[s, b] for s, b in classes.items()], "sites": sites_at(p)}
        if t_ms % 5000 == 0:
            tick["threads"] = 3  # a key this reader does not know
        lines.append(tick)
        if t_ms == 20000:
            lines.append({"t_ms": 20000, "interval_ms": 500})
        prev_active, mapped_before, blocks_before = active, mapped, blocks
    text = "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines)
    text += '{"t_ms":60500,"rss":3774873'  # killed mid-write
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {out}: {len(times)} ticks, {len(text):,} bytes")


if __name__ == "__main__":
    main()
