"""aideploy's AWS Lambda entry point (handler `aideploy_lambda.handler`).

It turns an API Gateway HTTP API payload 2.0 event into a request for the app and
returns the payload 2.0 response. The same app code runs unchanged on every target.
The app is one of:
  - AIDEPLOY_ASGI="module.path:attribute": an ASGI 3 app run in this process; a WSGI
    app named there (Flask, Django) is recognised and bridged as below;
  - AIDEPLOY_WSGI="module.path:attribute": a WSGI (PEP 3333) app run in this process;
  - AIDEPLOY_COMMAND="a shell command": a server the command starts, listening on
    $PORT (8080 unless set), to which each event is sent as an HTTP request over
    loopback, as a web adapter does (container images).

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
import atexit
import base64
import http.client
import importlib
import inspect
import io
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.parse

import aideploy_secrets

ASGI_VAR = "AIDEPLOY_ASGI"
WSGI_VAR = "AIDEPLOY_WSGI"
COMMAND_VAR = "AIDEPLOY_COMMAND"
# How long the cold start waits for a command's server to listen.
COMMAND_START_SECONDS = float(os.environ.get("AIDEPLOY_COMMAND_START_SECONDS", "60"))

_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "application/x-www-form-urlencoded")

_app = None
_kind = None  # "asgi", "wsgi" or "proxy"
_loop = None
_lifespan = None  # (task, inbox) of the app's lifespan, waiting for shutdown
_state = {}
_init_error = None
_server = None  # the command's process, in proxy mode


class AdapterError(RuntimeError):
    pass


def _load_app(spec, var=ASGI_VAR):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AdapterError(f"{var}={spec!r} is not of the form 'module.path:attribute' (e.g. 'app.main:app')")
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
            raise AdapterError(f"{var}={spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _is_asgi(app):
    """An ASGI app is a coroutine function (or an object whose __call__ is one) of
    (scope, receive, send); a WSGI app is a plain callable of (environ, start_response)."""
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", None)
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call):
        return True
    try:
        params = [p for p in inspect.signature(app).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return True
    # Two positional parameters (environ, start_response): WSGI. Three: ASGI 3 (some
    # ASGI apps are plain functions returning awaitables).
    return len(params) != 2


async def _lifespan_startup(app, state):
    """Runs lifespan startup; returns the lifespan task, left waiting for shutdown, and its inbox."""
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
    return task, inbox


# How long the app's lifespan shutdown may take when the interpreter exits.
SHUTDOWN_SECONDS = 5.0


def _close_loop():
    """At interpreter exit: the app's lifespan shutdown (when it is still waiting for one),
    then every task left on the loop cancelled and the loop closed, so no task is destroyed
    while pending. Lambda may freeze the process instead of exiting it: then nothing runs."""
    global _loop, _lifespan
    loop, _loop = _loop, None
    if loop is None or loop.is_closed():
        return
    try:
        if _lifespan is not None:
            task, inbox = _lifespan
            _lifespan = None
            if not task.done():
                inbox.put_nowait({"type": "lifespan.shutdown"})
                try:
                    loop.run_until_complete(asyncio.wait_for(task, SHUTDOWN_SECONDS))
                except BaseException:
                    pass
        left = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in left:
            t.cancel()
        if left:
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


atexit.register(_close_loop)


def init():
    """The cold start: secrets, then the app, then its lifespan startup. Idempotent."""
    global _app, _loop, _init_error, _lifespan
    if _app is not None:
        return _app
    if _init_error is not None:
        raise _init_error
    global _kind
    try:
        aideploy_secrets.load_secrets()
        command = os.environ.get(COMMAND_VAR, "").strip()
        wsgi = os.environ.get(WSGI_VAR, "").strip()
        spec = os.environ.get(ASGI_VAR, "").strip()
        if command:
            _app = _start_command(command)
            _kind = "proxy"
            return _app
        if wsgi:
            _app = _load_app(wsgi, WSGI_VAR)
            _kind = "wsgi"
            return _app
        if not spec:
            raise AdapterError(
                f"none of {ASGI_VAR}, {WSGI_VAR}, {COMMAND_VAR} is set: one names the app, e.g. {ASGI_VAR}='app.main:app' (aideploy sets it on deploy)"
            )
        app = _load_app(spec)
        if not _is_asgi(app):
            # A WSGI app (Flask, Django) named as `asgi`: bridged, not failed.
            _app = app
            _kind = "wsgi"
            return _app
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
        _lifespan = _loop.run_until_complete(_lifespan_startup(app, _state))
        _app = app
        _kind = "asgi"
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


def _start_command(command):
    """Starts the server `command` runs (listening on $PORT) and waits until it listens."""
    global _server
    port = int(os.environ.get("PORT") or 8080)
    env = dict(os.environ, PORT=str(port))
    root = os.environ.get("LAMBDA_TASK_ROOT") or os.path.dirname(os.path.abspath(__file__))
    _server = subprocess.Popen(["/bin/sh", "-c", command], cwd=root, env=env)
    deadline = time.monotonic() + COMMAND_START_SECONDS
    while True:
        code = _server.poll()
        if code is not None:
            raise AdapterError(f"the app's command exited with status {code} before it listened on port {port}: {command}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return port
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AdapterError(f"the app's command did not listen on port {port} within {COMMAND_START_SECONDS:.0f}s: {command}")
        time.sleep(0.05)


_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade"}


def _proxy(port, scope, body):
    """Sends the request to the command's server over loopback; buffers its answer."""
    path = scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        path += "?" + scope["query_string"].decode("latin-1")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.putrequest(scope["method"], path, skip_host=True, skip_accept_encoding=True)
        if not any(name == b"host" for name, _ in scope["headers"]):
            conn.putheader("Host", f"127.0.0.1:{port}")
        for name, value in scope["headers"]:
            if name.decode("latin-1") not in _HOP_BY_HOP and name != b"content-length":
                conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        payload = resp.read()
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"]
        return resp.status, headers, payload
    finally:
        conn.close()


def _wsgi_environ(scope, body):
    """PEP 3333's environ for one request."""
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        # PEP 3333: the path as bytes decoded as latin-1.
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": scope["server"][0],
        "SERVER_PORT": str(scope["server"][1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": scope["client"][0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope["scheme"],
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        value = value.decode("latin-1")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key == "CONTENT_LENGTH":
            continue
        else:
            key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["aws.event"] = scope["aws.event"]
    environ["aws.context"] = scope["aws.context"]
    return environ


def _run_wsgi(app, scope, body):
    started = {}
    written = []

    def start_response(status, headers, exc_info=None):
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started["status"] = int(status.split(" ", 1)[0])
        started["headers"] = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers]
        return written.append

    result = app(_wsgi_environ(scope, body), start_response)
    try:
        chunks = written + [bytes(c) for c in result]
    finally:
        if hasattr(result, "close"):
            result.close()
    if "status" not in started:
        raise AdapterError("the WSGI app returned without calling start_response")
    return started["status"], started["headers"], b"".join(chunks)


def handler(event, context):
    app = init()
    scope = _scope(event, context)
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    try:
        if _kind == "proxy":
            status, headers, payload = _proxy(app, scope, body)
        elif _kind == "wsgi":
            status, headers, payload = _run_wsgi(app, scope, body)
        else:
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


if os.environ.get(ASGI_VAR) or os.environ.get(WSGI_VAR) or os.environ.get(COMMAND_VAR):
    # Lambda imports the handler's module during its init phase: do the cold start there.
    init()
