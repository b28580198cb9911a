#!/bin/sh
# deps.sh - install what kdc needs to build, test and run its demo, only where missing.
#
# Debian packages through apt-get (as root), onnxruntime for Node through npm into
# tests/peers/node_modules (ignored by git). Called by `make deps`, `make test`, `make demo`.
set -eu

BUILD_PKGS="build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev libopenblas-dev libyaml-dev libcmocka-dev"
# python3-torch and python3-torchvision export the real architectures the
# parity and shrink tests run (tests/models/export_zoo.py) and are the
# training peer in bench/.
PEER_PKGS="python3-onnx python3-numpy libonnx-testdata python3-torch python3-torchvision"
DATA_PKGS="dataset-fashion-mnist"

missing=""
for p in $BUILD_PKGS $PEER_PKGS $DATA_PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# Node.js and npm only where the commands are missing: the machines here have a newer
# Node.js that Debian's npm package conflicts with.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
    echo "deps: installing:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

peers="$(dirname "$0")/../tests/peers"
if [ ! -f "$peers/node_modules/onnxruntime-node/package.json" ]; then
    echo "deps: installing onnxruntime-node into tests/peers"
    # --ignore-scripts: the package's install script tries a download that cannot work
    # here; the CPU library ships inside the package.
    (cd "$peers" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
