#!/usr/bin/env bash
# The digits comparison: Dense vs our layers on scikit-learn's digits, on TensorFlow
# (pinned: the README's table comes from it, whatever KERAS_BACKEND a reader exported).
# Arguments go to the example, which prints its backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
export KERAS_BACKEND=tensorflow
exec .venv/bin/python examples/digits_dense_vs_czdense.py "$@"
