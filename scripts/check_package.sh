#!/usr/bin/env bash
# Packaging check, run by scripts/test.sh:
# 1. `python -m build` makes a wheel and an sdist with no setuptools warning, and
#    `twine check --strict` passes;
# 2. the wheel ships LICENSE and the library only (no benchmark harness, no data);
# 3. a fresh venv gets the wheel with only its core and [jax] dependencies at the
#    lowest versions allowed (requirements/lowest.txt as constraints) and runs
#    scripts/smoke_test.py outside the repository; then the [sklearn] extra at its
#    floor, and the smoke test of McKernelSampler;
# 4. with no C compiler, the native kernel reports why and fwht runs on keras.ops.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

.venv/bin/python -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; echo "build failed"; exit 1; }
if grep -i "deprecat" "$work/build.log"; then echo "build warns (above)"; exit 1; fi
.venv/bin/twine check --strict "$work"/dist/*
wheel=$(ls "$work"/dist/*.whl)
unzip -l "$wheel" > "$work/wheel.txt"
grep -q "dist-info/licenses/LICENSE" "$work/wheel.txt" \
  || { echo "the wheel has no LICENSE"; exit 1; }
if grep -E "experiments|harness|benchmarks|\.json" "$work/wheel.txt"; then
  echo "the wheel ships more than the library (above)"; exit 1
fi
echo "wheel and sdist built, twine check passed, LICENSE shipped, library only"

python3 -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "$wheel[jax]" -c requirements/lowest.txt
cd "$work"  # away from the checkout: import the installed wheel
KERAS_BACKEND=jax "$work/venv/bin/python" "$root/scripts/smoke_test.py"
"${pip[@]}" "$wheel[jax,sklearn]" -c "$root/requirements/lowest.txt"
KERAS_BACKEND=jax "$work/venv/bin/python" "$root/scripts/smoke_test.py" --sklearn
# The native kernel is optional: with no C compiler (and this JAX floor has no
# jax.ffi either) the installed wheel reports why and runs the keras.ops path.
KERAS_BACKEND=jax KERAS_CROSSWISE_NATIVE=1 CC=/nonexistent/cc CXX=/nonexistent/c++ \
  KERAS_CROSSWISE_CACHE="$work/native-cache" "$work/venv/bin/python" - <<'PY'
import numpy as np
from keras_crosswise import native, ops
found = native.status()
assert not found["available"], found
x = np.random.default_rng(0).standard_normal((2, 8)).astype("float32")
assert np.allclose(np.asarray(ops.fwht(ops.fwht(x))), 8 * x, atol=1e-5)
print("native kernel unavailable, as expected:", found["reason"])
PY
