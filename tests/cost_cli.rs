//! Cost before you deploy: `aideploy cost`, the `cost` of `plan --json`, and a budget
//! that stops `deploy` before anything is built or written. Nothing here needs a cloud:
//! the estimate comes from the manifest and the price table, and the budget refusal
//! comes before any login.

use crate::common;

use std::path::{Path, PathBuf};

use common::{aideploy, offline};
use serde_json::Value;

/// A folder holding a `command` app with no requirements and the given manifest tail.
fn app(home: &Path, tail: &str) -> PathBuf {
    let dir = home.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = format!("version = 1\n\n[app]\nname = \"costly\"\ncommand = \"python3 server.py\"\n\n{tail}");
    std::fs::write(dir.join("aideploy.toml"), manifest).unwrap();
    std::fs::write(dir.join("requirements.txt"), "").unwrap();
    std::fs::write(dir.join("server.py"), "import os\n").unwrap();
    dir
}

fn run(home: &Path, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = aideploy(home);
    offline(&mut cmd);
    let out = cmd.current_dir(dir).args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn cost_json_gives_every_target_of_the_example() {
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(home.path(), &common::root(), &["cost", "-C", "examples/fastapi-rag", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let rows = v["targets"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["target"].as_str().unwrap()).collect();
    assert_eq!(names, ["cloudrun", "lambda", "local"]);
    let row = |name: &str| rows.iter().find(|r| r["target"] == name).unwrap();
    assert_eq!(row("local")["monthly_usd"], serde_json::json!({"low": 0.0, "high": 0.0}));
    // lambda, 1024 MiB x86, 10,000 requests a day at 200 ms: 60,833.33 GB-s x $0.0000166667
    // + 304,166.67 x ($0.20 + $1.00)/M = $1.38; with the free tier only the HTTP API, $0.30.
    assert_eq!(row("lambda")["monthly_usd"], serde_json::json!({"low": 0.3, "high": 1.38}));
    assert_eq!(row("lambda")["assumptions"]["memory_mib"], 1024);
    assert_eq!(row("lambda")["kind"], "lambda");
    for r in rows {
        assert!(r["prices_as_of"].as_str().is_some_and(|d| d.len() == 10), "{r}");
        assert!(r["assumptions"]["low"].is_string() && r["assumptions"]["high"].is_string(), "{r}");
    }
}

#[test]
fn cost_prints_a_table_and_takes_kinds() {
    let home = tempfile::tempdir().unwrap();
    let dir = app(home.path(), "[cost]\nrequests_per_day = 1000\n\n[targets.local]\n");
    let (code, stdout, stderr) = run(home.path(), &dir, &["cost", "-t", "local", "-t", "ec2", "-t", "render"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("TARGET") && lines[0].contains("LOW/MONTH"), "{stdout}");
    assert!(lines[1].starts_with("local") && lines[1].contains("$0"), "{stdout}");
    // ec2's default g4dn.xlarge all month: $395.63; render's default starter: $7.00.
    assert!(lines[2].starts_with("ec2") && lines[2].contains("$395.63"), "{stdout}");
    assert!(lines[3].starts_with("render") && lines[3].contains("$7.00"), "{stdout}");
    assert!(stderr.contains("1000 requests a day"), "{stderr}");
    // A name that is neither a target nor a kind is a usage error.
    let (code, _, stderr) = run(home.path(), &dir, &["cost", "-t", "lamda"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--target lambda"), "{stderr}");
}

#[test]
fn plan_json_carries_the_cost() {
    let home = tempfile::tempdir().unwrap();
    let dir = app(home.path(), "[cost]\nbudget_usd = 5\n\n[targets.local]\n");
    let port = format!("port={}", common::free_port());
    let (code, stdout, stderr) = run(home.path(), &dir, &["plan", "--json", "--target", "local", "--set", &port]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["cost"]["monthly_usd"], serde_json::json!({"low": 0.0, "high": 0.0}));
    assert!(v["cost"]["prices_as_of"].is_string());
    assert!(v["cost"]["assumptions"]["low"].as_str().unwrap().contains("this machine"));
    // $0 is within a $5 budget: no warning.
    assert!(v["warnings"].as_array().unwrap().iter().all(|w| !w.as_str().unwrap().contains("budget")), "{v}");
    // Without --json, one line for people after the plan.
    let (code, stdout, stderr) = run(home.path(), &dir, &["plan", "--target", "local", "--set", &port]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().last().unwrap().starts_with("Estimated cost: $0 a month (prices as of "), "{stdout}");
}

#[test]
fn deploy_over_budget_is_refused_before_anything_is_written() {
    let home = tempfile::tempdir().unwrap();
    // Render's pro plan is $85 a month; the budget is $10.
    let dir = app(home.path(), "[cost]\nbudget_usd = 10\n\n[targets.render]\nplan = \"pro\"\n");
    let before = listing(&dir);
    let (code, stdout, stderr) = run(home.path(), &dir, &["deploy", "--target", "render", "--yes", "--json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("$85.00") && stderr.contains("budget_usd") && stderr.contains("--over-budget"), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["error"]["exit_code"], 2);
    // Nothing built, cached or recorded: no state or cache folder, the app folder as it was.
    assert!(!home.path().join("state").exists(), "a state folder was written");
    assert!(!home.path().join("cache").exists(), "a cache folder was written");
    assert_eq!(listing(&dir), before);

    // --over-budget goes past the budget (with a warning) to the next step, Render's login,
    // which fails here for want of a key: a different error, not the refusal.
    let (code, _, stderr) = run(home.path(), &dir, &["deploy", "--target", "render", "--yes", "--over-budget"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("warning:") && stderr.contains("over `[cost] budget_usd`"), "{stderr}");
    assert!(!stderr.contains("nothing was deployed"), "{stderr}");

    // `plan` only warns: here it stops at the same login, after the estimate is known.
    let (code, _, stderr) = run(home.path(), &dir, &["plan", "--target", "render"]);
    assert_ne!(code, 0);
    assert!(!stderr.contains("nothing was deployed"), "{stderr}");
}

/// Every file and folder under `dir` with its size, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let len = e.metadata().unwrap().len();
            out.push(format!("{} {len}", p.strip_prefix(dir).unwrap().display()));
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_bad_cost_value_points_at_its_line() {
    let home = tempfile::tempdir().unwrap();
    let dir = app(home.path(), "[cost]\nhours_per_day = 30\n");
    let (code, stdout, stderr) = run(home.path(), &dir, &["cost"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("hours_per_day 30 is out of range") && stderr.contains("aideploy.toml:8:17"), "{stderr}");
}
