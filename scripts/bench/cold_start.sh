#!/usr/bin/env bash
# Cold starts with and without bytecode (docs/benchmarks.md, "Cold starts"), side by side
# in one run, rounds interleaved:
#   - the Lambda zip of examples/fastapi-rag (fastapi, uvicorn, pydantic): the handler
#     module imported (aideploy's cold start: the app imported, its lifespan started) by
#     the Lambda runtime stand-in's python3.11, with no bytecode writes, as on Lambda's
#     read-only task root; the time from the import statement to its end;
#   - the image of the same app under Docker: `docker run` to the first 200 from /health.
# Both artifacts are built by aideploy, once with bytecode and once with
# AIDEPLOY_BYTECODE=0. Sizes are reported both ways.
# Usage: scripts/bench/cold_start.sh [ROUNDS]   (default 9; medians are reported)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
rounds="${1:-9}"

export AIDEPLOY_TEST_HOME="${AIDEPLOY_TEST_HOME:-$root/target/test-env}"
mkdir -p "$AIDEPLOY_TEST_HOME"
# shellcheck source=../setup/tools.sh
source scripts/setup/tools.sh
# shellcheck source=../setup/wheelhouse.sh
source scripts/setup/wheelhouse.sh
# shellcheck source=../setup/peers.sh
source scripts/setup/peers.sh
trap stop_peers EXIT
# shellcheck source=../setup/oci.sh
source scripts/setup/oci.sh

export UV_OFFLINE=1 UV_FIND_LINKS="$AIDEPLOY_TEST_WHEELHOUSE"
# The binary the tests build (a `cargo build` would resolve other features and rebuild
# every dependency).
cargo test --locked --no-run >/dev/null 2>&1 || cargo test --locked --no-run
bin="$root/target/debug/aideploy"

work="$(mktemp -d "${TMPDIR:-/tmp}/aideploy-bench-cold.XXXXXX")"
peer_tmpdirs+=("$work")
app="$work/app"
cp -r examples/fastapi-rag "$app"
find "$app" -name __pycache__ -prune -exec rm -rf {} +
sed -i "s|^\[build\]|[build]\nbase_image = \"$AIDEPLOY_TEST_BASE_IMAGE\"|" "$app/aideploy.toml"
export AIDEPLOY_CACHE_DIR="$work/cache"

artifact() { # artifact PACKAGE BYTECODE [EXTRA...] -> the built artifact's path
  local package=$1 bytecode=$2
  shift 2
  AIDEPLOY_BYTECODE=$bytecode "$bin" -C "$app" build --target local --package "$package" --json "$@" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["artifact"].get("path") or "")'
}

echo "==> building the zip and the image, with and without bytecode" >&2
for bc in 1 0; do
  zip=$(artifact zip "$bc")
  mkdir -p "$work/task-$bc"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$work/task-$bc"
  cp "$zip" "$work/lambda-$bc.zip"
  artifact image "$bc" --output "$work/image-$bc.tar" >/dev/null
  loaded=$(docker load -q -i "$work/image-$bc.tar" | sed -n 's/^Loaded image[^:]*: //p' | tail -1)
  # Both builds load under the same tag: keep each by its id.
  docker image inspect --format '{{.Id}}' "$loaded" > "$work/image-$bc.ref"
done
pycs=$(find "$work/task-1" -name '*.pyc' | wc -l)
[ "$pycs" -gt 0 ] || { echo "the zip built with bytecode has no .pyc: is python3.11 on PATH?" >&2; exit 1; }
[ "$(find "$work/task-0" -name '*.pyc' | wc -l)" -eq 0 ] || { echo "AIDEPLOY_BYTECODE=0 still shipped bytecode" >&2; exit 1; }

# One cold import of the handler (a fresh interpreter each time; nothing written).
cold_import() {
  (cd "$work/task-$1" && AIDEPLOY_ASGI=app.main:app PYTHONDONTWRITEBYTECODE=1 "$AIDEPLOY_TEST_LAMBDA_PYTHON" -c '
import sys, time
sys.path.insert(0, ".")
t = time.perf_counter()
import aideploy_lambda
print(time.perf_counter() - t)')
}

# `docker run` to the first 200 from /health.
to_healthy() {
  local ref port id t0 t1
  ref=$(cat "$work/image-$1.ref")
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  t0=$(date +%s.%N)
  id=$(docker run -d -p "127.0.0.1:$port:8000" "$ref")
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do
    if [ "$(echo "$(date +%s.%N) - $t0 > 120" | bc -l)" = 1 ]; then docker logs "$id" >&2; docker rm -f "$id" >/dev/null; exit 1; fi
    sleep 0.02
  done
  t1=$(date +%s.%N)
  docker rm -f "$id" >/dev/null
  echo "$t1 - $t0" | bc -l
}

results="$work/results.jsonl"
: > "$results"
echo "==> $rounds interleaved rounds (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
[ "$(cat "$work/image-1.ref")" != "$(cat "$work/image-0.ref")" ] || { echo "the two images are the same" >&2; exit 1; }
for i in $(seq "$rounds"); do
  with=$(cold_import 1); without=$(cold_import 0)
  img_with=$(to_healthy 1); img_without=$(to_healthy 0)
  echo "{\"import_with\": $with, \"import_without\": $without, \"image_with\": $img_with, \"image_without\": $img_without}" | tee -a "$results" >&2
done
echo "==> done (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2

python3 - "$results" "$rounds" "$work" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
work = sys.argv[3]
med = lambda k: statistics.median(r[k] for r in rows)
size = lambda p: os.path.getsize(os.path.join(work, p))
def unzipped(bc):
    total = 0
    for d, _, files in os.walk(os.path.join(work, f"task-{bc}")):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    return total
print(f"| cold start (median of {sys.argv[2]} interleaved rounds) | with bytecode | without | ratio |")
print("| --- | ---: | ---: | ---: |")
for name, k in [("Lambda handler import (s)", "import"), ("image: docker run to first healthy answer (s)", "image")]:
    a, b = med(f"{k}_with"), med(f"{k}_without")
    print(f"| {name} | {a:.3f} | {b:.3f} | {a/b:.2f}x |")
print(f"| Lambda zip (MB) | {size('lambda-1.zip')/1e6:.1f} | {size('lambda-0.zip')/1e6:.1f} | {size('lambda-1.zip')/size('lambda-0.zip'):.2f}x |")
print(f"| Lambda zip unzipped (MB) | {unzipped(1)/1e6:.1f} | {unzipped(0)/1e6:.1f} | {unzipped(1)/unzipped(0):.2f}x |")
print(f"| image archive (MB) | {size('image-1.tar')/1e6:.1f} | {size('image-0.tar')/1e6:.1f} | {size('image-1.tar')/size('image-0.tar'):.2f}x |")
PY
