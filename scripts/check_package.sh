#!/usr/bin/env bash
# Packaging check, run by scripts/test.sh:
# 1. `python -m build` makes a wheel and an sdist with no setuptools warning, and
#    `twine check --strict` passes;
# 2. the wheel ships LICENSE and the library only (no benchmark harness, no data);
# 3. a fresh venv gets the wheel with only its core and [jax] dependencies at the
#    lowest versions allowed (requirements/lowest.txt as constraints) and runs
#    scripts/smoke_test.py outside the repository; then the [sklearn] extra at its
#    floor, and the smoke test of McKernelSampler.
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
