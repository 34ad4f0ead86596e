//! The conformance suite: the promises of issue 11 point 7, checked for every target
//! through the binary, against each target's peer behind a recording, fault-injecting
//! proxy (proxy.rs). Each check is one function over `&dyn Fixture` (targets.rs); one
//! test per target runs them all and fails listing every check that failed, with its
//! message. A check that cannot apply to a target says why in the test's output.
//! docs/conformance.md describes the suite and its cost.

mod aws;
mod proxy;
mod targets;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use proxy::Seen;
use targets::{Fixture, Project, SECRET};

/// Fault seeds and kill points: chosen so every target's suite stays within a few minutes.
const FAULT_SEED: u64 = 11;
const KILL_AFTER_WRITES: [usize; 2] = [1, 3];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    json: Value,
}

fn command(fx: &dyn Fixture, p: &Project, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("aideploy"));
    let wh = crate::common::wheelhouse();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", p.home.path())
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env("AIDEPLOY_STATE_DIR", p.home.path().join("state"))
        .env("AIDEPLOY_CACHE_DIR", p.home.path().join("cache"))
        .env("AIDEPLOY_POLL_INTERVAL_MS", "20")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", &wh)
        .env("UV_OFFLINE", "1")
        .env("UV_FIND_LINKS", &wh)
        .env("UV_CACHE_DIR", std::env::temp_dir().join("aideploy-test-uv-cache"))
        .env("API_KEY", SECRET)
        .current_dir(&p.dir);
    fx.env(p, &mut c);
    c.args(args).args(["--target", fx.target(), "--json"]);
    if matches!(args.first(), Some(&"deploy") | Some(&"destroy") | Some(&"rollback")) {
        c.arg("--yes");
    }
    c.args(fx.args(p));
    c
}

fn finish(out: Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    Run { code: out.status.code().unwrap_or(-9), stdout, stderr, json }
}

fn run(fx: &dyn Fixture, p: &Project, args: &[&str]) -> Run {
    finish(command(fx, p, args).output().unwrap())
}

fn must(r: &Run, what: &str) -> Result<(), String> {
    if r.code == 0 {
        Ok(())
    } else {
        Err(format!("{what} exited {}: {}\n{}", r.code, r.stdout.trim(), last_lines(&r.stderr, 15)))
    }
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn marks(fx: &dyn Fixture) -> Vec<usize> {
    fx.proxies().iter().map(|p| p.mark()).collect()
}

fn seen_since(fx: &dyn Fixture, marks: &[usize]) -> Vec<Seen> {
    fx.proxies().iter().zip(marks).flat_map(|(p, m)| p.since(*m)).collect()
}

/// The mutating calls made since `marks`, one line each.
fn writes_since(fx: &dyn Fixture, marks: &[usize]) -> Vec<String> {
    seen_since(fx, marks).into_iter().filter(|s| s.write).map(|s| format!("{} ({} {})", s.op, s.method, s.path)).collect()
}

fn no_writes(fx: &dyn Fixture, m: &[usize], what: &str) -> Result<(), String> {
    let w = writes_since(fx, m);
    if w.is_empty() {
        Ok(())
    } else {
        Err(format!("{what} made {} mutating call(s): {}", w.len(), w.iter().take(8).cloned().collect::<Vec<_>>().join(", ")))
    }
}

fn unique(fx: &dyn Fixture, check: &str) -> String {
    format!("cf{check}{}{}", &fx.target()[..2], std::process::id() % 100_000)
}

fn has_secret(bytes: &[u8]) -> bool {
    let needle = SECRET.as_bytes();
    if bytes.windows(needle.len()).any(|w| w == needle) {
        return true;
    }
    // gzip (image layers, archives): look inside.
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut inner = Vec::new();
        if flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut inner).is_ok() {
            return inner.windows(needle.len()).any(|w| w == needle);
        }
    }
    false
}

fn files_with_secret(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            files_with_secret(&path, out);
        } else if meta.is_file() && meta.len() < 512 << 20 && std::fs::read(&path).is_ok_and(|b| has_secret(&b)) {
            out.push(path.display().to_string());
        }
    }
}

