# lib.sh - shared by the benchmarks: the head of a Fashion-MNIST recipe.
#
# fashion_mnist_head TEACHER_PATH prints the recipe's first lines: the schema version, the
# teacher, and the full Fashion-MNIST splits (Debian's dataset-fashion-mnist) with the
# normalization the bundled teachers were trained with. The caller appends student,
# distill, train and output.
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
