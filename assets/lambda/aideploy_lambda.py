"""aideploy's AWS Lambda entry point (handler `aideploy_lambda.handler`) for ASGI apps.

It turns an API Gateway HTTP API payload 2.0 event into an ASGI 3 HTTP request, runs
the app named by AIDEPLOY_ASGI ("module.path:attribute", e.g. "app.main:app") and
returns the payload 2.0 response. The same app code runs unchanged on every target.

Why our own adapter rather than Mangum in the deps: the payload 2.0 mapping is small and
documented; owning it keeps the app's dependency set exactly what its requirements say
(no version coupling with the app's Starlette/FastAPI), adds nothing to the zip, and lets
the cold start resolve secrets (aideploy_secrets) before the app is imported.

Cold start (once per execution environment, during Lambda's init phase):
  1. secrets named in AIDEPLOY_SECRET_ARNS are fetched into os.environ;
  2. the app is imported;
  3. the ASGI lifespan startup runs, if the app implements lifespan (FastAPI does).
     Lambda gives a function no reliable shutdown signal, so lifespan shutdown never runs.

Responses are buffered (API Gateway HTTP APIs do not stream a Lambda's response).
"""

import asyncio
import base64
import importlib
import os
import sys
import traceback
import urllib.parse

import aideploy_secrets

ASGI_VAR = "AIDEPLOY_ASGI"

_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "application/x-www-form-urlencoded")

_app = None
_loop = None
_state = {}
_init_error = None


class AdapterError(RuntimeError):
    pass


def _load_app(spec):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AdapterError(f"{ASGI_VAR}={spec!r} is not of the form 'module.path:attribute' (e.g. 'app.main:app')")
    # The app's folder: next to this file in a zip; LAMBDA_TASK_ROOT in an image, where
    # this file lives apart from the app.
    for root in (os.path.dirname(os.path.abspath(__file__)), os.environ.get("LAMBDA_TASK_ROOT")):
        if root and root not in sys.path:
            sys.path.insert(0, root)
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AdapterError(f"{ASGI_VAR}={spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


async def _lifespan_startup(app, state):
    """Runs lifespan startup; leaves the lifespan task waiting (forever) for shutdown."""
    started = asyncio.get_running_loop().create_future()
    inbox = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def receive():
        return await inbox.get()

    async def send(message):
        kind = message["type"]
        if kind == "lifespan.startup.complete" and not started.done():
            started.set_result(None)
        elif kind == "lifespan.startup.failed" and not started.done():
            started.set_exception(AdapterError(f"the app's lifespan startup failed: {message.get('message', '')}"))

    async def run():
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.3"}, "state": state}
        try:
            await app(scope, receive, send)
        except BaseException as e:  # an app without lifespan support raises here: allowed
            if not started.done():
                started.set_result(e)
            return
        if not started.done():  # returned without a word: no lifespan support
            started.set_result(None)

    task = asyncio.get_running_loop().create_task(run())
    outcome = await started
    if isinstance(outcome, BaseException):
        # The ASGI spec: an app that raises on the lifespan scope does not support it.
        print(f"aideploy: the app does not support ASGI lifespan ({outcome!r}); continuing without it", file=sys.stderr)
    return task


def init():
    """The cold start: secrets, then the app, then its lifespan startup. Idempotent."""
    global _app, _loop, _init_error
    if _app is not None:
        return _app
    if _init_error is not None:
        raise _init_error
    try:
        aideploy_secrets.load_secrets()
        spec = os.environ.get(ASGI_VAR, "").strip()
        if not spec:
            raise AdapterError(f"{ASGI_VAR} is not set: it names the ASGI app, e.g. 'app.main:app' (aideploy sets it on deploy)")
        app = _load_app(spec)
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
        _loop.run_until_complete(_lifespan_startup(app, _state))
        _app = app
    except Exception as e:
        _init_error = e
        raise
    return _app


def _scope(event, context):
    ctx = event.get("requestContext") or {}
    http = ctx.get("http") or {}
    if event.get("version") != "2.0" or not http.get("method"):
        raise AdapterError(
            "aideploy_lambda.handler expects an API Gateway HTTP API payload 2.0 event "
            "(version '2.0' with requestContext.http.method)"
        )
    raw_path = event.get("rawPath") or http.get("path") or "/"
    stage = ctx.get("stage")
    if stage and stage != "$default" and (raw_path == f"/{stage}" or raw_path.startswith(f"/{stage}/")):
        raw_path = raw_path[len(stage) + 1:] or "/"
    headers = []
    for name, value in (event.get("headers") or {}).items():
        headers.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    cookies = event.get("cookies") or []
    if cookies:
        headers = [h for h in headers if h[0] != b"cookie"]
        headers.append((b"cookie", "; ".join(cookies).encode("latin-1")))
    host = (event.get("headers") or {}).get("host") or ctx.get("domainName") or "localhost"
    try:
        port = int((event.get("headers") or {}).get("x-forwarded-port") or 443)
    except ValueError:
        port = 443
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": http["method"].upper(),
        "scheme": (event.get("headers") or {}).get("x-forwarded-proto") or "https",
        "path": urllib.parse.unquote(raw_path),
        "raw_path": raw_path.encode("latin-1", "replace"),
        "root_path": "",
        "query_string": (event.get("rawQueryString") or "").encode("latin-1", "replace"),
        "headers": headers,
        "client": (http.get("sourceIp") or "0.0.0.0", 0),
        "server": (host.split(":")[0], port),
        "state": dict(_state),
        "aws.event": event,
        "aws.context": context,
    }


async def _run_http(app, scope, body):
    status = None
    out_headers = []
    chunks = []
    done = asyncio.Event()
    sent_body = False

    async def receive():
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # the client "disconnects" only once the response is complete
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status, out_headers
        kind = message["type"]
        if kind == "http.response.start":
            status = message["status"]
            out_headers = list(message.get("headers") or [])
        elif kind == "http.response.body":
            chunks.append(bytes(message.get("body") or b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    if status is None:
        raise AdapterError("the app returned without starting a response")
    return status, out_headers, b"".join(chunks)


def _response(status, raw_headers, body):
    headers = {}
    cookies = []
    for name, value in raw_headers:
        name = name.decode("latin-1").lower()
        value = value.decode("latin-1")
        if name == "set-cookie":
            cookies.append(value)
        elif name in headers:
            headers[name] = f"{headers[name]}, {value}"
        else:
            headers[name] = value
    content_type = headers.get("content-type", "")
    textual = (content_type.startswith(_TEXT_TYPES) or content_type.endswith(("+json", "+xml"))) and not headers.get("content-encoding")
    result = {"statusCode": status, "headers": headers}
    if cookies:
        result["cookies"] = cookies
    if textual or not body:
        try:
            result["body"] = body.decode("utf-8")
            result["isBase64Encoded"] = False
            return result
        except UnicodeDecodeError:
            pass
    result["body"] = base64.b64encode(body).decode("ascii")
    result["isBase64Encoded"] = True
    return result


def handler(event, context):
    app = init()
    scope = _scope(event, context)
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    try:
        status, headers, payload = _loop.run_until_complete(_run_http(app, scope, body))
    except Exception:
        traceback.print_exc()  # to CloudWatch Logs
        return {
            "statusCode": 500,
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "body": "Internal Server Error",
            "isBase64Encoded": False,
        }
    return _response(status, headers, payload)


if os.environ.get(ASGI_VAR):
    # Lambda imports the handler's module during its init phase: do the cold start there.
    init()
