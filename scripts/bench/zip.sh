#!/usr/bin/env bash
# The Lambda zip benchmark (docs/benchmarks.md, "Lambda zip"): examples/fastapi-rag with
# realistic deps (fastapi, uvicorn, pydantic, numpy, openai, mangum), for linux x86_64 /
# CPython 3.11, all installed offline from the test wheelhouse:
#   - aideploy: cold (empty aideploy cache), warm (nothing changed), one file changed;
#   - the AWS-documented pipeline: pip install --target --platform manylinux2014_x86_64
#     --only-binary=:all: then zip -r (deps, then the app's files);
#   - the same with uv pip install.
# Usage: scripts/bench/zip.sh [RUNS]   (default 5; medians are reported)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
runs="${1:-5}"

export AIDEPLOY_TEST_HOME="${AIDEPLOY_TEST_HOME:-$root/target/test-env}"
mkdir -p "$AIDEPLOY_TEST_HOME"
# shellcheck source=../setup/tools.sh
source scripts/setup/tools.sh
# shellcheck source=../setup/wheelhouse.sh
source scripts/setup/wheelhouse.sh

# Offline: the wheelhouse only. uv's cache is warm after the first run, as on a
# developer's machine ("warm package caches" in DESIGN.md's baselines).
export UV_OFFLINE=1 UV_FIND_LINKS="$AIDEPLOY_TEST_WHEELHOUSE" UV_CACHE_DIR="$AIDEPLOY_TEST_HOME/bench-uv-cache"
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$AIDEPLOY_TEST_WHEELHOUSE" PIP_DISABLE_PIP_VERSION_CHECK=1

work="$AIDEPLOY_TEST_HOME/bench-zip"
rm -rf "$work"
mkdir -p "$work"
app="$work/fastapi-rag"
cp -r examples/fastapi-rag "$app"
find "$app" -name __pycache__ -prune -exec rm -rf {} +
printf 'fastapi>=0.110\nuvicorn>=0.29\npydantic>=2.6\nnumpy\nopenai\nmangum\n' > "$app/requirements.txt"

cargo bench --quiet --bench lambda_zip --no-run 2>/dev/null || cargo bench --bench lambda_zip --no-run
echo "==> aideploy ($runs runs)" >&2
ours=$(cargo bench --quiet --bench lambda_zip -- "$app" "$work" "$runs" 2>/dev/null | tail -1)
echo "$ours" >&2

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One baseline run: install the deps into a folder, zip it, add the app's files.
baseline() {
  local installer=$1 dir="$work/pkg-$1" zipfile="$work/pkg-$1.zip"
  rm -rf "$dir" "$zipfile"
  if [ "$installer" = pip ]; then
    python3 -m pip install --quiet --target "$dir" --platform manylinux2014_x86_64 \
      --implementation cp --python-version 3.11 --only-binary=:all: -r "$app/requirements.txt"
  else
    uv pip install --quiet --target "$dir" --python-platform x86_64-manylinux2014 \
      --python-version 3.11 --only-binary :all: -r "$app/requirements.txt"
  fi
  (cd "$dir" && zip -q -r "$zipfile" .)
  (cd "$app" && zip -q -r "$zipfile" app)
}

declare -A times
for installer in pip uv; do
  echo "==> baseline: $installer install --target + zip -r ($runs runs)" >&2
  ts=()
  for _ in $(seq "$runs"); do
    t0=$(now); baseline "$installer"; t1=$(now)
    ts+=("$(echo "$t1 - $t0" | bc -l)")
  done
  times[$installer]=$(printf '%s\n' "${ts[@]}" | median)
  echo "   median ${times[$installer]} s; zip $(stat -c %s "$work/pkg-$installer.zip") bytes" >&2
done

python3 - "$ours" "${times[pip]}" "${times[uv]}" "$(stat -c %s "$work/pkg-pip.zip")" "$runs" <<'PY'
import json, sys
ours = json.loads(sys.argv[1]); pip = float(sys.argv[2]); uv = float(sys.argv[3]); pip_zip = int(sys.argv[4]); runs = sys.argv[5]
cold, warm, edit = ours["cold_s"], ours["warm_s"], ours["one_file_change_s"]
rows = [
    ("aideploy, cold (empty aideploy cache)", cold),
    ("aideploy, warm (nothing changed)", warm),
    ("aideploy, one file changed", edit),
    ("pip install --target --platform + zip -r (AWS docs)", pip),
    ("uv pip install --target --python-platform + zip -r", uv),
]
print(f"| build (median of {runs}) | seconds |")
print("| --- | ---: |")
for name, t in rows:
    print(f"| {name} | {t:.3f} |")
print()
print(f"zip: aideploy {ours['zip_bytes']/1e6:.1f} MB ({ours['entries']} entries, {ours['unzipped_bytes']/1e6:.1f} MB unzipped); pip + zip -r {pip_zip/1e6:.1f} MB")
print()
print(f"- cold vs pip + zip: {pip/cold:.1f}x faster; vs uv + zip: {uv/cold:.1f}x")
print(f"- warm vs pip + zip: {pip/warm:.0f}x faster; vs uv + zip: {uv/warm:.0f}x")
print(f"- one file changed vs pip + zip: {pip/edit:.0f}x faster; vs uv + zip: {uv/edit:.0f}x")
PY
