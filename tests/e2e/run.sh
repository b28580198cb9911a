#!/bin/bash
# run.sh - end to end: distills the committed MLP and CNN teachers with
# one-epoch recipes on a Fashion-MNIST subset (tests/e2e/make_data.py), then
# checks every student kdc emits: onnx.checker accepts it, it is smaller than
# its teacher, it learned something, and onnxruntime's outputs on 256 test
# images match `kdc run` within 1e-4 absolute. Teachers are checked too. The CNN once more
# with train_norm: batchnorm: its own BatchNormalization recalibrated first, a node added
# after the hidden Gemm, all of them folded in the student written.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
KDC=${KDC:-build/kdc}
E2E=build/e2e
PY=/usr/bin/python3

if ! $PY tests/e2e/make_data.py "$E2E"; then
    fail "e2e data" "tests/e2e/make_data.py failed"
    exit 0
fi

params() { "$KDC" inspect "$1" | sed -n 's/^parameters \([0-9]*\).*/\1/p'; }

student_accuracy() { sed -n 's/^test accuracy *[0-9.]*% *\([0-9.]*\)%.*/\1/p' "$1"; }

for m in mlp cnn; do
    student="$E2E/${m}_student.onnx"
    rm -f "$student"
    if ! "$KDC" compress "$E2E/$m.yaml" >"$E2E/$m.log" 2>&1; then
        fail "kdc compress $m" "$(tail -n1 "$E2E/$m.log")"
        continue
    fi
    pass "kdc compress $m (1 epoch, 4096 images)"
    check "onnx.checker accepts the $m student" $PY tests/check_model.py "$student"
    tp=$(params "tests/models/${m}_teacher.onnx")
    sp=$(params "$student")
    check "the $m student is smaller ($sp vs $tp parameters)" test "${sp:-0}" -gt 0 -a "${sp:-0}" -lt "${tp:-0}"
    acc=$(student_accuracy "$E2E/$m.log")
    check "the $m student learned (test accuracy ${acc:-?}% > 70%)" \
        $PY -c "import sys; sys.exit(0 if float('${acc:-0}') > 70 else 1)"
    ort_parity "${m}_teacher" "tests/models/${m}_teacher.onnx" "$E2E/test_input.npy" "$E2E"
    ort_parity "${m}_student" "$student" "$E2E/test_input.npy" "$E2E"
done

# train_norm: batchnorm on the CNN teacher, which keeps its two BatchNormalization: the
# student's are recalibrated first, one node goes after the hidden Gemm, and the student
# written has them all folded (the Gemm's, and the convs' of the teacher's).
student="$E2E/cnn_batchnorm_student.onnx"
rm -f "$student"
if "$KDC" compress "$E2E/cnn_batchnorm.yaml" >"$E2E/cnn_batchnorm.log" 2>&1; then
    pass "kdc compress cnn with train_norm: batchnorm"
    check "the student's own BatchNormalization recalibrated before the new node is set" \
        grep -q "train_norm: recalibrated the student's 2 BatchNormalization on" "$E2E/cnn_batchnorm.log"
    check "one BatchNormalization added after the hidden Gemm" \
        grep -q "train_norm: BatchNormalization after 1 Conv/Gemm/MatMul layer " "$E2E/cnn_batchnorm.log"
    check "no BatchNormalization in the written student" sh -c "! '$KDC' inspect '$student' | grep -q BatchNormalization"
    acc=$(student_accuracy "$E2E/cnn_batchnorm.log")
    check "the batchnorm student learned (test accuracy ${acc:-?}% > 70%)" \
        $PY -c "import sys; sys.exit(0 if float('${acc:-0}') > 70 else 1)"
    ort_parity cnn_batchnorm_student "$student" "$E2E/test_input.npy" "$E2E"
else
    fail "kdc compress cnn with train_norm: batchnorm" "$(tail -n1 "$E2E/cnn_batchnorm.log")"
fi
