#!/usr/bin/python3
"""Generate the deterministic redis workload for tests/real/redis.sh.

Writes into OUTDIR:
  load.resp  - RESP protocol stream for `redis-cli --pipe` (many keys, big values)
  cmds.txt   - one command per line for `redis-cli` (replies are compared)
All replies requested in cmds.txt have a deterministic order (no SMEMBERS on
hashtable-encoded sets, no KEYS/SCAN, no random commands).
"""
import random
import sys
import os

out = sys.argv[1]
rng = random.Random(424242)
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def rstr(n):
    # fast deterministic string of length n
    base = "".join(rng.choice(ALNUM) for _ in range(min(n, 64))) or "x"
    return (base * (n // len(base) + 1))[:n]


def resp(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


MIB = 1 << 20
with open(os.path.join(out, "load.resp"), "wb") as f:
    w = f.write
    # many small/medium keys
    for i in range(60000):
        w(resp("SET", f"key:{i}", rstr(rng.choice((1, 8, 30, 100, 500, 3000)))))
    for i in range(0, 60000, 7):
        w(resp("APPEND", f"key:{i}", rstr(rng.randint(1, 300))))
    for i in range(0, 60000, 5):
        w(resp("DEL", f"key:{i}"))
    # counters
    for i in range(20000):
        w(resp("INCRBY", f"ctr:{i % 1000}", i % 17))
    # big values (~1 MiB), some grown by APPEND / SETRANGE (realloc paths)
    for i in range(24):
        w(resp("SET", f"big:{i}", rstr(MIB + i * 4099)))
    for i in range(0, 24, 3):
        w(resp("APPEND", f"big:{i}", rstr(MIB // 2)))
        w(resp("SETRANGE", f"big:{i}", 3 * MIB, "tail" + str(i)))
    for i in range(1, 24, 4):
        w(resp("UNLINK", f"big:{i}"))
    # lists, hashes, sets, zsets with many elements (non-listpack encodings too)
    for l in range(50):
        n = 20 + l * 40
        vals = [rstr(rng.randint(1, 80)) for _ in range(n)]
        for k in range(0, n, 100):
            w(resp("RPUSH", f"list:{l}", *vals[k:k + 100]))
    for h in range(200):
        n = 5 + (h * 13) % 400
        fv = []
        for k in range(n):
            fv += [f"f{k}", rstr(rng.randint(1, 120))]
        w(resp("HSET", f"hash:{h}", *fv))
    for s in range(100):
        n = 10 + s * 30
        if s % 2:
            w(resp("SADD", f"set:{s}", *[str(rng.randint(0, 10**6)) for _ in range(n)]))
        else:
            w(resp("SADD", f"set:{s}", *[rstr(rng.randint(3, 20)) for _ in range(n)]))
    for z in range(60):
        n = 10 + z * 50
        args = []
        for k in range(n):
            args += [str(rng.randint(-5000, 5000) / 8), f"m{k}_{rstr(rng.randint(1, 10))}"]
        w(resp("ZADD", f"zset:{z}", *args))

lines = []
L = lines.append
L("PING")
L("DBSIZE")
# strings
for i in range(0, 60000, 997):
    L(f"GET key:{i}")
    L(f"STRLEN key:{i}")
for i in range(40):
    L(f"SET s:{i} value{i * i}")
    L(f"GETSET s:{i} v{i}")
    L(f"APPEND s:{i} {rstr(i * 50 + 1)}")
    L(f"GET s:{i}")
L("MGET " + " ".join(f"s:{i}" for i in range(0, 40, 3)))
L("MSET " + " ".join(f"m:{i} {rstr(i + 1)}" for i in range(200)))
L("MGET " + " ".join(f"m:{i}" for i in range(0, 200, 9)))
for i in range(0, 1000, 37):
    L(f"GET ctr:{i}")
    L(f"INCR ctr:{i}")
    L(f"INCRBY ctr:{i} -12345")
    L(f"INCRBYFLOAT ctr:{i} 0.25")
L("INCR newctr")
L("INCR newctr")
L("DECRBY newctr 100")
# big values
for i in range(24):
    L(f"STRLEN big:{i}")
    L(f"GETRANGE big:{i} 1048000 1048100")
    L(f"EVAL \"return redis.sha1hex(redis.call('GET', KEYS[1]) or '')\" 1 big:{i}")
L("GET big:2")
L("GETRANGE big:0 3145720 3145740")
# lists
for l in range(0, 50, 3):
    L(f"LLEN list:{l}")
    L(f"LRANGE list:{l} 0 20")
    L(f"LRANGE list:{l} -15 -1")
    L(f"LINDEX list:{l} 7")
L("LPUSH mylist " + " ".join(f"e{i}" for i in range(300)))
L("RPUSH mylist " + " ".join(rstr(i % 60 + 1) for i in range(300)))
L("LTRIM mylist 10 500")
L("LRANGE mylist 0 -1")
L("LPOP mylist 5")
L("RPOP mylist 5")
L("LINSERT mylist BEFORE e200 inserted")
L("LREM mylist 0 inserted")
L("LLEN mylist")
# hashes (HGETALL only on small listpack-encoded hashes: insertion order)
for h in range(0, 200, 11):
    L(f"HLEN hash:{h}")
    L(f"HGET hash:{h} f3")
    L(f"HMGET hash:{h} f0 f1 f2 f100 nosuch")
    L(f"HSTRLEN hash:{h} f4")
for h in range(5):
    L(f"HSET small:{h} " + " ".join(f"a{k} {rstr(k + 1)}" for k in range(20)))
    L(f"HINCRBY small:{h} counter {h * 7}")
    L(f"HDEL small:{h} a3 a5")
    L(f"HGETALL small:{h}")
L("HSET wide " + " ".join(f"k{k} {rstr(200)}" for k in range(300)))
L("HLEN wide")
L("HGET wide k299")
# sets (member order only via SORT, or intset SMEMBERS)
L("SADD ints " + " ".join(str((i * 7919) % 10007) for i in range(300)))
L("SMEMBERS ints")
for s in range(0, 100, 9):
    L(f"SCARD set:{s}")
    L(f"SORT set:{s} ALPHA LIMIT 0 25")
L("SINTERCARD 2 set:1 set:3")
L("SADD words " + " ".join(rstr(8) for _ in range(50)))
L("SORT words ALPHA")
L("SINTERSTORE inter set:11 set:13")
L("SUNIONSTORE uni set:2 set:4 set:6")
L("SCARD uni")
L("SORT uni ALPHA LIMIT 0 40")
L("SISMEMBER ints 7919")
# sorted sets
for z in range(0, 60, 7):
    L(f"ZCARD zset:{z}")
    L(f"ZRANGE zset:{z} 0 15 WITHSCORES")
    L(f"ZRANGE zset:{z} -10 -1")
    L(f"ZRANGEBYSCORE zset:{z} -10 10 WITHSCORES LIMIT 0 10")
    L(f"ZCOUNT zset:{z} -100 100")
L("ZADD lb " + " ".join(f"{(i * 37) % 101} player{i}" for i in range(200)))
L("ZINCRBY lb 1000 player7")
L("ZREVRANGE lb 0 9 WITHSCORES")
L("ZRANK lb player7")
L("ZUNIONSTORE zu 3 zset:1 zset:2 zset:3 AGGREGATE MAX")
L("ZRANGE zu 0 20 WITHSCORES")
# Lua + misc
L("EVAL \"local t = {} for i = 1, 20000 do t[i] = tostring(i) .. ARGV[1] end return #table.concat(t, ',')\" 0 abc")
L("EVAL \"local r = {} for i = 1, 50 do r[#r+1] = redis.call('GET', 'key:' .. (i * 13)) or 'nil' end return r\" 0")
L("TYPE list:3")
L("OBJECT ENCODING list:49")
L("EXISTS key:1 key:5 nosuch")
L("RENAME key:1 renamed:1")
L("GET renamed:1")
L("DEBUG DIGEST")
L("DBSIZE")
L("INFO keyspace")
# free much from the background thread (lazyfree) then check emptiness
L("UNLINK " + " ".join(f"big:{i}" for i in range(24)))
L("FLUSHDB ASYNC")
L("DBSIZE")
L("SET after flush")
L("GET after")
L("DEBUG DIGEST")
L("PING")
with open(os.path.join(out, "cmds.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
