#!/usr/bin/env bash
# Real-program test: gcc (driver + cc1 + as + collect2/ld, all children
# inheriting LD_PRELOAD) under LD_PRELOAD=<lib>.
# A generated ~3000-line C file is compiled with `gcc -O2 -c` and
# `gcc -O2 -g -Wall -Wextra -c`, and also emitted as -O3 assembly, with and
# without the preload: the object files / assembly must be byte-identical and
# the diagnostics equal.  The preloaded objects are linked (preloaded ld) and
# the program's output compared to the non-preloaded build.  A -wrapper script
# proves that cc1 and as themselves ran with the preload mapped.
# Usage: tests/real/gcc.sh PATH/TO/libmpool.so
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
real_init "$@"
need_cmd gcc as ld /usr/bin/python3
check_preload
cd "$TMP"

/usr/bin/python3 "$HERE/gen_c.py" prog.c 150 || fail "C generator failed"
say "generated prog.c: $(wc -l <prog.c) lines"
unset GCC_EXEC_PREFIX COMPILER_PATH LIBRARY_PATH CPATH C_INCLUDE_PATH SOURCE_DATE_EPOCH

# wrapper that records which gcc sub-programs ran with the preload mapped
cat >wrap.sh <<WRAP
#!/bin/bash
if grep -qF -- "$LIB" /proc/\$\$/maps; then echo "\$(basename "\$1") preloaded"; else echo "\$(basename "\$1") NOT-preloaded"; fi >>"$TMP/wrapped.log"
exec "\$@"
WRAP
chmod +x wrap.sh

# compile MODE: all outputs into MODE/ (compiled from $TMP so paths match)
compile() {
    local mode=$1 extra=()
    mkdir -p "$mode"
    [ "$mode" = pre ] && extra=(-wrapper "$TMP/wrap.sh")
    $mode timeout 120 gcc -O2 "${extra[@]}" -c prog.c -o "$mode/prog.o" 2>"$mode/diag1.txt" \
        || { cat "$mode/diag1.txt" >&2; fail "gcc -O2 -c ($mode) failed"; }
    $mode timeout 120 gcc -O2 -g -Wall -Wextra -c prog.c -o "$mode/prog-g.o" 2>"$mode/diag2.txt" \
        || { cat "$mode/diag2.txt" >&2; fail "gcc -O2 -g -c ($mode) failed"; }
    $mode timeout 120 gcc -O3 -fverbose-asm -S prog.c -o "$mode/prog.s" 2>"$mode/diag3.txt" \
        || { cat "$mode/diag3.txt" >&2; fail "gcc -O3 -S ($mode) failed"; }
    $mode timeout 120 gcc -O2 "$mode/prog-g.o" -o "$mode/prog" 2>"$mode/diag4.txt" \
        || { cat "$mode/diag4.txt" >&2; fail "gcc link ($mode) failed"; }
}
say "compile without preload"
compile ref
say "compile with preload"
compile pre

for f in diag1.txt diag2.txt diag3.txt diag4.txt; do same_file "ref/$f" "pre/$f" "gcc diagnostics $f"; done
same_file ref/prog.o pre/prog.o "object file (gcc -O2 -c)"
same_file ref/prog-g.o pre/prog-g.o "object file (gcc -O2 -g -c)"
sed -i 's/\(ref\|pre\)\/prog\.s/prog.s/' ref/prog.s pre/prog.s   # output name in -fverbose-asm header
same_file ref/prog.s pre/prog.s "assembly (gcc -O3 -S)"
# Linked executables embed the object file path; compare the program output instead.
ref ./ref/prog >ref/run.txt || fail "reference program failed"
ref ./pre/prog >pre/run.txt || fail "program linked under preload failed"
same_file ref/run.txt pre/run.txt "program output"

for p in cc1 as; do
    grep -qx "$p preloaded" wrapped.log || { cat wrapped.log >&2; fail "$p did not run with the preload mapped"; }
done
! grep -q NOT-preloaded wrapped.log || { cat wrapped.log >&2; fail "some gcc sub-program ran without the preload"; }
say "gcc sub-programs under preload: $(sort -u wrapped.log | tr '\n' ' ')"
