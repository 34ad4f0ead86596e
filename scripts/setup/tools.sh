# Sourced by scripts/test: system packages and Python tools the tests use.
# Idempotent: installs only what is missing.

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-venv python3-pip)
command -v curl >/dev/null || need_apt+=(curl)
if ! command -v cargo >/dev/null; then
  echo "scripts/test: cargo is required (install Rust with rustup)" >&2
  exit 1
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Python tools (uv) in their own virtualenv, put first on PATH for the tests.
# jsonschema checks the manifest corpus against `aideploy schema` (tests/manifest_schema.rs);
# check-jsonschema checks the workflows `ci init` writes against GitHub's and GitLab's
# workflow schemas, which it carries offline (tests/ci_init.rs).
# moto is pinned: tests/fakes/moto_lambda.py and moto_sagemaker.py extend its internals.
tools="$AIDEPLOY_TEST_HOME/tools"
if [ ! -x "$tools/bin/uv" ] || [ ! -x "$tools/bin/moto_server" ] || [ ! -x "$tools/bin/check-jsonschema" ] || ! "$tools/bin/python" -c 'import jsonschema' 2>/dev/null; then
  echo "==> installing test tools (uv, moto, jsonschema, check-jsonschema) into $tools" >&2
  [ -x "$tools/bin/python" ] || python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check uv 'moto[server]==5.2.6' boto3 'jsonschema>=4.18,<5' 'check-jsonschema==0.39.0'
fi
export PATH="$tools/bin:$PATH"
