//! The `ec2` target keeps its address: the Elastic IP aideploy allocates once per app,
//! stage and target, moved to a new instance only after that instance passed its health
//! check, against moto's server as in tests/ec2_target.rs (whose helpers these tests
//! use; that file is past the size a file should have). What exists is read back with
//! boto3: the addresses, their tags and which instance each is on.

use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::ec2_target::{app_name, boto, cmd, env, health_server, json_of, ok_json, running, state, tagged, write_app, write_code, AMI};

/// Every Elastic IP whose tags name `app`: address, allocation, instance, tags.
fn addresses(app: &str) -> Vec<Value> {
    let out = boto(&format!(
        "out = []\n\
         for a in ec2.describe_addresses()['Addresses']:\n\
         \x20   tags = {{t['Key']: t['Value'] for t in a.get('Tags', [])}}\n\
         \x20   if '{app}' in json.dumps(tags):\n\
         \x20       out.append({{'ip': a['PublicIp'], 'allocation': a.get('AllocationId'), 'instance': a.get('InstanceId') or None, 'tags': tags}})\n\
         print(json.dumps(out))"
    ));
    serde_json::from_str(&out).unwrap()
}

/// The addresses carrying this target's tags.
fn ours(app: &str) -> Vec<Value> {
    addresses(app).into_iter().filter(|a| tagged(&a["tags"], app)).collect()
}

/// The one address of ours, and the instance it is on.
fn the_address(app: &str) -> (String, Option<String>) {
    let found = ours(app);
    assert_eq!(found.len(), 1, "not exactly one address of ours: {found:?}");
    (found[0]["ip"].as_str().unwrap().to_string(), found[0]["instance"].as_str().map(str::to_string))
}

fn live_id(app: &str) -> String {
    let s = state(app);
    let live = running(&s);
    assert_eq!(live.len(), 1, "{s}");
    live[0]["id"].as_str().unwrap().to_string()
}

fn address_row(report: &Value) -> Value {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["resource"] == "elastic-ip")
        .cloned()
        .unwrap_or_else(|| panic!("no elastic-ip row: {report}"))
}

#[test]
fn the_url_stays_through_deploys_a_failed_health_check_and_rollback() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpueip");
    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let repo = format!("{}/ec2-eip/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, status) = health_server();
    let run = |args: &[&str]| cmd(home.path(), p, &health, &repo).args(args).output().unwrap();

    // Someone else's address with the very `Name` ours gets (and this app's name tag,
    // but not its stage and target): never moved, never released.
    let foreign = boto(&format!(
        "a = ec2.allocate_address(Domain='vpc', TagSpecifications=[{{'ResourceType': 'elastic-ip', 'Tags': [{{'Key': 'Name', 'Value': 'aideploy-{app}-dev'}}, {{'Key': 'aideploy:app', 'Value': '{app}'}}]}}])\n\
         print(a['PublicIp'])"
    ));

    // The plan shows the address to create, and creates nothing.
    let planned = ok_json(&run(&["plan", "--target", "ec2", "--json"]));
    let row = address_row(&planned);
    assert_eq!((row["op"].as_str(), row["id"].as_str()), (Some("create"), Some(format!("aideploy-{app}-dev").as_str())), "{row}");
    assert!(ours(&app).is_empty());

    // First deploy: one address of ours, on the live instance, and it is the URL.
    let first = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    assert_eq!(first["health"], "passed", "{first}");
    let (ip, on) = the_address(&app);
    let id1 = live_id(&app);
    assert_eq!(on.as_deref(), Some(id1.as_str()));
    let url = format!("http://{ip}:8000");
    assert_eq!(first["url"], url.as_str(), "{first}");
    assert_eq!(ours(&app)[0]["tags"]["Name"], format!("aideploy-{app}-dev"));
    // After it, the row is a no-op, and status shows the address.
    let planned = ok_json(&run(&["plan", "--target", "ec2", "--json"]));
    assert_eq!((address_row(&planned)["op"].as_str(), address_row(&planned)["id"].as_str()), (Some("noop"), Some(ip.as_str())));
    let st = ok_json(&run(&["status", "--target", "ec2", "--json"]));
    assert_eq!(st["url"], url.as_str(), "{st}");

    // A code change: a new instance; once healthy the address is on it, the old one is gone.
    write_code(p, "v2");
    let v2 = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    assert_eq!(v2["url"], url.as_str(), "{v2}");
    let id2 = live_id(&app);
    assert_ne!(id2, id1);
    assert_eq!(the_address(&app), (ip.clone(), Some(id2.clone())));
    let s = state(&app);
    assert_eq!(crate::ec2_target::instance(&s, &id1)["state"], "terminated");

    // A new version that fails its health check: the address stays on the old instance.
    write_code(p, "v3");
    status.store(503, Ordering::SeqCst);
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = json_of(&out);
    assert_eq!(bad["url"], url.as_str(), "{bad}");
    assert_eq!(live_id(&app), id2);
    assert_eq!(the_address(&app), (ip.clone(), Some(id2.clone())));
    status.store(200, Ordering::SeqCst);

    // Rollback: a new instance with the image before, and the same URL on it.
    let rb = ok_json(&run(&["rollback", "--target", "ec2", "--yes", "--json"]));
    assert_eq!(rb["health"], "passed", "{rb}");
    assert_eq!(rb["url"], url.as_str(), "{rb}");
    let id3 = live_id(&app);
    assert_ne!(id3, id2);
    assert_eq!(the_address(&app), (ip.clone(), Some(id3)));
    assert_eq!(ok_json(&run(&["status", "--target", "ec2", "--json"]))["url"], url.as_str());

    // Destroy: no address with our tags; the foreign one is still there, on nothing.
    ok_json(&run(&["destroy", "--target", "ec2", "--yes", "--json"]));
    assert!(ours(&app).is_empty(), "{:?}", addresses(&app));
    let left = addresses(&app);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!((left[0]["ip"].as_str(), &left[0]["instance"]), (Some(foreign.as_str()), &Value::Null));
}

/// A first deploy that fails its health check leaves the address allocated and on no
/// instance; destroy from another machine (no local state) finds it by its tags.
#[test]
fn an_address_never_associated_is_found_and_released_by_destroy() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpueiphalf");
    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let repo = format!("{}/ec2-eip/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, status) = health_server();
    status.store(503, Ordering::SeqCst);
    let out = cmd(home.path(), p, &health, &repo).args(["deploy", "--target", "ec2", "--yes", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_of(&out)["url"], Value::Null);
    let (_, on) = the_address(&app);
    assert_eq!(on, None);
    assert!(running(&state(&app)).is_empty());

    let elsewhere = tempfile::tempdir().unwrap();
    let d = ok_json(&cmd(elsewhere.path(), p, &health, &repo).args(["destroy", "--target", "ec2", "--yes", "--json"]).output().unwrap());
    assert!(d["actions"].as_array().unwrap().iter().any(|a| a["resource"] == "elastic-ip" && a["op"] == "delete"), "{d}");
    assert!(ours(&app).is_empty(), "{:?}", addresses(&app));
}
