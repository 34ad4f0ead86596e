# Sourced by scripts/test: starts the loopback peers the tests talk to and exports
# where they are. `stop_peers` (run on exit) stops them.

peer_pids=()
# Temporary directories of the peers (registry storage, ...), removed by stop_peers.
peer_tmpdirs=()

stop_peers() {
  # `if`, not `&&`: an empty list must not leave a failed test as the script's status.
  for pid in "${peer_pids[@]:-}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  done
  for dir in "${peer_tmpdirs[@]:-}"; do
    if [ -n "$dir" ]; then rm -rf "$dir"; fi
  done
}

# A free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# moto: the AWS-protocol server the AWS tests talk to (through AWS_ENDPOINT_URL), with
# the Lambda features moto lacks (SnapStart, provisioned concurrency) added by
# tests/fakes/moto_lambda.py.
start_moto() {
  local port log
  port=$(free_port)
  log="$AIDEPLOY_TEST_HOME/moto.log"
  python3 tests/fakes/moto_lambda.py "$port" >"$log" 2>&1 &
  peer_pids+=($!)
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
      export AIDEPLOY_TEST_MOTO="http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  echo "scripts/test: moto_server did not start; see $log" >&2
  return 1
}
start_moto
