"""moto's server, plus the Lambda cold-start features moto lacks and aideploy sets.

moto (5.2) answers every function with SnapStart off and has no provisioned concurrency
API. Real Lambda (API reference: CreateFunction, UpdateFunctionConfiguration,
PublishVersion, Put/Get/DeleteProvisionedConcurrencyConfig; the SnapStart guide):

- `SnapStart.ApplyOn` is `PublishedVersions` or `None`. `PublishedVersions` is refused for
  runtimes without SnapStart (Python before 3.12, Node.js, Ruby, OS-only runtimes) and for
  container images. A function reports `OptimizationStatus: Off` on `$LATEST`; a version
  published with it on reports `On` and stays `Pending` while Lambda initialises and
  snapshots it, then `Active`.
- Provisioned concurrency is set on an alias or a published version, never `$LATEST`, and
  never on a SnapStart version. It starts `IN_PROGRESS` with nothing allocated, then is
  `READY`; moving the alias to another version allocates it again. The account's
  concurrency (1000 here) must keep 100 unreserved. Deleting the function deletes it.

A transition completes after POLLS reads. Started by scripts/setup/peers.sh as the test
run's moto: `python3 moto_lambda.py PORT` (exits when its parent process does);
moto_sagemaker.py builds on it.
"""

import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from urllib.parse import unquote, urlparse

from moto.awslambda import models as m
from moto.awslambda import responses as resp
from moto.awslambda import urls
from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError, UnknownFunctionException
from moto.awslambda.utils import make_function_arn

# CloudWatch's percentile statistics (status --metrics), patched in on import.
import moto_cloudwatch  # noqa: F401  (this file's folder is on the path when it runs)
# AWS Budgets' tags, UpdateBudget and subscribers (the budget alert), patched in on import.
import moto_budgets  # noqa: F401
# IAM's Add/RemoveClientIDTo/FromOpenIDConnectProvider (ci init reusing a provider), patched in on import.
import moto_iam  # noqa: F401

POLLS = 2
ACCOUNT_CONCURRENCY = 1000
UNRESERVED_MIN = 100
SNAPSTART_RUNTIMES = ("python3.12", "python3.13", "python3.14", "java11", "java17", "java21", "java25", "dotnet8", "dotnet10")
APPLY_ON = ("PublishedVersions", "None")

# Provisioned concurrency configs by (account, region, function, qualifier).
WARM = {}
LOCK = threading.RLock()


class NotFound(LambdaClientError):
    code = 404

    def __init__(self, error, message):
        super().__init__(error, message)


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _check_snapstart(apply_on, runtime, package_type):
    if apply_on not in APPLY_ON:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{apply_on}' at 'snapStart.applyOn' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [PublishedVersions, None]"
        )
    if apply_on != "PublishedVersions":
        return
    if package_type == "Image":
        raise InvalidParameterValueException("SnapStart is not supported for functions with package type Image.")
    if runtime not in SNAPSTART_RUNTIMES:
        raise InvalidParameterValueException(f"{runtime} is not supported for SnapStart enabled functions.")


# ---------------------------------------------------------------- SnapStart

_init = m.LambdaFunction.__init__


def _function_init(self, account_id, spec, region, version=1):
    apply_on = (spec.get("SnapStart") or {}).get("ApplyOn", "None")
    _check_snapstart(apply_on, spec.get("Runtime"), spec.get("PackageType", "Zip"))
    _init(self, account_id, spec, region, version)
    self.snap_apply_on = apply_on
    self.snap_pending = 0


_get_configuration = m.LambdaFunction.get_configuration


def _get_configuration_patched(self, on_create=False):
    config = _get_configuration(self, on_create)
    apply_on = getattr(self, "snap_apply_on", "None")
    published = str(self.version) != "$LATEST"
    config["SnapStart"] = {
        "ApplyOn": apply_on,
        "OptimizationStatus": "On" if apply_on == "PublishedVersions" and published else "Off",
    }
    with LOCK:
        if getattr(self, "snap_pending", 0) > 0:
            self.snap_pending -= 1
            config["State"] = "Pending"
            config["StateReason"] = "Lambda is initializing your function and creating a snapshot."
            config["StateReasonCode"] = "Creating"
        else:
            config["State"] = "Active"
    return config


_update_configuration = m.LambdaFunction.update_configuration


def _update_configuration_patched(self, config_updates):
    snap = config_updates.get("SnapStart")
    apply_on = (snap or {}).get("ApplyOn", getattr(self, "snap_apply_on", "None"))
    _check_snapstart(apply_on, config_updates.get("Runtime", self.run_time), self.package_type)
    out = _update_configuration(self, config_updates)
    if snap is not None:
        self.snap_apply_on = apply_on
        out["SnapStart"] = {"ApplyOn": apply_on, "OptimizationStatus": "Off"}
    return out


_publish = m.LambdaStorage.publish_version


def _publish_patched(self, name_or_arn, description=""):
    name = name_or_arn.split(":function:")[-1].split(":")[0]
    before = len(self._functions.get(name, {}).get("versions", []))
    fn = _publish(self, name_or_arn, description)
    after = len(self._functions.get(name, {}).get("versions", []))
    if fn is not None and after > before and getattr(fn, "snap_apply_on", "None") == "PublishedVersions":
        fn.snap_pending = POLLS
    return fn


