//! The local plan, table-driven from hand-made observations: no process is started and
//! no file is read.

use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::artifact::python::{Interpreter, PythonEnv};
use crate::artifact::source::SourceSet;
use crate::backends::local::process::Proc;
use crate::backends::local::run::Serving;
use crate::backends::local::state::{Now, State};
use crate::engine::wait::PollPolicy;
use crate::engine::ArtifactInfo;
use crate::manifest::Loaded;
use crate::secrets::Secrets;

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
    let parsed = crate::manifest::parse(manifest, "aideploy.toml").expect("valid manifest");
    let loaded = Loaded {
        path: PathBuf::from("/nowhere/aideploy.toml"),
        dir: PathBuf::from("/nowhere"),
        display_name: "aideploy.toml".into(),
        text: manifest.into(),
        manifest: parsed,
    };
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let target = loaded.manifest.target(Some("local"), &sets).expect("local target");
    Cx {
        loaded: Arc::new(loaded),
        target,
        stage: "dev".parse().expect("stage"),
        secrets: Secrets::default(),
        poll: PollPolicy { fixed: None },
    }
}

/// What build would make for this code and these dependencies.
fn built(code: &str, deps: &str) -> Built<Source> {
    let env = PythonEnv {
        dir: PathBuf::from(format!("/cache/envs/{deps}")),
        key: deps.into(),
        python: PathBuf::from(format!("/cache/envs/{deps}/bin/python")),
        interpreter: Interpreter { path: PathBuf::from("/usr/bin/python3.11"), version: "3.11".into() },
    };
    let sources = SourceSet { root: PathBuf::from("/nowhere"), files: Vec::new(), excluded: Vec::new() };
    Built { info: ArtifactInfo::plain("source", format!("sha256:{deps}-{code}"), 0), data: Source { env, sources } }
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
            since: 0,
        },
        previous,
    };
    Observed::Recorded(Box::new(Now { state, app_alive: live.app, proxy_alive: live.proxy, app_healthy: live.healthy }))
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
            vec![app(Why::CodeChanged), keep_proxy.clone()],
        ),
        (
            "the dependencies changed",
            &base,
            deployed(&base, &code, ALL_UP, false),
            built("v1", "deps2"),
            vec![app(Why::DependenciesChanged), keep_proxy.clone()],
        ),
        (
            "an env value changed",
            &changed_env,
            deployed(&base, &code, ALL_UP, false),
            built("v1", "deps"),
            vec![app(Why::ConfigurationChanged), keep_proxy.clone()],
        ),
        (
            "the health path changed",
            &changed_health,
            deployed(&base, &code, ALL_UP, false),
            built("v1", "deps"),
            vec![app(Why::ConfigurationChanged), keep_proxy.clone()],
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
    let prev = deployment_digest(n.state.previous.as_ref().unwrap());
    let to = short(prev.trim_start_matches("sha256:")).to_string();
    assert_eq!(
        got.changes,
        vec![Step::RestoreApp { base: "demo-dev".into(), to: to.clone() }, Step::StartProxy { port: 8000, why: ProxyWhy::NotRunning }]
    );
    assert_eq!(rows(&got)[0], format!("~ process demo-dev (back to {to})"));
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
