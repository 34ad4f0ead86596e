"""aideploy's secrets shim for AWS Lambda, run once per cold start.

AIDEPLOY_SECRET_ARNS holds a JSON object mapping an environment variable name to the
ARN of an AWS Secrets Manager secret: {"OPENAI_API_KEY": "arn:aws:secretsmanager:..."}.
Each value is fetched with GetSecretValue and set in os.environ before the app is
imported, so the function configuration holds ARNs only, never a secret value.

boto3 ships with the Lambda Python runtime and is imported only when there is a secret
to fetch. It honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_SECRETS_MANAGER) by itself.
"""

import base64
import json
import os

ARNS_VAR = "AIDEPLOY_SECRET_ARNS"


class SecretsError(RuntimeError):
    pass


def load_secrets(environ=os.environ):
    """Fetches every secret named in AIDEPLOY_SECRET_ARNS into `environ`; returns the names."""
    raw = environ.get(ARNS_VAR, "").strip()
    if not raw:
        return []
    try:
        arns = json.loads(raw)
    except ValueError as e:
        raise SecretsError(f"{ARNS_VAR} is not valid JSON ({e}); redeploy with aideploy to rewrite it") from None
    if not isinstance(arns, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in arns.items()):
        raise SecretsError(f"{ARNS_VAR} must be a JSON object of NAME -> secret ARN; redeploy with aideploy to rewrite it")
    if not arns:
        return []
    import boto3  # in the Lambda runtime; imported only when needed

    client = boto3.client("secretsmanager")
    names = []
    for name, arn in sorted(arns.items()):
        try:
            resp = client.get_secret_value(SecretId=arn)
        except Exception as e:  # botocore's errors carry the service's reason
            raise SecretsError(
                f"cannot read secret {name} ({arn}) from AWS Secrets Manager: {e}; "
                "check that it exists and that the function's role may call "
                "secretsmanager:GetSecretValue on it"
            ) from None
        value = resp.get("SecretString")
        if value is None:
            blob = resp.get("SecretBinary") or b""
            if isinstance(blob, str):
                blob = base64.b64decode(blob)
            value = blob.decode("utf-8")
        environ[name] = value
        names.append(name)
    return names
