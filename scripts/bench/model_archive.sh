#!/usr/bin/env bash
# Peak RSS and time of packaging a model directory into model.tar.gz, for a 0.5 GB
# and a 2 GB model of random bytes (incompressible, like weights), so the memory can be
# seen to stay flat as the model grows. Usage: scripts/bench/model_archive.sh [GB...]
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(0.5 2)
work="$(mktemp -d "${TMPDIR:-/tmp}/aideploy-bench-model.XXXXXX")"
trap 'rm -rf "$work"' EXIT

bin="$(cargo bench --no-run --bench model_archive --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "model_archive" and m.get("executable"):
        print(m["executable"])')"

# A model dir: one big weights file (60%), a few shards, small config files.
make_model() { # DIR MB
  local dir=$1 mb=$2
  mkdir -p "$dir/shards"
  head -c "$((mb * 6 / 10))M" /dev/urandom >"$dir/model.safetensors"
  for i in 1 2 3 4; do head -c "$((mb / 10))M" /dev/urandom >"$dir/shards/part-$i.bin"; done
  echo '{"architectures": ["Bench"]}' >"$dir/config.json"
  printf 'def model_fn(model_dir):\n    return model_dir\n' >"$dir/inference.py"
}

printf '| model size | archive bytes | seconds | peak RSS |\n|---|---|---|---|\n'
for gb in "${sizes[@]}"; do
  mb="$(python3 -c "print(int(float('$gb') * 1024))")"
  make_model "$work/model-$gb" "$mb"
  /usr/bin/time -v "$bin" "$work/model-$gb" "$work/model-$gb.tar.gz" >"$work/out.json" 2>"$work/time.txt"
  rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
  python3 - "$work/out.json" "$gb" "$rss_kb" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} GB | {out['bytes']:,} | {out['seconds']:.1f} | {int(sys.argv[3]) / 1024:.1f} MB |")
PY
  rm -rf "$work/model-$gb" "$work/model-$gb.tar.gz"
done
