#!/bin/bash
# run_all.sh - every test of kdc, as `make test` runs it (after building the
# normal and the sanitizer variants). Prints one line per test and closes
# with "N passed, N failed, N skipped"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
KDC_TALLY=$(mktemp)
export KDC_TALLY
. tests/lib.sh

echo "== unit tests"
for t in build/tests/test_*; do
    run_cmocka "$t"
done

echo "== sanitizer build (ASan + UBSan): parsers and bad input"
for t in test_frontend test_backend test_recipe test_dataset test_inflate; do
    [ -x "build/asan/tests/$t" ] && run_cmocka "build/asan/tests/$t"
done
KDC=build/asan/kdc tests/bad_inputs.sh

echo "== round trip of the ONNX backend test data"
tests/roundtrip.sh

echo "== end to end: compress, onnx.checker, onnxruntime parity"
KDC=build/kdc tests/e2e/run.sh

tally_report
rc=$?
rm -f "$KDC_TALLY"
exit $rc