/// Checks 1, 2, 3 and 8 on one app: plan from nothing and from a deployed state, an
/// unchanged redeploy, the canary everywhere, a failing health check, and destroy.
fn lifecycle(fx: &dyn Fixture, report: &mut Report) {
    let p = Project::new(&unique(fx, "l"));
    fx.write_app(&p);
    let start = marks(fx);
    let mut outputs = Vec::new();

    // 1. plan from nothing.
    let m = marks(fx);
    let r = run(fx, &p, &["plan"]);
    report.check("1 plan from nothing writes nothing", must(&r, "plan").and_then(|_| no_writes(fx, &m, "plan from nothing")));
    outputs.push(r);

    let r = run(fx, &p, &["deploy"]);
    let deployed = must(&r, "the first deploy");
    outputs.push(r);
    if let Err(e) = &deployed {
        report.check("1 plan from a deployed state writes nothing", Err(format!("not reached: {e}")));
        report.check("2 an unchanged redeploy writes nothing", Err("not reached: the first deploy failed".into()));
    } else {
        let m = marks(fx);
        let r = run(fx, &p, &["plan"]);
        report.check(
            "1 plan from a deployed state writes nothing",
            must(&r, "plan").and_then(|_| no_writes(fx, &m, "plan of a deployed app")),
        );
        outputs.push(r);

        let m = marks(fx);
        let r = run(fx, &p, &["status"]);
        report.check(
            "14 status reads only and says when the serving version was deployed",
            must(&r, "status").and_then(|_| no_writes(fx, &m, "status")).and_then(|_| deployed_at(&r.json)),
        );
        outputs.push(r);

        let m = marks(fx);
        let r = run(fx, &p, &["deploy"]);
        let changed = r.json["changed"].clone();
        report.check(
            "2 an unchanged redeploy writes nothing",
            must(&r, "the unchanged redeploy").and_then(|_| no_writes(fx, &m, "the unchanged redeploy")).and_then(|_| {
                if changed == Value::Bool(false) {
                    Ok(())
                } else {
                    Err(format!("the unchanged redeploy says changed = {changed}"))
                }
            }),
        );
        outputs.push(r);

        history(fx, &p, report, &mut outputs);
        gc(fx, &p, report, &mut outputs);

        // 8. a failing health check: exit 3, the previous version keeps serving.
        let before = fx.serving(&p);
        let cmd = |args: &[&str]| command(fx, &p, args);
        // A new version (new code, so a new artifact), which the fixture then makes unhealthy.
        std::fs::write(p.dir.join("conformance_version.py"), "VERSION = 2\n").unwrap();
        match fx.fail_health(&p, &cmd) {
            Err(why) => report.cannot("8 a failing health check exits 3 and the previous version serves", &why),
            Ok(()) => {
                let r = run(fx, &p, &["deploy"]);
                let after = fx.serving(&p);
                let verdict = if r.code != 3 {
                    Err(format!(
                        "a deploy failing its health check exited {} (want 3): {}\n{}",
                        r.code,
                        r.stdout.trim(),
                        last_lines(&r.stderr, 10)
                    ))
                } else if before.is_none() || before != after {
                    Err(format!("serving before: {before:?}; after the failed deploy: {after:?}"))
                } else {
                    Ok(())
                };
                report.check("8 a failing health check exits 3 and the previous version serves", verdict);
                outputs.push(r);
            }
        }
    }

    if deployed.is_ok() {
        secrets(fx, &p, report, &mut outputs);
    }

    let r = run(fx, &p, &["destroy"]);
    let left = fx.inventory(&p);
    report.check(
        "6 destroy leaves nothing tagged (lifecycle app)",
        must(&r, "destroy").and_then(|_| if left.is_empty() { Ok(()) } else { Err(format!("left after destroy: {left:?}")) }),
    );
    outputs.push(r);

    // 3. the canary: outputs, state and artifacts, request bodies outside the secret store.
    let mut leaks = Vec::new();
    for r in &outputs {
        if r.stdout.contains(SECRET) || r.stderr.contains(SECRET) {
            leaks.push("command output (stdout/stderr/--json)".to_string());
        }
    }
    let mut files = Vec::new();
    files_with_secret(p.home.path(), &mut files);
    leaks.extend(files.into_iter().map(|f| format!("file {f}")));
    for s in seen_since(fx, &start) {
        let carries =
            s.body.contains(SECRET) || has_secret(&s.raw) || s.path.contains(SECRET) || s.headers.iter().any(|(_, v)| v.contains(SECRET));
        if carries && !fx.secret_write(&s) {
            leaks.push(format!("request {} {} ({})", s.method, s.path, s.op));
        }
    }
    leaks.dedup();
    report.check(
        "3 the canary secret appears only in secret-store writes",
        if leaks.is_empty() { Ok(()) } else { Err(format!("the secret value appears in: {}", leaks.join("; "))) },
    );
}

