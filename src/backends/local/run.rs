//! Starting one version of the app, gating it on health, and the pieces around it:
//! release snapshots, the proxy, log files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::process::{self, Proc};
use crate::artifact::source::SourceSet;
use crate::engine::health;
use crate::engine::wait::{Poll, PollPolicy, Wait, Waited};
use crate::engine::Reporter;
use crate::error::Hinted;
use crate::secrets::Secrets;
use crate::util::tail;

/// Variables of the caller's environment the app still sees; everything else it gets
/// comes from the manifest, as on a cloud.
const PASS_THROUGH: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often a starting version's health path is asked.
const HEALTH_EVERY: Duration = Duration::from_millis(200);
/// How often, and how long, a starting proxy is asked whether it listens.
const PROXY_EVERY: Duration = Duration::from_millis(50);
const PROXY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Entry {
    Asgi(String),
    Command(String),
}

impl Entry {
    pub fn describe(&self) -> String {
        match self {
            Entry::Asgi(a) => format!("uvicorn {a}"),
            Entry::Command(c) => c.clone(),
        }
    }
}

/// Everything needed to start one version again, without the manifest it came from
/// (rollback starts the previous one). Secret values are not kept: they are the
/// current ones each time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Digest of the source set and the environment.
    pub artifact: String,
    pub env_key: String,
    pub venv: PathBuf,
    pub release: PathBuf,
    pub entry: Entry,
    pub health: String,
    pub env: Vec<(String, String)>,
    /// Digest of how it runs: entry, health path, env, Python, secret values (salted).
    pub config: String,
    /// Digest of the source files without the manifest (empty in states written before
    /// it was recorded): tells a code change from a manifest edit.
    #[serde(default)]
    pub code: String,
    /// The salted digest of the secret values (empty in older states).
    #[serde(default)]
    pub secrets: String,
    /// `public = true`: served on every interface, the command run as written.
    #[serde(default)]
    pub public: bool,
}

/// A version that is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serving {
    pub version: Version,
    pub proc: Proc,
    pub port: u16,
    pub log: PathBuf,
    pub since: u64,
}

/// Stops a just-started process unless `disarm`ed: runs when a deploy is interrupted
/// (Ctrl-C drops the future) or fails, so no version outlives us untracked.
struct StopOnDrop(Option<Proc>);

impl StopOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.stop(Duration::from_secs(2));
        }
    }
}

/// Starts `version` on a free port and waits for its health path. `Err` is a failure to
/// start at all; `Ok(Err(why))` is a version that started but never became healthy (it
/// is stopped again, and `why` carries its last log lines).
pub async fn start(
    dir: &Path,
    version: &Version,
    secrets: &Secrets,
    timeout: Duration,
    poll: PollPolicy,
    r: &dyn Reporter,
) -> Result<Result<Serving, String>> {
    r.step("starting the new version");
    let port = process::free_port()?;
    let now = super::now_secs();
    let log = dir.join("logs").join(format!("app-{}-{now}.log", super::short(version.artifact.trim_start_matches("sha256:"))));
    let mut child = spawn(version, secrets, port, &log)?;
    let proc_ = Proc::of(child.id());
    let mut guard = StopOnDrop(Some(proc_));
    r.done();
    r.step(&format!("waiting for GET {} to answer 2xx", version.health));
    let url = format!("http://127.0.0.1:{port}{}", version.health);
    let what = format!("GET {url}");
    let client = health::client();
    // The answers of the app itself: a steady failure stops the wait early.
    let steady = std::sync::Arc::new(std::sync::Mutex::new(health::Steady::new(health::Front::Direct)));
    let elsewhere = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    // Ready(Ok) when healthy, Ready(Err) when the process ended first or the answers
    // say waiting on will not help.
    let verdict = Wait::new(&what, HEALTH_EVERY, timeout)
        .run(poll, r, || {
            let exited = match child.try_wait() {
                Ok(Some(status)) => Some(describe_exit(status)),
                _ => None,
            };
            let (client, url, path, log) = (client.clone(), url.clone(), version.health.clone(), log.clone());
            let (steady, elsewhere) = (steady.clone(), elsewhere.clone());
            async move {
                if let Some(how) = exited {
                    return Ok(Poll::Ready(Err(format!("the new version {how} before GET {path} answered"))));
                }
                let got = health::answer(&client, &url).await;
                if got == health::Answer::Healthy {
                    return Ok(Poll::Ready(Ok(())));
                }
                if let Some(f) = steady.lock().unwrap_or_else(|e| e.into_inner()).feed(&path, &got) {
                    return Ok(Poll::Ready(Err(format!("{}.\nIts last answer: {}", f.why, health::shown_body(&secrets.redact(&f.body))))));
                }
                // Nothing listens on $PORT while the log says the app listens elsewhere:
                // it ignores $PORT. Two seconds of that is enough to say so.
                if matches!(got, health::Answer::Nothing(_)) {
                    if let Some(other) = super::listen::port_in_log(&log).filter(|p| *p != port) {
                        let mut first = elsewhere.lock().unwrap_or_else(|e| e.into_inner());
                        let since = *first.get_or_insert_with(std::time::Instant::now);
                        if since.elapsed() >= Duration::from_secs(2) {
                            return Ok(Poll::Ready(Err(format!(
                                "the app listens on port {other}, but it was started with PORT={port}: make it listen on $PORT (e.g. `--port $PORT`, or `port=int(os.environ[\"PORT\"])`)"
                            ))));
                        }
                    }
                }
                Ok(Poll::Pending(got.describe()))
            }
        })
        .await?;
    if let Waited::Ready(Ok(())) = verdict {
        r.done();
        guard.disarm();
        return Ok(Ok(Serving { version: version.clone(), proc: proc_, port, log, since: now }));
    }
    tokio::task::block_in_place(|| proc_.stop(STOP_GRACE));
    let _ = child.wait();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let reason = match verdict {
        Waited::Ready(Err(why)) => why,
        Waited::TimedOut { last, .. } => format!("GET {} did not answer 2xx within {}s (last: {last})", version.health, timeout.as_secs()),
        Waited::Ready(Ok(())) => String::new(),
    };
    Ok(Err(format!("{reason}.\nLast lines of its log ({}):\n{}", log.display(), secrets.redact(&tail(&log_text, 20)))))
}

