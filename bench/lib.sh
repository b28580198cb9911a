# lib.sh - shared by the benchmarks: the head of a Fashion-MNIST recipe, and readers of
# what kdc compress prints.
#
# fashion_mnist_head TEACHER_PATH prints the recipe's first lines: the schema version, the
# teacher, and the full Fashion-MNIST splits (Debian's dataset-fashion-mnist) with the
# normalization the bundled teachers were trained with. The caller appends student,
# distill, train and output.
# acc LOG 1|2: the teacher's (1) or the student's (2) test accuracy from the summary on
# stdout; agreement LOG: their top-1 agreement; epoch_seconds ERR: the mean training
# seconds per epoch from the progress lines on stderr (evaluation excluded).
FM=/usr/share/datasets/fashion-mnist

fashion_mnist_head() {
    cat <<YAML
kdc: 1
teacher: $1
data:
  train: {format: idx, inputs: $FM/train-images-idx3-ubyte.gz, labels: $FM/train-labels-idx1-ubyte.gz}
  test: {format: idx, inputs: $FM/t10k-images-idx3-ubyte.gz, labels: $FM/t10k-labels-idx1-ubyte.gz}
  normalize: {scale: 0.00392156862745098, mean: [0.2860], std: [0.3530]}
YAML
}

acc() { sed -n "s/^test accuracy *\([0-9.]*\)% *\([0-9.]*\)%.*/\\$2/p" "$1"; }
agreement() { sed -n 's/^top-1 agreement *\([0-9.]*\)%.*/\1/p' "$1"; }
epoch_seconds() { sed -n 's/.*img\/s  \([0-9.]*\) s .*/\1/p' "$1" | awk '{ s += $1; n++ } END { printf "%.1f", n ? s / n : 0 }'; }