/// Issue 14 point 4: a second release shows in `history` (read calls only) above the
/// first, with what aideploy recorded of it; `rollback --to` the first one's id brings
/// that back, health-gated, and `history` then says which is live and which was rolled
/// back. An id the platform does not keep is refused with exit 2. Leaves the first
/// release serving.
fn history(fx: &dyn Fixture, p: &Project, report: &mut Report, outputs: &mut Vec<Run>) {
    const CHECK: &str = "14 history lists the releases and rollback --to goes back to one";
    let digest_now = |outputs: &mut Vec<Run>| -> Result<String, String> {
        let r = run(fx, p, &["status"]);
        must(&r, "status")?;
        let d = r.json["digest"].as_str().map(str::to_string).ok_or_else(|| format!("status --json has no digest: {}", r.stdout.trim()))?;
        outputs.push(r);
        Ok(d)
    };
    let releases = |outputs: &mut Vec<Run>| -> Result<Vec<Value>, String> {
        let m = marks(fx);
        let r = run(fx, p, &["history"]);
        must(&r, "history").and_then(|_| no_writes(fx, &m, "history"))?;
        let rows = r.json["releases"].as_array().cloned().ok_or_else(|| format!("history --json has no releases: {}", r.stdout.trim()))?;
        outputs.push(r);
        Ok(rows)
    };
    let verdict = (|| -> Result<(), String> {
        let first = digest_now(outputs)?;
        std::fs::write(p.dir.join("conformance_version.py"), "VERSION = 'second release'\n").unwrap();
        let r = run(fx, p, &["deploy"]);
        must(&r, "the second deploy")?;
        outputs.push(r);
        let second = digest_now(outputs)?;
        if second == first {
            return Err(format!("the second deploy still serves {first}"));
        }
        let rows = releases(outputs)?;
        let newest = rows.first().ok_or("history lists no releases after two deploys")?;
        if newest["digest"] != second.as_str() || newest["outcome"] != "live" || newest["recorded"] != true {
            return Err(format!("history's newest row is not the second release, live and recorded: {newest}"));
        }
        if newest["aideploy"] != env!("CARGO_PKG_VERSION") || !newest["manifest"].as_str().is_some_and(|m| m.starts_with("sha256:")) {
            return Err(format!("the newest release does not record the aideploy version and the manifest's digest: {newest}"));
        }
        let older = rows
            .iter()
            .skip(1)
            .find(|r| r["digest"] == first.as_str() && r["kept"] == true)
            .ok_or_else(|| format!("history does not list the first release ({first}) as kept: {rows:?}"))?;
        if older["outcome"] != "previous" {
            return Err(format!("the first release's outcome is {} (want previous)", older["outcome"]));
        }
        let id = older["id"].as_str().ok_or_else(|| format!("the first release has no id: {older}"))?.to_string();

        let r = run(fx, p, &["rollback", "--to", "no-such-release-id"]);
        if r.code != 2 {
            return Err(format!("rollback --to an id nothing keeps exited {} (want 2): {}", r.code, last_lines(&r.stderr, 5)));
        }
        outputs.push(r);

        let r = run(fx, p, &["rollback", "--to", &id]);
        must(&r, &format!("rollback --to {id}"))?;
        if r.json["health"] == "failed" {
            return Err(format!("rollback --to {id} failed its health check: {}", r.json["failure"]));
        }
        outputs.push(r);
        let now = digest_now(outputs)?;
        if now != first {
            return Err(format!("after rollback --to {id}, {now} serves (want {first})"));
        }
        let rows = releases(outputs)?;
        let outcome = |digest: &str| rows.iter().find(|r| r["digest"] == digest && r["recorded"] == true).map(|r| r["outcome"].clone());
        match (outcome(&first), outcome(&second)) {
            (Some(a), Some(b)) if a == "live" && b == "rolled_back" => Ok(()),
            (a, b) => Err(format!("after the rollback history says first = {a:?}, second = {b:?} (want live, rolled_back): {rows:?}")),
        }
    })();
    report.check(CHECK, verdict);
}

