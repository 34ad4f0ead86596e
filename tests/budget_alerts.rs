//! `[cost] budget_usd` as the cloud's own budget alert, end to end against moto (AWS
//! Budgets, with tests/fakes/moto_budgets.py) through the lambda target: what exists in
//! moto after each command is read back with boto3.

use crate::common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

const REGION: &str = "us-east-1";

fn moto() -> String {
    std::env::var("AIDEPLOY_TEST_MOTO")
        .unwrap_or_else(|_| panic!("AIDEPLOY_TEST_MOTO is not set: run these tests with `scripts/test budget_alerts` (it starts moto)"))
}

fn write_app(dir: &Path, name: &str, cost: &str) {
    std::fs::write(
        dir.join("aideploy.toml"),
        format!(
            "version = 1\n\n[app]\nname = \"{name}\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\nhealth = \"/health\"\n\n\
             [targets.lambda]\nregion = \"{REGION}\"\nmemory = 256\n\n[cost]\n{cost}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.py"),
        "async def app(scope, receive, send):\n    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n    await send({'type': 'http.response.body', 'body': b'ok'})\n",
    )
    .unwrap();
}

fn run(home: &Path, project: &Path, args: &[&str]) -> Output {
    let mut c = common::aideploy(home);
    c.current_dir(project)
        .env("AWS_ENDPOINT_URL", moto())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION);
    common::offline(&mut c);
    c.args(args).output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}\nstderr:\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The budget rows of a plan or deploy report: (op, id).
fn budget_rows(report: &Value) -> Vec<(String, String)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["resource"] == "budget alert")
        .map(|a| (a["op"].as_str().unwrap().to_string(), a["id"].as_str().unwrap().to_string()))
        .collect()
}

