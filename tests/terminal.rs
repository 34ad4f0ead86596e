//! At a terminal and around it: prompts under a pseudo-terminal (Ctrl-C, answers asked
//! again, the target picker), `init` on a folder that has a manifest, the next commands,
//! completion of the manifest's target names, progress lines without a terminal, and
//! leaving `logs -f` with Ctrl-C.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{self, aideploy};

const FASTAPI_APP: &str =
    "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/health\")\ndef health():\n    return {\"ok\": True}\n";

/// A folder `myapp` holding a FastAPI app.
fn fastapi_app(home: &Path) -> PathBuf {
    let dir = home.join("myapp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.py"), FASTAPI_APP).unwrap();
    std::fs::write(dir.join("requirements.txt"), "fastapi\n").unwrap();
    dir
}

/// `aideploy` run under a pseudo-terminal of 80x24, as a person at a terminal runs it.
struct Pty {
    master: std::fs::File,
    output: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl Pty {
    fn spawn(home: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors; the other pointers may be null.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let child = {
            let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("aideploy"));
            cmd.args(args)
                .current_dir(dir)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", home)
                .env("TERM", "xterm")
                .env("NO_COLOR", "1")
                .env("AIDEPLOY_STATE_DIR", home.join("state"))
                .env("AIDEPLOY_CACHE_DIR", home.join("cache"))
                .stdin(Stdio::from(slave.try_clone().unwrap()))
                .stdout(Stdio::from(slave.try_clone().unwrap()))
                .stderr(Stdio::from(slave));
            for (k, v) in env {
                cmd.env(k, v);
            }
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                    // A session of its own with the terminal as its controlling one.
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            cmd.spawn().expect("spawn aideploy")
        };
        let output = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), output.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child is gone and the terminal's other side is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty { master, output, child }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until `needle` is in the output after byte `from`; returns where it ends.
    fn expect(&mut self, needle: &str, from: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.text();
            if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                return from + i + needle.len();
            }
            if Instant::now() > deadline || self.child.try_wait().unwrap().is_some() {
                std::thread::sleep(Duration::from_millis(200));
                let text = self.text();
                if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                    return from + i + needle.len();
                }
                panic!("`{needle}` never appeared; the terminal shows:\n{text:?}");
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// The exit code, once the process has ended and its output is read.
    fn finish(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "aideploy did not end; the terminal shows:\n{:?}", self.text());
            std::thread::sleep(Duration::from_millis(30));
        };
        std::thread::sleep(Duration::from_millis(200));
        status.code().unwrap_or_else(|| panic!("ended by a signal ({status:?}); the terminal shows:\n{:?}", self.text()))
    }

    /// The terminal's local modes (echo, canonical input, signals) as the process left them.
    fn lflag(&self) -> libc::tcflag_t {
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) }, 0);
        t.c_lflag
    }
}

