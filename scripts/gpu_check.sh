#!/usr/bin/env bash
# GPU check: on a machine with a CUDA GPU, run the test suite on every Keras
# backend installed there, then the speed benchmarks, and print one table.
# Uses the current Python environment (install the CUDA builds of the frameworks
# first, e.g. `pip install "jax[cuda12]"`); does not touch .venv.
#
#   bash scripts/gpu_check.sh            # PYTHON=python3 by default
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export TF_CPP_MIN_LOG_LEVEL=2
out=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
  || echo "no nvidia-smi: is there a CUDA GPU here?"

printf '%-11s %-6s %-28s %-9s %s\n' backend GPU? tests seconds "speed (see logs)" > "$out/table"
for backend in tensorflow jax torch; do
  module=$backend
  if ! "$PYTHON" -c "import $module" 2>/dev/null; then
    printf '%-11s %-6s %-28s\n' "$backend" - "not installed" >> "$out/table"
    continue
  fi
  gpu=$(KERAS_BACKEND=$backend "$PYTHON" - <<'PY' 2>/dev/null
import keras
backend = keras.backend.backend()
if backend == "tensorflow":
    import tensorflow as tf
    print("yes" if tf.config.list_physical_devices("GPU") else "no")
elif backend == "jax":
    import jax
    print("yes" if any(d.platform == "gpu" for d in jax.devices()) else "no")
else:
    import torch
    print("yes" if torch.cuda.is_available() else "no")
PY
)
  start=$SECONDS
  KERAS_BACKEND=$backend "$PYTHON" -m pytest -q -p no:cacheprovider tests \
    > "$out/pytest-$backend.log" 2>&1
  summary=$(tail -n 1 "$out/pytest-$backend.log" | tr -d '=' | xargs)
  tests_seconds=$((SECONDS - start))
  KERAS_BACKEND=$backend "$PYTHON" -m benchmarks.speed.fwht_methods \
    > "$out/fwht-$backend.log" 2>&1
  KERAS_BACKEND=$backend "$PYTHON" -m benchmarks.speed.mckernel_speed \
    > "$out/mckernel-$backend.log" 2>&1
  printf '%-11s %-6s %-28.28s %-9s %s\n' "$backend" "${gpu:-?}" "$summary" \
    "$tests_seconds" "$out/{fwht,mckernel}-$backend.log" >> "$out/table"
done
for log in "$out"/fwht-*.log "$out"/mckernel-*.log; do
  echo "== $log"; grep -v -iE "warn|^I0000|^W0000" "$log"
done
echo; cat "$out/table"
