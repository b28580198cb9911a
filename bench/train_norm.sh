#!/bin/bash
# train_norm.sh - does re-inserting normalization help students of real exports? The
# residual Fashion-MNIST teacher (tests/models/resnet_teacher.onnx) was exported with
# PyTorch's defaults, so its BatchNormalization is folded into the Convs. Its width-0.5
# student is distilled (kd + ce, the default loss) for a few epochs at a learning rate a
# normalized network takes easily, once with student.train_norm: batchnorm (a
# BatchNormalization after every hidden Conv for training, folded away on emission) and
# once with none, from the teacher's sliced weights and from random ones, for each seed.
# Prints every run (test accuracy, agreement with the teacher, seconds per epoch, and
# BatchNormalization nodes in the emitted student, which must be 0; or "diverged" when
# training stopped on a non-finite loss) and a Markdown table of means over the seeds.
#
#   bench/train_norm.sh                    defaults: SEEDS="0 1" EPOCHS=2 LR=0.05 INITS="teacher random"
#   SEEDS=0 INITS=teacher bench/train_norm.sh
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KDC=${KDC:-build/kdc}
SEEDS=${SEEDS:-0 1}
EPOCHS=${EPOCHS:-2}
LR=${LR:-0.05}
INITS=${INITS:-teacher random}
TEACHER=${TEACHER:-tests/models/resnet_teacher.onnx}
OUT=build/bench/train_norm
mkdir -p "$OUT"
. bench/lib.sh

recipe() { # NORM INIT SEED OUTPUT
    fashion_mnist_head "$ROOT/$TEACHER"
    cat <<YAML
student: {width: 0.5, init: $2, train_norm: $1}
distill: {temperature: 4, alpha: 0.9}
train: {epochs: $EPOCHS, batch_size: 128, lr: $LR, momentum: 0.9, weight_decay: 0.0005, schedule: cosine, seed: $3}
output: $ROOT/$OUT/$4
YAML
}

bn_nodes() { "$KDC" inspect "$1" | awk '$1 == "BatchNormalization" { n = $2 } END { print n + 0 }'; }

: >"$OUT/results.txt"
for seed in $SEEDS; do
    for init in $INITS; do
        for norm in batchnorm none; do
            name="${norm}_${init}_seed$seed"
            recipe "$norm" "$init" "$seed" "$name.onnx" >"$OUT/$name.yaml"
            if ! "$KDC" compress "$OUT/$name.yaml" >"$OUT/$name.log" 2>"$OUT/$name.err"; then
                echo "$name failed: $(tail -n1 "$OUT/$name.err")" >&2
                # A run that diverged is a result too; any other failure is not.
                grep -q "non-finite" "$OUT/$name.err" || exit 1
                echo "$norm $init $seed diverged" | tee -a "$OUT/results.txt"
                continue
            fi
            echo "$norm $init $seed $(acc "$OUT/$name.log" 1) $(acc "$OUT/$name.log" 2) $(agreement "$OUT/$name.log")" \
                "$(epoch_seconds "$OUT/$name.err") $(bn_nodes "$OUT/$name.onnx")" | tee -a "$OUT/results.txt"
        done
    done
done

awk -v E="$EPOCHS" -v LR="$LR" '
function sd(s, q, n) { return n > 1 ? sqrt((q - s * s / n) / (n - 1)) : 0 }
{ k = $2 " " $1; if (!(k in n) && !(k in dv)) order[++m] = k }
$4 == "diverged" { dv[k]++; next }
{ teacher = $4; n[k]++; s[k] += $5; q[k] += $5 * $5; a[k] += $6; t[k] += $7; bn[k] += $8 }
END {
    printf "\nteacher %.2f%%; width-0.5 student, kd + ce, %d epochs, lr %s\n\n", teacher, E, LR;
    print "| student starts from | train_norm | test accuracy | agreement with teacher | s / epoch | BatchNormalization emitted |";
    print "| --- | --- | ---: | ---: | ---: | ---: |";
    for (i = 1; i <= m; i++) {
        k = order[i]; split(k, w, " "); from = w[1] == "teacher" ? "sliced teacher" : "random";
        runs = n[k] + dv[k]; note = dv[k] ? sprintf(" (%d of %d runs diverged)", dv[k], runs) : "";
        if (!n[k])
            printf "| %s weights | %s | diverged in %d of %d runs | | | |\n", from, w[2], dv[k], runs;
        else
            printf "| %s weights | %s | %.2f%% ± %.2f%s | %.2f%% | %.1f | %d |\n", from, w[2], s[k] / n[k],
                sd(s[k], q[k], n[k]), note, a[k] / n[k], t[k] / n[k], bn[k] / n[k];
    }
}' "$OUT/results.txt"