/// After a prompt the cursor is visible: it was shown after it was last hidden.
/// A test that fails half-way does not leave its aideploy running (a prompt waits forever).
impl Drop for Pty {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn assert_cursor_shown(text: &str) {
    let hidden = text.rfind("\x1b[?25l");
    let shown = text.rfind("\x1b[?25h");
    assert!(shown.is_some() && shown > hidden, "the cursor was left hidden:\n{text:?}");
}

/// The visible text of one line: escape sequences removed.
fn visible(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[test]
fn ctrl_c_at_the_target_picker_restores_the_terminal_and_exits_130() {
    let home = tempfile::tempdir().unwrap();
    let dir = fastapi_app(home.path());
    let mut pty = Pty::spawn(home.path(), &dir, &["init", "--name", "myapp"], &[]);
    let at = pty.expect("Target", 0);
    pty.expect("render", at);
    // One line per kind, its summary beside it, each narrower than the terminal.
    let text = pty.text();
    let lines: Vec<String> = text.split('\n').map(visible).collect();
    for (kind, summary) in [("local", "this machine"), ("cloudrun", "Google Cloud Run (container, scales to zero)"), ("render", "Render")] {
        let line = lines.iter().find(|l| l.contains(summary)).unwrap_or_else(|| panic!("no line for {kind}:\n{lines:#?}"));
        assert!(line.contains(kind), "{kind} and its summary are on one line: {line:?}");
        assert!(line.chars().count() < 80, "the line fits the terminal: {line:?}");
    }
    pty.send("\x03");
    assert_eq!(pty.finish(), 130);
    let text = pty.text();
    assert_cursor_shown(&text);
    assert!(text.contains("interrupted"), "{text:?}");
    assert!(!text.contains("error"), "Ctrl-C is not an error:\n{text:?}");
    assert!(!dir.join("aideploy.toml").exists(), "nothing was written");
}

#[test]
fn ctrl_c_at_the_name_prompt_exits_130() {
    let home = tempfile::tempdir().unwrap();
    let dir = fastapi_app(home.path());
    let mut pty = Pty::spawn(home.path(), &dir, &["init"], &[]);
    pty.expect("App name", 0);
    pty.send("half");
    pty.send("\x03");
    assert_eq!(pty.finish(), 130);
    let text = pty.text();
    assert_cursor_shown(&text);
    assert!(!text.contains("error"), "{text:?}");
    let lflag = pty.lflag();
    assert!(lflag & libc::ECHO != 0 && lflag & libc::ICANON != 0, "raw mode is off again");
    assert!(!dir.join("aideploy.toml").exists());
}

#[test]
fn an_invalid_app_name_is_asked_again() {
    let home = tempfile::tempdir().unwrap();
    let dir = fastapi_app(home.path());
    let mut pty = Pty::spawn(home.path(), &dir, &["init"], &[]);
    let at = pty.expect("App name", 0);
    pty.send("Bad Name!\r");
    let at = pty.expect("not a valid app name", at);
    let at = pty.expect("App name", at);
    pty.send("\r"); // the default: the folder's name
    let at = pty.expect("Target", at);
    pty.expect("render", at);
    pty.send("\r"); // the first kind: local
    assert_eq!(pty.finish(), 0, "{:?}", pty.text());
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("name = \"myapp\""), "{manifest}");
    assert!(manifest.contains("[targets.local]"), "{manifest}");
    let text = pty.text();
    assert!(text.contains("aideploy up --target local"), "ends with the next commands:\n{text:?}");
    assert_cursor_shown(&text);
}

#[test]
fn ctrl_c_at_a_secret_prompt_turns_echo_back_on() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.py"), FASTAPI_APP).unwrap();
    std::fs::write(dir.join("requirements.txt"), "fastapi\n").unwrap();
    std::fs::write(
        dir.join("aideploy.toml"),
        "version = 1\n\n[app]\nname = \"app\"\nasgi = \"main:app\"\n\n[secrets]\nAPI_TOKEN = {}\n\n[targets.local]\n",
    )
    .unwrap();
    let mut pty = Pty::spawn(home.path(), &dir, &["plan", "--target", "local"], &[]);
    pty.expect("Value for secret API_TOKEN", 0);
    pty.send("hunter2");
    pty.send("\x03");
    assert_eq!(pty.finish(), 130);
    let text = pty.text();
    assert!(!text.contains("hunter2"), "the value was not echoed:\n{text:?}");
    assert!(!text.contains("error"), "{text:?}");
    let lflag = pty.lflag();
    assert!(lflag & libc::ECHO != 0, "echo is back on");
    assert!(lflag & libc::ICANON != 0 && lflag & libc::ISIG != 0, "line mode and Ctrl-C signals are back on");
}

#[test]
fn init_at_a_terminal_asks_which_target_to_add() {
    let home = tempfile::tempdir().unwrap();
    let dir = fastapi_app(home.path());
    aideploy(home.path()).current_dir(&dir).args(["init", "--target", "local", "--yes"]).assert().success();
    let mut pty = Pty::spawn(home.path(), &dir, &["init"], &[]);
    let at = pty.expect("Target to add", 0);
    pty.expect("render", at);
    // The kinds already there are not offered.
    let offered: Vec<String> = pty.text()[at..].split('\n').map(visible).filter(|l| l.contains("this machine")).collect();
    assert!(offered.is_empty(), "local is already a target: {offered:?}");
    pty.send("\r"); // the first kind offered: lambda
    assert_eq!(pty.finish(), 0, "{:?}", pty.text());
    let manifest = std::fs::read_to_string(dir.join("aideploy.toml")).unwrap();
    assert!(manifest.contains("[targets.local]") && manifest.contains("[targets.lambda]"), "{manifest}");
    assert!(pty.text().contains("aideploy up --target lambda"));
}

