"""Handler for the Hugging Face inference toolkit (SageMaker's Hugging Face container).

The toolkit calls model_fn once with the unpacked model directory, then for every
request input_fn -> predict_fn -> output_fn. Standard library only, so the archive needs
no code/requirements.txt.
"""

import json
import math
import os
import re

WORD = re.compile(r"[a-z']+")


def _load_secrets():
    """Secrets reach the container as Secrets Manager ARNs (AIDEPLOY_SECRET_ARNS, set by
    aideploy), never as values; read them with the endpoint's role."""
    arns = json.loads(os.environ.get("AIDEPLOY_SECRET_ARNS") or "{}")
    if not arns:
        return
    import boto3  # present in the SageMaker containers

    client = boto3.client("secretsmanager")
    for name, arn in arns.items():
        os.environ.setdefault(name, client.get_secret_value(SecretId=arn)["SecretString"])


def model_fn(model_dir, context=None):
    _load_secrets()
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(model_dir, config["weights"])) as f:
        weights = json.load(f)
    return {"labels": config["labels"], "bias": weights["bias"], "words": weights["words"]}


def input_fn(input_data, content_type, context=None):
    if isinstance(input_data, (bytes, bytearray)):
        input_data = input_data.decode("utf-8")
    if content_type and content_type.startswith("text/plain"):
        return [input_data]
    body = json.loads(input_data)
    inputs = body.get("inputs", body) if isinstance(body, dict) else body
    return [inputs] if isinstance(inputs, str) else list(inputs)


def predict_fn(data, model, context=None):
    out = []
    for text in data:
        score = model["bias"] + sum(model["words"].get(w, 0.0) for w in WORD.findall(text.lower()))
        p = 1.0 / (1.0 + math.exp(-score))
        label = model["labels"][1] if p >= 0.5 else model["labels"][0]
        out.append({"label": label, "score": round(max(p, 1.0 - p), 4)})
    return out


def output_fn(prediction, accept, context=None):
    return json.dumps(prediction)
