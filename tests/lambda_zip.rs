//! The Lambda zip against real peers: uv/pip installing wheels for linux x86_64 /
//! CPython 3.11 from the test wheelhouse (offline), a real Python running the unpacked
//! zip's handler with API Gateway HTTP API payload 2.0 events, and moto's server as
//! Secrets Manager. Run with `scripts/test lambda_zip`, which prepares all of these.

//! The tests sit in a `lambda_zip` module so that `scripts/test lambda_zip` selects them.

mod lambda_zip {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Mutex, MutexGuard};
    use std::time::{Duration, Instant, SystemTime};

    use aideploy::artifact::pydeps::{install_for_target, Arch, TargetPlatform};
    use aideploy::artifact::python::{self, Requirements};
    use aideploy::artifact::source;
    use aideploy::artifact::zip::{build_lambda_zip, build_lambda_zip_with, http_event, lambda_zip_for, LambdaZip, Limits};
    use aideploy::error::Hinted;
    use aideploy::manifest;
    use serde_json::{json, Value};

    use aideploy::engine::Silent as Quiet;

    /// These tests change process-wide environment variables (cache dir, PATH): one at a time.
    static ENV: Mutex<()> = Mutex::new(());

    struct Setup {
        _guard: MutexGuard<'static, ()>,
        wheelhouse: PathBuf,
        runtime_python: PathBuf,
        path: std::ffi::OsString,
    }

    /// Points uv and pip at the wheelhouse only (no index: no test reaches the internet) and
    /// gives this test its own aideploy cache.
    fn setup(cache: &Path) -> Setup {
        let guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let Some(wheelhouse) = std::env::var_os("AIDEPLOY_TEST_WHEELHOUSE").map(PathBuf::from) else {
            panic!("AIDEPLOY_TEST_WHEELHOUSE is not set: run these tests with `scripts/test lambda_zip`, which downloads the wheels they install offline");
        };
        let Some(runtime_python) = std::env::var_os("AIDEPLOY_TEST_LAMBDA_PYTHON").map(PathBuf::from) else {
            panic!("AIDEPLOY_TEST_LAMBDA_PYTHON is not set: run these tests with `scripts/test lambda_zip`");
        };
        assert!(python::which("uv").is_some(), "uv is not on PATH: run these tests with `scripts/test lambda_zip`");
        // uv has no "no index" variable; offline mode with a cache of its own that only
        // ever saw the wheelhouse is the same thing.
        std::env::set_var("UV_OFFLINE", "1");
        std::env::set_var("UV_FIND_LINKS", &wheelhouse);
        std::env::set_var("UV_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("uv-cache-offline"));
        std::env::set_var("PIP_NO_INDEX", "1");
        std::env::set_var("PIP_FIND_LINKS", &wheelhouse);
        std::env::set_var("AIDEPLOY_CACHE_DIR", cache);
        std::env::remove_var("AIDEPLOY_PYTHON");
        let path = std::env::var_os("PATH").unwrap_or_default();
        Setup { _guard: guard, wheelhouse, runtime_python, path }
    }

    impl Drop for Setup {
        fn drop(&mut self) {
            std::env::set_var("PATH", &self.path);
            std::env::remove_var("AIDEPLOY_PYTHON");
        }
    }

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fastapi-rag")
    }

    fn x86() -> TargetPlatform {
        TargetPlatform::new(Arch::X86_64, "3.11")
    }

    fn copy_tree(from: &Path, to: &Path) {
        fs_err::create_dir_all(to).unwrap();
        for entry in fs_err::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name == "__pycache__" {
                continue;
            }
            let (src, dst) = (entry.path(), to.join(&name));
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&src, &dst);
            } else {
                fs_err::copy(&src, &dst).unwrap();
            }
        }
    }

    fn touch_all(dir: &Path, when: SystemTime) {
        for entry in fs_err::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let p = entry.path();
            if entry.file_type().unwrap().is_dir() {
                touch_all(&p, when);
            } else {
                std::fs::File::options().write(true).open(&p).unwrap().set_modified(when).unwrap();
            }
        }
    }

    fn load_zip(app: &Path) -> LambdaZip {
        let loaded = manifest::load(&app.join("aideploy.toml")).unwrap();
        lambda_zip_for(&loaded, Arch::X86_64, &Quiet).unwrap()
    }

    /// Unpacks with Python's zipfile (as Lambda unpacks the archive to /var/task).
    fn unpack(zip: &Path, dest: &Path, python: &Path) {
        let out = Command::new(python)
            .args(["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])"])
            .arg(zip)
            .arg(dest)
            .output()
            .unwrap();
        assert!(out.status.success(), "unzip failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Imports the handler module once (one cold start) in a Python that has only boto3
    /// besides the standard library, with the task root first on sys.path as Lambda has it,
    /// and feeds it each event. Prints the responses and where fastapi was imported from.
    const DRIVER: &str = r#"
import json, sys, time
task_root = sys.argv[1]
sys.path.insert(0, task_root)
events = json.load(sys.stdin)
import aideploy_lambda
def call(e):
    try:
        return aideploy_lambda.handler(e, None)
    except Exception as x:
        return {"error": f"{type(x).__name__}: {x}"}
out = {"responses": [call(e) for e in events]}
fastapi = sys.modules.get("fastapi")
out["fastapi_from"] = getattr(fastapi, "__file__", None)
json.dump(out, sys.stdout)
"#;

    fn invoke(python: &Path, task_root: &Path, env: &[(&str, String)], events: &[Value]) -> Result<Value, String> {
        invoke_with_stderr(python, task_root, env, events).map(|(out, _)| out)
    }

    /// [`invoke`], with what the interpreter wrote to stderr, up to and including its exit.
    fn invoke_with_stderr(python: &Path, task_root: &Path, env: &[(&str, String)], events: &[Value]) -> Result<(Value, String), String> {
        let mut cmd = Command::new(python);
        cmd.arg("-c").arg(DRIVER).arg(task_root).current_dir(task_root);
        cmd.env_remove("PYTHONPATH").env("AIDEPLOY_ASGI", "app.main:app");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(serde_json::to_string(events).unwrap().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("driver output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        Ok((value, String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    /// A real API Gateway HTTP API payload 2.0 event, as the service sends it.
    fn event(method: &str, path: &str, query: &str, body: Option<&str>, base64: bool) -> Value {
        let mut headers = json!({
            "accept": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        });
        if body.is_some() {
            headers["content-type"] = json!("application/json");
        }
        let body = body.map(|b| if base64 { b64(b.as_bytes()) } else { b.to_string() });
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "cookies": ["session=s1", "theme=dark"],
            "headers": headers,
            "queryStringParameters": null,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": "$default",
                "stage": "$default",
                "time": "10/Mar/2024:13:40:52 +0000",
                "timeEpoch": 1710078052000u64
            },
            "body": body,
            "isBase64Encoded": base64
        })
    }

    fn b64(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in data.chunks(3) {
            let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    fn body_json(resp: &Value) -> Value {
        assert_eq!(resp["isBase64Encoded"], json!(false), "{resp}");
        serde_json::from_str(resp["body"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn zip_is_reproducible_across_checkout_paths_mtimes_and_caches() {
        let work = tempfile::tempdir().unwrap();
        let (a, b) = (work.path().join("checkout-one/app"), work.path().join("elsewhere/another-name"));
        copy_tree(&example(), &a);
        copy_tree(&example(), &b);
        touch_all(&a, SystemTime::now());
        touch_all(&b, SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000));

        // Two separate caches: the deps are installed, normalized and compressed twice.
        let s = setup(&work.path().join("cache-a"));
        let za = load_zip(&a);
        assert!(!za.cached);
        std::env::set_var("AIDEPLOY_CACHE_DIR", work.path().join("cache-b"));
        let zb = load_zip(&b);
        assert!(!zb.cached);
        assert_ne!(za.path, zb.path);
        assert_eq!(za.sha256, zb.sha256, "same inputs must give the same zip");
        assert_eq!(hex::encode(source::hash_file(&zb.path).unwrap()), zb.sha256);

        // Entries are sorted, the deps are there for the target, the adapter is at the root.
        let names: Vec<String> = aideploy::artifact::zip::list_entries(&za.path).unwrap().into_iter().map(|e| e.0).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for want in ["aideploy_lambda.py", "aideploy_secrets.py", "app/main.py", "fastapi/__init__.py", "aideploy.toml"] {
            assert!(names.iter().any(|n| n == want), "{want} missing");
        }
        assert!(names.iter().any(|n| n.starts_with("pydantic_core/") && n.ends_with("x86_64-linux-gnu.so")), "no x86_64 pydantic_core");
        assert!(!names.iter().any(|n| n.starts_with("bin/") || n.ends_with("uv_cache.json")));
        // The only `__pycache__` entries are aideploy's bytecode, each beside its source.
        for n in names.iter().filter(|n| n.contains("__pycache__")) {
            let (dir, file) = n.rsplit_once("/__pycache__/").unwrap_or(("", n.trim_start_matches("__pycache__/")));
            let module = file.strip_suffix(".cpython-311.pyc").unwrap_or_else(|| panic!("{n} is not bytecode for CPython 3.11"));
            let source = if dir.is_empty() { format!("{module}.py") } else { format!("{dir}/{module}.py") };
            assert!(names.contains(&source), "{n} has no source {source} in the zip");
        }

        // An independent reader (Python's zipfile) sees valid CRCs, one timestamp, fixed
        // modes made on Unix, no extra fields and no directory entries.
        let check = Command::new(&s.runtime_python)
            .args([
                "-c",
                r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None, "bad CRC"
for i in z.infolist():
    assert i.date_time == (1980, 1, 1, 0, 0, 0), (i.filename, i.date_time)
    assert i.extra == b"", (i.filename, i.extra)
    assert i.create_system == 3, (i.filename, i.create_system)
    assert (i.external_attr >> 16) in (0o100644, 0o100755), (i.filename, oct(i.external_attr >> 16))
    assert not i.is_dir(), i.filename
    assert i.compress_type == zipfile.ZIP_DEFLATED, i.filename
import base64, hashlib
print(len(z.infolist()), base64.b64encode(hashlib.sha256(open(sys.argv[1], "rb").read()).digest()).decode())
"#,
            ])
            .arg(&za.path)
            .output()
            .unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
        assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), format!("{} {}", za.entries, za.code_sha256()));

        // Unchanged: a cache hit. One file changed: a new zip that differs.
        let again = load_zip(&b);
        assert!(again.cached);
        assert_eq!(again.sha256, zb.sha256);
        fs_err::write(b.join("app/docs.py"), fs_err::read_to_string(b.join("app/docs.py")).unwrap() + "\n# changed\n").unwrap();
        let changed = load_zip(&b);
        assert!(!changed.cached);
        assert_ne!(changed.sha256, zb.sha256);
    }

    #[test]
    fn handler_serves_the_fastapi_app_from_the_unpacked_zip() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));
        let zip = load_zip(&example());
        assert!(!zip.needs_s3);
        let task = work.path().join("task");
        unpack(&zip.path, &task, &s.runtime_python);

        let events = [
            event("GET", "/health", "", None, false),
            event(
                "POST",
                "/query",
                "",
                Some(r#"{"question": "What happens when a new version fails its health path?", "top_k": 1}"#),
                false,
            ),
            event("POST", "/query", "verbose=1&x=a%20b", Some(r#"{"question": "secrets in the function configuration"}"#), true),
            event("POST", "/query", "", Some(r#"{"question": ""}"#), false),
            event("GET", "/nowhere", "", None, false),
            // What a deploy sends to a new version's health path before it takes traffic.
            http_event("GET", "/health/ready?probe=1", None),
            http_event("POST", "/query", Some(br#"{"question": "What is the local target?", "top_k": 1}"#)),
        ];
        let out = invoke(&s.runtime_python, &task, &[], &events).unwrap();
        let r = out["responses"].as_array().unwrap();

        assert_eq!(r[0]["statusCode"], 200);
        assert_eq!(r[0]["headers"]["content-type"], "application/json");
        assert_eq!(body_json(&r[0]), json!({"status": "ok"}));

        assert_eq!(r[1]["statusCode"], 200, "{}", r[1]);
        let answer = body_json(&r[1]);
        assert_eq!(answer["mode"], "retrieval");
        assert_eq!(answer["sources"][0]["id"], "health-gates");
        assert_eq!(answer["sources"].as_array().unwrap().len(), 1);
        assert!(answer["answer"].as_str().unwrap().contains("previous version keeps serving"));

        // A base64-encoded body (as API Gateway sends binary or some clients' bodies).
        assert_eq!(r[2]["statusCode"], 200, "{}", r[2]);
        assert_eq!(body_json(&r[2])["sources"][0]["id"], "secrets");

        // FastAPI's own validation and routing answers.
        assert_eq!(r[3]["statusCode"], 422);
        assert_eq!(body_json(&r[3])["detail"][0]["loc"], json!(["body", "question"]));
        assert_eq!(r[4]["statusCode"], 404);
        assert_eq!(r[5]["statusCode"], 200, "{}", r[5]);
        assert_eq!(body_json(&r[5]), json!({"status": "ready", "documents": 5, "llm": false}));
        assert_eq!(r[6]["statusCode"], 200, "{}", r[6]);
        assert_eq!(body_json(&r[6])["sources"][0]["id"], "local-target");

        // The deps came from the zip: this Python has nothing but the standard library and boto3.
        let from = out["fastapi_from"].as_str().unwrap();
        assert!(Path::new(from).starts_with(&task), "fastapi imported from {from}");

        // Issue 18: bytecode for the runtime's Python ships in the zip, and the cold start
        // loads it: with unchecked-hash `.pyc`, a source edited after the build is not even
        // read. (Built without it only on a machine that has no python3.11.)
        let pyc = task.join("fastapi/__pycache__/__init__.cpython-311.pyc");
        if aideploy::artifact::bytecode::compiler_for("3.11").is_ok() {
            assert!(pyc.is_file(), "{} is missing", pyc.display());
            assert!(task.join("app/__pycache__/main.cpython-311.pyc").is_file());
            assert!(task.join("__pycache__/aideploy_lambda.cpython-311.pyc").is_file());
            for module in ["fastapi/__init__.py", "app/main.py"] {
                let mut text = fs_err::read_to_string(task.join(module)).unwrap();
                text.push_str("\nraise RuntimeError('the source was compiled, not the shipped bytecode')\n");
                fs_err::write(task.join(module), text).unwrap();
            }
            let again = invoke(&s.runtime_python, &task, &[], &[event("GET", "/health", "", None, false)]).unwrap();
            assert_eq!(again["responses"][0]["statusCode"], 200, "{}", again["responses"][0]);
        } else {
            assert!(!pyc.exists());
        }
    }

    /// A tiny app that shows what the adapter hands it: the secret from the environment,
    /// lifespan state, cookies, the query string, and a Set-Cookie going back.
    const PROBE_APP: &str = r#"
import os
from contextlib import asynccontextmanager
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

SEEN_AT_IMPORT = os.environ.get("OPENAI_API_KEY")

@asynccontextmanager
async def lifespan(app):
    yield {"started": "yes"}

app = FastAPI(lifespan=lifespan)

@app.get("/probe")
def probe(request: Request):
    resp = JSONResponse({
        "secret_at_import": SEEN_AT_IMPORT,
        "secret_now": os.environ.get("OPENAI_API_KEY"),
        "lifespan": request.state.started,
        "cookies": dict(request.cookies),
        "query": str(request.query_params),
        "client": request.client.host,
        "url": str(request.url),
    })
    resp.set_cookie("a", "1")
    resp.set_cookie("b", "2")
    return resp

@app.get("/bytes")
def raw():
    return Response(content=bytes(range(256)), media_type="application/octet-stream")
"#;

    struct Moto(Child);
    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn start_moto() -> (Moto, String) {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let moto = python::which("moto_server").expect("moto_server is not on PATH: run these tests with `scripts/test lambda_zip`");
        let child = Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let guard = Moto(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        (guard, format!("http://127.0.0.1:{port}"))
    }

    #[test]
    fn secrets_shim_reads_secrets_manager_at_cold_start() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));
        let (_moto, endpoint) = start_moto();
        let aws_env = vec![
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
        ];
        let value = "sk-test-4f1c9a-not-a-real-key";
        let create = Command::new(&s.runtime_python)
        .args(["-c", "import boto3, sys; print(boto3.client('secretsmanager').create_secret(Name='fastapi-rag/dev/OPENAI_API_KEY', SecretString=sys.argv[1])['ARN'])", value])
        .envs(aws_env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
        assert!(create.status.success(), "{}", String::from_utf8_lossy(&create.stderr));
        let arn = String::from_utf8(create.stdout).unwrap().trim().to_string();
        assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:"), "{arn}");

        let app = work.path().join("probe");
        fs_err::create_dir_all(app.join("app")).unwrap();
        fs_err::write(app.join("app/__init__.py"), "").unwrap();
        fs_err::write(app.join("app/main.py"), PROBE_APP).unwrap();
        let reqs = python::requirements(&manifest::load(&example().join("aideploy.toml")).unwrap().manifest, &example()).unwrap();
        let deps = install_for_target(&reqs, &x86(), &Quiet).unwrap();
        let zip = build_lambda_zip(&source::collect(&app, &[]).unwrap(), Some(&deps), &Quiet).unwrap();
        let task = work.path().join("task");
        unpack(&zip.path, &task, &s.runtime_python);
        let zip_bytes = fs_err::read(&zip.path).unwrap();
        assert!(!zip_bytes.windows(value.len()).any(|w| w == value.as_bytes()), "the secret value is in the zip");

        let mut env = aws_env.clone();
        env.push(("AIDEPLOY_SECRET_ARNS", json!({ "OPENAI_API_KEY": arn }).to_string()));
        let out = invoke(
            &s.runtime_python,
            &task,
            &env,
            &[event("GET", "/probe", "q=1&q=2", None, false), event("GET", "/bytes", "", None, false)],
        )
        .unwrap();
        let r = &out["responses"][0];
        assert_eq!(r["statusCode"], 200, "{r}");
        let seen = body_json(r);
        assert_eq!(seen["secret_at_import"], value);
        assert_eq!(seen["secret_now"], value);
        assert_eq!(seen["lifespan"], "yes");
        assert_eq!(seen["cookies"], json!({"session": "s1", "theme": "dark"}));
        assert_eq!(seen["query"], "q=1&q=2");
        assert_eq!(seen["client"], "203.0.113.7");
        assert_eq!(seen["url"], "https://abc123.execute-api.us-east-1.amazonaws.com/probe?q=1&q=2");
        let cookies: Vec<&str> = r["cookies"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(cookies.len(), 2);
        assert!(cookies[0].starts_with("a=1") && cookies[1].starts_with("b=2"), "{cookies:?}");
        let bin = &out["responses"][1];
        assert_eq!(bin["isBase64Encoded"], true);
        assert_eq!(bin["body"], b64(&(0..=255u8).collect::<Vec<_>>()));

        // A secret that does not exist: the cold start fails and says which and why.
        env.pop();
        env.push(("AIDEPLOY_SECRET_ARNS", json!({ "OPENAI_API_KEY": format!("{arn}-gone") }).to_string()));
        let err = invoke(&s.runtime_python, &task, &env, &[event("GET", "/probe", "", None, false)]).unwrap_err();
        assert!(err.contains("cannot read secret OPENAI_API_KEY"), "{err}");
        assert!(err.contains("secretsmanager:GetSecretValue"), "{err}");
    }

    /// A bare ASGI app: no framework, no lifespan support, a streamed body.
    const PLAIN_APP: &str = r#"
async def app(scope, receive, send):
    if scope["type"] != "http":
        raise RuntimeError("this app has no lifespan support")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"x-a", b"1"), (b"x-a", b"2")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": b"path=" + scope["path"].encode() + b" raw=" + scope["raw_path"], "more_body": True})
    await send({"type": "http.response.body", "body": b" body=" + body})
"#;

    #[test]
    fn adapter_runs_a_plain_asgi_app_without_deps_or_lifespan() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));
        let app = work.path().join("plain");
        fs_err::create_dir_all(&app).unwrap();
        fs_err::write(app.join("main.py"), PLAIN_APP).unwrap();
        let zip = build_lambda_zip(&source::collect(&app, &[]).unwrap(), None, &Quiet).unwrap();
        assert_eq!(zip.entries, 3);
        let task = work.path().join("task");
        unpack(&zip.path, &task, &s.runtime_python);

        // A named stage: its prefix is not part of the app's path.
        let mut staged = event("POST", "/prod/items/a%20b", "", Some("hello"), false);
        staged["requestContext"]["stage"] = json!("prod");
        // A REST API (payload 1.0) event is not ours to guess at.
        let v1 = json!({"httpMethod": "GET", "path": "/", "headers": {}, "body": null});
        let out = invoke(&s.runtime_python, &task, &[("AIDEPLOY_ASGI", "main:app".into())], &[staged, v1]).unwrap();
        let r = &out["responses"][0];
        assert_eq!(r["statusCode"], 201, "{r}");
        assert_eq!(r["body"], "path=/items/a b raw=/items/a%20b body=hello");
        assert_eq!(r["headers"]["x-a"], "1, 2");
        assert_eq!(r["isBase64Encoded"], false);
        let e = out["responses"][1]["error"].as_str().unwrap();
        assert!(e.contains("API Gateway HTTP API payload 2.0"), "{e}");

        // A wrong AIDEPLOY_ASGI fails the cold start with the variable named.
        let err = invoke(&s.runtime_python, &task, &[("AIDEPLOY_ASGI", "main:nope".into())], &[]).unwrap_err();
        assert!(err.contains("AIDEPLOY_ASGI='main:nope': module 'main' has no attribute 'nope'"), "{err}");
    }

    /// An ASGI app with a lifespan: its startup sets state, its shutdown leaves a file.
    const LIFESPAN_APP: &str = r#"
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["ready"] = "yes"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                with open("shutdown-ran", "w") as f:
                    f.write("yes")
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["state"]["ready"].encode()})
"#;

    /// Issue 18 point 4: the lifespan task left waiting after the cold start is shut down
    /// when the interpreter exits, not destroyed while pending.
    #[test]
    fn lifespan_shuts_down_at_exit_and_leaves_no_pending_task() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));
        let app = work.path().join("lifespan");
        fs_err::create_dir_all(&app).unwrap();
        fs_err::write(app.join("main.py"), LIFESPAN_APP).unwrap();
        let zip = build_lambda_zip(&source::collect(&app, &[]).unwrap(), None, &Quiet).unwrap();
        let task = work.path().join("task");
        unpack(&zip.path, &task, &s.runtime_python);

        let (out, stderr) =
            invoke_with_stderr(&s.runtime_python, &task, &[("AIDEPLOY_ASGI", "main:app".into())], &[event("GET", "/", "", None, false)])
                .unwrap();
        let r = &out["responses"][0];
        assert_eq!(r["statusCode"], 200, "{r}");
        assert_eq!(r["body"], "yes", "the startup's state reaches the request: {r}");
        assert!(!stderr.contains("Task was destroyed"), "{stderr}");
        assert!(!stderr.contains("Traceback"), "{stderr}");
        assert_eq!(fs_err::read_to_string(task.join("shutdown-ran")).unwrap(), "yes", "the lifespan shutdown ran at exit");
    }

    /// The ELF machine of a shared library: 62 is x86-64, 183 is AArch64.
    fn elf_machine(path: &Path) -> u16 {
        let bytes = fs_err::read(path).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", path.display());
        u16::from_le_bytes([bytes[18], bytes[19]])
    }

    fn native_module(dir: &Path) -> PathBuf {
        fs_err::read_dir(dir.join("pydantic_core"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "so"))
            .expect("pydantic_core has its native module")
    }

    #[test]
    fn deps_are_for_the_target_arch_whatever_the_host() {
        let work = tempfile::tempdir().unwrap();
        let _s = setup(&work.path().join("cache"));
        let reqs = Requirements::from_lines(vec!["pydantic>=2.6".into()]);
        let arm = install_for_target(&reqs, &TargetPlatform::new(Arch::Arm64, "3.11"), &Quiet).unwrap();
        let x86 = install_for_target(&reqs, &x86(), &Quiet).unwrap();
        assert_ne!(arm.key, x86.key);
        let (arm_so, x86_so) = (native_module(&arm.dir), native_module(&x86.dir));
        assert!(arm_so.to_string_lossy().ends_with("cpython-311-aarch64-linux-gnu.so"), "{}", arm_so.display());
        assert!(x86_so.to_string_lossy().ends_with("cpython-311-x86_64-linux-gnu.so"), "{}", x86_so.display());
        assert_eq!(elf_machine(&arm_so), 183);
        assert_eq!(elf_machine(&x86_so), 62);
    }

    #[test]
    fn uv_lock_is_installed_for_the_target_and_cached() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));
        let project = work.path().join("locked");
        fs_err::create_dir_all(project.join("app")).unwrap();
        fs_err::write(project.join("app/__init__.py"), "").unwrap();
        fs_err::write(
            project.join("app/main.py"),
            "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/health')\ndef health():\n    return {'locked': True}\n",
        )
        .unwrap();
        fs_err::write(
            project.join("aideploy.toml"),
            "version = 1\n\n[app]\nname = \"locked\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\nhealth = \"/health\"\n",
        )
        .unwrap();
        fs_err::write(
            project.join("pyproject.toml"),
            "[project]\nname = \"locked\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"fastapi>=0.110\"]\n",
        )
        .unwrap();
        let lock = Command::new("uv").arg("lock").current_dir(&project).output().unwrap();
        assert!(lock.status.success(), "uv lock: {}", String::from_utf8_lossy(&lock.stderr));

        let zip = load_zip(&project);
        let names: Vec<String> = aideploy::artifact::zip::list_entries(&zip.path).unwrap().into_iter().map(|e| e.0).collect();
        assert!(names.iter().any(|n| n == "fastapi/__init__.py"));
        assert!(names.iter().any(|n| n == "uv.lock"), "the app's files ship as they are");
        assert!(!names.iter().any(|n| n.starts_with("locked-")), "the project itself is not a dependency");
        let task = work.path().join("task");
        unpack(&zip.path, &task, &s.runtime_python);
        let out = invoke(&s.runtime_python, &task, &[], &[http_event("GET", "/health", None)]).unwrap();
        assert_eq!(body_json(&out["responses"][0]), json!({"locked": true}));

        // Warm: no uv on PATH, and the same zip. A changed lock is a new dependency set.
        // (The bytecode compiler stays reachable: without it the zip has no bytecode.)
        let empty = work.path().join("empty-bin");
        fs_err::create_dir_all(&empty).unwrap();
        if let Some(python) = python::which("python3.11") {
            std::os::unix::fs::symlink(python, empty.join("python3.11")).unwrap();
        }
        std::env::set_var("PATH", &empty);
        let again = load_zip(&project);
        assert!(again.cached);
        assert_eq!(again.sha256, zip.sha256);
        let text = fs_err::read_to_string(project.join("uv.lock")).unwrap();
        fs_err::write(project.join("uv.lock"), format!("{text}\n")).unwrap();
        let loaded = manifest::load(&project.join("aideploy.toml")).unwrap();
        let e = hinted(lambda_zip_for(&loaded, Arch::X86_64, &Quiet).unwrap_err());
        assert!(e.message.contains("needs uv"), "{}", e.message);
    }

    /// A PEP 503 "simple" index of the wheelhouse on loopback, with each file's sha256
    /// in its link (as a package index gives it): a lock made against it records hashes,
    /// which a lock made from a find-links folder does not.
    struct SimpleIndex {
        child: Child,
        url: String,
        _dir: tempfile::TempDir,
    }

    impl SimpleIndex {
        fn serve(wheelhouse: &Path) -> SimpleIndex {
            use sha2::{Digest, Sha256};
            let dir = tempfile::tempdir().unwrap();
            let mut projects: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for entry in std::fs::read_dir(wheelhouse).unwrap() {
                let path = entry.unwrap().path();
                let file = path.file_name().unwrap().to_string_lossy().to_string();
                if !file.ends_with(".whl") {
                    continue;
                }
                let project = file.split('-').next().unwrap().to_lowercase().replace(['_', '.'], "-");
                let sha = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
                std::fs::create_dir_all(dir.path().join("files")).unwrap();
                std::fs::copy(&path, dir.path().join("files").join(&file)).unwrap();
                projects.entry(project).or_default().push(format!("<a href=\"../../files/{file}#sha256={sha}\">{file}</a><br/>"));
            }
            for (project, links) in &projects {
                let d = dir.path().join("simple").join(project);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("index.html"), format!("<!DOCTYPE html><html><body>{}</body></html>", links.join("\n"))).unwrap();
            }
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new("python3")
                .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let started = Instant::now();
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(started.elapsed() < Duration::from_secs(20), "the index did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
            SimpleIndex { child, url: format!("http://127.0.0.1:{port}/simple"), _dir: dir }
        }
    }

    impl Drop for SimpleIndex {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A uv project's lock pins every file by hash, and the install checks them: a lock
    /// whose fastapi hashes do not match the wheels the index serves fails, naming the
    /// package, instead of installing whatever the index sent.
    #[test]
    fn uv_lock_hashes_are_checked_at_install() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));
        // An index on loopback instead of the find-links folder (still no internet).
        let index = SimpleIndex::serve(&s.wheelhouse);
        let saved: Vec<(&str, Option<std::ffi::OsString>)> =
            ["UV_OFFLINE", "UV_FIND_LINKS", "UV_CACHE_DIR"].iter().map(|k| (*k, std::env::var_os(k))).collect();
        std::env::remove_var("UV_OFFLINE");
        std::env::remove_var("UV_FIND_LINKS");
        std::env::set_var("UV_CACHE_DIR", work.path().join("uv-cache"));
        std::env::set_var("UV_INDEX_URL", &index.url);
        let restore = || {
            for (k, v) in &saved {
                match v {
                    Some(v) => std::env::set_var(k, v),
                    None => std::env::remove_var(k),
                }
            }
            std::env::remove_var("UV_INDEX_URL");
        };

        let project = work.path().join("hashed");
        fs_err::create_dir_all(project.join("app")).unwrap();
        fs_err::write(project.join("app/__init__.py"), "").unwrap();
        fs_err::write(project.join("app/main.py"), "from fastapi import FastAPI\napp = FastAPI()\n").unwrap();
        fs_err::write(
            project.join("aideploy.toml"),
            "version = 1\n\n[app]\nname = \"hashed\"\nruntime = \"python3.11\"\nasgi = \"app.main:app\"\n",
        )
        .unwrap();
        fs_err::write(
            project.join("pyproject.toml"),
            "[project]\nname = \"hashed\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"fastapi>=0.110\"]\n",
        )
        .unwrap();
        let lock = Command::new("uv").arg("lock").current_dir(&project).output().unwrap();
        if !lock.status.success() {
            restore();
            panic!("uv lock: {}", String::from_utf8_lossy(&lock.stderr));
        }
        let text = fs_err::read_to_string(project.join("uv.lock")).unwrap();
        // fastapi's entry, up to the next package: every hash in it replaced.
        let start = text.find("name = \"fastapi\"").expect("fastapi in the lock");
        let end = text[start..].find("[[package]]").map_or(text.len(), |e| start + e);
        let entry = text[start..end].to_string();
        let mut forged = String::new();
        let mut rest = entry.as_str();
        while let Some(i) = rest.find("sha256:") {
            forged.push_str(&rest[..i + 7]);
            forged.push_str(&"0".repeat(64));
            rest = &rest[i + 7 + 64..];
        }
        forged.push_str(rest);
        fs_err::write(project.join("uv.lock"), format!("{}{forged}{}", &text[..start], &text[end..])).unwrap();
        let loaded = manifest::load(&project.join("aideploy.toml")).unwrap();
        let forged_result = lambda_zip_for(&loaded, Arch::X86_64, &Quiet);
        // The honest lock installs.
        fs_err::write(project.join("uv.lock"), &text).unwrap();
        let honest = lambda_zip_for(&loaded, Arch::X86_64, &Quiet);
        restore();

        assert!(entry.contains("hash = \"sha256:"), "the lock pins fastapi's files by hash:\n{entry}");
        let e = hinted(forged_result.unwrap_err());
        assert!(e.message.contains("does not match the hash pinned"), "{}", e.message);
        assert!(e.message.contains("fastapi"), "{}", e.message);
        let zip = honest.unwrap();
        let names: Vec<String> = aideploy::artifact::zip::list_entries(&zip.path).unwrap().into_iter().map(|e| e.0).collect();
        assert!(names.iter().any(|n| n == "fastapi/__init__.py"));
    }

    /// A Flask app (WSGI) on Lambda from a zip, two ways a user writes it: named as
    /// `asgi` (recognised as WSGI and bridged), and as `command = "gunicorn ... main:app"`
    /// (what `init` writes for Flask: the adapter runs `main:app` itself, no server). Each
    /// answers API Gateway HTTP API v2 events: a GET with a query and cookies, a POST body,
    /// a 404.
    #[test]
    fn a_wsgi_app_runs_from_a_zip() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));
        let project = work.path().join("flaskapp");
        fs_err::create_dir_all(&project).unwrap();
        fs_err::write(project.join("requirements.txt"), "flask\n").unwrap();
        fs_err::write(
            project.join("main.py"),
            "from flask import Flask, request, jsonify\napp = Flask(__name__)\n\n@app.get('/health')\ndef health():\n    return jsonify(status='ok', q=request.args.get('q'), theme=request.cookies.get('theme'), path=request.path)\n\n@app.post('/echo')\ndef echo():\n    return jsonify(got=request.get_json()['question'], length=request.content_length)\n",
        )
        .unwrap();
        for (entry, var) in
            [("asgi = \"main:app\"", "AIDEPLOY_ASGI"), ("command = \"gunicorn --bind 0.0.0.0:$PORT main:app\"", "AIDEPLOY_WSGI")]
        {
            fs_err::write(
                project.join("aideploy.toml"),
                format!("version = 1\n\n[app]\nname = \"flaskapp\"\nruntime = \"python3.11\"\n{entry}\nhealth = \"/health\"\n"),
            )
            .unwrap();
            let loaded = manifest::load(&project.join("aideploy.toml")).unwrap();
            // What the function's environment names, as the lambda target sets it.
            let (name, value) = aideploy::artifact::zip::LambdaEntry::of(loaded.manifest.app()).env();
            assert_eq!((name, value.as_str()), (var, "main:app"), "{entry}");
            let zip = load_zip(&project);
            let task = work.path().join(format!("task-{var}"));
            unpack(&zip.path, &task, &s.runtime_python);
            let events = [
                event("GET", "/health", "q=r%26d", None, false),
                event("POST", "/echo", "", Some(r#"{"question":"refunds?"}"#), false),
                event("GET", "/nope", "", None, false),
            ];
            let out = invoke(&s.runtime_python, &task, &[("AIDEPLOY_ASGI", String::new()), (name, value.clone())], &events)
                .unwrap_or_else(|e| panic!("{entry}: {e}"));
            let r = &out["responses"];
            assert_eq!(r[0]["statusCode"], 200, "{entry}: {out}");
            assert_eq!(body_json(&r[0]), json!({"status": "ok", "q": "r&d", "theme": "dark", "path": "/health"}), "{entry}");
            assert_eq!(r[1]["statusCode"], 200, "{entry}: {out}");
            assert_eq!(body_json(&r[1]), json!({"got": "refunds?", "length": 23}), "{entry}");
            assert_eq!(r[2]["statusCode"], 404, "{entry}: {out}");
        }
        // A server of the app's own cannot run from a zip: the error says to build an image.
        fs_err::write(
            project.join("aideploy.toml"),
            "version = 1\n\n[app]\nname = \"flaskapp\"\nruntime = \"python3.11\"\ncommand = \"python server.py\"\n",
        )
        .unwrap();
        let loaded = manifest::load(&project.join("aideploy.toml")).unwrap();
        let err = lambda_zip_for(&loaded, Arch::X86_64, &Quiet).unwrap_err();
        let usage = aideploy::error::Failure::of(&err).and_then(|f| f.as_usage()).expect("a usage error");
        assert!(usage.message.contains("starts a server of its own"), "{}", usage.message);
        assert!(usage.hint.as_deref().unwrap_or_default().contains("--package image"), "{:?}", usage.hint);
    }

    #[test]
    fn warm_deps_run_no_installer() {
        let work = tempfile::tempdir().unwrap();
        let _s = setup(&work.path().join("cache"));
        let reqs = Requirements::from_lines(vec!["fastapi>=0.110".into(), "uvicorn".into()]);
        let cold = install_for_target(&reqs, &x86(), &Quiet).unwrap();
        assert!(!cold.cached);
        assert!(cold.dir.join("fastapi/__init__.py").is_file());
        assert!(cold.dir.join("uvicorn/__init__.py").is_file());
        assert!(!cold.dir.join("bin").exists());

        // Neither uv nor any Python on PATH now: only the cache can answer.
        let empty = work.path().join("empty-bin");
        fs_err::create_dir_all(&empty).unwrap();
        std::env::set_var("PATH", &empty);
        std::env::set_var("AIDEPLOY_PYTHON", empty.join("no-python"));
        let warm = install_for_target(&reqs, &x86(), &Quiet).unwrap();
        assert!(warm.cached);
        assert_eq!(warm.dir, cold.dir);
        assert_eq!(warm.key, cold.key);
        // Proof that an install would have failed here: a new requirement set cannot install.
        let other = Requirements::from_lines(vec!["fastapi>=0.110".into()]);
        let err = install_for_target(&other, &x86(), &Quiet).unwrap_err();
        assert!(err.to_string().contains("cannot run"), "{err:#}");
    }

    fn hinted(err: anyhow::Error) -> Hinted {
        match err.downcast::<aideploy::error::Failure>() {
            Ok(aideploy::error::Failure::Hinted(h)) => h,
            Ok(other) => panic!("expected an error with a hint, got: {other}"),
            Err(e) => panic!("expected an error with a hint, got: {e:#}"),
        }
    }

    #[test]
    fn no_wheel_for_the_target_names_package_version_platform_and_fix() {
        let work = tempfile::tempdir().unwrap();
        let s = setup(&work.path().join("cache"));

        // docopt 0.6.2 is published as an sdist only (the wheelhouse holds that sdist).
        let sdist_only = Requirements::from_lines(vec!["fastapi>=0.110".into(), "docopt==0.6.2".into()]);
        let e = hinted(install_for_target(&sdist_only, &x86(), &Quiet).unwrap_err());
        assert!(e.message.starts_with("no wheel of docopt 0.6.2 for linux x86_64 (manylinux2014), CPython 3.11"), "{}", e.message);
        assert!(e.hint.contains("pin a version of `docopt`"), "{}", e.hint);

        // numpy has wheels, but only for x86_64 in the wheelhouse: none for arm64.
        let numpy = Requirements::from_lines(vec!["numpy".into()]);
        let e = hinted(install_for_target(&numpy, &TargetPlatform::new(Arch::Arm64, "3.11"), &Quiet).unwrap_err());
        assert!(e.message.starts_with("no wheel of numpy"), "{}", e.message);
        assert!(e.message.contains("linux arm64"), "{}", e.message);
        assert!(e.message.contains("manylinux2014_x86_64"), "wheels available elsewhere are named: {}", e.message);

        // A name that exists nowhere is a different error.
        let missing = Requirements::from_lines(vec!["no-such-package-aideploy".into()]);
        let e = hinted(install_for_target(&missing, &x86(), &Quiet).unwrap_err());
        assert!(e.message.contains("`no-such-package-aideploy` was not found"), "{}", e.message);

        // The pip fallback (no uv on PATH) says the same about docopt, and installs fine.
        let bin = work.path().join("pip-only-bin");
        fs_err::create_dir_all(&bin).unwrap();
        let py3 = python::which("python3").unwrap();
        std::os::unix::fs::symlink(&py3, bin.join("python3")).unwrap();
        std::env::set_var("PATH", &bin);
        let e = hinted(install_for_target(&sdist_only, &x86(), &Quiet).unwrap_err());
        assert!(e.message.contains("docopt==0.6.2") && e.message.contains("linux x86_64"), "{}", e.message);
        assert!(e.hint.contains("pin a version of `docopt`"), "{}", e.hint);
        let ok = Requirements::from_lines(vec!["pydantic>=2.6".into()]);
        let deps = install_for_target(&ok, &x86(), &Quiet).unwrap();
        assert!(deps.dir.join("pydantic_core").is_dir());
        assert!(!deps.dir.join("bin").exists());
        let _ = s.wheelhouse;
    }

    #[test]
    fn size_rules_s3_flag_and_250_mb_error() {
        let work = tempfile::tempdir().unwrap();
        let _s = setup(&work.path().join("cache"));
        let app = work.path().join("app");
        fs_err::create_dir_all(&app).unwrap();
        fs_err::write(app.join("main.py"), "app = None\n").unwrap();
        let sources = source::collect(&app, &[]).unwrap();

        // > 250 MB unzipped: refused before anything is compressed (the big files are
        // sparse and never read), with the largest packages named.
        let deps_dir = work.path().join("site");
        for (pkg, mb) in [("torch", 180u64), ("nvidia_cublas", 60), ("numpy", 25), ("tiny", 0)] {
            fs_err::create_dir_all(deps_dir.join(pkg)).unwrap();
            let f = std::fs::File::create(deps_dir.join(pkg).join("lib.so")).unwrap();
            f.set_len(mb * 1024 * 1024 + 1).unwrap();
        }
        let deps = aideploy::artifact::pydeps::DepsDir { dir: deps_dir.clone(), key: "sparse-test".into(), cached: true };
        let started = Instant::now();
        let e = hinted(build_lambda_zip(&sources, Some(&deps), &Quiet).unwrap_err());
        assert!(e.message.contains("over Lambda's limit of 250.0 MiB"), "{}", e.message);
        let lines: Vec<&str> = e.message.lines().collect();
        assert!(lines[2].trim_start().starts_with("torch") && lines[2].contains("180.0 MiB"), "{}", e.message);
        assert!(lines[3].trim_start().starts_with("nvidia_cublas"), "{}", e.message);
        assert!(e.hint.contains("package = \"image\""));
        assert!(started.elapsed() < Duration::from_secs(20), "the size check must not compress first");

        // Over the direct-upload limit: a flag (upload through S3), not an error.
        fs_err::remove_dir_all(&deps_dir).unwrap();
        fs_err::create_dir_all(deps_dir.join("blob")).unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        fs_err::write(deps_dir.join("blob/data.bin"), &noise).unwrap();
        let deps = aideploy::artifact::pydeps::DepsDir { dir: deps_dir, key: "noise-test".into(), cached: true };
        let small = Limits { max_direct_upload: 200_000, ..Limits::default() };
        let z = build_lambda_zip_with(&sources, Some(&deps), &small, &Quiet).unwrap();
        assert!(z.bytes > 200_000 && z.needs_s3, "{z:?}");
        let z = build_lambda_zip(&sources, Some(&deps), &Quiet).unwrap();
        assert!(!z.needs_s3 && z.cached);
    }
}
