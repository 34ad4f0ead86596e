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
  # For the Lambda target (linux x86_64, CPython 3.11), whatever this machine is: the
  # zip tests and the zip benchmark (scripts/bench/zip.sh) install from these.
  python3 -m pip download --quiet --disable-pip-version-check -d "$wheelhouse" \
    --platform manylinux2014_x86_64 --implementation cp --python-version 3.11 \
    --only-binary=:all: \
    -r examples/fastapi-rag/requirements.txt uvicorn numpy openai mangum
  # arm64 (Graviton) for the same: pydantic only (compiled, pydantic_core). numpy stays
  # x86_64-only here: the tests' "no wheel for arm64" case.
  python3 -m pip download --quiet --disable-pip-version-check -d "$wheelhouse" \
    --platform manylinux2014_aarch64 --implementation cp --python-version 3.11 \
    --only-binary=:all: 'pydantic>=2.6'
  # A real "no wheel for this platform" case: docopt 0.6.2 is published as an sdist only.
  python3 -m pip download --quiet --disable-pip-version-check -d "$wheelhouse" \
    --no-binary=:all: --no-deps docopt==0.6.2
  touch "$stamp"
fi
export AIDEPLOY_TEST_WHEELHOUSE="$wheelhouse"

# The Lambda zip tests: a stand-in for the AWS Lambda Python runtime (a bare CPython
# plus boto3, which that runtime ships). moto comes from tools.sh.
lambda_runtime="$AIDEPLOY_TEST_HOME/lambda-runtime"
if [ ! -x "$lambda_runtime/bin/python" ] || ! "$lambda_runtime/bin/python" -c 'import boto3' 2>/dev/null; then
  echo "==> creating the Lambda runtime stand-in $lambda_runtime" >&2
  python3 -m venv "$lambda_runtime"
  "$lambda_runtime/bin/python" -m pip install --quiet --disable-pip-version-check boto3
fi
export AIDEPLOY_TEST_LAMBDA_PYTHON="$lambda_runtime/bin/python"

# --- OCI image tests (scripts/setup/oci.sh's tests/oci_image.rs) -----------------------
# The image's platform, not this machine's: linux x86_64, CPython 3.11, binary wheels
# only, into the same wheelhouse. Its own stamp, so editing the block above does not
# re-run it and vice versa.
oci_wheel_args=(--platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.11 --implementation cp)
# The lambda target's container images add Lambda's runtime interface client (and
# boto3, for an app with secrets); tests/apps/flask-gunicorn needs flask and gunicorn,
# tests/apps/streamlit streamlit (about 100 MB with its deps), tests/apps/gradio gradio
# (about 80 MB, numpy, pandas and pillow shared with streamlit); tests/apps/django django
# (8 MB with asgiref and sqlparse); tests/apps/uv-lock the exact versions its uv.lock pins.
# This machine's CPython 3.11 on x86_64 installs the same wheels (the local target).
oci_wheel_extra=(uvicorn awslambdaric boto3 flask gunicorn streamlit gradio 'django>=5,<6')
oci_uv_lock=tests/apps/uv-lock
oci_wheel_stamp="$wheelhouse/.complete-oci-$(echo "${oci_wheel_args[*]} ${oci_wheel_extra[*]}" | cat - examples/fastapi-rag/requirements.txt "$oci_uv_lock/uv.lock" | sha256sum | cut -c1-16)"
if [ ! -f "$oci_wheel_stamp" ]; then
  echo "==> downloading linux/amd64 cp311 wheels for the image tests into $wheelhouse" >&2
  mkdir -p "$wheelhouse"
  oci_pins="$(mktemp)"
  uv export --quiet --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt \
    --directory "$oci_uv_lock" --output-file "$oci_pins"
  python3 -m pip download --quiet --disable-pip-version-check -d "$wheelhouse" "${oci_wheel_args[@]}" \
    -r examples/fastapi-rag/requirements.txt -r "$oci_pins" "${oci_wheel_extra[@]}"
  rm -f "$oci_pins"
  touch "$oci_wheel_stamp"
fi
