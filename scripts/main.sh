#!/usr/bin/env bash
# The digits comparison: Dense vs our layers on scikit-learn's digits, on Keras's default
# backend (TensorFlow) unless KERAS_BACKEND is set. Arguments go to the example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python examples/digits_dense_vs_czdense.py "$@"
