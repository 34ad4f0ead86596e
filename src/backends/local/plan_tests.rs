//! The local plan, table-driven from hand-made observations: no process is started and
//! no file is read.

use std::path::PathBuf;

use super::*;
use crate::artifact::python::{Interpreter, PythonEnv};
use crate::artifact::source::SourceSet;
use crate::backends::local::process::Proc;
use crate::backends::local::run::Serving;
use crate::backends::local::state::{Now, State};
use crate::engine::ArtifactInfo;
use sha2::Digest as _;

const MANIFEST: &str = r#"
version = 1
[app]
name = "demo"
runtime = "python3.11"
asgi = "app.main:app"
port = 8000
health = "/health"
[env]
LOG_LEVEL = "info"
[targets.local]
"#;

/// A run's context from a manifest's text and `--set` values.
fn cx(manifest: &str, sets: &[&str]) -> Cx {
    crate::engine::testing::cx(manifest, "local", sets)
}

/// What build would make for this code and these dependencies.
fn built(code: &str, deps: &str) -> Built<Source> {
    let env = PythonEnv {
        dir: PathBuf::from(format!("/cache/envs/{deps}")),
        key: deps.into(),
        python: PathBuf::from(format!("/cache/envs/{deps}/bin/python")),
        interpreter: Interpreter { path: PathBuf::from("/usr/bin/python3.11"), version: "3.11".into() },
    };
    let file = |rel: &str, text: &str| crate::artifact::source::SourceFile {
        rel: rel.into(),
        abs: PathBuf::from("/nowhere").join(rel),
        size: text.len() as u64,
        executable: false,
        sha256: sha256(text.as_bytes()),
    };
    let files = vec![file("aideploy.toml", MANIFEST), file("app/main.py", code)];
    let sources = SourceSet { root: PathBuf::from("/nowhere"), files, excluded: Vec::new() };
    Built { info: ArtifactInfo::plain("source", format!("sha256:{deps}-{code}"), 0), data: Source { env, sources } }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&sha2::Sha256::digest(data));
    out
}

/// As `built`, after an edit of the manifest file only (its digest moves, the code's not).
fn built_after_manifest_edit(code: &str, deps: &str) -> Built<Source> {
    let mut b = built(code, deps);
    b.info = ArtifactInfo::plain("source", format!("sha256:{deps}-{code}-edited-manifest"), 0);
    b.data.sources.files[0].sha256 = sha256(b"# edited\n");
    b
}

/// `Why::Changed` with the named parts.
fn changed(parts: &[&str]) -> Why {
    let mut w = What::default();
    for p in parts {
        match *p {
            "code" => w.code = true,
            "dependencies" => w.dependencies = true,
            "env" => w.env = true,
            "secrets" => w.secrets = true,
            "settings" => w.settings = true,
            "manifest" => w.manifest = true,
            other => panic!("no part {other}"),
        }
    }
    Why::Changed(w)
}

#[derive(Clone, Copy)]
struct Live {
    app: bool,
    proxy: bool,
    healthy: bool,
}

const ALL_UP: Live = Live { app: true, proxy: true, healthy: true };

/// A recorded deployment of `artifact` under `cx`, on port 8000, alive as `live` says.
fn deployed(cx: &Cx, artifact: &Built<Source>, live: Live, previous: bool) -> Observed {
    let version = desired(cx, artifact, PathBuf::from("/state/releases/new"), "salt");
    let previous = previous.then(|| desired(cx, &built("old", "deps"), PathBuf::from("/state/releases/old"), "salt"));
    let state = State {
        app: "demo".into(),
        stage: "dev".into(),
        front_port: 8000,
        proxy: Some(Proc { pid: 20, start: Some(2) }),
        salt: "salt".into(),
        serving: Serving {
            version,
            proc: Proc { pid: 10, start: Some(1) },
            port: 41000,
            log: PathBuf::from("/state/logs/app.log"),
            since: 1_764_900_000,
        },
        previous_since: previous.as_ref().map(|_| 1_764_800_000),
        previous,
    };
    let previous_kept = state.previous.is_some();
    Observed::Recorded(Box::new(Now { state, app_alive: live.app, proxy_alive: live.proxy, app_healthy: live.healthy, previous_kept }))
}

fn rows(p: &Planned<Step>) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            let a = c.row();
            format!("{} {} {}{}", a.op.symbol(), a.resource, a.id, a.reason.map(|r| format!(" ({r})")).unwrap_or_default())
        })
        .collect()
}

