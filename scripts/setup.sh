#!/usr/bin/env bash
# Create .venv (once) and install the pinned CI stack (requirements/ci.txt, then
# requirements/no-deps.txt without dependencies) and this package into it.
# Idempotent: a second run only checks that the pins are satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.keras-crosswise-installed
want=$(cat requirements/ci.txt requirements/no-deps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the pinned stack of requirements/ci.txt into .venv"
  echo "       (TensorFlow, JAX, PyTorch CPU, scikit-learn, ONNX tools: about 3.6 GB;"
  echo "       the first time takes about 8 minutes, later runs only check it)"
  start=$SECONDS
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements/ci.txt
  .venv/bin/python -m pip install --quiet --no-deps -r requirements/no-deps.txt
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$want" > "$stamp"
  echo "setup: done in $((SECONDS - start)) s"
fi
