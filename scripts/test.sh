#!/usr/bin/env bash
# The whole test suite: lint, the packaging check, then pytest once per Keras
# backend, each in its own process (the docs are built with --strict by
# tests/test_docs.py). Fails if the lint, the package or any backend fails
# (pytest's exit 5, no tests, too).
#
# The passes run in two lanes at once (JAX beside TensorFlow then PyTorch).
# Backend-independent tests (marker `backend_independent`) run in JAX's
# pass only, which balances the lanes; the save/load zoo is saved once per
# backend, up front, for all three passes to load. Extra arguments go to pytest, e.g.
# `scripts/test.sh -k cz_dense`; `BACKENDS="jax" scripts/test.sh` runs one pass.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2
BACKENDS=${BACKENDS:-"tensorflow jax torch"}
reports=$(mktemp -d)
# The native Walsh-Hadamard kernel is built afresh for this run (first use).
export KERAS_CROSSWISE_CACHE="$reports/native-cache"
stage_start=$SECONDS
done_in() { echo "== $1: done in $(( SECONDS - stage_start )) s"; stage_start=$SECONDS; }

echo "== ruff, and the import floors (pyproject.toml's [tool.importlinter])"
.venv/bin/ruff check . && .venv/bin/ruff format --check . || { echo "lint failed"; exit 1; }
.venv/bin/lint-imports --no-cache || { echo "an import runs up a floor"; exit 1; }
done_in "lint"

# The packaging check (its own fresh venv) runs beside the zoo and the passes.
bash scripts/check_package.sh > "$reports/package.log" 2>&1 &
package_pid=$!

echo "== the save/load zoo, saved once under each backend"
CROSSWISE_ZOO=$(mktemp -d)
export CROSSWISE_ZOO
pids=()
for backend in tensorflow jax torch; do
  KERAS_BACKEND=$backend .venv/bin/python tests/model_zoo.py save "$CROSSWISE_ZOO/$backend" \
    > "$CROSSWISE_ZOO/$backend.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { cat "$CROSSWISE_ZOO"/*.log; echo "saving the zoo failed"; exit 1; }
done
done_in "zoo"

# Two lanes, one per core: JAX's pass (the longest) beside TensorFlow's then
# PyTorch's. Each pass writes its own log, printed whole when it ends.
LANES=${LANES:-"jax tensorflow-portable;tensorflow torch torch-portable"}
INDEPENDENT_IN=${INDEPENDENT_IN:-jax}  # the pass that runs backend-independent tests
case " $BACKENDS " in *" $INDEPENDENT_IN "*) ;; *) INDEPENDENT_IN=${BACKENDS%% *} ;; esac
# PASSES "tensorflow-portable", "torch-portable": the transform's tests with
# the native kernel off (KERAS_CROSSWISE_NATIVE=0), the keras.ops path it
# falls back to (JAX's pass runs its fallback tests in fresh processes).
PORTABLE_TESTS=(tests/test_fwht.py tests/test_native.py tests/test_fastfood_dense.py
  tests/test_mckernel.py tests/test_torch_compile.py)
run_pass() {
  local backend=$1 independent=0 start=$SECONDS native=${KERAS_CROSSWISE_NATIVE:-1} tests=()
  shift
  [ "$backend" = "$INDEPENDENT_IN" ] && independent=1
  case $backend in *-portable) native=0 independent=0 tests=("${PORTABLE_TESTS[@]}") ;; esac
  KERAS_BACKEND=${backend%-portable} CROSSWISE_BACKEND_INDEPENDENT=$independent \
    KERAS_CROSSWISE_NATIVE=$native \
    .venv/bin/python -m pytest -p no:cacheprovider --basetemp="$reports/tmp-$backend" \
    --junitxml="$reports/$backend.xml" "$@" "${tests[@]}" > "$reports/$backend.log" 2>&1
  local status=$?
  echo "$status" > "$reports/$backend.status"
  { echo "== pytest, KERAS_BACKEND=$backend"; cat "$reports/$backend.log"
    echo "== $backend: exit $status in $((SECONDS - start)) s"; }
}
lane_pids=()
IFS=';' read -ra lanes <<< "$LANES"
for lane in "${lanes[@]}"; do
  (
    for backend in $lane; do
      case " $BACKENDS " in *" ${backend%-portable} "*) run_pass "$backend" "$@" ;; esac
    done
  ) &
  lane_pids+=($!)
done
wait "${lane_pids[@]}"
failed=()
for lane in "${lanes[@]}"; do
  for backend in $lane; do
    case " $BACKENDS " in *" ${backend%-portable} "*) ;; *) continue ;; esac
    [ "$(cat "$reports/$backend.status" 2>/dev/null)" = 0 ] || failed+=("$backend")
  done
done
done_in "pytest, all passes"
echo "== package: build, twine check, the wheel at the lowest allowed versions"
wait "$package_pid"
package_status=$?
cat "$reports/package.log"
[ "$package_status" -eq 0 ] || { echo "packaging check failed"; failed+=("package"); }

.venv/bin/python - "$reports" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for report in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(report).getroot().iter("testsuite"):
        total, skip = int(suite.get("tests")), int(suite.get("skipped"))
        bad = int(suite.get("failures")) + int(suite.get("errors"))
        passed, failed, skipped = passed + total - skip - bad, failed + bad, skipped + skip
print(f"all-backends: {passed} passed, {failed} failed, {skipped} skipped")
PY
if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED on: ${failed[*]}"
  exit 1
fi
