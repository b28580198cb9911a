#!/bin/bash
# run_all.sh - every benchmark (`make bench`). Long (about 70 minutes); prints
# numbers and ratios against peers measured in the same run, asserts nothing.
set -eu
cd "$(dirname "$0")/.."
echo "== distillation against labels only (bench/distill_vs_ce.sh)"
bench/distill_vs_ce.sh
echo "== inference against onnxruntime (bench/inference_vs_ort.sh)"
bench/inference_vs_ort.sh
echo "== training step against PyTorch (bench/train_vs_torch.sh)"
bench/train_vs_torch.sh
echo "== which distillation loss teaches best (bench/distill_methods.sh)"
SEEDS="0 1 2" bench/distill_methods.sh
echo "== normalization re-inserted for training students of a BN-folded export (bench/train_norm.sh)"
bench/train_norm.sh
echo "== students from teacher slices (each importance) against random initialisation (bench/init_vs_importance.sh)"
bench/init_vs_importance.sh
echo "== BatchNormalization statistics measured anew for untrained students (bench/norm_stats.sh)"
bench/norm_stats.sh
