#!/bin/bash
# train_vs_torch.sh - training speed of kdc against PyTorch 1.13 (Debian
# python3-torch) on the same student, loss, optimizer and batch (128), 2 threads
# each. kdc's number is the training loop's images/s (forward, backward, SGD;
# teacher logits cached) from one epoch of the demo recipe; PyTorch's comes
# from bench/torch_train_step.py. Needs python3-torch (not installed by make deps).
set -eu
cd "$(dirname "$0")/.."
KDC=${KDC:-build/kdc}
OUT=build/bench/train
mkdir -p "$OUT"
sed 's/^  epochs: 5 .*/  epochs: 1/' recipes/fashion_mnist_cnn.yaml >"$OUT/recipe.yaml"
sed -i "s|\.\./tests/|$(pwd)/tests/|; s|^output: .*|output: $(pwd)/$OUT/student.onnx|" "$OUT/recipe.yaml"
KDC_THREADS=2 "$KDC" compress "$OUT/recipe.yaml" >"$OUT/kdc.log" 2>&1
kdc=$(sed -n 's/^epoch 1\/1 .* \([0-9]*\) img\/s.*/\1/p' "$OUT/kdc.log")
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "kdc: $kdc images/s; PyTorch not measured: python3-torch is not installed"
    exit 0
fi
torch=$(/usr/bin/python3 bench/torch_train_step.py | sed -n 's/^torch: \([0-9]*\) images.*/\1/p')
awk -v k="$kdc" -v t="$torch" 'BEGIN {
    print "| trainer | images/s (batch 128, 2 threads) |"; print "| --- | ---: |";
    printf "| kdc | %d |\n| PyTorch 1.13 | %d |\n\nkdc / PyTorch: %.2fx\n", k, t, k / t }'
