# Sourced by scripts/test: starts the loopback peers the tests talk to and exports
# where they are. `stop_peers` (run on exit) stops them.

peer_pids=()
# Temporary directories of the peers (registry storage, ...), removed by stop_peers.
peer_tmpdirs=()

stop_peers() {
  for pid in "${peer_pids[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for dir in "${peer_tmpdirs[@]:-}"; do
    [ -n "$dir" ] && rm -rf "$dir"
  done
}

# A free loopback port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
