#!/bin/bash
# norm_stats.sh - what does measuring BatchNormalization statistics anew give an untrained
# student? On Fashion-MNIST, the CNN teacher (two Conv + BatchNormalization stages) is
# shrunk with `kdc shrink --width W` (l1 importance, weights sliced), once keeping the
# teacher's running statistics and once with --recalibrate-bn on the first N training
# images; each student runs on the 10000 test images (`kdc run`) without any training.
# Prints a Markdown table: test accuracy of the teacher, and of each student by width and
# calibration size. Deterministic (no seed): one run of each.
#
#   bench/norm_stats.sh                    defaults: WIDTHS="0.25 0.5 0.75" CALIB="64 512"
#   WIDTHS=0.5 CALIB=2048 bench/norm_stats.sh
#
# About a minute on a 2-core machine.
set -eu
cd "$(dirname "$0")/.."
KDC=${KDC:-build/kdc}
PY=/usr/bin/python3
WIDTHS=${WIDTHS:-0.25 0.5 0.75}
CALIB=${CALIB:-64 512}
TEACHER=tests/models/cnn_teacher.onnx
OUT=build/bench/norm_stats
mkdir -p "$OUT"

# The test images and labels, and the first N training images for each N in CALIB, as .npy,
# normalized as the teacher was trained (the IDX reader and constants of tests/e2e/make_data.py).
$PY - "$OUT" $CALIB <<'PY'
import sys
import numpy as np
sys.path.insert(0, "tests/e2e")
from make_data import MEAN, STD, read_idx
out, sizes = sys.argv[1], [int(n) for n in sys.argv[2:]]
def images(name):
    x = read_idx(name).reshape(-1, 1, 28, 28)
    return ((x.astype(np.float32) / 255 - MEAN) / STD).astype(np.float32)
np.save(f"{out}/test_x.npy", images("t10k-images-idx3-ubyte.gz"))
np.save(f"{out}/test_y.npy", read_idx("t10k-labels-idx1-ubyte.gz"))
train = images("train-images-idx3-ubyte.gz")
for n in sizes:
    np.save(f"{out}/calib{n}.npy", train[:n])
PY

# Test accuracy (%) of MODEL on the test images.
accuracy() {
    rm -rf "$OUT/run"
    "$KDC" run "$1" -i "$OUT/test_x.npy" -o "$OUT/run" --npy >/dev/null
    $PY -c 'import sys, numpy as np
y = np.load(sys.argv[1]).argmax(1); t = np.load(sys.argv[2])
print("%.2f" % (100 * (y == t).mean()))' "$OUT/run/output_0.npy" "$OUT/test_y.npy"
}

teacher=$(accuracy "$TEACHER")
header="| width | teacher statistics |" rule="|---|---|"
for n in $CALIB; do
    header="$header recalibrated on $n |"
    rule="$rule---|"
done
rows=()
for w in $WIDTHS; do
    "$KDC" shrink "$TEACHER" --width "$w" -q -o "$OUT/w$w.onnx"
    row="| $w | $(accuracy "$OUT/w$w.onnx") |"
    for n in $CALIB; do
        "$KDC" shrink "$TEACHER" --width "$w" --recalibrate-bn --calib "$OUT/calib$n.npy" --calib-batch 64 -q \
            -o "$OUT/w${w}_calib$n.onnx"
        row="$row $(accuracy "$OUT/w${w}_calib$n.onnx") |"
    done
    rows+=("$row")
    echo "width $w done" >&2
done
echo
echo "Untrained students of $TEACHER (teacher: $teacher% test accuracy), test accuracy (%):"
echo
echo "$header"
echo "$rule"
printf '%s\n' "${rows[@]}"