/// Issue 15 point 2: two preview stages of the deployed app `p`, one with `--ttl 1s`
/// and one with `--ttl 72h`; `status` shows each one's expiry; `gc --dry-run` lists the
/// first as expired and changes nothing; `gc --yes` destroys it and leaves the default
/// stage and the second preview. Both previews are gone afterwards (the second by
/// `destroy`), so the lifecycle's own destroy check sees only its app.
fn gc(fx: &dyn Fixture, p: &Project, report: &mut Report, outputs: &mut Vec<Run>) {
    const CHECK: &str = "15 gc removes an expired preview stage and nothing else";
    let (short, long) = ("pr-a", "pr-b");
    let ports = [crate::common::free_port(), crate::common::free_port()];
    let in_stage = |stage: &str, args: &[&str]| {
        let mut c = command(fx, p, args);
        c.args(["--stage", stage]).args(fx.stage_args(p, if stage == short { ports[0] } else { ports[1] }));
        finish(c.output().unwrap())
    };
    let status = |stage: Option<&str>, outputs: &mut Vec<Run>| -> Result<Value, String> {
        let r = match stage {
            Some(s) => in_stage(s, &["status"]),
            None => run(fx, p, &["status"]),
        };
        must(&r, &format!("status of stage {}", stage.unwrap_or("dev")))?;
        let json = r.json.clone();
        outputs.push(r);
        Ok(json)
    };
    let stages_of = |list: &Value| -> Vec<String> {
        list.as_array().into_iter().flatten().filter_map(|e| e["stage"].as_str().map(str::to_string)).collect()
    };
    let verdict = (|| -> Result<(), String> {
        let r = in_stage(short, &["deploy", "--ttl", "1s"]);
        must(&r, "deploy --stage pr-a --ttl 1s")?;
        outputs.push(r);
        let r = in_stage(long, &["deploy", "--ttl", "72h"]);
        must(&r, "deploy --stage pr-b --ttl 72h")?;
        outputs.push(r);
        // pr-a's time to live has passed by now (deploys take longer); no timing is asserted.
        std::thread::sleep(Duration::from_secs(2));
        for stage in [short, long] {
            let s = status(Some(stage), outputs)?;
            match s["expires_at"].as_str() {
                Some(t) if aideploy::util::parse_rfc3339(t).is_some() => {}
                _ => return Err(format!("status --stage {stage} --json shows no expiry: {s}")),
            }
        }
        if !status(None, outputs)?["expires_at"].is_null() {
            return Err("the default stage shows an expiry it was never given".into());
        }

        let m = marks(fx);
        let r = run(fx, p, &["gc", "--dry-run"]);
        must(&r, "gc --dry-run").and_then(|_| no_writes(fx, &m, "gc --dry-run"))?;
        let (expired, kept) = (stages_of(&r.json["expired"]), stages_of(&r.json["kept"]));
        if expired != [short] || r.json["expired"][0]["destroyed"] != false {
            return Err(format!("gc --dry-run lists as expired {expired:?} (want only {short}, not destroyed): {}", r.stdout.trim()));
        }
        if !kept.iter().any(|s| s == long) {
            return Err(format!("gc --dry-run does not list {long} as kept: {}", r.stdout.trim()));
        }
        outputs.push(r);
        if status(Some(short), outputs)?["deployed"] != true {
            return Err(format!("after gc --dry-run, {short} is no longer deployed"));
        }

        let r = run(fx, p, &["gc", "--yes"]);
        must(&r, "gc --yes")?;
        if stages_of(&r.json["expired"]) != [short] || r.json["expired"][0]["destroyed"] != true {
            return Err(format!("gc --yes did not destroy exactly {short}: {}", r.stdout.trim()));
        }
        outputs.push(r);
        if status(Some(short), outputs)?["deployed"] != false {
            return Err(format!("after gc, {short} is still deployed"));
        }
        if status(Some(long), outputs)?["deployed"] != true {
            return Err(format!("gc removed {long}, whose time to live has not passed"));
        }
        if status(None, outputs)?["deployed"] != true {
            return Err("gc removed the default stage".into());
        }
        Ok(())
    })();
    report.check(CHECK, verdict);
    for stage in [short, long] {
        let r = in_stage(stage, &["destroy"]);
        outputs.push(r);
    }
}

