#!/usr/bin/env bash
# Upload throughput of a model archive to S3 (moto on loopback): one PUT vs a multipart
# upload one part at a time vs parts in parallel, same file, same run.
# Usage: scripts/bench/sagemaker_upload.sh [SIZE_MIB]   (after scripts/test has installed moto)
set -euo pipefail
cd "$(dirname "$0")/../.."
mib="${1:-256}"
tools="${AIDEPLOY_TEST_HOME:-$PWD/target/test-env}/tools"
[ -x "$tools/bin/moto_server" ] && export PATH="$tools/bin:$PATH"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill $moto_pid' EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
# The dev-profile build the tests use (a release build of three AWS SDKs takes long on
# small machines); the three uploads are compared within the same run and build.
bin="$(cargo test --bench sagemaker_upload --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sagemaker_upload" and m.get("executable"):
        print(m["executable"])')"
"$bin" "$mib"