/// (case, context, what runs, what build made, expected steps)
type Case<'a> = (&'a str, &'a Cx, Observed, Built<Source>, Vec<Step>);

#[test]
fn plans_from_what_is_there() {
    let base = cx(MANIFEST, &[]);
    let code = built("v1", "deps");
    let app = |why| Step::ReplaceApp { base: "demo-dev".into(), why };
    let keep_app = Step::KeepApp { base: "demo-dev".into() };
    let keep_proxy = Step::KeepProxy { port: 8000 };
    let changed_env = cx(&MANIFEST.replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""), &[]);
    let changed_health = cx(&MANIFEST.replace("health = \"/health\"", "health = \"/ready\""), &[]);
    let public = cx(&MANIFEST.replace("[targets.local]\n", "[targets.local]\npublic = true\n"), &[]);
    // (case, context, what runs, what build made, expected steps)
    let cases: Vec<Case> = vec![
        (
            "nothing deployed",
            &base,
            Observed::Nothing,
            built("v1", "deps"),
            vec![
                Step::StartApp { base: "demo-dev".into(), entry: "uvicorn app.main:app".into() },
                Step::StartProxy { port: 8000, why: ProxyWhy::New },
            ],
        ),
        (
            "everything matches",
            &base,
            deployed(&base, &code, ALL_UP, false),
            built("v1", "deps"),
            vec![keep_app.clone(), keep_proxy.clone()],
        ),
        (
            "the code changed",
            &base,
            deployed(&base, &code, ALL_UP, false),
            built("v2", "deps"),
            vec![app(changed(&["code"])), keep_proxy.clone()],
        ),
        (
            "the dependencies changed",
            &base,
            deployed(&base, &code, ALL_UP, false),
            built("v1", "deps2"),
            vec![app(changed(&["dependencies"])), keep_proxy.clone()],
        ),
        (
            "an env value changed (and so the manifest file): env, not code",
            &changed_env,
            deployed(&base, &code, ALL_UP, false),
            built_after_manifest_edit("v1", "deps"),
            vec![app(changed(&["env"])), keep_proxy.clone()],
        ),
        (
            "an env value and the code changed",
            &changed_env,
            deployed(&base, &code, ALL_UP, false),
            built("v2", "deps"),
            vec![app(changed(&["code", "env"])), keep_proxy.clone()],
        ),
        (
            "the health path changed",
            &changed_health,
            deployed(&base, &code, ALL_UP, false),
            built_after_manifest_edit("v1", "deps"),
            vec![app(changed(&["settings"])), keep_proxy.clone()],
        ),
        (
            "only the manifest's text changed (a comment)",
            &base,
            deployed(&base, &code, ALL_UP, false),
            built_after_manifest_edit("v1", "deps"),
            vec![app(changed(&["manifest"])), keep_proxy.clone()],
        ),
        (
            "public = true: the app runs its command as written, the proxy listens everywhere",
            &public,
            deployed(&base, &code, ALL_UP, false),
            built("v1", "deps"),
            vec![app(changed(&["settings"])), Step::StartProxy { port: 8000, why: ProxyWhy::AccessChanged { public: true } }],
        ),
        (
            "partly there: the process died, the proxy runs",
            &base,
            deployed(&base, &code, Live { app: false, proxy: true, healthy: false }, false),
            built("v1", "deps"),
            vec![app(Why::NotRunning), keep_proxy.clone()],
        ),
        (
            "partly there: the proxy died, the process runs",
            &base,
            deployed(&base, &code, Live { app: true, proxy: false, healthy: true }, false),
            built("v1", "deps"),
            vec![keep_app.clone(), Step::StartProxy { port: 8000, why: ProxyWhy::NotRunning }],
        ),
        (
            "partly there: both died, the state file remains",
            &base,
            deployed(&base, &code, Live { app: false, proxy: false, healthy: false }, false),
            built("v1", "deps"),
            vec![app(Why::NotRunning), Step::StartProxy { port: 8000, why: ProxyWhy::NotRunning }],
        ),
        (
            "running but unhealthy",
            &base,
            deployed(&base, &code, Live { app: true, proxy: true, healthy: false }, false),
            built("v1", "deps"),
            vec![app(Why::Unhealthy), keep_proxy.clone()],
        ),
    ];
    for (case, cx, seen, artifact, want) in cases {
        let got = plan(cx, &seen, &artifact);
        assert_eq!(got.changes, want, "{case}");
        assert_eq!(got.has_changes(), want.iter().any(|s| s.row().op != Op::Noop), "{case}");
    }

    // Another port moves only the proxy.
    let moved = cx(MANIFEST, &["port=9000"]);
    let got = plan(&moved, &deployed(&base, &code, ALL_UP, false), &code);
    assert_eq!(got.changes, vec![keep_app, Step::StartProxy { port: 9000, why: ProxyWhy::PortChanged { from: 8000 } }]);
}

