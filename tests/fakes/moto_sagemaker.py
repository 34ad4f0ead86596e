"""moto's server, plus the parts of SageMaker that moto lacks and aideploy depends on.

moto (5.2) has no UpdateEndpoint, and its endpoints are InService the moment they are
created. Real SageMaker (API reference: CreateEndpoint, UpdateEndpoint, DescribeEndpoint):

- CreateEndpoint leaves the endpoint `Creating` for minutes, then `InService`, or
  `Failed` with a FailureReason when the container does not pass its /ping check;
- UpdateEndpoint takes only an `InService` endpoint and an existing endpoint config, sets
  `Updating`, then `InService` on the new config; when the update fails, the endpoint is
  `InService` on the previous config, with FailureReason set;
- names that do not exist are ValidationExceptions ("Could not find ...").

This module adds that to moto's own SageMaker backend: a transition completes after
POLLS DescribeEndpoint calls. A model whose container image contains "unhealthy" stands
for a container that never answers /ping (the way to make a deployment fail).

Usage: python3 moto_sagemaker.py PORT   (exits when its parent process does)
"""

import sys

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker import models as m
from moto.sagemaker import responses as resp
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.utils import arn_formatter

POLLS = 2
FAIL_MARK = "unhealthy"
PING_FAILED = (
    "The primary container for production variant AllTraffic did not pass the ping health check. "
    "Please check CloudWatch logs for this endpoint."
)
# Transitions under way, by endpoint ARN: {"polls", "kind", "config"}.
PENDING = {}

Backend = m.SageMakerModelBackend


def _image_of(backend, config_name):
    cfg = backend.endpoint_configs.get(config_name)
    if cfg is None or not cfg.production_variants:
        return ""
    model = backend._models.get(cfg.production_variants[0].get("ModelName"))
    return ((model.primary_container or {}).get("Image") or "") if model else ""


def _advance(backend, ep):
    p = PENDING.get(ep.arn)
    if not p:
        return
    p["polls"] -= 1
    if p["polls"] > 0:
        return
    del PENDING[ep.arn]
    fails = FAIL_MARK in _image_of(backend, p["config"])
    if p["kind"] == "create":
        ep.endpoint_status = "Failed" if fails else "InService"
        ep.failure_reason = PING_FAILED if fails else None
    else:
        ep.endpoint_status = "InService"
        if fails:
            ep.failure_reason = PING_FAILED
        else:
            ep.failure_reason = None
            ep.endpoint_config_name = p["config"]
            ep.production_variants = ep._process_production_variants(backend.endpoint_configs[p["config"]].production_variants)
    ep.last_modified_time = utcnow()


_create = Backend.create_endpoint


def create_endpoint(self, endpoint_name, endpoint_config_name, tags):
    if endpoint_name in self.endpoints:
        arn = arn_formatter("endpoint", endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
    ep = _create(self, endpoint_name, endpoint_config_name, tags)
    ep.endpoint_status = "Creating"
    PENDING[ep.arn] = {"polls": POLLS, "kind": "create", "config": endpoint_config_name}
    return ep


_describe = Backend.describe_endpoint


def describe_endpoint(self, endpoint_name):
    ep = self.endpoints.get(endpoint_name)
    if ep is not None:
        _advance(self, ep)
    return _describe(self, endpoint_name)


_delete = Backend.delete_endpoint


def delete_endpoint(self, endpoint_name):
    ep = self.endpoints.get(endpoint_name)
    if ep is not None:
        PENDING.pop(ep.arn, None)
    return _delete(self, endpoint_name)


def update_endpoint(self, endpoint_name, endpoint_config_name):
    ep = self.endpoints.get(endpoint_name)
    if ep is None:
        arn = arn_formatter("endpoint", endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    if endpoint_config_name not in self.endpoint_configs:
        arn = arn_formatter("endpoint-config", endpoint_config_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    if ep.endpoint_status != "InService":
        raise ValidationError(message=f"Cannot update in-progress endpoint '{ep.arn}'.")
    ep.endpoint_status = "Updating"
    ep.last_modified_time = utcnow()
    PENDING[ep.arn] = {"polls": POLLS, "kind": "update", "config": endpoint_config_name}
    return ep


def update_endpoint_action(self):
    ep = self.sagemaker_backend.update_endpoint(self._get_param("EndpointName"), self._get_param("EndpointConfigName"))
    return ActionResult({"EndpointArn": ep.arn})


Backend.create_endpoint = create_endpoint
Backend.describe_endpoint = describe_endpoint
Backend.delete_endpoint = delete_endpoint
Backend.update_endpoint = update_endpoint
resp.SageMakerResponse.update_endpoint = update_endpoint_action


if __name__ == "__main__":
    # The Lambda additions too (this file's folder is on the path when it runs).
    import moto_lambda

    moto_lambda.serve(sys.argv[1])
