#!/usr/bin/env bash
# Real-program test: xz (liblzma, multi-threaded) under LD_PRELOAD=<lib>.
# A ~20 MB deterministic file is compressed with `xz -T2 -6 --block-size=4MiB`
# (the block size makes the 2 worker threads really share the work; with the
# default 24 MiB block a 20 MB file would be one block) with and without the
# preload: the .xz bytes must be identical.  Then the preloaded xz decompresses
# it (-T2, multi-threaded decoder) and the result must equal the original;
# `xz -t` and `xz -lvv` must also agree.
# Usage: tests/real/xz.sh PATH/TO/libmpool.so
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
real_init "$@"
need_cmd xz /usr/bin/python3 sha256sum
check_preload
cd "$TMP"

/usr/bin/python3 "$HERE/gen_data.py" data.bin 20000000 || fail "data generator failed"
XZ=(xz -T2 -6 --block-size=4MiB)

say "compress without preload"
run_checked "xz (no preload)" ref timeout 120 "${XZ[@]}" -c data.bin >ref.xz
say "compress with preload"
run_checked "xz (preload)" pre timeout 120 "${XZ[@]}" -c data.bin >pre.xz
same_file ref.xz pre.xz "xz compressed stream"

say "decompress with preload"
run_checked "xz -d (preload)" pre timeout 120 xz -d -T2 -c pre.xz >pre.out
same_file data.bin pre.out "xz round trip"
run_checked "xz -t (preload)" pre timeout 120 xz -t -T2 pre.xz
ref xz -lvv ref.xz >ref.list 2>&1 || fail "xz -lvv (no preload) failed"
pre xz -lvv pre.xz >pre.list 2>&1 || fail "xz -lvv (preload) failed"
sed -i 's/pre\.xz/X.xz/; s/ref\.xz/X.xz/' ref.list pre.list
same_file ref.list pre.list "xz -lvv listing"
blocks=$(awk '/^ +Blocks:/ {print $2; exit}' pre.list)
say "compressed $(wc -c <data.bin) -> $(wc -c <pre.xz) bytes in ${blocks:-?} blocks"
# also the plain (default block size) threaded path through a pipe
say "stdin/stdout pipeline with preload (xz -T2 -6 | xz -d, first 8 MB)"
head -c 8000000 data.bin >part.bin
h1=$(pre xz -T2 -6 -c <part.bin | pre xz -d -c | sha256sum)
h2=$(sha256sum <part.bin)
[ "$h1" = "$h2" ] || fail "pipeline round trip differs"