#[test]
fn init_ends_with_the_next_commands() {
    let home = tempfile::tempdir().unwrap();
    let dir = fastapi_app(home.path());
    let out = aideploy(home.path()).current_dir(&dir).args(["init", "--target", "local", "--yes", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", common::transcript(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["next"], serde_json::json!(["aideploy plan --target local", "aideploy up --target local"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Next:\n  aideploy plan --target local\n  aideploy up --target local"), "{stderr}");
    // From another folder the commands name the manifest.
    let out =
        aideploy(home.path()).current_dir(home.path()).args(["init", "-C", "myapp", "--target", "lambda", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", common::transcript(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["next"][1], "aideploy up -C myapp --target lambda");
}

#[test]
fn init_adds_a_target_to_an_existing_manifest_keeping_its_text() {
    let home = tempfile::tempdir().unwrap();
    let dir = fastapi_app(home.path());
    aideploy(home.path()).current_dir(&dir).args(["init", "--target", "local", "--yes"]).assert().success();
    let path = dir.join("aideploy.toml");
    let before = format!("# my own comment, kept\n{}", std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, &before).unwrap();

    let out = aideploy(home.path()).current_dir(&dir).args(["init", "--target", "cloudrun", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", common::transcript(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["added_target"], true);
    assert_eq!(v["target"], "cloudrun");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Added [targets.cloudrun]"));
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.starts_with(&before), "the file's text is kept as it was:\n{after}");
    let added = &after[before.len()..];
    assert!(added.contains("[targets.cloudrun]") && added.contains("region = \"us-central1\""), "{added}");
    // The result is a manifest that validates, with both targets.
    aideploy(home.path()).current_dir(&dir).arg("validate").assert().success();
    let out = aideploy(home.path()).current_dir(&dir).args(["__complete", "target", "aideploy", "plan"]).output().unwrap();
    assert_eq!(lines(&out), ["cloudrun", "local"]);

    // The same kind again: exit 2, saying so; the file is unchanged.
    let out = aideploy(home.path()).current_dir(&dir).args(["init", "--target", "cloudrun"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::transcript(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already has [targets.cloudrun]"), "{}", common::transcript(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);

    // No terminal and no --target: exit 2 naming the flag.
    let out = aideploy(home.path()).current_dir(&dir).args(["init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::transcript(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --target KIND"), "{}", common::transcript(&out));
}

/// A folder whose manifest names the targets `prod-lambda` and `dev`.
fn two_targets(home: &Path) -> PathBuf {
    let dir = home.join("svc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.py"), FASTAPI_APP).unwrap();
    std::fs::write(dir.join("requirements.txt"), "fastapi\n").unwrap();
    std::fs::write(
        dir.join("aideploy.toml"),
        "version = 1\n\n[app]\nname = \"svc\"\nasgi = \"main:app\"\n\n[targets.prod-lambda]\nkind = \"lambda\"\nregion = \"us-east-1\"\n\n[targets.dev]\nkind = \"local\"\n",
    )
    .unwrap();
    dir
}

fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn completion_offers_the_manifests_target_names() {
    let home = tempfile::tempdir().unwrap();
    let dir = two_targets(home.path());
    let out = aideploy(home.path()).current_dir(&dir).args(["__complete", "target", "aideploy", "plan", "--target"]).output().unwrap();
    let mut got = lines(&out);
    got.sort();
    assert_eq!(got, ["dev", "prod-lambda"]);
    // -C from elsewhere.
    let out = aideploy(home.path())
        .current_dir(home.path())
        .args(["__complete", "target", "aideploy", "-C", "svc", "deploy", "-t"])
        .output()
        .unwrap();
    let mut got = lines(&out);
    got.sort();
    assert_eq!(got, ["dev", "prod-lambda"]);
    // init adds kinds, not names.
    let out = aideploy(home.path()).current_dir(&dir).args(["__complete", "target", "aideploy", "init", "--target"]).output().unwrap();
    assert!(lines(&out).contains(&"cloudrun".to_string()));
    // --stage: dev, and the stages this machine has local state for.
    std::fs::create_dir_all(home.path().join("state/local/svc-pr-42")).unwrap();
    let out = aideploy(home.path()).current_dir(&dir).args(["__complete", "stage", "aideploy", "status", "--stage"]).output().unwrap();
    assert_eq!(lines(&out), ["dev", "pr-42"]);
}

/// The bash script, sourced in bash, offers the names at `aideploy plan --target <TAB>`.
#[test]
fn bash_completes_target_names_through_the_script() {
    let home = tempfile::tempdir().unwrap();
    let dir = two_targets(home.path());
    let script = aideploy(home.path()).args(["completions", "bash"]).output().unwrap().stdout;
    std::fs::write(home.path().join("aideploy.bash"), script).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("aideploy");
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let run = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let cur = words.last().unwrap();
        let prev = words[words.len() - 2];
        let body = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; _aideploy aideploy '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            home.path().join("aideploy.bash").display(),
            words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            words.len() - 1,
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(body)
            .current_dir(&dir)
            .env("PATH", &path)
            .env("AIDEPLOY_STATE_DIR", home.path().join("state"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut got = lines(&out);
        got.sort();
        got
    };
    assert_eq!(run("aideploy plan --target "), ["dev", "prod-lambda"]);
    assert_eq!(run("aideploy up -t p"), ["prod-lambda"]);
    assert_eq!(run("aideploy build --package "), ["image", "zip"]);
}

/// An app that needs no package: Python's own HTTP server.
fn plain_server(home: &Path) -> PathBuf {
    let dir = home.join("srv");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("requirements.txt"), "").unwrap();
    std::fs::write(dir.join("index.html"), "ok\n").unwrap();
    std::fs::write(
        dir.join("aideploy.toml"),
        "version = 1\n\n[app]\nname = \"srv\"\ncommand = \"python3 -m http.server $PORT --bind 127.0.0.1\"\nhealth = \"/\"\nport = 8000\n\n[targets.local]\n",
    )
    .unwrap();
    dir
}

#[test]
fn progress_without_a_terminal_has_no_dash_lines_and_keeps_durations() {
    let home = tempfile::tempdir().unwrap();
    let dir = plain_server(home.path());
    let mut cmd = aideploy(home.path());
    common::offline(&mut cmd);
    let out = cmd.current_dir(&dir).args(["build", "--target", "local", "--no-progress"]).output().unwrap();
    assert!(out.status.success(), "{}", common::transcript(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().all(|l| !l.trim_start().starts_with('-')), "a progress line reads as a deletion:\n{stderr}");
    let started: Vec<&str> = stderr.lines().filter_map(|l| l.trim_start().strip_prefix("· ")).collect();
    assert!(!started.is_empty(), "each step says it started:\n{stderr}");
    for step in started {
        let done = stderr.lines().find(|l| l.trim_start().starts_with(&format!("✓ {step} (")));
        let done = done.unwrap_or_else(|| panic!("step `{step}` has no finished line:\n{stderr}"));
        let took = done.rsplit_once('(').unwrap().1;
        assert!(took.ends_with("ms)") || took.ends_with("s)"), "with its duration: {done}");
    }
}

#[test]
fn leaving_logs_follow_with_ctrl_c_is_not_an_error() {
    let home = tempfile::tempdir().unwrap();
    let dir = plain_server(home.path());
    let mut up = aideploy(home.path());
    common::offline(&mut up);
    // A free port for this run.
    let port = common::free_port();
    let out = up.current_dir(&dir).args(["up", "--target", "local", "--yes", "--set", &format!("port={port}")]).output().unwrap();
    assert!(out.status.success(), "{}", common::transcript(&out));

    let mut child = Command::new(assert_cmd::cargo::cargo_bin("aideploy"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env("AIDEPLOY_STATE_DIR", home.path().join("state"))
        .env("AIDEPLOY_CACHE_DIR", home.path().join("cache"))
        .current_dir(&dir)
        .args(["logs", "--target", "local", "-f", "--set", &format!("port={port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The health check's request is in the log: once it is printed, `logs -f` is following.
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("GET /") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "logs ended before printing the health check:\n{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("error"), "Ctrl-C ends `logs -f` without an error:\n{stderr}");

    let mut down = aideploy(home.path());
    down.current_dir(&dir).args(["destroy", "--target", "local", "--yes", "--set", &format!("port={port}")]).assert().success();
}

#[test]
fn ctrl_c_at_a_confirmation_exits_130_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let dir = plain_server(home.path());
    let port = format!("port={}", common::free_port());
    let mut up = aideploy(home.path());
    common::offline(&mut up);
    let out = up.current_dir(&dir).args(["up", "--target", "local", "--yes", "--set", &port]).output().unwrap();
    assert!(out.status.success(), "{}", common::transcript(&out));
    // Removing asks first; Ctrl-C there leaves the app deployed.
    let mut pty = Pty::spawn(home.path(), &dir, &["destroy", "--target", "local", "--set", &port], &[]);
    pty.expect("Destroy these resources?", 0);
    pty.send("\x03");
    let code = pty.finish();
    let text = pty.text();
    let status = aideploy(home.path()).current_dir(&dir).args(["status", "--target", "local", "--json", "--set", &port]).output().unwrap();
    aideploy(home.path()).current_dir(&dir).args(["destroy", "--target", "local", "--yes", "--set", &port]).assert().success();
    assert_eq!(code, 130, "{text:?}");
    assert_cursor_shown(&text);
    assert!(text.contains("interrupted") && !text.contains("error"), "{text:?}");
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["deployed"], true, "{v}");
}
