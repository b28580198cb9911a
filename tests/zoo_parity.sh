#!/bin/bash
# zoo_parity.sh - parity with onnxruntime on real architectures: runs every
# model of tests/models/zoo (exported by tests/models/export_zoo.py) with
# `kdc run` and with onnxruntime (tests/peers/ort_run.js) at batch 1 and 8,
# and checks every output within 1e-4 relative (max abs diff / max |ort|,
# tests/peers/compare_rel.py). Models too big to commit are regenerated once
# when Debian's python has torch and torchvision, and skipped visibly when it
# does not. Closes with a table: model, batch, status, rel diff or the error.
#
#   tests/zoo_parity.sh            (KDC=path/to/kdc to test another build)
set -u
cd "$(dirname "$0")/.." || exit 1
standalone=${KDC_TALLY:+no}
. tests/lib.sh
KDC=${KDC:-build/kdc}
PY=/usr/bin/python3
ZOO=tests/models/zoo
OUT=build/zoo
RTOL=1e-4
TIMEOUT=${ZOO_TIMEOUT:-600}
ROWS=()

row() { ROWS+=("$1|$2|$3|$4"); } # MODEL BATCH STATUS DETAIL

have_files() { [ -f "$ZOO/$1.onnx" ] && [ -f "$ZOO/$1_b1.npy" ] && [ -f "$ZOO/$1_b8.npy" ]; }

# Why the zoo cannot be regenerated here, or nothing when it can.
torch_missing() {
    if ! $PY -c 'import torch' 2>/dev/null; then
        echo "python3-torch not installed"
    elif ! $PY -c 'import torchvision' 2>/dev/null; then
        echo "python3-torchvision not installed"
    fi
}

# Export, in one run, every model whose files are missing.
regenerate_missing() {
    local m missing=()
    for m in "${ZOO_MODELS[@]}"; do
        have_files "$m" || missing+=("$m")
    done
    [ ${#missing[@]} -eq 0 ] && return
    [ -n "$(torch_missing)" ] && return
    echo "regenerating ${missing[*]} with tests/models/export_zoo.py"
    if ! $PY tests/models/export_zoo.py "${missing[@]}" >"$OUT/export.log" 2>&1; then
        echo "    export_zoo.py failed: $(tail -n1 "$OUT/export.log")"
    fi
}

# kdc's message without the "kdc: error: MODEL: " that every row would repeat.
short_error() { sed -e 's/^kdc: error: //' -e "s|^$ZOO/[^:]*: ||" <<<"$1"; }

parity_one() { # MODEL BATCH
    local m="$1" b="$2" name="zoo $1 batch $2" dir="$OUT/$1_b$2" msg rel
    local model="$ZOO/$m.onnx" input="$ZOO/${m}_b$b.npy"
    rm -rf "$dir"
    mkdir -p "$dir"
    timeout "$TIMEOUT" "$KDC" run "$model" -i "$input" -o "$dir/kdc" --npy >"$dir/kdc.log" 2>&1
    case $? in
    0) ;;
    124) msg="kdc run timed out after ${TIMEOUT}s" ;;
    *) msg=$(tail -n1 "$dir/kdc.log") ;;
    esac
    if [ -n "${msg:-}" ]; then
        fail "$name" "$msg"
        row "$m" "$b" FAIL "$(short_error "$msg")"
        return
    fi
    if ! node tests/peers/ort_run.js "$model" "$dir/ort" "$input" >"$dir/ort.log" 2>&1; then
        msg=$(tail -n1 "$dir/ort.log")
        fail "$name" "onnxruntime: $msg"
        row "$m" "$b" FAIL "onnxruntime: $msg"
        return
    fi
    if $PY tests/peers/compare_rel.py "$dir/kdc" "$dir/ort" "$RTOL" >"$dir/compare.log" 2>&1; then
        rel=$(sed -n 's/^worst rel \([^ ]*\).*/\1/p' "$dir/compare.log")
        pass "$name (rel $rel)"
        row "$m" "$b" PASS "rel $rel"
        return
    fi
    rel=$(sed -n 's/^worst rel \([^ ]*\).*/\1/p' "$dir/compare.log")
    fail "$name" "outputs differ from onnxruntime (rel ${rel:-?} > $RTOL)"
    sed 's/^/    /' "$dir/compare.log"
    row "$m" "$b" FAIL "rel ${rel:-?} > $RTOL: $(grep -v '^worst' "$dir/compare.log" | tail -n1)"
}

print_table() {
    local r m b s d
    echo
    printf '%-20s %-5s %-6s %s\n' model batch status "rel diff or error"
    for r in "${ROWS[@]}"; do
        IFS='|' read -r m b s d <<<"$r"
        printf '%-20s %-5s %-6s %s\n' "$m" "$b" "$s" "$d"
    done
}

mkdir -p "$OUT"
regenerate_missing
for m in "${ZOO_MODELS[@]}"; do
    if ! have_files "$m"; then
        why=$(torch_missing)
        if [ -n "$why" ]; then
            skip "zoo $m" "$m.onnx is not committed and cannot be regenerated ($why)"
            row "$m" "1,8" SKIP "not committed; $why"
        else
            fail "zoo $m" "tests/models/export_zoo.py did not write $ZOO/$m.onnx and its inputs"
            row "$m" "1,8" FAIL "export_zoo.py did not write it"
        fi
        continue
    fi
    for b in 1 8; do
        parity_one "$m" "$b"
    done
done
print_table
if [ -z "$standalone" ]; then
    tally_report
    exit $?
fi