#[test]
fn rows_are_the_ones_people_see() {
    let base = cx(MANIFEST, &[]);
    let code = built("v1", "deps");
    assert_eq!(
        rows(&plan(&base, &Observed::Nothing, &code)),
        vec!["+ process demo-dev (uvicorn app.main:app)", "+ proxy 127.0.0.1:8000 (stable URL)"]
    );
    assert_eq!(
        rows(&plan(&base, &deployed(&base, &code, ALL_UP, false), &built("v2", "deps"))),
        vec!["~ process demo-dev (code changed)", "= proxy 127.0.0.1:8000"]
    );
    let moved = cx(MANIFEST, &["port=9000"]);
    assert_eq!(rows(&plan(&moved, &deployed(&base, &code, ALL_UP, false), &code))[1], "~ proxy 127.0.0.1:9000 (port 8000 -> 9000)");
    let public = cx(&MANIFEST.replace("[targets.local]\n", "[targets.local]\npublic = true\n"), &[]);
    assert_eq!(
        rows(&plan(&public, &deployed(&base, &code, ALL_UP, false), &code)),
        vec!["~ process demo-dev (settings changed)", "~ proxy 127.0.0.1:8000 (public: every interface)"]
    );
    assert_eq!(rows(&plan(&base, &deployed(&public, &code, ALL_UP, false), &code))[1], "~ proxy 127.0.0.1:8000 (127.0.0.1 only)");
    let changed_env = cx(&MANIFEST.replace("LOG_LEVEL = \"info\"", "LOG_LEVEL = \"debug\""), &[]);
    assert_eq!(
        rows(&plan(&changed_env, &deployed(&base, &code, ALL_UP, false), &built_after_manifest_edit("v1", "deps")))[0],
        "~ process demo-dev (env changed)"
    );
    assert_eq!(
        rows(&plan(&changed_env, &deployed(&base, &code, ALL_UP, false), &built("v2", "deps2")))[0],
        "~ process demo-dev (code, dependencies, env changed)"
    );
}

#[test]
fn a_state_without_the_code_digest_still_says_code_or_dependencies() {
    let base = cx(MANIFEST, &[]);
    let code = built("v1", "deps");
    let Observed::Recorded(mut n) = deployed(&base, &code, ALL_UP, false) else { unreachable!() };
    n.state.serving.version.code.clear();
    n.state.serving.version.secrets.clear();
    let seen = Observed::Recorded(n);
    assert_eq!(plan(&base, &seen, &built("v2", "deps")).changes[0], Step::ReplaceApp { base: "demo-dev".into(), why: changed(&["code"]) });
    assert_eq!(
        plan(&base, &seen, &built("v1", "deps2")).changes[0],
        Step::ReplaceApp { base: "demo-dev".into(), why: changed(&["dependencies"]) }
    );
    assert_eq!(plan(&base, &seen, &code).changes[0], Step::KeepApp { base: "demo-dev".into() });
}

#[test]
fn rollback_needs_a_previous_version() {
    let base = cx(MANIFEST, &[]);
    let code = built("v1", "deps");
    let err = plan_rollback(&base, &Observed::Nothing).unwrap_err().to_string();
    assert!(err.contains("no previous version"), "{err}");
    let err = plan_rollback(&base, &deployed(&base, &code, ALL_UP, false)).unwrap_err().to_string();
    assert!(err.contains("no previous version"), "{err}");

    let seen = deployed(&base, &code, Live { app: true, proxy: false, healthy: true }, true);
    let got = plan_rollback(&base, &seen).unwrap();
    let Observed::Recorded(n) = &seen else { unreachable!() };
    let to = release_id(n.state.previous.as_ref().unwrap()).to_string();
    assert_eq!(to, "deps-old", "the artifact digest's first 12 characters after `sha256:`");
    assert_eq!(
        got.changes,
        vec![Step::RestoreApp { base: "demo-dev".into(), to: to.clone() }, Step::StartProxy { port: 8000, why: ProxyWhy::NotRunning }]
    );
    assert_eq!(rows(&got)[0], format!("~ process demo-dev (back to {to})"));
}

