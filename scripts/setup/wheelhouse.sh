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