/// `status --json`'s `deployed_at`: an RFC 3339 UTC time.
fn deployed_at(status: &Value) -> Result<(), String> {
    match status["deployed_at"].as_str() {
        Some(t) if t.ends_with('Z') && aideploy::util::parse_rfc3339(t).is_some() => Ok(()),
        Some(t) => Err(format!("deployed_at is not an RFC 3339 UTC time: {t}")),
        None => Err(format!("status --json has no deployed_at: {status}")),
    }
}

/// The value the secrets check rotates `API_KEY` to.
const ROTATED: &str = "sk-conformance-rotated-2b8d41e6c0";

/// Issue 14 point 2: the target's own secret store round-trips a value through
/// `secrets set|list|get|rm` (the deployed app of `p` holds `API_KEY`); `list` shows a
/// version and never a value; `list` and `get` write nothing.
fn secrets(fx: &dyn Fixture, p: &Project, report: &mut Report, outputs: &mut Vec<Run>) {
    const CHECK: &str = "14 secrets set, list, get and rm round-trip in the target's own store";
    let kind = aideploy::manifest::Kind::parse(fx.target()).expect("a target kind");
    let caps = aideploy::backends::for_kind(kind).capabilities();
    if caps.provider == aideploy::engine::Provider::Local {
        return report.cannot(CHECK, "this machine keeps no secret store: [secrets] come from the environment and .env");
    }
    if !caps.secret_store {
        return report.check(CHECK, Err("the target has no secret store (its capabilities say `secret_store: false`)".into()));
    }
    let set = |value: &str| {
        let mut c = command(fx, p, &["secrets", "set", "API_KEY", "--stdin"]);
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{value}\n").as_bytes()).unwrap();
        finish(child.wait_with_output().unwrap())
    };
    let listed = |outputs: &mut Vec<Run>| -> Result<Value, String> {
        let m = marks(fx);
        let r = run(fx, p, &["secrets", "list"]);
        must(&r, "secrets list").and_then(|_| no_writes(fx, &m, "secrets list"))?;
        if r.stdout.contains(ROTATED) || r.stderr.contains(ROTATED) {
            return Err("secrets list printed a value".into());
        }
        let row = r.json["secrets"].as_array().and_then(|rows| rows.iter().find(|s| s["name"] == "API_KEY")).cloned();
        outputs.push(r);
        row.ok_or_else(|| "secrets list has no API_KEY row".into())
    };
    let got = |want: &str| -> Result<(), String> {
        let m = marks(fx);
        // Its output holds the value on purpose: it is checked here and kept out of `outputs`.
        let r = run(fx, p, &["secrets", "get", "API_KEY", "--reveal"]);
        must(&r, "secrets get --reveal").and_then(|_| no_writes(fx, &m, "secrets get"))?;
        match r.json["value"].as_str() {
            Some(v) if v == want => Ok(()),
            _ => Err(format!(
                "secrets get --reveal did not return the stored value (want the {} one)",
                if want == SECRET { "deployed" } else { "rotated" }
            )),
        }
    };
    let verdict = (|| -> Result<(), String> {
        let before = listed(outputs)?;
        if before["stored"] != Value::Bool(true) {
            return Err(format!("after a deploy, API_KEY is not stored: {before}"));
        }
        got(SECRET)?;
        let r = set(ROTATED);
        must(&r, "secrets set --stdin")?;
        if r.json["op"] != "updated" {
            return Err(format!("setting a new value says op = {} (want updated)", r.json["op"]));
        }
        outputs.push(r);
        let after = listed(outputs)?;
        if before["version"].is_string() && before["version"] == after["version"] {
            return Err(format!("the version did not change with the value: {}", after["version"]));
        }
        got(ROTATED)?;
        let r = set(ROTATED);
        must(&r, "secrets set (the same value)")?;
        if r.json["op"] != "unchanged" {
            return Err(format!("setting the same value again says op = {} (want unchanged)", r.json["op"]));
        }
        outputs.push(r);
        let r = run(fx, p, &["secrets", "rm", "API_KEY", "--yes"]);
        must(&r, "secrets rm --yes")?;
        outputs.push(r);
        let gone = listed(outputs)?;
        if gone["stored"] != Value::Bool(false) {
            return Err(format!("after secrets rm, API_KEY is still stored: {gone}"));
        }
        Ok(())
    })();
    report.check(CHECK, verdict);
}

