#!/usr/bin/env bash
# The whole test suite: lint, the docs build, the packaging check, then pytest once
# per Keras backend, each in its own process. Fails if the lint, the docs or any backend fails (pytest's exit 5,
# no tests, too).
# Extra arguments go to pytest, e.g. `scripts/test.sh -k cz_dense`.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2
BACKENDS=${BACKENDS:-"tensorflow jax torch"}

echo "== ruff"
.venv/bin/ruff check . && .venv/bin/ruff format --check . || { echo "lint failed"; exit 1; }

echo "== docs: mkdocs build --strict"
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)" \
  || { echo "docs build failed"; exit 1; }

echo "== package: build, twine check, the wheel at the lowest allowed versions"
bash scripts/check_package.sh || { echo "packaging check failed"; exit 1; }

reports=$(mktemp -d)
failed=()
for backend in $BACKENDS; do
  echo "== pytest, KERAS_BACKEND=$backend"
  start=$SECONDS
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -p no:cacheprovider \
    --junitxml="$reports/$backend.xml" "$@"
  status=$?
  echo "== $backend: exit $status in $((SECONDS - start)) s"
  [ "$status" -eq 0 ] || failed+=("$backend")
done

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
