#!/bin/bash
# distill_vs_ce.sh - does distillation pay? On Fashion-MNIST, the width-0.5
# CNN student distilled by the demo recipe (alpha 0.9, T 4) against the same
# student trained for the same epochs on labels only (alpha 0), and against
# the teacher. Prints the three accuracies and the two verdicts the project
# tracks: the distilled student within 1.5 points of the teacher, and above
# the labels-only student.
#
#   bench/distill_vs_ce.sh [EPOCHS]     (default 5, as the demo recipe)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KDC=${KDC:-build/kdc}
EPOCHS=${1:-5}
OUT=build/bench
mkdir -p "$OUT"
FM=/usr/share/datasets/fashion-mnist

recipe() { # ALPHA OUTPUT
    cat <<YAML
kdc: 1
teacher: $ROOT/tests/models/cnn_teacher.onnx
data:
  train: {format: idx, inputs: $FM/train-images-idx3-ubyte.gz, labels: $FM/train-labels-idx1-ubyte.gz}
  test: {format: idx, inputs: $FM/t10k-images-idx3-ubyte.gz, labels: $FM/t10k-labels-idx1-ubyte.gz}
  normalize: {scale: 0.00392156862745098, mean: [0.2860], std: [0.3530]}
student: {width: 0.5}
distill: {temperature: 4, alpha: $1}
train: {epochs: $EPOCHS, batch_size: 128, lr: 0.05, momentum: 0.9, weight_decay: 0.0005, schedule: cosine, seed: 0}
output: $ROOT/$OUT/$2
YAML
}

recipe 0.9 kd_student.onnx >"$OUT/kd.yaml"
recipe 0 ce_student.onnx >"$OUT/ce.yaml"
echo "distilled (alpha 0.9, T 4), $EPOCHS epochs:"
"$KDC" compress "$OUT/kd.yaml" | tee "$OUT/kd.log"
echo "labels only (alpha 0), $EPOCHS epochs:"
"$KDC" compress "$OUT/ce.yaml" | tee "$OUT/ce.log"

acc() { sed -n "s/^test accuracy *\([0-9.]*\)% *\([0-9.]*\)%.*/\\$2/p" "$1"; }
teacher=$(acc "$OUT/kd.log" 1)
kd=$(acc "$OUT/kd.log" 2)
ce=$(acc "$OUT/ce.log" 2)
echo
echo "| model | test accuracy |"
echo "| --- | --- |"
echo "| teacher (CNN 32-64, 422k params) | $teacher% |"
echo "| student width 0.5, distilled | $kd% |"
echo "| student width 0.5, labels only | $ce% |"
awk -v t="$teacher" -v k="$kd" -v c="$ce" 'BEGIN {
    printf "distilled vs teacher: %+.2f points (%s: within 1.5)\n", k - t, (t - k <= 1.5) ? "yes" : "NO";
    printf "distilled vs labels only: %+.2f points (%s)\n", k - c, (k > c) ? "distillation helps" : "NO GAIN";
}'
