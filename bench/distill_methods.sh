#!/bin/bash
# distill_methods.sh - which distillation loss teaches best? On Fashion-MNIST, the width-0.5
# student of the CNN teacher, started from random weights (student.init: random, so that
# what it knows comes from the loss), trained the same epochs with the same seed and
# optimizer under each loss: labels only (ce), kd + ce, and kd + ce + each feature loss
# with RepDistiller's weights (beta) and pairs: hint on the second conv block's ReLU
# (64x14x14, through a 1x1 conv adapter), attention on every stage (pairs: auto),
# similarity on the last feature map, and relation, contrastive, pkt and correlation on the
# penultimate embedding (128 in the teacher, 64 in the student). Prints every run (test
# accuracy, top-1 agreement with the teacher, seconds per epoch) and a Markdown table of
# the means and spreads over the seeds.
#
#   bench/distill_methods.sh                       defaults: SEEDS="0 1 2" EPOCHS=3 LR=0.05
#   SEEDS="0 1 2" EPOCHS=5 METHODS="kd hint" bench/distill_methods.sh
#   SEEDS=2 APPEND=1 bench/distill_methods.sh      add seed 2 to the last run's results
#   TEACHER=resnet bench/distill_methods.sh        the residual teacher (BN folded by its export)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KDC=${KDC:-build/kdc}
SEEDS=${SEEDS:-0 1 2}
EPOCHS=${EPOCHS:-3}
LR=${LR:-0.05}
METHODS=${METHODS:-ce kd hint attention similarity relation contrastive pkt correlation}
TEACHER=${TEACHER:-cnn}
OUT=build/bench/methods
. bench/lib.sh
# The values the feature losses pair, by teacher: hint on the second stage's output,
# similarity on the last feature map, the others on the embedding before the classifier.
case "$TEACHER" in
cnn)
    RELU2=/features/features.6/Relu_output_0
    POOL2=/features/features.7/MaxPool_output_0
    EMBED=/classifier/classifier.2/Relu_output_0
    ;;
resnet) # BN folded by the export: the student trains with BatchNormalization re-inserted (train_norm: auto)
    OUT=build/bench/methods_resnet
    RELU2=/layer2/relu_1/Relu_output_0
    POOL2=/layer3/relu_1/Relu_output_0
    EMBED=/Flatten_output_0
    ;;
*) echo "TEACHER must be cnn or resnet, not $TEACHER" >&2; exit 2 ;;
esac
mkdir -p "$OUT"

# The losses of a method, as a YAML flow list.
losses() {
    local kd="{kind: kd, weight: 0.9, temperature: 4}, {kind: ce, weight: 0.1}"
    case "$1" in
    ce) echo "[{kind: ce}]" ;;
    kd) echo "[$kd]" ;;
    hint) echo "[$kd, {kind: hint, weight: 100, pairs: [{teacher: $RELU2, student: $RELU2}]}]" ;;
    attention) echo "[$kd, {kind: attention, weight: 1000, pairs: auto}]" ;;
    similarity) echo "[$kd, {kind: similarity, weight: 3000, pairs: [{teacher: $POOL2, student: $POOL2}]}]" ;;
    relation) echo "[$kd, {kind: relation, weight: 1, pairs: [{teacher: $EMBED, student: $EMBED}]}]" ;;
    contrastive) echo "[$kd, {kind: contrastive, weight: 0.8, pairs: [{teacher: $EMBED, student: $EMBED}]}]" ;;
    pkt) echo "[$kd, {kind: pkt, weight: 30000, pairs: [{teacher: $EMBED, student: $EMBED}]}]" ;;
    correlation) echo "[$kd, {kind: correlation, weight: 0.02, pairs: [{teacher: $EMBED, student: $EMBED}]}]" ;;
    *) echo "unknown method $1" >&2; exit 2 ;;
    esac
}

recipe() { # METHOD SEED OUTPUT
    fashion_mnist_head "$ROOT/tests/models/${TEACHER}_teacher.onnx"
    cat <<YAML
student: {width: 0.5, init: random}
distill:
  losses: $(losses "$1")
train: {epochs: $EPOCHS, batch_size: 128, lr: $LR, momentum: 0.9, weight_decay: 0.0005, schedule: cosine, seed: $2}
output: $ROOT/$OUT/$3
YAML
}


[ -n "${APPEND:-}" ] || : >"$OUT/results.txt"
for seed in $SEEDS; do
    for method in $METHODS; do
        name="${method}_seed$seed"
        recipe "$method" "$seed" "$name.onnx" >"$OUT/$name.yaml"
        if ! "$KDC" compress "$OUT/$name.yaml" >"$OUT/$name.log" 2>"$OUT/$name.err"; then
            echo "$method seed $seed failed: $(tail -n1 "$OUT/$name.err")" >&2
            continue
        fi
        echo "$method $seed $(acc "$OUT/$name.log" 1) $(acc "$OUT/$name.log" 2) $(agreement "$OUT/$name.log") $(epoch_seconds "$OUT/$name.err")" |
            tee -a "$OUT/results.txt"
    done
done

awk -v E="$EPOCHS" -v LR="$LR" -v T="$TEACHER" '
function sd(s, q, n) { return n > 1 ? sqrt((q - s * s / n) / (n - 1)) : 0 }
{ teacher = $3; if (!($1 in n)) order[++m] = $1; n[$1]++; s[$1] += $4; q[$1] += $4 * $4; a[$1] += $5; t[$1] += $6 }
END {
    printf "\n%s teacher %.2f%%; student width 0.5 from random weights, %d epochs, lr %s, seeds: %d\n\n", T, teacher, E, LR, n[order[1]];
    print "| loss | test accuracy | agreement with teacher | s / epoch |";
    print "| --- | ---: | ---: | ---: |";
    for (i = 1; i <= m; i++) {
        k = order[i]; label = (k == "ce" || k == "kd") ? k : "kd + " k;
        printf "| %s | %.2f%% ± %.2f | %.2f%% | %.1f |\n", label, s[k] / n[k], sd(s[k], q[k], n[k]), a[k] / n[k], t[k] / n[k];
    }
}' "$OUT/results.txt"
