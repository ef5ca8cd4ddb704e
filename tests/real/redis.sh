#!/usr/bin/env bash
# Real-program test: Debian's redis-server (which links jemalloc itself) run
# under LD_PRELOAD=<lib> on 127.0.0.1, driven by a plain (not preloaded)
# redis-cli:
#  1. bulk load (redis-cli --pipe): ~60k keys, ~1 MiB values grown with
#     APPEND/SETRANGE, lists, hashes, sets, sorted sets;
#  2. a deterministic command script (GET/SET/INCR/LPUSH/LRANGE/HSET/HGETALL/
#     SADD/SMEMBERS/ZADD/ZRANGE/Lua/DEBUG DIGEST/UNLINK/FLUSHDB ASYNC ...):
#     replies must be byte-identical to those of a server run without preload;
#  3. redis-benchmark -P 8 against the preloaded server must complete, and the
#     server must still answer PING;
#  4. SHUTDOWN NOSAVE: the preloaded server must exit with status 0.
# Usage: tests/real/redis.sh PATH/TO/libmpool.so
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
real_init "$@"
need_cmd redis-server redis-cli redis-benchmark /usr/bin/python3
check_preload
cd "$TMP"

/usr/bin/python3 "$HERE/redis_gen.py" "$TMP" || fail "workload generator failed"

SERVER_PIDS=()
kill_servers() {
    local p
    for p in "${SERVER_PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || continue
        kill -TERM "$p" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
}
on_exit kill_servers

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cli() { env -u LD_PRELOAD timeout 120 redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }

# start_server ref|pre DIR: sets PORT and SPID
start_server() {
    local mode=$1 dir=$TMP/$2 attempt envcmd
    mkdir -p "$dir"
    if [ "$mode" = pre ]; then envcmd=(env LD_PRELOAD="$LIB"); else envcmd=(env -u LD_PRELOAD); fi
    for attempt in 1 2 3 4 5; do
        PORT=$(free_port)
        "${envcmd[@]}" redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode yes \
            --save '' --appendonly no --daemonize no --dir "$dir" \
            --logfile "$dir/redis.log" --enable-debug-command local \
            --lazyfree-lazy-user-flush yes --maxclients 200 &
        SPID=$!
        SERVER_PIDS+=("$SPID")
        for _ in $(seq 1 100); do
            if ! kill -0 "$SPID" 2>/dev/null; then break; fi
            if [ "$(cli PING 2>/dev/null)" = PONG ]; then
                say "$mode server pid $SPID on 127.0.0.1:$PORT"
                return 0
            fi
            sleep 0.1
        done
        if kill -0 "$SPID" 2>/dev/null; then
            kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null || true
            tail -n 20 "$dir/redis.log" >&2 || true
            fail "$mode redis-server did not answer PING within 10 s"
        fi
        wait "$SPID" 2>/dev/null || true
        say "$mode redis-server exited at startup (attempt $attempt, port $PORT):"
        tail -n 20 "$dir/redis.log" >&2 || true
        # only a lost race for the port is worth another try
        grep -qi 'address already in use' "$dir/redis.log" 2>/dev/null \
            || fail "$mode redis-server failed to start"
    done
    fail "could not start $mode redis-server"
}

# stop_server MODE DIR: SHUTDOWN NOSAVE, require exit status 0
stop_server() {
    local mode=$1 dir=$TMP/$2 rc=0
    cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SPID" 2>/dev/null; then
        fail "$mode redis-server still running 10 s after SHUTDOWN NOSAVE"
    fi
    wait "$SPID" || rc=$?
    if [ $rc -ne 0 ]; then
        tail -n 40 "$dir/redis.log" >&2 || true
        fail "$mode redis-server exited with status $rc after SHUTDOWN NOSAVE (crash?)"
    fi
    grep -q 'bye bye' "$dir/redis.log" || { tail -n 20 "$dir/redis.log" >&2; fail "$mode redis-server did not log a clean exit"; }
    say "$mode redis-server exited cleanly (status 0)"
}

# workload MODE DIR: bulk load + command script, replies into DIR/replies.txt
workload() {
    local mode=$1 dir=$2 rc=0
    cli --pipe <load.resp >"$dir/pipe.txt" 2>&1 || rc=$?
    if [ $rc -ne 0 ] || ! grep -q 'errors: 0, replies: ' "$dir/pipe.txt"; then
        cat "$dir/pipe.txt" >&2
        fail "$mode: bulk load via redis-cli --pipe failed (exit $rc)"
    fi
    # keep only the summary line (the rest has timing-dependent chatter)
    grep 'errors: ' "$dir/pipe.txt" >"$dir/replies.txt"
    cli <cmds.txt >>"$dir/replies.txt" 2>"$dir/cli.err" || rc=$?
    [ $rc -eq 0 ] || { cat "$dir/cli.err" >&2; fail "$mode: redis-cli command script failed (exit $rc)"; }
    kill -0 "$SPID" 2>/dev/null || { tail -n 40 "$dir/redis.log" >&2; fail "$mode redis-server died during the workload"; }
}

# ---- reference server (no preload) -------------------------------------------
say "reference run (no preload)"
start_server ref r
workload ref r
stop_server ref r

# ---- preloaded server ----------------------------------------------------------
say "run with preload"
start_server pre p
check_pid_has_preload "$SPID"
workload pre p
same_file r/replies.txt p/replies.txt "redis replies"
same_file r/cli.err p/cli.err "redis-cli stderr"
lines=$(wc -l <p/replies.txt)
[ "$lines" -gt 1000 ] || fail "reply file unexpectedly short ($lines lines)"

say "redis-benchmark against the preloaded server"
rc=0
env -u LD_PRELOAD timeout 120 redis-benchmark -h 127.0.0.1 -p "$PORT" -n 50000 -q \
    -t set,get,lpush,lpop,incr -P 8 >p/bench.txt 2>&1 || rc=$?
tr '\r' '\n' <p/bench.txt | grep -E 'requests per second' | sed 's/^/    /' >&2 || true
[ $rc -eq 0 ] || { cat p/bench.txt >&2; fail "redis-benchmark exited with status $rc"; }
n=$(tr '\r' '\n' <p/bench.txt | grep -cE '^(SET|GET|LPUSH|LPOP|INCR): .*requests per second' || true)
[ "$n" -eq 5 ] || { cat p/bench.txt >&2; fail "redis-benchmark did not report all 5 tests ($n)"; }
kill -0 "$SPID" 2>/dev/null || { tail -n 40 p/redis.log >&2; fail "preloaded redis-server died during redis-benchmark"; }
[ "$(cli PING)" = PONG ] || fail "preloaded redis-server does not answer PING after redis-benchmark"
[ "$(cli GET after)" = flush ] || fail "preloaded redis-server lost data after redis-benchmark"
# benchmark leaves ~3 keys; make the server free them (and its big list)
cli FLUSHALL >/dev/null || fail "FLUSHALL failed"
[ "$(cli DBSIZE)" = 0 ] || fail "DBSIZE not 0 after FLUSHALL"
stop_server pre p