/// The message and hint of a usage error.
fn usage(e: anyhow::Error) -> (String, String) {
    let u = crate::error::Failure::of(&e).and_then(crate::error::Failure::as_usage).unwrap_or_else(|| panic!("not a usage error: {e:#}"));
    (u.message.clone(), u.hint.clone().unwrap_or_default())
}

/// The local target keeps the serving version and the previous one, named by their
/// artifact digests (as `build` and `status` show them).
#[test]
fn releases_are_the_serving_version_and_the_previous_one() {
    let base = cx(MANIFEST, &[]);
    let code = built("0123456789abcdef", "deps");
    let seen = deployed(&base, &code, ALL_UP, true);
    let kept = releases(&seen);
    assert_eq!(
        kept,
        [
            Kept {
                id: "deps-0123456".into(),
                digest: "sha256:deps-0123456789abcdef".into(),
                created_at: Some("2025-12-05T02:00:00Z".into()),
                live: true
            },
            Kept { id: "deps-old".into(), digest: "sha256:deps-old".into(), created_at: Some("2025-12-03T22:13:20Z".into()), live: false },
        ]
    );
    // The live release is what status shows and what build made.
    assert_eq!(crate::backends::local::state::deployed(&seen).unwrap().digest, code.info.digest);

    // Back to it by its id or a prefix of its digest: the same plan as a plain rollback.
    let plain = plan_rollback(&base, &seen).unwrap().changes;
    assert_eq!(plain[0], Step::RestoreApp { base: "demo-dev".into(), to: "deps-old".into() });
    assert_eq!(plan_rollback_to(&base, &seen, "deps-old").unwrap().changes, plain);
    assert_eq!(plan_rollback_to(&base, &seen, "sha256:deps-o").unwrap().changes, plain);
    // The serving one: refused, naming the kept one.
    let (message, hint) = usage(plan_rollback_to(&base, &seen, "deps-0123456").unwrap_err());
    assert!(message.contains("deps-0123456 is the one serving now"), "{message}");
    assert!(hint.contains("(deps-old)"), "{hint}");
    // Unknown: refused, naming what is kept and `history`.
    let (message, hint) = usage(plan_rollback_to(&base, &seen, "abcdef").unwrap_err());
    assert!(message.contains("keeps no release `abcdef`"), "{message}");
    assert!(hint.contains("deps-old") && hint.contains("aideploy history --target local"), "{hint}");

    // A previous snapshot that is gone, or of the same artifact (only secret values
    // differ, and a rollback runs with today's): nothing else is kept.
    let mut gone = seen.clone();
    let Observed::Recorded(n) = &mut gone else { unreachable!() };
    n.previous_kept = false;
    assert_eq!(releases(&gone).len(), 1);
    let (_, hint) = usage(plan_rollback_to(&base, &gone, "deps-old").unwrap_err());
    assert!(hint.contains("no earlier release"), "{hint}");
    let mut same = seen.clone();
    let Observed::Recorded(n) = &mut same else { unreachable!() };
    n.state.previous.as_mut().unwrap().artifact = code.info.digest.clone();
    assert_eq!(releases(&same).iter().map(|k| k.live).collect::<Vec<_>>(), [true]);
    // Nothing deployed: nothing kept.
    assert!(releases(&Observed::Nothing).is_empty());
}

#[test]
fn destroy_stops_only_what_runs_and_removes_the_folder() {
    let base = cx(MANIFEST, &[]);
    let code = built("v1", "deps");
    assert!(plan_destroy(&base, &Observed::Nothing).changes.is_empty());

    let got = plan_destroy(&base, &deployed(&base, &code, ALL_UP, false));
    assert_eq!(
        got.changes[..2],
        [Step::StopApp { base: "demo-dev".into(), pid: 10, alive: true }, Step::StopProxy { port: 8000, alive: true }]
    );
    assert!(matches!(&got.changes[2], Step::RemoveFiles { dir } if dir.ends_with("local/demo-dev")), "{:?}", got.changes[2]);

    // A process that died (or whose pid another program now has) is not stopped.
    let got = plan_destroy(&base, &deployed(&base, &code, Live { app: false, proxy: true, healthy: false }, false));
    assert_eq!(rows(&got)[..2], ["= process demo-dev (pid 10)".to_string(), "- proxy 127.0.0.1:8000".to_string()]);
}