# ---------------------------------------------------------------- provisioned concurrency

_update_alias = m.LambdaStorage.update_alias


def _update_alias_patched(self, name, function_name, function_version, description, routing_config):
    before = self.get_alias(name, function_name).function_version
    alias = _update_alias(self, name, function_name, function_version, description, routing_config)
    if function_version is not None and function_version != before:
        with LOCK:
            w = WARM.get((self.account_id, self.region_name, function_name, name))
            if w is not None:
                w.update(status="IN_PROGRESS", allocated=0, polls=POLLS, modified=_now())
    return alias


_del_function = m.LambdaStorage.del_function


def _del_function_patched(self, name_or_arn, qualifier=None):
    _del_function(self, name_or_arn, qualifier)
    name = name_or_arn.split(":function:")[-1].split(":")[0]
    if qualifier is None and ":" in name_or_arn.split(":function:")[-1]:
        qualifier = name_or_arn.split(":")[-1]
    with LOCK:
        for key in [k for k in WARM if k[:3] == (self.account_id, self.region_name, name)]:
            if qualifier is None or key[3] == qualifier:
                del WARM[key]


def _warm_json(w):
    return {
        "RequestedProvisionedConcurrentExecutions": w["requested"],
        "AvailableProvisionedConcurrentExecutions": w["allocated"],
        "AllocatedProvisionedConcurrentExecutions": w["allocated"],
        "Status": w["status"],
        "LastModified": w["modified"],
    }


def _target(response):
    """(backend storage, function name, qualifier) of a provisioned-concurrency request."""
    path = urlparse(response.path).path
    name = unquote(path.rstrip("/").split("/")[-2])
    name = name.split(":function:")[-1].split(":")[0]
    qualifier = response.querystring.get("Qualifier", [None])[0]
    return response.backend._lambdas, name, qualifier


def put_provisioned_concurrency_config(self):
    storage, name, qualifier = _target(self)
    body = json.loads(self.body or "{}")
    requested = body.get("ProvisionedConcurrentExecutions")
    if not isinstance(requested, int) or requested < 1:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{requested}' at 'provisionedConcurrentExecutions' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )
    if not qualifier:
        raise InvalidParameterValueException("The Qualifier parameter is required.")
    if qualifier == "$LATEST":
        raise InvalidParameterValueException("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
    if name not in storage._functions:
        raise UnknownFunctionException(make_function_arn(self.region, self.current_account, name))
    # The version the qualifier (an alias or a number) stands for.
    fn = storage.get_function_by_name_or_arn_with_qualifier(name, qualifier)
    if getattr(fn, "snap_apply_on", "None") == "PublishedVersions":
        raise InvalidParameterValueException("Provisioned concurrency is not supported for functions with SnapStart enabled.")
    key = (self.current_account, self.region, name, qualifier)
    with LOCK:
        others = sum(w["requested"] for k, w in WARM.items() if k[:2] == key[:2] and k != key)
        if others + requested > ACCOUNT_CONCURRENCY - UNRESERVED_MIN:
            raise InvalidParameterValueException(
                "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                f"below its minimum value of [{UNRESERVED_MIN}]."
            )
        w = {"requested": requested, "allocated": 0, "status": "IN_PROGRESS", "polls": POLLS, "modified": _now()}
        WARM[key] = w
        return 202, {"status": 202}, json.dumps(_warm_json(w))


def get_provisioned_concurrency_config(self):
    storage, name, qualifier = _target(self)
    if name not in storage._functions:
        raise UnknownFunctionException(make_function_arn(self.region, self.current_account, name))
    with LOCK:
        w = WARM.get((self.current_account, self.region, name, qualifier))
        if w is None:
            raise NotFound("ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function")
        if w["status"] == "IN_PROGRESS":
            w["polls"] -= 1
            if w["polls"] <= 0:
                w.update(status="READY", allocated=w["requested"], modified=_now())
        return 200, {"status": 200}, json.dumps(_warm_json(w))


def delete_provisioned_concurrency_config(self):
    storage, name, qualifier = _target(self)
    if name not in storage._functions:
        raise UnknownFunctionException(make_function_arn(self.region, self.current_account, name))
    with LOCK:
        WARM.pop((self.current_account, self.region, name, qualifier), None)
    return 204, {"status": 204}, ""


m.LambdaFunction.__init__ = _function_init
m.LambdaFunction.get_configuration = _get_configuration_patched
m.LambdaFunction.update_configuration = _update_configuration_patched
m.LambdaStorage.publish_version = _publish_patched
m.LambdaStorage.update_alias = _update_alias_patched
m.LambdaStorage.del_function = _del_function_patched
resp.LambdaResponse.put_provisioned_concurrency_config = put_provisioned_concurrency_config
resp.LambdaResponse.get_provisioned_concurrency_config = get_provisioned_concurrency_config
resp.LambdaResponse.delete_provisioned_concurrency_config = delete_provisioned_concurrency_config
urls.url_paths[r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/provisioned-concurrency/?$"] = (
    resp.LambdaResponse.dispatch
)


def _exit_with_parent(parent):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def serve(port):
    """moto's server on loopback `port`, with every patch imported so far, until the
    process that started it ends."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from moto.server import main

    main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    serve(sys.argv[1])
