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

now() { date +%s.%N; }

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

# Interleaved, so that every contender sees the same load on this shared machine.
results="$work/results.jsonl"
: > "$results"
echo "==> $runs rounds of: aideploy cold/warm/one-file, pip + zip -r, uv + zip -r (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
for i in $(seq "$runs"); do
  ours=$(cargo bench --quiet --bench lambda_zip -- "$app" "$work" 1 2>/dev/null | tail -1)
  t0=$(now); baseline pip; t1=$(now); baseline uv; t2=$(now)
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["pip_s"]=float(sys.argv[2]); d["uv_s"]=float(sys.argv[3]); d["pip_zip_bytes"]=int(sys.argv[4]); d["uv_zip_bytes"]=int(sys.argv[5]); print(json.dumps(d))' \
    "$ours" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" \
    "$(stat -c %s "$work/pkg-pip.zip")" "$(stat -c %s "$work/pkg-uv.zip")" | tee -a "$results" >&2
done
echo "==> done (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2

python3 - "$results" "$runs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda k: statistics.median(r[k] for r in rows)
cold, warm, edit, pip, uv = med("cold_s"), med("warm_s"), med("one_file_change_s"), med("pip_s"), med("uv_s")
last = rows[-1]
print(f"| build (median of {sys.argv[2]} interleaved rounds) | seconds |")
print("| --- | ---: |")
for name, t in [
    ("aideploy, cold (empty aideploy cache)", cold),
    ("aideploy, warm (nothing changed)", warm),
    ("aideploy, one file changed", edit),
    ("pip install --target --platform + zip -r (AWS docs)", pip),
    ("uv pip install --target --python-platform + zip -r", uv),
]:
    print(f"| {name} | {t:.3f} |")
print()
print(f"Zip sizes: aideploy {last['zip_bytes']/1e6:.1f} MB ({last['entries']} entries, "
      f"{last['unzipped_bytes']/1e6:.1f} MB unzipped); pip + zip -r {last['pip_zip_bytes']/1e6:.1f} MB "
      f"(pip also compiles .pyc files); uv + zip -r {last['uv_zip_bytes']/1e6:.1f} MB.")
print()
print(f"- cold: {pip/cold:.1f}x faster than pip + zip, {uv/cold:.1f}x faster than uv + zip")
print(f"- warm: {pip/warm:,.0f}x faster than pip + zip, {uv/warm:,.0f}x faster than uv + zip")
print(f"- one file changed: {pip/edit:.0f}x faster than pip + zip, {uv/edit:.0f}x faster than uv + zip")
PY
