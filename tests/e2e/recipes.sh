#!/bin/bash
# recipes.sh - every recipe under recipes/ runs: `kdc compress` on a small slice (512
# training images, 256 test images, one epoch, stages cut to one epoch), then the student
# it writes is checked: onnx.checker accepts it, and onnxruntime's outputs on the 256 test
# images of tests/e2e/make_data.py match `kdc run` within 1e-4. What each kind of recipe
# promises is checked too: a self-distilled student has the teacher's parameter count,
# an online recipe writes a trained teacher that onnxruntime runs as well, and a recipe
# with feature losses emits a student with exactly the ops and parameters of the plain
# recipe's student (probes and adapters stripped), and a recipe of a teacher without
# normalization (train_norm: auto) trains with BatchNormalization and writes none.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
KDC=${KDC:-build/kdc}
E2E=build/e2e
OUT=$E2E/recipes
PY=/usr/bin/python3
mkdir -p "$OUT"

if [ ! -f "$E2E/test_input.npy" ] && ! $PY tests/e2e/make_data.py "$E2E"; then
    fail "e2e data" "tests/e2e/make_data.py failed"
    exit 0
fi

params() { "$KDC" inspect "$1" | sed -n 's/^parameters \([0-9]*\).*/\1/p'; }
# Op counts and parameters, the lines of `kdc inspect` that describe the architecture.
shape_of() { "$KDC" inspect "$1" | sed -n '/^nodes/,/^MACs/p'; }

# The path a recipe's distill.online.output names, resolved from the recipe's folder.
online_output() {
    local rel
    rel=$(sed -n '/^  online:/,/^[a-z]/s/^ *output: *\([^ #]*\).*/\1/p' "$1" | head -n1)
    [ -n "$rel" ] && echo "$(dirname "$1")/$rel"
}

for recipe in recipes/*.yaml; do
    name=$(basename "$recipe" .yaml)
    student="$OUT/$name.onnx"
    online=$(online_output "$recipe")
    rm -f "$student" ${online:+"$online"}
    if ! "$KDC" compress "$recipe" --epochs 1 --train-samples 512 --test-samples 256 -o "$student" \
        >"$OUT/$name.log" 2>&1; then
        fail "kdc compress $recipe (512 images, 1 epoch)" "$(tail -n1 "$OUT/$name.log")"
        continue
    fi
    pass "kdc compress $recipe (512 images, 1 epoch)"
    check "onnx.checker accepts the student of $name" $PY tests/check_model.py "$student"
    ort_parity "$name" "$student" "$E2E/test_input.npy" "$OUT"
    teacher=$(sed -n 's/^teacher: *\([^ #]*\).*/\1/p; s/^  - {model: *\([^ ,}]*\).*/\1/p' "$recipe" | head -n1)
    if grep -q "width: 1.0" "$recipe"; then
        check "self-distilled $name has the teacher's $(params "recipes/$teacher") parameters" \
            test "$(params "$student")" = "$(params "recipes/$teacher")"
    fi
    if grep -q "train_norm: auto" "$recipe"; then
        check "$name: BatchNormalization added for training, none left in the student" \
            sh -c "grep -q 'train_norm: BatchNormalization after [1-9]' '$OUT/$name.log' &&
                ! '$KDC' inspect '$student' | grep -q BatchNormalization"
    fi
    if grep -q "^teachers:" "$recipe"; then
        check "$name distilled from $(grep -c '^teacher [0-9]*:' "$OUT/$name.log") teachers (several)" \
            grep -q '^teacher 2:' "$OUT/$name.log"
    fi
    if [ -n "$online" ]; then
        check "online $name wrote its trained teacher" test -s "$online"
        ort_parity "${name}_teacher" "$online" "$E2E/test_input.npy" "$OUT"
    fi
done

# Probes and adapters leave no trace: the features recipe's student has the same ops and
# parameters as the plain recipe's (both width 0.5 of the same teacher).
if [ -f "$OUT/fashion_mnist_cnn_features.onnx" ] && [ -f "$OUT/fashion_mnist_cnn.onnx" ]; then
    check "the feature-distilled student has exactly the plain student's ops and parameters" \
        diff <(shape_of "$OUT/fashion_mnist_cnn.onnx") <(shape_of "$OUT/fashion_mnist_cnn_features.onnx")
fi
