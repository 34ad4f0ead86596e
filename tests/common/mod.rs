//! Shared helpers for the integration tests: an `aideploy` command isolated from the
//! user's caches, state and terminal, and output normalisation for snapshots.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `aideploy` with no terminal, no colour, CI set, and its own state and cache dirs.
pub fn aideploy(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(aideploy_process(home));
    cmd.current_dir(root());
    cmd
}

/// Exit code, stdout and stderr in one text, for snapshots.
pub fn transcript(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().map(|c| c.to_string()).unwrap_or_else(|| "signal".into()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The wheelhouse that scripts/test downloads, for installing offline.
pub fn wheelhouse() -> PathBuf {
    match std::env::var_os("AIDEPLOY_TEST_WHEELHOUSE") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "AIDEPLOY_TEST_WHEELHOUSE is not set: run the tests with `scripts/test` (it downloads the wheels these tests install offline)"
        ),
    }
}

/// Makes pip and uv install only from the wheelhouse.
pub fn offline(cmd: &mut assert_cmd::Command) {
    let wh = wheelhouse();
    cmd.env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", &wh)
        .env("UV_OFFLINE", "1")
        .env("UV_FIND_LINKS", &wh)
        .env("UV_CACHE_DIR", std::env::temp_dir().join("aideploy-test-uv-cache"));
}

/// Copies a directory tree (for running examples from a scratch location).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &dest).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "__pycache__") {
            continue;
        }
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A plain HTTP/1.1 request over a real socket; returns (status, body).
pub fn http(method: &str, url: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

pub fn pid_alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("");
    !stat.is_empty() && state != "Z" && state != "X"
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A request as a fake HTTP server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A minimal HTTP/1.1 server on a loopback port for fakes of small endpoints (token
/// endpoints and the like); `answer` maps each request to (status, JSON body).
pub fn fake_http(answer: impl Fn(&Seen) -> (u16, String) + Send + 'static) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    fake_http_with(move |s| {
        let (status, body) = answer(s);
        (status, Vec::new(), body)
    })
}

/// [`fake_http`] whose answers also carry headers of their own (`Location`, a challenge).
#[allow(clippy::type_complexity)]
pub fn fake_http_with(
    answer: impl Fn(&Seen) -> (u16, Vec<(String, String)>, String) + Send + 'static,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen_log = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let seen = Seen { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
            let (status, extra, text) = answer(&seen);
            seen_log.lock().unwrap().push(seen);
            let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (port, log)
}

/// `secs` seconds before now, as RFC 3339 UTC with milliseconds (how the PaaS APIs
/// write a log line's time).
pub fn rfc3339_ago(secs: u64) -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 - secs * 1000;
    let whole = aideploy::util::iso8601(ms / 1000);
    format!("{}.{:03}Z", whole.trim_end_matches('Z'), ms % 1000)
}

/// The built binary as a plain process with no terminal, no colour, CI set, and its own
/// state and cache dirs; [`aideploy`] wraps it, and a command that runs until it is
/// stopped (`logs -f`) takes it as it is (assert_cmd waits for the end).
pub fn aideploy_process(home: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("aideploy"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env("AIDEPLOY_STATE_DIR", home.join("state"))
        .env("AIDEPLOY_CACHE_DIR", home.join("cache"));
    cmd
}

/// Starts `cmd` with its stdout piped; its lines arrive on the channel as it writes them.
pub fn spawn_lines(mut cmd: std::process::Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().expect("start aideploy");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Milliseconds since the epoch of an RFC 3339 UTC time (`...Z`, any fraction), as the
/// fakes compare the times they are sent; `None` for anything else.
pub fn rfc3339_millis(t: &str) -> Option<i64> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + (153 * mp + 2) / 5 + day - 1;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}