/// 4. a same-named resource without aideploy's tags is refused, not adopted or deleted.
fn foreign(fx: &dyn Fixture, report: &mut Report) {
    const CHECK: &str = "4 a same-named foreign resource is refused";
    let p = Project::new(&unique(fx, "f"));
    fx.write_app(&p);
    let name = match fx.add_foreign(&p) {
        Ok(n) => n,
        Err(why) => return report.cannot(CHECK, &why),
    };
    let r = run(fx, &p, &["deploy"]);
    let verdict = fx.foreign_intact(&p, &name).and_then(|_| {
        if r.code == 0 {
            Err(format!("the deploy succeeded next to the foreign {name} instead of refusing it"))
        } else if !r.stderr.contains(&name) && !r.stdout.contains(&name) {
            Err(format!("the deploy failed (exit {}) without naming {name}: {}", r.code, last_lines(&r.stderr, 5)))
        } else {
            Ok(())
        }
    });
    report.check(CHECK, verdict);
    let _ = run(fx, &p, &["destroy"]);
    report.check(&format!("{CHECK} (and destroy leaves it)"), fx.foreign_intact(&p, &name));
}

/// 5. with ~10% of calls faulted, deploy converges; a fault-free deploy then is a no-op.
fn faults(fx: &dyn Fixture, report: &mut Report) {
    const CHECK: &str = "5 deploy converges with 10% of calls faulted";
    if fx.proxies().is_empty() {
        return report.cannot(CHECK, "no remote peer: nothing to fault");
    }
    let p = Project::new(&unique(fx, "q"));
    fx.write_app(&p);
    let m = marks(fx);
    for px in fx.proxies() {
        px.faults(Some(FAULT_SEED));
    }
    let r = run(fx, &p, &["deploy"]);
    for px in fx.proxies() {
        px.faults(None);
    }
    let injected = seen_since(fx, &m).iter().filter(|s| s.fault.is_some()).count();
    let verdict = must(&r, &format!("the deploy with {injected} faulted call(s)")).and_then(|_| {
        let m = marks(fx);
        let again = run(fx, &p, &["deploy"]);
        must(&again, "the fault-free deploy after it").and_then(|_| no_writes(fx, &m, "the fault-free deploy after the faulted one"))
    });
    report.check(CHECK, verdict.map_err(|e| format!("{injected} faults injected: {e}")));
    let _ = run(fx, &p, &["destroy"]);
}