/// The budget `name` in moto's account as boto3 reads it: limit, time unit, type, tags,
/// and each notification with its subscribers; `null` when there is none.
const BUDGET_PY: &str = r#"
import boto3, json, sys
b = boto3.client("budgets", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
account = boto3.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing").get_caller_identity()["Account"]
name = sys.argv[2]
if sys.argv[3] == "create-foreign":
    b.create_budget(AccountId=account, Budget={"BudgetName": name, "BudgetType": "COST", "TimeUnit": "MONTHLY", "BudgetLimit": {"Amount": "999", "Unit": "USD"}})
try:
    budget = b.describe_budget(AccountId=account, BudgetName=name)["Budget"]
except b.exceptions.NotFoundException:
    print("null"); sys.exit(0)
notes = []
for n in b.describe_notifications_for_budget(AccountId=account, BudgetName=name)["Notifications"]:
    subs = b.describe_subscribers_for_notification(AccountId=account, BudgetName=name, Notification=n)["Subscribers"]
    notes.append({"type": n["NotificationType"], "op": n["ComparisonOperator"], "threshold": n["Threshold"], "unit": n.get("ThresholdType"), "subscribers": subs})
tags = b.list_tags_for_resource(ResourceARN=f"arn:aws:budgets::{account}:budget/{name}")["ResourceTags"]
print(json.dumps({"amount": float(budget["BudgetLimit"]["Amount"]), "unit": budget["BudgetLimit"]["Unit"], "time_unit": budget["TimeUnit"],
                  "type": budget["BudgetType"], "notifications": sorted(notes, key=lambda n: n["type"]), "tags": {t["Key"]: t["Value"] for t in tags}}))
"#;

fn budget(name: &str, mode: &str) -> Value {
    let out = std::process::Command::new("python3").args(["-c", BUDGET_PY, &moto(), name, mode]).output().unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn emails(b: &Value) -> Vec<(String, f64, String)> {
    b["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| {
            n["subscribers"].as_array().unwrap().iter().map(move |s| {
                assert_eq!(s["SubscriptionType"], "EMAIL");
                (n["type"].as_str().unwrap().to_string(), n["threshold"].as_f64().unwrap(), s["Address"].as_str().unwrap().to_string())
            })
        })
        .collect()
}

#[test]
fn aws_budget_alert_is_created_updated_removed_and_destroyed_with_the_app() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let (h, p) = (home.path(), project.path());
    let app = format!("bud-{}", std::process::id());
    let name = format!("aideploy-{app}-dev-lambda");
    write_app(p, &app, "budget_usd = 50\nalert_email = \"ops@example.com\"");

    // plan shows the step and changes nothing.
    let plan = ok_json(&run(h, p, &["plan", "--target", "lambda", "--json"]));
    assert_eq!(budget_rows(&plan), [("create".to_string(), name.clone())]);
    assert!(budget(&name, "read").is_null(), "plan created the budget");

    let report = ok_json(&run(h, p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(budget_rows(&report), [("create".to_string(), name.clone())]);
    let b = budget(&name, "read");
    assert_eq!(
        (b["amount"].as_f64(), b["unit"].as_str(), b["time_unit"].as_str(), b["type"].as_str()),
        (Some(50.0), Some("USD"), Some("MONTHLY"), Some("COST"))
    );
    assert_eq!(
        emails(&b),
        [("ACTUAL".to_string(), 80.0, "ops@example.com".to_string()), ("FORECASTED".to_string(), 100.0, "ops@example.com".to_string())]
    );
    assert!(b["notifications"].as_array().unwrap().iter().all(|n| n["op"] == "GREATER_THAN" && n["unit"] == "PERCENTAGE"), "{b}");
    assert_eq!(b["tags"], serde_json::json!({"aideploy:app": app, "aideploy:stage": "dev", "aideploy:target": "lambda"}));

    // Nothing changed: no budget step, nothing applied.
    let again = ok_json(&run(h, p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert!(budget_rows(&again).iter().all(|(op, _)| op == "noop"), "{again}");
    assert_eq!(again["changed"], false);

    // The alert deleted by someone else: the next deploy makes it again, and since only
    // the alert changed, the app's history gains no release.
    let releases = || ok_json(&run(h, p, &["history", "--target", "lambda", "--json"]))["releases"].as_array().unwrap().len();
    let before = releases();
    let out = std::process::Command::new("python3")
        .args(["-c", "import boto3, sys\nb = boto3.client('budgets', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\nb.delete_budget(AccountId='123456789012', BudgetName=sys.argv[2])", &moto(), &name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = ok_json(&run(h, p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(budget_rows(&report), [("create".to_string(), name.clone())]);
    assert!(!budget(&name, "read").is_null());
    assert_eq!(releases(), before, "a budget-only deploy recorded a release");

    // A new amount and address: the budget is updated in place.
    write_app(p, &app, "budget_usd = 75.5\nalert_email = \"cost@example.com\"");
    let report = ok_json(&run(h, p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(budget_rows(&report), [("update".to_string(), name.clone())]);
    let b = budget(&name, "read");
    assert_eq!(b["amount"].as_f64(), Some(75.5));
    assert_eq!(
        emails(&b),
        [("ACTUAL".to_string(), 80.0, "cost@example.com".to_string()), ("FORECASTED".to_string(), 100.0, "cost@example.com".to_string())]
    );

    // budget_usd removed: the deploy deletes it.
    write_app(p, &app, "");
    let report = ok_json(&run(h, p, &["deploy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(budget_rows(&report), [("delete".to_string(), name.clone())]);
    assert!(budget(&name, "read").is_null());

    // Back without an email: kept, notifying nobody, and the plan says so; destroy removes it.
    write_app(p, &app, "budget_usd = 50");
    let out = run(h, p, &["deploy", "--target", "lambda", "--yes", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("sends no alert without `[cost] alert_email`"));
    assert_eq!(budget_rows(&ok_json(&out)), [("create".to_string(), name.clone())]);
    assert_eq!(emails(&budget(&name, "read")), []);
    let destroyed = ok_json(&run(h, p, &["destroy", "--target", "lambda", "--yes", "--json"]));
    assert!(budget_rows(&destroyed).contains(&("delete".to_string(), name.clone())), "{destroyed}");
    assert!(budget(&name, "read").is_null(), "destroy left the budget");
}

#[test]
fn a_same_named_budget_aideploy_did_not_make_is_left_alone() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let (h, p) = (home.path(), project.path());
    let app = format!("budforeign-{}", std::process::id());
    let name = format!("aideploy-{app}-dev-lambda");
    assert!(budget(&name, "create-foreign")["tags"].as_object().unwrap().is_empty());
    write_app(p, &app, "budget_usd = 50\nalert_email = \"ops@example.com\"");

    let out = run(h, p, &["deploy", "--target", "lambda", "--yes", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("left alone"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(budget_rows(&ok_json(&out)), []);
    let destroyed = ok_json(&run(h, p, &["destroy", "--target", "lambda", "--yes", "--json"]));
    assert_eq!(budget_rows(&destroyed), []);
    let b = budget(&name, "read");
    assert_eq!(b["amount"].as_f64(), Some(999.0), "the budget was changed");
    assert_eq!(emails(&b), []);
}
