#!/usr/bin/env bash
# The Lambda deploy benchmark (docs/benchmarks.md, "Lambda deploy"): a small ASGI app
# (the adapter + uvicorn, one secret) deployed to moto's server on loopback, three
# scenarios per round, interleaved round by round with a script that makes the same
# calls with the `aws` CLI:
#   - first deploy (nothing exists), unchanged redeploy, one file of code changed.
# For aideploy it also counts the API calls it made (its -vv call log: reads, writes).
# Usage: scripts/bench/lambda_deploy.sh [RUNS]   (default 5; medians are reported)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
runs="${1:-5}"

export AIDEPLOY_TEST_HOME="${AIDEPLOY_TEST_HOME:-$root/target/test-env}"
mkdir -p "$AIDEPLOY_TEST_HOME"
# shellcheck source=../setup/tools.sh
source scripts/setup/tools.sh
# shellcheck source=../setup/wheelhouse.sh
source scripts/setup/wheelhouse.sh
# shellcheck source=../setup/peers.sh
source scripts/setup/peers.sh
trap stop_peers EXIT

# The binary the tests build: a `cargo build` resolves other features (no dev-deps) and
# would rebuild every dependency.
cargo test --locked --no-run >/dev/null 2>&1 || cargo test --locked --no-run
bin="$root/target/debug/aideploy"
command -v aws >/dev/null || { echo "the aws CLI is not installed (pip install awscli, or apt install awscli)" >&2; exit 1; }

export AWS_ENDPOINT_URL="$AIDEPLOY_TEST_MOTO" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" CI=1 NO_COLOR=1
export API_KEY="sk-bench-secret-value"
export UV_OFFLINE=1 UV_FIND_LINKS="$AIDEPLOY_TEST_WHEELHOUSE" UV_CACHE_DIR="$AIDEPLOY_TEST_HOME/bench-uv-cache"
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$AIDEPLOY_TEST_WHEELHOUSE"
export AIDEPLOY_CACHE_DIR="$AIDEPLOY_TEST_HOME/bench-lambda-cache"

work="$AIDEPLOY_TEST_HOME/bench-lambda"
rm -rf "$work"
mkdir -p "$work"
results="$work/results.tsv"
: >"$results"

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

new_app() { # new_app DIR NAME
  mkdir -p "$1"
  cat >"$1/aideploy.toml" <<EOF
version = 1

[app]
name = "$2"
runtime = "python3.11"
asgi = "main:app"
health = "/health"

[env]
GREETING = "hello"

[secrets]
API_KEY = {}

[targets.lambda]
region = "us-east-1"
memory = 256
timeout = 20
rate_limit = { rps = 10, burst = 20 }
EOF
  printf 'async def app(scope, receive, send):\n    await send({"type": "http.response.start", "status": 200, "headers": []})\n    await send({"type": "http.response.body", "body": b"ok"})\n' >"$1/main.py"
}

ours() { # ours SCENARIO DIR: one timed deploy, its calls counted
  local t0 t1 log="$work/ours-$1.log"
  t0=$(now)
  (cd "$2" && "$bin" deploy --target lambda --yes -vv >/dev/null 2>"$log")
  t1=$(now)
  printf 'aideploy\t%s\t%s\t%s\t%s\n' "$1" "$(elapsed "$t0" "$t1")" "$(grep -c '(read)' "$log" || true)" "$(grep -c '(write)' "$log" || true)" >>"$results"
}

# The same work with the aws CLI, one process per call, as a deploy script would.
reads() { # reads APP: what a converging deploy reads first (the calls aideploy makes)
  local fn="$1-dev"
  aws lambda get-function --function-name "$fn" >/dev/null
  aws lambda list-versions-by-function --function-name "$fn" >/dev/null
  aws lambda get-alias --function-name "$fn" --name live >/dev/null
  aws iam get-role --role-name "aideploy-$fn" >/dev/null
  aws iam get-role-policy --role-name "aideploy-$fn" --policy-name aideploy >/dev/null
  api=$(aws apigatewayv2 get-apis --query "Items[?Name=='$fn'].ApiId | [0]" --output text)
  aws apigatewayv2 get-integrations --api-id "$api" >/dev/null
  aws apigatewayv2 get-routes --api-id "$api" >/dev/null
  aws apigatewayv2 get-stage --api-id "$api" --stage-name '$default' >/dev/null
  aws lambda get-policy --function-name "$fn" --qualifier live >/dev/null
  aws secretsmanager list-secrets --filters "Key=name,Values=aideploy/$1/dev/" >/dev/null
  aws secretsmanager get-secret-value --secret-id "aideploy/$1/dev/API_KEY" >/dev/null
}

