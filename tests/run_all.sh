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

echo "== sanitizer build (ASan + UBSan): every unit test, the parsers and bad input"
for t in build/tests/test_*; do
    a="build/asan/tests/$(basename "$t")"
    if [ -x "$a" ]; then
        run_cmocka "$a"
    else
        fail "$a" "not built (make asan)"
    fi
done
KDC=build/asan/kdc tests/bad_inputs.sh

echo "== round trip of the ONNX backend test data"
rt_log=$(mktemp)
tests/roundtrip.sh >"$rt_log" 2>&1
rt_rc=$?
cat "$rt_log"
rt_counts=$(sed -n 's/^roundtrip: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$rt_log")
read -r rt_pass rt_fail <<<"${rt_counts:-0 1}"
tally_add "$rt_pass" "$rt_fail" 0
if [ "$rt_rc" -eq 0 ]; then
    pass "onnx.checker accepts every exported model (known exceptions listed with reasons)"
elif [ "$rt_fail" -eq 0 ]; then
    fail "onnx.checker on the exported models" "see the roundtrip lines above"
fi
rm -f "$rt_log"

echo "== ONNX backend conformance (libonnx-testdata; expected failures in tests/conformance/expected_failures.txt)"
cf_log=$(mktemp)
tests/conformance.sh >"$cf_log" 2>&1
cf_rc=$?
cat "$cf_log"
cf_counts=$(sed -n 's/^conformance: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) expected failures$/\1 \2 \3/p' "$cf_log")
read -r cf_pass cf_fail cf_skip <<<"${cf_counts:-0 1 0}"
tally_add "$cf_pass" "$cf_fail" "$cf_skip"
if [ "$cf_rc" -ne 0 ] && [ "$cf_fail" -eq 0 ]; then
    fail "conformance" "the runner did not finish; see above"
fi
rm -f "$cf_log"
check "conformance under ASan+UBSan (no crash, same results)" env BUILD=build/asan \
    SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" tests/conformance.sh

echo "== real architectures against onnxruntime (tests/models/zoo; large ones need python3-torch to regenerate)"
tests/zoo_parity.sh

echo "== students of real architectures: kdc shrink --width 0.5 / --params 0.25, onnx.checker, onnxruntime"
tests/shrink_zoo.sh

echo "== end to end: compress, onnx.checker, onnxruntime parity"
KDC=build/kdc tests/e2e/run.sh
echo "== every recipe under recipes/ on a slice of its data, checked in onnxruntime"
KDC=build/kdc tests/e2e/recipes.sh

tally_report
rc=$?
rm -f "$KDC_TALLY"
exit $rc
