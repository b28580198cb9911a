#!/bin/bash
# init_vs_importance.sh - what are the teacher's weights worth? On Fashion-MNIST, the
# width-0.5 student of each bundled teacher starts from the teacher's weights, sliced with
# each importance criterion (l1, l2, bn_scale, activation, taylor, random), or from a
# random initialisation of the same architecture (student.init: random: PyTorch's default
# uniform bounds, biases 0, normalization 1/0); every start is then distilled the same
# short way (the demo recipe's settings, fewer epochs). Prints every run, then per teacher
# a table: the student's test accuracy before training (epoch 0) and after, mean ± sd over
# the seeds (train.seed sets the shuffling order, and the draw of random importance and of
# random init).
#
#   bench/init_vs_importance.sh   defaults: MODELS="cnn mlp" SEEDS="0 1 2" EPOCHS=2 LR=0.01 WIDTH=0.5
#                                 STARTS="l1 l2 bn_scale activation taylor random init_random"
#   MODELS=cnn STARTS="l1 init_random" LR=0.05 bench/init_vs_importance.sh
#
# About 11 minutes on a 2-core machine with the defaults (a CNN run ~27 s, an MLP run ~2 s).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KDC=${KDC:-build/kdc}
MODELS=${MODELS:-cnn mlp}
SEEDS=${SEEDS:-0 1 2}
EPOCHS=${EPOCHS:-2}
LR=${LR:-0.01}
WIDTH=${WIDTH:-0.5}
STARTS=${STARTS:-l1 l2 bn_scale activation taylor random init_random}
OUT=build/bench/init_vs_importance
mkdir -p "$OUT"
. bench/lib.sh

recipe() { # MODEL IMPORTANCE INIT SEED OUTPUT
    fashion_mnist_head "$ROOT/tests/models/$1_teacher.onnx"
    cat <<YAML
student: {width: $WIDTH, importance: $2, init: $3, seed: $4}
distill: {temperature: 4, alpha: 0.9}
train: {epochs: $EPOCHS, batch_size: 128, lr: $LR, momentum: 0.9, weight_decay: 0.0005, schedule: cosine, seed: $4}
output: $ROOT/$OUT/$5
YAML
}

# Field 1 (teacher) or 2 (student) of the summary's accuracy line.
untrained() { sed -n 's/^epoch 0\/[0-9]*  test acc \([0-9.]*\)%.*/\1/p' "$1"; }

: >"$OUT/results.txt"
for model in $MODELS; do
    for start in $STARTS; do
        importance=$start init=teacher
        [ "$start" = init_random ] && importance=l1 init=random
        for seed in $SEEDS; do
            name="${model}_${start}_seed$seed"
            recipe "$model" "$importance" "$init" "$seed" "$name.onnx" >"$OUT/$name.yaml"
            if ! "$KDC" compress "$OUT/$name.yaml" >"$OUT/$name.log" 2>"$OUT/$name.err"; then
                echo "kdc compress $OUT/$name.yaml failed:" >&2
                tail -n 3 "$OUT/$name.err" >&2
                exit 1
            fi
            line="$model $start $seed $(acc "$OUT/$name.log" 1) $(untrained "$OUT/$name.err") $(acc "$OUT/$name.log" 2)"
            echo "$line" | tee -a "$OUT/results.txt"
        done
    done
done

awk -v E="$EPOCHS" -v W="$WIDTH" -v LR="$LR" -v STARTS="$STARTS" '
function sd(s, q, n,   v) { v = n > 1 ? (q - s * s / n) / (n - 1) : 0; return v > 0 ? sqrt(v) : 0 }
function cell(k, col) { return sprintf("%.2f%% ± %.2f", s[k, col] / n[k], sd(s[k, col], q[k, col], n[k])) }
function label(start) {
    if (start == "init_random") return "random init (same architecture)";
    return "sliced from the teacher, importance " start;
}
{
    if (!($1 in teacher)) { models[++n_models] = $1; teacher[$1] = $4 }
    k = $1 SUBSEP $2; n[k]++;
    s[k, 0] += $5; q[k, 0] += $5 * $5; s[k, 1] += $6; q[k, 1] += $6 * $6;
}
END {
    split(STARTS, order, " ");
    for (m = 1; m <= n_models; m++) {
        model = models[m];
        epochs = E " epoch" (E == 1 ? "" : "s");
        printf "\n%s teacher, student width %s, distilled %s at lr %s (alpha 0.9, T 4)\n\n", model, W, epochs, LR;
        print "| student start | before training | after " epochs " | seeds |";
        print "| --- | ---: | ---: | ---: |";
        printf "| teacher | | %.2f%% | |\n", teacher[model];
        for (i = 1; i in order; i++) {
            k = model SUBSEP order[i];
            if (n[k]) printf "| %s | %s | %s | %d |\n", label(order[i]), cell(k, 0), cell(k, 1), n[k];
        }
    }
}' "$OUT/results.txt"