/// Check 6: a deploy killed right after its k-th mutating call is followed by one that
/// converges; destroy then leaves nothing.
fn kills(fx: &dyn Fixture, report: &mut Report) {
    if fx.proxies().is_empty() {
        return report.cannot("6 a deploy killed after a mutating call converges", "no remote peer: no mutating call to stop after");
    }
    for k in KILL_AFTER_WRITES {
        let check = format!("6 a deploy killed after its write #{k} converges");
        let p = Project::new(&unique(fx, &format!("k{k}")));
        fx.write_app(&p);
        for px in fx.proxies() {
            px.hold_after_write(k);
        }
        let mut child = command(fx, &p, &["deploy"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        let held = loop {
            if fx.proxies().iter().any(|px| px.holding()) {
                break true;
            }
            if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(600) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        for px in fx.proxies() {
            px.release();
        }
        if !held {
            report.cannot(&check, &format!("the deploy made fewer than {k} mutating calls"));
            let _ = run(fx, &p, &["destroy"]);
            continue;
        }
        let r = run(fx, &p, &["deploy"]);
        let verdict = must(&r, "the deploy after the killed one").and_then(|_| {
            let inv = fx.inventory(&p);
            let mut sorted = inv.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != inv.len() {
                return Err(format!("duplicates after the killed deploy: {inv:?}"));
            }
            let m = marks(fx);
            let again = run(fx, &p, &["deploy"]);
            must(&again, "a third deploy").and_then(|_| no_writes(fx, &m, "a deploy after the converged one"))
        });
        report.check(&check, verdict);
        let r = run(fx, &p, &["destroy"]);
        let left = fx.inventory(&p);
        report.check(
            &format!("6 destroy after the killed deploy #{k} leaves nothing"),
            must(&r, "destroy").and_then(|_| if left.is_empty() { Ok(()) } else { Err(format!("left after destroy: {left:?}")) }),
        );
    }
}

/// Check 7: two concurrent deploys: one applies, the other waits for the lease and then finds
/// nothing to do. Every target keeps a lease (issue 11 point 5): one that declares none fails.
fn concurrent(fx: &dyn Fixture, report: &mut Report) {
    const CHECK: &str = "7 two concurrent deploys: one applies, the other waits and does nothing";
    let kind = aideploy::manifest::Kind::parse(fx.target()).expect("a target kind");
    if !aideploy::backends::for_kind(kind).capabilities().lease {
        return report
            .check(CHECK, Err("the target keeps no lease (its capabilities say `lease: false`): two deploys could overlap".into()));
    }
    let p = Project::new(&unique(fx, "c"));
    fx.write_app(&p);
    let a = command(fx, &p, &["deploy"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let b = command(fx, &p, &["deploy"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (finish(a.wait_with_output().unwrap()), finish(b.wait_with_output().unwrap()));
    let verdict = must(&a, "the first concurrent deploy").and_then(|_| must(&b, "the second concurrent deploy")).and_then(|_| {
        let changed = [&a, &b].iter().filter(|r| r.json["changed"] == Value::Bool(true)).count();
        let inv = fx.inventory(&p);
        let mut sorted = inv.clone();
        sorted.sort();
        sorted.dedup();
        if changed != 1 {
            Err(format!("{changed} of the two concurrent deploys applied (want 1)"))
        } else if sorted.len() != inv.len() {
            Err(format!("duplicates after two concurrent deploys: {inv:?}"))
        } else {
            Ok(())
        }
    });
    report.check(CHECK, verdict);
    let _ = run(fx, &p, &["destroy"]);
}

/// Every check's verdict for one target.
struct Report {
    target: &'static str,
    lines: Vec<String>,
    failed: usize,
}

/// Checks that fail today, by target and the check's name, with why: each
/// is printed as KNOWN and is not counted, and one that passes fails the suite (FIXED),
/// so this list only shrinks. Issue 11 lists what remains.
const KNOWN: &[(&str, &str, &str)] = &[];

impl Report {
    fn check(&mut self, name: &str, verdict: Result<(), String>) {
        let known = KNOWN.iter().find(|(t, check, _)| *t == self.target && name == *check).map(|k| k.2);
        match (verdict, known) {
            (Ok(()), None) => self.lines.push(format!("ok      {name}")),
            (Ok(()), Some(why)) => {
                self.failed += 1;
                self.lines.push(format!("FIXED   {name}: it passes now; take it off KNOWN (it said: {why})"));
            }
            (Err(e), Some(why)) => self.lines.push(format!("KNOWN   {name}: {why}: {}", e.lines().next().unwrap_or(""))),
            (Err(e), None) => {
                self.failed += 1;
                self.lines.push(format!("FAILED  {name}: {e}"));
            }
        }
    }
    /// A check that cannot apply to this target, with why (printed, never silent).
    fn cannot(&mut self, name: &str, why: &str) {
        self.lines.push(format!("n/a     {name}: {why}"));
    }
}

fn conform(fx: &dyn Fixture) {
    let mut report = Report { target: fx.target(), lines: Vec::new(), failed: 0 };
    lifecycle(fx, &mut report);
    foreign(fx, &mut report);
    faults(fx, &mut report);
    kills(fx, &mut report);
    concurrent(fx, &mut report);
    let text = format!("conformance of {}:\n{}", report.target, report.lines.join("\n"));
    println!("{text}");
    assert_eq!(report.failed, 0, "{} check(s) failed:\n{text}", report.failed);
}

#[test]
fn conformance_local() {
    conform(&targets::Local);
}

#[test]
fn conformance_render() {
    conform(&targets::Render::new());
}

#[test]
fn conformance_railway() {
    conform(&targets::Railway::new());
}

#[test]
fn conformance_cloudrun() {
    conform(&targets::CloudRun::new());
}

#[test]
fn conformance_appservice() {
    conform(&targets::AppService::new());
}

#[test]
fn conformance_lambda() {
    conform(&aws::Lambda::new());
}

#[test]
fn conformance_ec2() {
    conform(&aws::Ec2::new());
}

#[test]
fn conformance_sagemaker() {
    conform(&aws::SageMaker::new());
}
