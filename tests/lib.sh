# lib.sh - shared by kdc's test scripts: pass/fail counting and checks.
# Each script sources it; counts accumulate in $KDC_TALLY so run_all.sh can
# print one closing line for the whole run.

: "${KDC_TALLY:=$(mktemp)}"
export KDC_TALLY

tally_add() { # passed failed skipped
    local p=0 f=0 s=0
    [ -s "$KDC_TALLY" ] && read -r p f s < "$KDC_TALLY"
    echo "$((p + $1)) $((f + $2)) $((s + $3))" > "$KDC_TALLY"
}

# The real architectures of tests/models/zoo (tests/models/export_zoo.py),
# which tests/zoo_parity.sh and tests/shrink_zoo.sh run.
# shellcheck disable=SC2034 # read by the scripts that source this file
ZOO_MODELS=(resnet18 resnet50 mobilenet_v2 mobilenet_v3_small efficientnet_b0 densenet121
    shufflenet_v2_x1_0 squeezenet1_1 unet bert bert_op14 vit)

pass() { echo "PASS $1"; tally_add 1 0 0; }
fail() { echo "FAIL $1${2:+: $2}"; tally_add 0 1 0; }
skip() { echo "SKIP $1${2:+: $2}"; tally_add 0 0 1; }

# check NAME CMD... : passes when CMD exits 0; shows its output when it fails.
check() {
    local name="$1" out
    shift
    if out=$("$@" 2>&1); then
        pass "$name"
    else
        fail "$name"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
    fi
}

# run_cmocka BINARY : counts the binary's own test results.
run_cmocka() {
    local bin="$1" out rc passed failed
    out=$("$bin" 2>&1)
    rc=$?
    passed=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    failed=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    passed=${passed:-0}
    failed=${failed:-0}
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
    tally_add "$passed" "$failed" 0
    if [ "$failed" -ne 0 ]; then
        echo "FAIL $bin ($passed passed, $failed failed)"
        printf '%s\n' "$out" | grep -E "FAIL|ERROR|error|Sanitizer|runtime error" | head -n 30 | sed 's/^/    /'
    else
        echo "PASS $bin ($passed tests)"
    fi
}

tally_report() {
    local p=0 f=0 s=0
    [ -s "$KDC_TALLY" ] && read -r p f s < "$KDC_TALLY"
    echo
    echo "$p passed, $f failed, $s skipped"
    [ "$f" -eq 0 ]
}

# ort_parity NAME MODEL INPUT DIR : `kdc run` and onnxruntime on MODEL with the .npy INPUT
# (outputs under DIR/parity_NAME) agree within 1e-4 absolute. Needs $KDC.
ort_parity() {
    local dir="$4/parity_$1"
    rm -rf "$dir"
    if ! "$KDC" run "$2" -i "$3" -o "$dir/kdc" --npy >"$dir.log" 2>&1; then
        fail "kdc run $1" "$(tail -n1 "$dir.log")"
        return
    fi
    if ! node tests/peers/ort_run.js "$2" "$dir/ort" "$3" >>"$dir.log" 2>&1; then
        fail "onnxruntime loads $1" "$(tail -n1 "$dir.log")"
        return
    fi
    check "onnxruntime agrees with kdc run on $1 (atol 1e-4)" \
        /usr/bin/python3 tests/compare_npy.py "$dir/kdc/output_0.npy" "$dir/ort/output_0.npy" 1e-4
}
