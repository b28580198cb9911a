#!/bin/bash
# inference_vs_ort.sh - forward-pass time of `kdc run` against onnxruntime
# (2 threads each, same inputs, plan/session built once, one warm-up run) on
# the zoo models (tests/models/zoo; run tests/models/export_zoo.py first for
# the large ones) at batch 1 and batch 32. Prints a table with the ratio.
#
#   bench/inference_vs_ort.sh [MODEL...]     REPEAT=20 by default
set -u
cd "$(dirname "$0")/.."
KDC=${KDC:-build/kdc}
REPEAT=${REPEAT:-20}
ZOO=tests/models/zoo
OUT=build/bench/inference
mkdir -p "$OUT"
MODELS=${*:-resnet18 resnet50 mobilenet_v2 mobilenet_v3_small efficientnet_b0 densenet121 shufflenet_v2_x1_0 squeezenet1_1 unet bert vit}

mean_ms() { sed -n 's/^forward: mean \([0-9.]*\) ms.*/\1/p' "$1"; }

printf '| model | batch | kdc ms | onnxruntime ms | kdc / ort |\n| --- | ---: | ---: | ---: | ---: |\n'
for m in $MODELS; do
    if [ ! -f "$ZOO/$m.onnx" ]; then
        printf '| %s | | | | not exported (tests/models/export_zoo.py) |\n' "$m"
        continue
    fi
    # batch 32 input: the batch-8 input four times over
    /usr/bin/python3 -c "import numpy as np, sys; a = np.load(sys.argv[1]); np.save(sys.argv[2], np.concatenate([a] * 4))" \
        "$ZOO/${m}_b8.npy" "$OUT/${m}_b32.npy"
    for b in 1 32; do
        input="$ZOO/${m}_b1.npy"
        [ "$b" = 32 ] && input="$OUT/${m}_b32.npy"
        if ! KDC_THREADS=2 "$KDC" run "$ZOO/$m.onnx" -i "$input" -o "$OUT/out" --repeat "$REPEAT" 2>"$OUT/kdc.log"; then
            printf '| %s | %s | %s | | |\n' "$m" "$b" "kdc: $(tail -n1 "$OUT/kdc.log" | cut -c1-80)"
            continue
        fi
        node bench/ort_time.js "$ZOO/$m.onnx" "$input" --repeat "$REPEAT" --threads 2 >"$OUT/ort.log" 2>&1
        k=$(mean_ms "$OUT/kdc.log")
        o=$(mean_ms "$OUT/ort.log")
        awk -v m="$m" -v b="$b" -v k="$k" -v o="$o" 'BEGIN { printf "| %s | %s | %.2f | %.2f | %.1fx |\n", m, b, k, o, k / o }'
    done
done
