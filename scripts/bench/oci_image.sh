#!/usr/bin/env bash
# OCI image: build + push of examples/fastapi-rag with its deps (fastapi, uvicorn,
# pydantic for linux/amd64 CPython 3.11) to the loopback registry, cold / unchanged /
# one file changed; aideploy vs `buildah bud --layers` + `buildah push` of the
# equivalent Containerfile, in the same run, against the same registry and base image.
# Bytes uploaded are read two ways for aideploy (its report, and the growth of the
# registry's blob store); for buildah from the growth of the blob store.
# Usage: scripts/bench/oci_image.sh   (BENCH_RUNS=3 repetitions of the warm cases)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
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
if ! command -v buildah >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq buildah >/dev/null
fi
runs="${BENCH_RUNS:-3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/aideploy-bench-oci.XXXXXX")"
peer_tmpdirs+=("$work")

bin="$(cargo bench --no-run --bench oci_image --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "oci_image" and m.get("executable"):
        print(m["executable"])')"

echo "==> deps for linux/amd64 cp311" >&2
uv pip install --quiet --no-index --find-links "$AIDEPLOY_TEST_WHEELHOUSE" \
  --python-platform x86_64-manylinux2014 --python-version 3.11 --target "$work/deps" \
  -r examples/fastapi-rag/requirements.txt uvicorn
cp -a examples/fastapi-rag "$work/app"
mkdir -p "$work/ctx"
cp -a "$work/deps" "$work/ctx/deps"
cp -a examples/fastapi-rag "$work/ctx/app"
cat >"$work/ctx/Containerfile" <<CF
FROM $AIDEPLOY_TEST_BASE_IMAGE
COPY deps /opt/aideploy/deps
COPY app /app
ENV PYTHONPATH=/opt/aideploy/deps PORT=8000 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["python3", "-m", "uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
CF

blobs="$oci_registry_dir/storage/docker/registry/v2/blobs"
stored() { if [ -d "$blobs" ]; then find "$blobs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; else echo 0; fi; }
now() { date +%s.%N; }
results="$work/results.tsv"

ours() { # SCENARIO
  local before after out
  before="$(stored)"
  out="$("$bin" "$work/app" "$work/deps" "$AIDEPLOY_TEST_BASE_IMAGE" \
    "$AIDEPLOY_TEST_REGISTRY/bench/aideploy:latest" "$work/store")"
  after="$(stored)"
  python3 - "$1" "$out" "$((after - before))" >>"$results" <<'PY'
import json, sys
o = json.loads(sys.argv[2])
print("\t".join(["aideploy", sys.argv[1], f"{o['total_s']:.3f}", str(o["uploaded_bytes"]), sys.argv[3], str(o["image_bytes"])]))
PY
}

B=(buildah --root "$work/buildah/root" --runroot "$work/buildah/run" --storage-driver vfs)
theirs() { # SCENARIO
  local before after t0 t1
  before="$(stored)"
  t0="$(now)"
  "${B[@]}" bud --quiet --isolation chroot --layers --tls-verify=false \
    -f "$work/ctx/Containerfile" -t bench-buildah "$work/ctx" >/dev/null
  "${B[@]}" push --quiet --tls-verify=false bench-buildah \
    "docker://$AIDEPLOY_TEST_REGISTRY/bench/buildah:latest" >/dev/null
  t1="$(now)"
  after="$(stored)"
  printf 'buildah\t%s\t%s\t-\t%s\t-\n' "$1" "$(python3 -c "print(f'{$t1 - $t0:.3f}')")" "$((after - before))" >>"$results"
}

echo "==> cold" >&2
ours cold
theirs cold
echo "==> unchanged x$runs" >&2
for _ in $(seq 1 "$runs"); do ours unchanged; theirs unchanged; done
echo "==> one file changed x$runs" >&2
for i in $(seq 1 "$runs"); do
  for d in "$work/app" "$work/ctx/app"; do echo "# bench change $i" >>"$d/app/main.py"; done
  ours changed
  theirs changed
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
def med(tool, sc, col):
    vals = [float(r[col]) for r in rows if r[0] == tool and r[1] == sc and r[col] != "-"]
    return statistics.median(vals) if vals else None
image = med("aideploy", "cold", 5)
print(f"image bytes (aideploy, compressed, base included): {int(image):,}")
print()
print("| scenario | aideploy s | aideploy uploaded (reported) | aideploy registry blob growth | buildah s | buildah registry blob growth | time ratio |")
print("|---|---|---|---|---|---|---|")
for sc in ["cold", "unchanged", "changed"]:
    ot, ou, og = med("aideploy", sc, 2), med("aideploy", sc, 3), med("aideploy", sc, 4)
    bt, bg = med("buildah", sc, 2), med("buildah", sc, 4)
    print(f"| {sc} | {ot:.2f} | {int(ou):,} ({100 * ou / image:.3f}% of image) | {int(og):,} | {bt:.2f} | {int(bg):,} | {bt / ot:.1f}x |")
print()
print("raw runs (tool, scenario, seconds, uploaded, registry blob growth, image bytes):")
for r in rows:
    print("  " + "  ".join(r))
PY
