#!/bin/bash
# run_all.sh - every benchmark (`make bench`). Long; prints numbers, asserts nothing.
set -eu
cd "$(dirname "$0")/.."
bench/distill_vs_ce.sh
