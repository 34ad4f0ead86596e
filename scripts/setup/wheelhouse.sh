# Sourced by scripts/test: downloads, once, every wheel the tests install, so that the
# tests themselves install offline (no test reaches a package index).

wheelhouse="$AIDEPLOY_TEST_HOME/wheelhouse"
stamp="$wheelhouse/.complete-$(cat examples/*/requirements.txt scripts/setup/wheelhouse.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> downloading test wheels into $wheelhouse" >&2
  mkdir -p "$wheelhouse"
  # For this machine's Python: the local target's environments.
  python3 -m pip download --quiet --disable-pip-version-check -d "$wheelhouse" \
    -r examples/fastapi-rag/requirements.txt uvicorn
  touch "$stamp"
fi
export AIDEPLOY_TEST_WHEELHOUSE="$wheelhouse"

# --- OCI image tests (scripts/setup/oci.sh's tests/oci_image.rs) -----------------------
# The image's platform, not this machine's: linux x86_64, CPython 3.11, binary wheels
# only, into the same wheelhouse. Its own stamp, so editing the block above does not
# re-run it and vice versa.
oci_wheel_args=(--platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.11 --implementation cp)
oci_wheel_stamp="$wheelhouse/.complete-oci-$(echo "${oci_wheel_args[*]}" | cat - examples/fastapi-rag/requirements.txt | sha256sum | cut -c1-16)"
if [ ! -f "$oci_wheel_stamp" ]; then
  echo "==> downloading linux/amd64 cp311 wheels for the image tests into $wheelhouse" >&2
  mkdir -p "$wheelhouse"
  python3 -m pip download --quiet --disable-pip-version-check -d "$wheelhouse" "${oci_wheel_args[@]}" \
    -r examples/fastapi-rag/requirements.txt uvicorn
  touch "$oci_wheel_stamp"
fi
