# Sourced by scripts/test (after peers.sh): the OCI peers. Installs the Debian tools the
# image tests use, starts a Distribution registry (Debian's `docker-registry`) with its
# own config on a free loopback port, and builds once (cached under $AIDEPLOY_TEST_HOME)
# a real Debian base image with python3, pushed to that registry as base/python:3.11.
# Exports AIDEPLOY_TEST_REGISTRY and AIDEPLOY_TEST_BASE_IMAGE. Idempotent.

oci_need=()
command -v docker-registry >/dev/null || oci_need+=(docker-registry)
command -v skopeo >/dev/null || oci_need+=(skopeo)
command -v umoci >/dev/null || oci_need+=(umoci)
command -v debootstrap >/dev/null || oci_need+=(debootstrap)
if [ ${#oci_need[@]} -gt 0 ]; then
  echo "==> apt-get install ${oci_need[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${oci_need[@]}" >/dev/null
fi

# The registry: our own config, storage in a fresh temp dir, a free loopback port. The
# Debian package's system service is never what the tests talk to.
oci_registry_dir="$(mktemp -d "${TMPDIR:-/tmp}/aideploy-registry.XXXXXX")"
oci_registry_port="$(free_port)"
cat > "$oci_registry_dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $oci_registry_dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$oci_registry_port
YAML
docker-registry serve "$oci_registry_dir/config.yml" >"$oci_registry_dir/log" 2>&1 &
peer_pids+=("$!")
peer_tmpdirs+=("$oci_registry_dir")
export AIDEPLOY_TEST_REGISTRY="127.0.0.1:$oci_registry_port"
for _ in $(seq 1 100); do
  curl -fsS "http://$AIDEPLOY_TEST_REGISTRY/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -fsS "http://$AIDEPLOY_TEST_REGISTRY/v2/" >/dev/null 2>&1; then
  echo "scripts/test: the loopback registry did not start; its log:" >&2
  cat "$oci_registry_dir/log" >&2
  exit 1
fi

# The Debian mirror this machine's apt uses (read from apt's own configuration).
oci_debian_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
    awk '$2 == "bookworm" { print $1; exit }'
}

# A real Debian bookworm with python3, as an OCI image layout, built once.
oci_base="$AIDEPLOY_TEST_HOME/base-python"
oci_base_stamp="$oci_base/.complete-v1"
if [ ! -f "$oci_base_stamp" ]; then
  mirror="$(oci_debian_mirror)"
  if [ -z "$mirror" ]; then
    # No package lists yet (a fresh or cleaned machine): fetch them, then ask again.
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    mirror="$(oci_debian_mirror)"
  fi
  if [ -z "$mirror" ]; then
    echo "scripts/test: no Debian bookworm mirror in apt's sources; run apt-get update" >&2
    exit 1
  fi
  echo "==> building the test base image (debootstrap bookworm + python3) into $oci_base" >&2
  rm -rf "$oci_base"
  mkdir -p "$oci_base"
  debootstrap --variant=minbase --include=python3 bookworm "$oci_base/rootfs" "$mirror" \
    >"$oci_base/debootstrap.log" 2>&1 || { tail -20 "$oci_base/debootstrap.log" >&2; exit 1; }
  rm -rf "$oci_base/rootfs/var/lib/apt/lists/"* "$oci_base/rootfs/var/cache/apt/"*.bin \
    "$oci_base/rootfs/var/cache/apt/archives/"*.deb "$oci_base/rootfs/dev/"*
  umoci init --layout "$oci_base/layout"
  umoci new --image "$oci_base/layout:3.11"
  umoci unpack --image "$oci_base/layout:3.11" "$oci_base/bundle" >/dev/null
  rm -rf "$oci_base/bundle/rootfs"
  mv "$oci_base/rootfs" "$oci_base/bundle/rootfs"
  umoci repack --image "$oci_base/layout:3.11" "$oci_base/bundle"
  umoci config --image "$oci_base/layout:3.11" --os linux --architecture amd64 \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env LANG=C.UTF-8 --config.cmd python3
  umoci gc --layout "$oci_base/layout"
  rm -rf "$oci_base/bundle"
  touch "$oci_base_stamp"
fi
skopeo copy --quiet --dest-tls-verify=false \
  "oci:$oci_base/layout:3.11" "docker://$AIDEPLOY_TEST_REGISTRY/base/python:3.11" >/dev/null
export AIDEPLOY_TEST_BASE_IMAGE="$AIDEPLOY_TEST_REGISTRY/base/python:3.11"
