#!/bin/sh
# roundtrip.sh - ONNX import/export round trip over the ONNX test data, then
# onnx.checker on every exported file.
#
#   tests/roundtrip.sh [DATA_DIR]        (default /usr/share/libonnx-testdata/data)
#
# 1. tests/tools/roundtrip (built here against $BUILD/libkdc.a, so run `make`
#    first) imports every model.onnx, exports it to a temporary folder, imports
#    the export and compares the IR texts; any difference fails. ROUNDTRIP=path
#    uses an already built binary instead.
# 2. tests/check_model.py runs onnx.checker (full_check) on every exported file
#    in one Python process. A rejected file fails the run unless it is listed
#    in tests/roundtrip_checker_known.txt AND its original is rejected too.
# Exits non-zero on any failure; prints counts and the elapsed time.
set -eu
cd "$(dirname "$0")/.."
DATA=${1:-/usr/share/libonnx-testdata/data}
BUILD=${BUILD:-build}
CC=${CC:-cc}
KNOWN=tests/roundtrip_checker_known.txt
BIN=${ROUNDTRIP:-$BUILD/tools/roundtrip}
start=$(date +%s.%N)

if [ -z "${ROUNDTRIP:-}" ] && { [ ! -x "$BIN" ] || [ tests/tools/roundtrip.c -nt "$BIN" ] || [ "$BUILD/libkdc.a" -nt "$BIN" ]; }; then
    mkdir -p "$BUILD/tools"
    # SANFLAGS as in the Makefile: BUILD=build/asan SANFLAGS="-fsanitize=address,undefined"
    $CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g ${SANFLAGS:-} -I. -I"$BUILD/gen" tests/tools/roundtrip.c \
        "$BUILD/libkdc.a" $(pkg-config --libs libprotobuf-c yaml-0.1 openblas) -lpthread -lm ${SANFLAGS:-} -o "$BIN"
fi

OUT=$(mktemp -d "${TMPDIR:-/tmp}/kdc-roundtrip.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
trap 'exit 130' INT TERM
status=0

"$BIN" "$DATA" "$OUT/models" >"$OUT/roundtrip.log" || status=1
grep -v '^[0-9]* passed, [0-9]* failed$' "$OUT/roundtrip.log" || true
rt_summary=$(tail -n 1 "$OUT/roundtrip.log")

# The checker: exported files, then the originals of the known failures.
find "$OUT/models" -name model.onnx | sort >"$OUT/exported.lst"
/usr/bin/python3 tests/check_model.py @"$OUT/exported.lst" >"$OUT/checker.log" || true
sed -n 's|^FAIL '"$OUT"'/models/\([^:]*\): .*|\1|p' "$OUT/checker.log" >"$OUT/rejected.lst"
grep -v '^#' "$KNOWN" | awk 'NF { print $1 }' >"$OUT/known.lst"

unexpected=$(grep -vxF -f "$OUT/known.lst" "$OUT/rejected.lst" || true)
if [ -n "$unexpected" ]; then
    echo "roundtrip: onnx.checker rejects exported files not listed in $KNOWN:"
    for f in $unexpected; do grep -F "$OUT/models/$f:" "$OUT/checker.log"; done
    status=1
fi
stale=$(grep -vxF -f "$OUT/rejected.lst" "$OUT/known.lst" || true)
if [ -n "$stale" ]; then
    echo "roundtrip: listed in $KNOWN but the export now passes the checker (remove them):" $stale
    status=1
fi
if [ -s "$OUT/known.lst" ]; then
    sed "s|^|$DATA/|" "$OUT/known.lst" >"$OUT/originals.lst"
    /usr/bin/python3 tests/check_model.py @"$OUT/originals.lst" >"$OUT/originals.log" || true
    sed -n 's|^FAIL \([^:]*\): .*|\1|p' "$OUT/originals.log" >"$OUT/originals_rejected.lst"
    accepted=$(grep -vxF -f "$OUT/originals_rejected.lst" "$OUT/originals.lst" || true)
    if [ -n "$accepted" ]; then
        echo "roundtrip: listed in $KNOWN but the ORIGINAL passes the checker (the export broke it):" $accepted
        status=1
    fi
fi

total=$(wc -l <"$OUT/exported.lst")
rejected=$(wc -l <"$OUT/rejected.lst")
end=$(date +%s.%N)
echo "roundtrip: $rt_summary"
echo "roundtrip: onnx.checker accepts $((total - rejected)) of $total exported files, rejects $rejected (expected: the $(wc -l <"$OUT/known.lst") listed in $KNOWN)"
awk -v s="$start" -v e="$end" 'BEGIN { printf "roundtrip: %.1f s\n", e - s }'
exit $status