fn spawn(version: &Version, secrets: &Secrets, port: u16, log: &Path) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let bin = version.venv.join("bin");
    if !bin.join("python").exists() {
        return Err(Hinted::new(
            format!("the Python environment {} is gone from the cache", version.venv.display()),
            "deploy from source again (aideploy deploy) to rebuild it",
        )
        .into());
    }
    let mut cmd = match &version.entry {
        Entry::Asgi(asgi) => {
            let mut c = Command::new(bin.join("python"));
            c.args(["-m", "uvicorn", asgi, "--host", "127.0.0.1", "--port", &port.to_string()]);
            c
        }
        Entry::Command(command) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(if version.public { command.clone() } else { super::bind::loopback_only(command) });
            c
        }
    };
    cmd.env_clear();
    for key in PASS_THROUGH {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(paths)?);
    cmd.env("VIRTUAL_ENV", &version.venv);
    // A src-layout project (`src/pkg/...`, no `src/__init__.py`) imports as `pkg`.
    let src = version.release.join("src");
    if src.is_dir() && !src.join("__init__.py").exists() {
        cmd.env("PYTHONPATH", &src);
    }
    cmd.env("PYTHONUNBUFFERED", "1");
    cmd.env("PORT", port.to_string());
    if !version.public {
        for (k, v) in super::bind::HOST_VARS {
            cmd.env(k, v);
        }
    }
    for (k, v) in &version.env {
        cmd.env(k, v);
    }
    for (k, v) in &secrets.values {
        cmd.env(k, v.expose());
    }
    let out = fs_err::File::create(log)?.into_parts().0;
    let err = out.try_clone()?;
    cmd.current_dir(&version.release).stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err)).process_group(0);
    cmd.spawn().with_context(|| format!("cannot start `{}`", version.entry.describe()))
}

pub fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "exited".into(),
    }
}

/// The file a release folder holds once its copy is whole (its content: the digest).
pub const COMPLETE: &str = ".aideploy-complete";

