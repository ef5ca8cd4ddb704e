# Shared helpers for the "real programs" tests. Source it from a test script:
#   . "$(dirname "$0")/common.sh"
#   real_init "$@"            # sets LIB (absolute), TMP (fresh temp dir), traps
#   need_cmd sqlite3 ...      # FAIL (not skip) if a program is missing
#   check_preload             # FAIL if LD_PRELOAD=$LIB does not take effect
#   pre CMD...                # run CMD with LD_PRELOAD=$LIB
#   ref CMD...                # run CMD without any LD_PRELOAD
#   same_file A B LABEL       # FAIL with a diff if A and B differ
# shellcheck shell=bash

set -euo pipefail

REAL_NAME=$(basename "$0")
REAL_START=$SECONDS
REAL_CLEANUP_HOOKS=()

say()  { printf '[%s] %s\n' "$REAL_NAME" "$*" >&2; }
fail() { printf '[%s] FAIL: %s\n' "$REAL_NAME" "$*" >&2; exit 1; }

# Register a command to run (via eval) at exit, before the temp dir is removed.
on_exit() { REAL_CLEANUP_HOOKS+=("$1"); }

_real_cleanup() {
    local rc=$? h
    set +e
    for h in "${REAL_CLEANUP_HOOKS[@]}"; do eval "$h" >/dev/null 2>&1; done
    if [ -n "${TMP:-}" ] && [ -d "$TMP" ]; then
        if { [ $rc -ne 0 ] && [ -n "${REAL_KEEP_TMP:-}" ]; } || [ "${REAL_KEEP_TMP:-}" = always ]; then
            say "keeping temp dir $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
    if [ $rc -eq 0 ]; then
        say "PASS ($((SECONDS - REAL_START)) s)"
    else
        say "FAILED (exit $rc, $((SECONDS - REAL_START)) s)"
    fi
    exit $rc
}

need_cmd() {
    local c missing=()
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || missing+=("$c")
    done
    if [ ${#missing[@]} -ne 0 ]; then
        fail "missing program(s): ${missing[*]} -- run scripts/install-test-deps (as root) first"
    fi
}

real_init() {
    if [ $# -lt 1 ] || [ -z "$1" ]; then
        fail "usage: $0 PATH/TO/PRELOAD-LIBRARY.so"
    fi
    [ -e "$1" ] || fail "preload library '$1' does not exist (build it first)"
    [ -f "$1" ] && [ -r "$1" ] || fail "preload library '$1' is not a readable file"
    LIB=$(readlink -f -- "$1")
    export LC_ALL=C.UTF-8 LANG=C.UTF-8 TZ=UTC
    unset LD_PRELOAD
    need_cmd grep diff cmp timeout mktemp
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/mpool-real-${REAL_NAME%.*}.XXXXXX")
    trap _real_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    say "preload library: $LIB"
}

# The preload must actually be mapped into a process started with it.
# Also fails if the dynamic loader complains (wrong ELF class, missing deps...).
check_preload() {
    local n err
    err=$TMP/.preload-check.err
    n=$(LD_PRELOAD="$LIB" /bin/grep -cF -- "$LIB" /proc/self/maps 2>"$err" || true)
    if [ -s "$err" ]; then
        cat "$err" >&2
        fail "loader reported an error for LD_PRELOAD=$LIB"
    fi
    if [ -z "$n" ] || [ "$n" -lt 1 ]; then
        fail "LD_PRELOAD=$LIB did not take effect (not in /proc/self/maps)"
    fi
    say "preload took effect ($n mappings of $(basename "$LIB"))"
}

# Check that a live process has the preload mapped.
check_pid_has_preload() {
    local pid=$1
    grep -qF -- "$LIB" "/proc/$pid/maps" 2>/dev/null \
        || fail "process $pid does not have $LIB mapped"
}

pre() { env LD_PRELOAD="$LIB" "$@"; }
ref() { env -u LD_PRELOAD "$@"; }

# same_file EXPECTED ACTUAL LABEL: byte-compare; on mismatch show a diff.
same_file() {
    local a=$1 b=$2 label=$3
    if cmp -s -- "$a" "$b"; then
        say "$label: identical ($(wc -c <"$a") bytes)"
        return 0
    fi
    say "$label: outputs differ (left: without preload, right: with preload)"
    if grep -qI . "$a" 2>/dev/null && grep -qI . "$b" 2>/dev/null; then
        diff -u --label "$label (no preload)" --label "$label (LD_PRELOAD)" -- "$a" "$b" | head -n 60 >&2 || true
    else
        cmp -- "$a" "$b" >&2 || true
        cmp -l -- "$a" "$b" 2>/dev/null | head -n 10 >&2 || true
    fi
    ls -l -- "$a" "$b" >&2 || true
    fail "$label differs with the preload"
}

# run_checked LABEL CMD...: run CMD, fail with its stderr on non-zero exit.
run_checked() {
    local label=$1; shift
    local rc=0
    "$@" || rc=$?
    [ $rc -eq 0 ] || fail "$label exited with status $rc"
}
