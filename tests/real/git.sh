#!/usr/bin/env bash
# Real-program test: git under LD_PRELOAD=<lib>.
# In a temp dir: git init, commit 5 successive states of a ~200-file tree
# (modifications, adds, deletes, renames), then log --stat/-p, diff, blame,
# grep, rev-list, repack/gc (multi-threaded delta search), fsck --full,
# count-objects, cat-file --batch.  Everything is run once without and once
# with the preload (fixed dates/names/config): all output must be identical.
# Usage: tests/real/git.sh PATH/TO/libmpool.so
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
real_init "$@"
need_cmd git /usr/bin/python3
check_preload
cd "$TMP"

NSTATES=5
/usr/bin/python3 "$HERE/git_gen.py" "$TMP/states" $NSTATES || fail "tree generator failed"

# Deterministic, isolated git environment.
mkdir -p home
export HOME=$TMP/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Real Test" GIT_AUTHOR_EMAIL=real@example.invalid
export GIT_COMMITTER_NAME="Real Test" GIT_COMMITTER_EMAIL=real@example.invalid
export GIT_PAGER=cat PAGER=cat GIT_TERMINAL_PROMPT=0 GIT_EDITOR=true
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY

# run_git_session ref|pre: all git commands of one session, output to $1.out/.err
# Every git command goes through g(), which records a non-zero exit status in
# the output (so it shows up in the diff) instead of aborting the session.
run_git_session() {
    local mode=$1 repo=$TMP/repo-$1 s
    g() {
        local rc=0
        "$mode" timeout 120 git -c core.pager=cat -c color.ui=never -c gc.auto=0 \
            -c pack.threads=2 -c init.defaultBranch=main "$@" || rc=$?
        [ $rc -eq 0 ] || echo "[git $1 exited with status $rc]"
        return 0
    }
    mkdir -p "$repo"
    cd "$repo"
    {
        g init -q .
        for s in $(seq 0 $((NSTATES - 1))); do
            find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
            cp -a "$TMP/states/$s/." .
            export GIT_AUTHOR_DATE="2024-01-0$((s + 1))T12:00:00+0000"
            export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
            g add -A
            g commit -q -m "state $s" -m "Generated state number $s of the real-programs git test."
            if [ "$s" -eq 2 ]; then g tag -a v1 -m "tag at state 2"; fi
            if [ "$s" -eq 3 ]; then
                g checkout -q -b side HEAD~1; echo side >side.txt; g add side.txt
                g commit -q -m "side branch"; g checkout -q main
            fi
        done
        g merge -q --no-edit side
        echo "== log --stat"; g log --stat --summary -M --all --date=iso
        echo "== log -p"; g log -p -M --format='%H %s' -n 3
        echo "== diff"; g diff --stat -M HEAD~4 HEAD
        g diff -M v1 HEAD -- dir1 dir2 >"$TMP/$mode.diff"; head -n 2000 "$TMP/$mode.diff"
        echo "== blame"; g blame -s top.txt >"$TMP/$mode.blame"; head -n 300 "$TMP/$mode.blame"
        echo "== grep"; g grep -c -e arena -e slab HEAD
        echo "== rev-list"; g rev-list --objects --all >"$TMP/$mode.objs"; sort "$TMP/$mode.objs"
        echo "== repack"; g repack -a -d -f -q --depth=50 --window=50
        echo "== gc"; g gc -q --prune=now
        echo "== fsck"; g fsck --full --strict --no-dangling 2>&1
        echo "== count-objects"; g count-objects -v >"$TMP/$mode.count"
        grep -E '^(count|in-pack|packs|prune-packable|garbage):' "$TMP/$mode.count"
        echo "== cat-file"; cut -d' ' -f1 "$TMP/$mode.objs" >"$TMP/$mode.ids"
        g cat-file --batch-check <"$TMP/$mode.ids" >"$TMP/$mode.check"; sort "$TMP/$mode.check"
        g cat-file --batch <"$TMP/$mode.ids" >"$TMP/$mode.batch"; sha256sum <"$TMP/$mode.batch"
        echo "== ls-tree"; g ls-tree -r -l HEAD
        echo "== status"; g status --porcelain=v1
        echo "== show"; g show --stat v1
    } >"$TMP/$mode.out" 2>"$TMP/$mode.err"
    cd "$TMP"
    if grep -q '^\[git .* exited with status' "$TMP/$mode.out"; then
        grep '^\[git .* exited with status' "$TMP/$mode.out" >&2
        cat "$TMP/$mode.err" >&2
        [ "$mode" = ref ] && fail "git failed even WITHOUT the preload (environment problem)"
        fail "git commands failed under the preload"
    fi
}

say "git session without preload"
run_git_session ref
say "git session with preload"
run_git_session pre
same_file ref.err pre.err "git stderr"
same_file ref.out pre.out "git output"
if ! grep -q '^    state 4$' pre.out || ! grep -q ' files changed' pre.out; then
    fail "unexpected git log output"
fi
lines=$(wc -l <pre.out)
say "compared $lines lines of git output"
[ "$lines" -gt 2000 ] || fail "git output unexpectedly short ($lines lines)"
