#!/bin/bash
# bad_inputs.sh - bad input gets one line on stderr naming the file and the
# problem, a non-zero exit, no crash (run with the sanitizer build: KDC=
# build/asan/kdc) and no output file.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
KDC=${KDC:-build/asan/kdc}
E2E=build/e2e
OUT=$(mktemp -d "${TMPDIR:-/tmp}/kdc-bad.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
# the data-mismatch cases use files from the end-to-end data set
/usr/bin/python3 tests/e2e/make_data.py "$E2E" || fail "e2e data for the bad-input cases"

# expect_error NAME EXIT_CODE PATTERN CMD... : CMD fails with EXIT_CODE and its
# error is one line matching PATTERN, the last on stderr (progress lines such as
# "teacher X" may precede it; nothing else may follow, no sanitizer report).
expect_error() {
    local name="$1" code="$2" pattern="$3" rc lines
    shift 3
    "$@" >"$OUT/stdout" 2>"$OUT/stderr.all"
    rc=$?
    grep -E '^kdc[: ]|Sanitizer|runtime error' "$OUT/stderr.all" >"$OUT/stderr"
    lines=$(wc -l <"$OUT/stderr")
    if ! tail -n1 "$OUT/stderr.all" | grep -q '^kdc'; then lines=99; fi
    if [ "$rc" -ne "$code" ]; then
        fail "$name" "exit $rc, expected $code: $(head -c 300 "$OUT/stderr")"
    elif [ "$lines" -ne 1 ]; then
        fail "$name" "$lines lines on stderr, expected one: $(head -c 600 "$OUT/stderr")"
    elif ! grep -qE "$pattern" "$OUT/stderr"; then
        fail "$name" "message '$(cat "$OUT/stderr")' does not match '$pattern'"
    else
        pass "$name: $(cat "$OUT/stderr")"
    fi
}

expect_error "missing model file" 1 "^kdc: error: $OUT/none.onnx: .*No such file" "$KDC" inspect "$OUT/none.onnx"
for f in tests/bad/*.onnx; do
    expect_error "bad model $(basename "$f")" 1 "^kdc: error: $f: " "$KDC" inspect "$f"
done
expect_error "kdc run on a truncated model" 1 "^kdc: error: tests/bad/truncated.onnx: " \
    "$KDC" run tests/bad/truncated.onnx -i tests/models/cnn_teacher_golden_input.npy -o "$OUT/run"
check "kdc run wrote no output for a bad model" test ! -e "$OUT/run/output_0.pb"
expect_error "kdc run with an input of the wrong shape" 1 "input 'input': shape \[2,1,32,32\] does not match" \
    "$KDC" run tests/models/cnn_teacher.onnx -i "$E2E/big_input.npy" -o "$OUT/run2"
expect_error "kdc run with an input of the wrong type" 1 "big_x.npy: holds uint8 but input 'input' takes float" \
    "$KDC" run tests/models/cnn_teacher.onnx -i "$E2E/big_x.npy" -o "$OUT/run3"
# sequences and optionals (ONNX test data: a dependency, installed by make deps)
ND=/usr/share/libonnx-testdata/data/node
expect_error "kdc run with a TensorProto for an optional input" 1 \
    "input_1.pb: not a valid OptionalProto" \
    "$KDC" run "$ND/test_optional_get_element/model.onnx" -i "$ND/test_sequence_insert_at_back/test_data_set_0/input_1.pb" -o "$OUT/run_opt"
check "kdc run wrote no output for a wrong optional input" test ! -e "$OUT/run_opt/output_0.pb"
expect_error "kdc run on a model with a sequence output" 1 "output 'output_sequence' is a sequence; kdc run writes tensors only" \
    "$KDC" run "$ND/test_sequence_insert_at_back/model.onnx" -i "$ND/test_sequence_insert_at_back/test_data_set_0/input_0.pb" \
    "$ND/test_sequence_insert_at_back/test_data_set_0/input_1.pb" -o "$OUT/run_seq"
check "kdc run wrote no output for a sequence output" test ! -e "$OUT/run_seq/output_0.pb"
expect_error "missing recipe" 1 "^kdc: error: $OUT/none.yaml: cannot read" "$KDC" check "$OUT/none.yaml"
expect_error "recipe with a misspelt key" 1 "^kdc: error: tests/bad/typo_key.yaml:8:3: unknown key 'widht'" \
    "$KDC" check tests/bad/typo_key.yaml
expect_error "recipe with a truncated teacher" 1 "^kdc: error: .*truncated.onnx: " \
    "$KDC" compress tests/bad/truncated_teacher.yaml
check "no student written for a truncated teacher" test ! -e build/bad_truncated_student.onnx
expect_error "a student output that would overwrite the teacher" 1 \
    "^kdc: error: recipes/fashion_mnist_cnn.yaml: the output would overwrite the teacher" \
    "$KDC" compress recipes/fashion_mnist_cnn.yaml -o tests/models/cnn_teacher.onnx
expect_error "an online teacher output that would overwrite the student" 1 \
    "distill.online.output and the student's output are the same file" \
    "$KDC" compress recipes/fashion_mnist_cnn_online.yaml -o recipes/../out/fashion_mnist_cnn_online_teacher.onnx
if [ -f "$E2E/bad_size.yaml" ]; then
    expect_error "data whose image size does not match the teacher" 1 \
        "bad_size.yaml:[0-9]+:[0-9]+: .*big_x.npy: samples are 1x32x32 but the teacher's input 'input' takes 1x28x28" \
        "$KDC" compress "$E2E/bad_size.yaml"
    check "no student written for mismatched data" test ! -e "$E2E/bad_size_student.onnx"
    expect_error "a label out of range" 1 "bad_label.yaml:[0-9]+:[0-9]+: .*bad_y.npy: label 10 of sample 7 is out of range" \
        "$KDC" compress "$E2E/bad_label.yaml"
    check "no student written for a bad label" test ! -e "$E2E/bad_label_student.onnx"
else
    fail "data-mismatch cases" "$E2E/bad_size.yaml missing (tests/e2e/make_data.py did not run)"
fi
expect_error "unknown command" 2 "unknown command 'compres'" "$KDC" compres x
expect_error "--recalibrate-bn without calibration data" 2 "shrink: --recalibrate-bn needs calibration inputs: --calib FILE" \
    "$KDC" shrink tests/models/cnn_teacher.onnx --recalibrate-bn -o "$OUT/never.onnx"
check "no student written without calibration data" test ! -e "$OUT/never.onnx"
expect_error "calibration data of the wrong shape" 1 "^kdc: error: tests/models/cnn_teacher.onnx: .*'input'" \
    "$KDC" shrink tests/models/cnn_teacher.onnx --recalibrate-bn --calib tests/models/zoo/squeezenet1_1_b8.npy \
    -o "$OUT/never.onnx"
check "no student written for calibration data of the wrong shape" test ! -e "$OUT/never.onnx"