/// The release folder for this artifact: a copy of the source set (large files hard
/// linked), so the running version never sees later edits.
pub fn ensure_release(dir: &Path, digest: &str, sources: &SourceSet) -> Result<PathBuf> {
    let name = super::short(digest.trim_start_matches("sha256:")).to_string();
    let release = dir.join("releases").join(&name);
    if release.join(COMPLETE).is_file() {
        return Ok(release);
    }
    let tmp = dir.join("releases").join(format!("{name}.tmp-{}", std::process::id()));
    let _ = fs_err::remove_dir_all(&tmp);
    for f in &sources.files {
        let to = tmp.join(&f.rel);
        fs_err::create_dir_all(to.parent().expect("file has a parent"))?;
        let linked = f.size >= 8 << 20 && std::fs::hard_link(&f.abs, &to).is_ok();
        if !linked {
            fs_err::copy(&f.abs, &to)?;
        }
    }
    fs_err::create_dir_all(&tmp)?;
    fs_err::write(tmp.join(COMPLETE), digest)?;
    if release.exists() {
        fs_err::remove_dir_all(&release)?;
    }
    fs_err::rename(&tmp, &release)?;
    Ok(release)
}

/// The proxy's listen address: every interface for a `public` deployment.
pub fn front_address(public: bool, port: u16) -> String {
    format!("{}:{port}", if public { "0.0.0.0" } else { "127.0.0.1" })
}

/// `target`: the manifest's name for the target, for the hint when the port is taken.
pub async fn start_proxy(
    dir: &Path,
    port: u16,
    public: bool,
    upstream: &Path,
    target: &str,
    poll: PollPolicy,
    r: &dyn Reporter,
) -> Result<Proc> {
    use std::os::unix::process::CommandExt;
    let log_path = dir.join("proxy.log");
    let log = fs_err::File::create(&log_path)?.into_parts().0;
    let err = log.try_clone()?;
    let exe = std::env::current_exe().context("cannot find the aideploy executable to start the proxy")?;
    let mut child = Command::new(exe)
        .arg(super::PROXY_ARG)
        .arg(front_address(public, port))
        .arg(upstream)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
        .context("cannot start the local proxy")?;
    let proc_ = Proc::of(child.id());
    let what = format!("the local proxy on {}", front_address(public, port));
    // Ready(Ok) when it listens, Ready(Err) when it ended first.
    let verdict = Wait::new(&what, PROXY_EVERY, PROXY_TIMEOUT)
        .run(poll, r, || {
            let exited = child.try_wait().ok().flatten();
            async move {
                if let Some(status) = exited {
                    return Ok(Poll::Ready(Err(status)));
                }
                Ok(match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                    Ok(_) => Poll::Ready(Ok(())),
                    Err(_) => Poll::Pending("not listening yet".into()),
                })
            }
        })
        .await?;
    match verdict {
        Waited::Ready(Ok(())) => Ok(proc_),
        Waited::Ready(Err(status)) => {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            Err(Hinted::new(
                format!("the local proxy on port {port} {}:\n{}", describe_exit(status), tail(&text, 5)),
                port_hint(port, target),
            )
            .into())
        }
        Waited::TimedOut { .. } => {
            tokio::task::block_in_place(|| proc_.stop(STOP_GRACE));
            Err(Hinted::new(format!("the local proxy did not start listening on port {port}"), format!("see {}", log_path.display()))
                .into())
        }
    }
}

/// The last `n` lines of a file, reading only its end; and the file's length.
/// How to serve on another port for good: the manifest, since a `--set` lasts one run
/// (the next plan would move the proxy back).
pub fn port_hint(port: u16, target: &str) -> String {
    format!(
        "stop the program on port {port}, or serve on another port: set `port = {}` in [targets.{target}] of the manifest (a --set lasts one run: the next deploy would move back)",
        port.saturating_add(1)
    )
}

pub fn last_lines(path: &Path, n: usize) -> Result<(Vec<String>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs_err::File::open(path)?;
    let len = f.metadata()?.len();
    let mut start = len;
    let mut buf = Vec::new();
    // Read backwards in 64 KiB steps until enough newlines are seen.
    while start > 0 && buf.iter().filter(|b| **b == b'\n').count() <= n {
        let step = start.min(64 * 1024);
        start -= step;
        f.seek(SeekFrom::Start(start))?;
        let mut chunk = vec![0; step as usize];
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let skip = lines.len().saturating_sub(n);
    Ok((lines.into_iter().skip(skip).collect(), len))
}

#[cfg(test)]
mod tests {
    use super::port_hint;

    #[test]
    fn the_port_hint_names_the_manifest_edit_not_a_one_run_set() {
        let h = port_hint(8000, "dev");
        assert!(h.contains("set `port = 8001` in [targets.dev] of the manifest"), "{h}");
        assert!(!h.contains("--set port="), "{h}");
    }
}