cli_first() { # cli_first APP ZIP
  local fn="$1-dev" role arn fnarn api integ tags="Key=aideploy:app,Value=$1 Key=aideploy:stage,Value=dev Key=aideploy:target,Value=lambda"
  local secret
  secret=$(aws secretsmanager create-secret --name "aideploy/$1/dev/API_KEY" --secret-string "$API_KEY" --tags $tags --query ARN --output text)
  arn=$(aws iam create-role --role-name "aideploy-$fn" --tags $tags --query Role.Arn --output text \
    --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}')
  aws iam put-role-policy --role-name "aideploy-$fn" --policy-name aideploy --policy-document \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"logs:CreateLogGroup\",\"logs:CreateLogStream\",\"logs:PutLogEvents\"],\"Resource\":[\"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/$fn:*\"]},{\"Effect\":\"Allow\",\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":[\"$secret\"]}]}"
  fnarn=$(aws lambda create-function --function-name "$fn" --runtime python3.11 --handler aideploy_lambda.handler \
    --role "$arn" --zip-file "fileb://$2" --memory-size 256 --timeout 20 \
    --environment "{\"Variables\":{\"GREETING\":\"hello\",\"AIDEPLOY_ASGI\":\"main:app\",\"AIDEPLOY_SECRET_ARNS\":\"{\\\"API_KEY\\\":\\\"$secret\\\"}\"}}" \
    --tags "aideploy:app=$1,aideploy:stage=dev,aideploy:target=lambda" --query FunctionArn --output text)
  aws lambda get-function-configuration --function-name "$fn" >/dev/null  # wait: LastUpdateStatus
  aws lambda publish-version --function-name "$fn" >/dev/null
  aws lambda create-alias --function-name "$fn" --name live --function-version 1 >/dev/null
  api=$(aws apigatewayv2 create-api --name "$fn" --protocol-type HTTP --tags "aideploy:app=$1" --query ApiId --output text)
  integ=$(aws apigatewayv2 create-integration --api-id "$api" --integration-type AWS_PROXY \
    --integration-uri "$fnarn:live" --payload-format-version 2.0 --query IntegrationId --output text)
  aws apigatewayv2 create-route --api-id "$api" --route-key '$default' --target "integrations/$integ" >/dev/null
  aws apigatewayv2 create-stage --api-id "$api" --stage-name '$default' --auto-deploy \
    --default-route-settings ThrottlingRateLimit=10,ThrottlingBurstLimit=20 >/dev/null
  aws lambda add-permission --function-name "$fn" --qualifier live --statement-id aideploy-http-api \
    --action lambda:InvokeFunction --principal apigateway.amazonaws.com \
    --source-arn "arn:aws:execute-api:us-east-1:123456789012:$api/*/*" >/dev/null
}

cli_change() { # cli_change APP ZIP
  local fn="$1-dev" v
  reads "$1"
  aws lambda update-function-code --function-name "$fn" --zip-file "fileb://$2" >/dev/null
  aws lambda get-function-configuration --function-name "$fn" >/dev/null
  aws lambda tag-resource --resource "$(aws lambda get-function --function-name "$fn" --query Configuration.FunctionArn --output text)" --tags "aideploy:digest=x" >/dev/null
  v=$(aws lambda publish-version --function-name "$fn" --query Version --output text)
  aws lambda update-alias --function-name "$fn" --name live --function-version "$v" >/dev/null
}

cli() { # cli SCENARIO APP ZIP CALLS
  local t0 t1
  t0=$(now)
  case "$1" in
    first) cli_first "$2" "$3" ;;
    unchanged) reads "$2" ;;
    changed) cli_change "$2" "$3" ;;
  esac
  t1=$(now)
  printf 'aws-cli\t%s\t%s\t%s\t%s\n' "$1" "$(elapsed "$t0" "$t1")" "$4" "" >>"$results"
}

# The same calls again from one Python process with boto3 (no process per call).
cat >"$work/boto_deploy.py" <<'PY'
import json, sys, boto3
scenario, app, zip_path = sys.argv[1], sys.argv[2], sys.argv[3]
fn, role = f"{app}-dev", f"aideploy-{app}-dev"
lam, gw, iam, sm = (boto3.client(s) for s in ("lambda", "apigatewayv2", "iam", "secretsmanager"))
def reads():
    lam.get_function(FunctionName=fn); lam.list_versions_by_function(FunctionName=fn)
    lam.get_alias(FunctionName=fn, Name="live"); iam.get_role(RoleName=role)
    iam.get_role_policy(RoleName=role, PolicyName="aideploy")
    api = [a for a in gw.get_apis()["Items"] if a["Name"] == fn][0]["ApiId"]
    gw.get_integrations(ApiId=api); gw.get_routes(ApiId=api); gw.get_stage(ApiId=api, StageName="$default")
    lam.get_policy(FunctionName=fn, Qualifier="live")
    sm.list_secrets(Filters=[{"Key": "name", "Values": [f"aideploy/{app}/dev/"]}])
    sm.get_secret_value(SecretId=f"aideploy/{app}/dev/API_KEY")
