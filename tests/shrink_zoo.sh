#!/bin/bash
# shrink_zoo.sh - students of real architectures: for every model of
# tests/models/zoo (see tests/zoo_parity.sh, which regenerates the large ones
# first), `kdc shrink --width 0.5` and `kdc shrink --params 0.25` must each
# give a model that onnx.checker's full check accepts, that onnxruntime runs
# with outputs equal to `kdc run`'s within 1e-4 relative (batch 8), and, for
# the budget, whose parameters are 0.25 of the teacher's within 10%.
# Depth: resnet50 keeps 8 of its 16 bottlenecks, the BERT- and ViT-style
# encoders keep 1 of their 2 layers (the lowest 1 - cosine on the test
# inputs are dropped), and the BERT-style encoder drops every other layer:
# the same checks, plus fewer parameters than the teacher.
# The BERT-style encoder also outputs its hidden states: its residual width
# can only shrink when that output may (--free-output last_hidden_state).
# bert_op14 is that encoder exported at opset 14, its LayerNorms decomposed:
# kdc shrinks them fused and must write them decomposed again, so it gets
# bert's rows.
# DenseNet's students are also written with their BatchNormalization statistics measured
# anew (--recalibrate-bn): the same checks, and every node recalibrated.
# Closes with a table: model, options, params kept, status.
#
#   tests/shrink_zoo.sh            (KDC=path/to/kdc to test another build)
set -u
cd "$(dirname "$0")/.." || exit 1
standalone=${KDC_TALLY:+no}
. tests/lib.sh
KDC=${KDC:-build/kdc}
PY=/usr/bin/python3
ZOO=tests/models/zoo
OUT=build/shrink_zoo
ROWS=()

row() { ROWS+=("$1|$2|$3|$4"); } # MODEL OPTIONS KEPT STATUS

model_flags() { case $1 in bert | bert_op14) echo "--free-output last_hidden_state" ;; esac; }

# The kept fraction of parameters from kdc shrink's table ("parameters A -> B (P%)").
kept_fraction() { awk '/^parameters/ { printf "%.4f", $4 / $2 }' "$1"; }

shrink_one() { # MODEL LABEL FLAGS...
    local m="$1" label="$2" dir="$OUT/$1_$2" name="shrink $1 $2" msg
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir"
    # shellcheck disable=SC2046 # model_flags is empty or whole words
    if ! "$KDC" shrink "$ZOO/$m.onnx" "$@" $(model_flags "$m") -o "$dir/student.onnx" >"$dir/table.txt" 2>"$dir/err.txt"; then
        msg=$(tail -n1 "$dir/err.txt")
        fail "$name" "$msg"
        row "$m" "$label" - "FAIL: $msg"
        return
    fi
    local kept
    kept=$(kept_fraction "$dir/table.txt")
    if [[ "$label" == depth* ]] && ! awk -v k="$kept" 'BEGIN { exit !(k < 1) }'; then
        fail "$name" "keeps all the parameters: no block was dropped"
        row "$m" "$label" "$kept" "FAIL: depth"
        return
    fi
    if [ "$label" = params0.25 ] && ! awk -v k="$kept" 'BEGIN { exit !(k >= 0.225 && k <= 0.275) }'; then
        fail "$name" "keeps $kept of the parameters, asked 0.25 (within 10%)"
        row "$m" "$label" "$kept" "FAIL: budget"
        return
    fi
    if [[ "$label" == *-bn ]] && ! grep -q '^recalibrated [1-9][0-9]* BatchNormalization on [0-9]* samples ([0-9]* passes)$' "$dir/table.txt"; then
        fail "$name" "not every BatchNormalization recalibrated: $(grep -i batchnorm "$dir/table.txt" || echo 'no report')"
        row "$m" "$label" "$kept" "FAIL: recalibration"
        return
    fi
    if ! msg=$($PY -c 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' \
        "$dir/student.onnx" 2>&1); then
        fail "$name" "onnx.checker: $(tail -n1 <<<"$msg")"
        row "$m" "$label" "$kept" "FAIL: onnx.checker"
        return
    fi
    if ! "$KDC" run "$dir/student.onnx" -i "$ZOO/${m}_b8.npy" -o "$dir/kdc" --npy >"$dir/run.log" 2>&1 ||
        ! node tests/peers/ort_run.js "$dir/student.onnx" "$dir/ort" "$ZOO/${m}_b8.npy" >"$dir/ort.log" 2>&1; then
        fail "$name" "$(tail -n1 "$dir/run.log" "$dir/ort.log" | grep -v '^==' | grep . | tail -n1)"
        row "$m" "$label" "$kept" "FAIL: run"
        return
    fi
    if ! $PY tests/peers/compare_rel.py "$dir/kdc" "$dir/ort" 1e-4 >"$dir/compare.log" 2>&1; then
        fail "$name" "kdc and onnxruntime differ: $(tail -n1 "$dir/compare.log")"
        row "$m" "$label" "$kept" "FAIL: parity"
        return
    fi
    pass "$name (params kept $kept, checker ok, onnxruntime parity ok)"
    row "$m" "$label" "$kept" PASS
}

print_table() {
    local r m o k s
    echo
    printf '%-20s %-11s %-8s %s\n' model options params status
    for r in "${ROWS[@]}"; do
        IFS='|' read -r m o k s <<<"$r"
        printf '%-20s %-11s %-8s %s\n' "$m" "$o" "$k" "$s"
    done
}

mkdir -p "$OUT"
for m in "${ZOO_MODELS[@]}"; do
    if [ ! -f "$ZOO/$m.onnx" ] || [ ! -f "$ZOO/${m}_b8.npy" ]; then
        skip "shrink $m" "$ZOO/$m.onnx is not there (tests/zoo_parity.sh regenerates it when python3-torch is installed)"
        row "$m" - - SKIP
        continue
    fi
    shrink_one "$m" width0.5 --width 0.5
    shrink_one "$m" params0.25 --params 0.25
    case $m in
    resnet50) shrink_one "$m" depth8 --width 1 --depth 8 --calib "$ZOO/${m}_b8.npy" ;;
    densenet121) shrink_one "$m" width0.5-bn --width 0.5 --recalibrate-bn --calib "$ZOO/${m}_b8.npy" ;;
    bert | bert_op14 | vit) shrink_one "$m" depth1 --width 1 --depth 1 --calib "$ZOO/${m}_b8.npy" ;;
    esac
    case $m in bert | bert_op14) shrink_one "$m" depth-alt --width 1 --drop-alternate ;; esac
done
print_table
if [ -z "$standalone" ]; then
    tally_report
    exit $?
fi