code = open(zip_path, "rb").read() if zip_path else b""
if scenario == "first":
    tags = {"aideploy:app": app, "aideploy:stage": "dev", "aideploy:target": "lambda"}
    secret = sm.create_secret(Name=f"aideploy/{app}/dev/API_KEY", SecretString="sk-bench", Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["ARN"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust), Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="aideploy", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": [secret]}]}))
    f = lam.create_function(FunctionName=fn, Runtime="python3.11", Handler="aideploy_lambda.handler", Role=arn, Code={"ZipFile": code}, MemorySize=256, Timeout=20,
        Environment={"Variables": {"GREETING": "hello", "AIDEPLOY_ASGI": "main:app", "AIDEPLOY_SECRET_ARNS": json.dumps({"API_KEY": secret})}}, Tags=tags)
    lam.get_function_configuration(FunctionName=fn)
    v = lam.publish_version(FunctionName=fn)["Version"]
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion=v)
    api = gw.create_api(Name=fn, ProtocolType="HTTP", Tags=tags)["ApiId"]
    i = gw.create_integration(ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=f["FunctionArn"] + ":live", PayloadFormatVersion="2.0")["IntegrationId"]
    gw.create_route(ApiId=api, RouteKey="$default", Target=f"integrations/{i}")
    gw.create_stage(ApiId=api, StageName="$default", AutoDeploy=True, DefaultRouteSettings={"ThrottlingRateLimit": 10.0, "ThrottlingBurstLimit": 20}, Tags=tags)
    lam.add_permission(FunctionName=fn, Qualifier="live", StatementId="aideploy-http-api", Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api}/*/*")
elif scenario == "unchanged":
    reads()
else:
    reads()
    f = lam.update_function_code(FunctionName=fn, ZipFile=code)
    lam.get_function_configuration(FunctionName=fn)
    lam.tag_resource(Resource=f["FunctionArn"], Tags={"aideploy:digest": "x"})
    v = lam.publish_version(FunctionName=fn)["Version"]
    lam.update_alias(FunctionName=fn, Name="live", FunctionVersion=v)
PY

boto() { # boto SCENARIO APP ZIP CALLS
  local t0 t1
  t0=$(now)
  python3 "$work/boto_deploy.py" "$1" "$2" "$3"
  t1=$(now)
  printf 'boto3\t%s\t%s\t%s\t%s\n' "$1" "$(elapsed "$t0" "$t1")" "$4" "" >>"$results"
}

newest_zip() { find "$AIDEPLOY_CACHE_DIR" -name '*.zip' -path '*zip*' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2; }

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for i in $(seq 1 "$runs"); do
  echo "==> round $i/$runs" >&2
  a="$work/ours-$i"; new_app "$a" "bench-ours-$i"
  ours first "$a"
  ours unchanged "$a"
  echo "# changed" >>"$a/main.py"
  ours changed "$a"
  zip1=$(newest_zip)
  (cd "$a" && "$bin" destroy --target lambda --yes -q >/dev/null 2>&1)

  c="bench-cli-$i"
  cli first "$c" "$zip1" 12
  cli unchanged "$c" "" 12
  cli changed "$c" "$zip1" 18

  b="bench-boto-$i"
  boto first "$b" "$zip1" 12
  boto unchanged "$b" "" 12
  boto changed "$b" "$zip1" 17
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| contender | scenario | median s | min s | API calls (reads + writes) |")
print("| --- | --- | ---: | ---: | --- |")
for who in ("aideploy", "aws-cli", "boto3"):
    for sc in ("first", "unchanged", "changed"):
        rs = [r for r in rows if r[0] == who and r[1] == sc]
        if not rs:
            continue
        t = [float(r[2]) for r in rs]
        calls = {"aideploy": f"{rs[0][3]} + {rs[0][4]}", "aws-cli": f"{rs[0][3]} (one process each)", "boto3": f"{rs[0][3]} (one process)"}[who]
        print(f"| {who} | {sc} | {statistics.median(t):.3f} | {min(t):.3f} | {calls} |")
EOF
