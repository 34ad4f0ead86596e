//! The `ec2` target behind an Application Load Balancer (`load_balancer = true`), against
//! moto's server as in tests/ec2_target.rs (whose helpers these tests use). What exists is
//! read back with boto3: the load balancer, its target group and the instances registered
//! in it, the listener, the idle timeout, the security groups and their tags.
//!
//! moto marks a registered instance `healthy` at once (it runs no health checks), so the
//! failing case here is the instance's own health check, which the test's health endpoint
//! fails: the new instance is then never registered.

use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::ec2_target::{app_name, boto, cmd, env, health_server, json_of, ok_json, running, state, tagged, write_app, write_code, AMI};

/// Everything of the front door whose tags name `app`: load balancers (with their
/// listeners and idle timeout), target groups (with the instances registered), the
/// security groups, and the Elastic IPs.
const FRONT_PY: &str = r#"
elb = boto3.client('elbv2', **kw)
app = sys.argv[3]
def tags_of(arn):
    return {t['Key']: t['Value'] for t in elb.describe_tags(ResourceArns=[arn])['TagDescriptions'][0]['Tags']}
out = {'lbs': [], 'tgs': [], 'sgs': [], 'eips': []}
for lb in elb.describe_load_balancers()['LoadBalancers']:
    tags = tags_of(lb['LoadBalancerArn'])
    if app not in json.dumps(tags):
        continue
    attrs = {a['Key']: a['Value'] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb['LoadBalancerArn'])['Attributes']}
    listeners = [{'port': l['Port'], 'protocol': l['Protocol'], 'certs': [c['CertificateArn'] for c in l.get('Certificates', [])],
                  'forward': [a.get('TargetGroupArn') for a in l['DefaultActions']]}
                 for l in elb.describe_listeners(LoadBalancerArn=lb['LoadBalancerArn'])['Listeners']]
    out['lbs'].append({'name': lb['LoadBalancerName'], 'dns': lb['DNSName'], 'scheme': lb.get('Scheme'), 'zones': len(lb['AvailabilityZones']),
                       'sgs': lb.get('SecurityGroups', []), 'idle': attrs.get('idle_timeout.timeout_seconds'), 'listeners': listeners, 'tags': tags})
for tg in elb.describe_target_groups()['TargetGroups']:
    tags = tags_of(tg['TargetGroupArn'])
    if app not in json.dumps(tags):
        continue
    health = elb.describe_target_health(TargetGroupArn=tg['TargetGroupArn'])['TargetHealthDescriptions']
    targets = sorted(h['Target']['Id'] for h in health if h['TargetHealth']['State'] not in ('unused', 'draining'))
    out['tgs'].append({'arn': tg['TargetGroupArn'], 'name': tg['TargetGroupName'], 'port': tg['Port'], 'type': tg['TargetType'],
                       'path': tg['HealthCheckPath'], 'matcher': tg['Matcher']['HttpCode'], 'targets': targets, 'tags': tags})
for g in ec2.describe_security_groups()['SecurityGroups']:
    tags = {t['Key']: t['Value'] for t in g.get('Tags', [])}
    if app not in json.dumps(tags):
        continue
    rules = []
    for p in g['IpPermissions']:
        rules += [[p.get('FromPort'), r['CidrIp']] for r in p.get('IpRanges', [])]
        rules += [[p.get('FromPort'), r['GroupId']] for r in p.get('UserIdGroupPairs', [])]
    out['sgs'].append({'id': g['GroupId'], 'name': g['GroupName'], 'rules': sorted(rules), 'tags': tags})
for a in ec2.describe_addresses()['Addresses']:
    if app in json.dumps(a.get('Tags', [])):
        out['eips'].append(a['PublicIp'])
print(json.dumps(out))
"#;

fn front(app: &str) -> Value {
    let full = format!("import boto3, json, sys\nkw = dict(endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='testing', aws_secret_access_key='testing')\nec2 = boto3.client('ec2', **kw)\n{FRONT_PY}");
    let out = std::process::Command::new("python3")
        .args(["-c", &full, &env("AIDEPLOY_TEST_MOTO"), crate::ec2_target::REGION, app])
        .output()
        .unwrap();
    assert!(out.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The one load balancer and the one target group of ours.
fn the_lb(app: &str) -> (Value, Value) {
    let f = front(app);
    let (lbs, tgs) = (f["lbs"].as_array().unwrap(), f["tgs"].as_array().unwrap());
    assert_eq!((lbs.len(), tgs.len()), (1, 1), "not exactly one load balancer and target group of ours: {f}");
    (lbs[0].clone(), tgs[0].clone())
}

fn targets(app: &str) -> Vec<String> {
    the_lb(app).1["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

fn live_id(app: &str) -> String {
    let s = state(app);
    let live = running(&s);
    assert_eq!(live.len(), 1, "{s}");
    live[0]["id"].as_str().unwrap().to_string()
}

fn rows(report: &Value) -> Vec<(String, String)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["resource"].as_str().unwrap().into(), a["op"].as_str().unwrap().into()))
        .collect()
}

const PARTS: [&str; 4] = ["lb-security-group", "load-balancer", "target-group", "listener"];

#[test]
fn the_load_balancer_url_stays_through_deploys_a_failed_health_check_and_rollback() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpualb");
    write_app(p, &app, &format!("ami = \"{AMI}\"\nload_balancer = true"));
    let repo = format!("{}/ec2-alb/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, status) = health_server();
    let run = |args: &[&str]| cmd(home.path(), p, &health, &repo).args(args).output().unwrap();

    // The plan shows each part to create, and creates nothing.
    let planned = rows(&ok_json(&run(&["plan", "--target", "ec2", "--json"])));
    for part in PARTS {
        assert!(planned.contains(&(part.into(), "create".into())), "{part}: {planned:?}");
    }
    assert!(!planned.iter().any(|(r, _)| r == "elastic-ip"), "{planned:?}");
    assert!(front(&app)["lbs"].as_array().unwrap().is_empty());

    // First deploy: the load balancer, its target group and listener, all tagged ours;
    // the live instance is the one target; the URL is the load balancer's name.
    let first = run(&["deploy", "--target", "ec2", "--yes", "--json"]);
    assert!(String::from_utf8_lossy(&first.stderr).contains("plain HTTP"), "{}", String::from_utf8_lossy(&first.stderr));
    let first = ok_json(&first);
    assert_eq!(first["health"], "passed", "{first}");
    let (lb, tg) = the_lb(&app);
    let name = format!("aideploy-{app}-dev");
    assert!(tagged(&lb["tags"], &app) && tagged(&tg["tags"], &app), "{lb} {tg}");
    assert_eq!(
        (lb["name"].as_str(), lb["scheme"].as_str(), lb["idle"].as_str()),
        (Some(name.as_str()), Some("internet-facing"), Some("300"))
    );
    assert!(lb["zones"].as_u64().unwrap() >= 2, "{lb}");
    assert_eq!((tg["name"].as_str(), tg["port"].as_u64(), tg["type"].as_str()), (Some(name.as_str()), Some(8000), Some("instance")));
    assert_eq!((tg["path"].as_str(), tg["matcher"].as_str()), (Some("/health"), Some("200-399")));
    let listeners = lb["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "{lb}");
    assert_eq!((listeners[0]["port"].as_u64(), listeners[0]["protocol"].as_str()), (Some(80), Some("HTTP")));
    assert_eq!(listeners[0]["forward"][0], tg["arn"]);
    let id1 = live_id(&app);
    assert_eq!(targets(&app), std::slice::from_ref(&id1));
    let url = format!("http://{}", lb["dns"].as_str().unwrap());
    assert_eq!(first["url"], url.as_str(), "{first}");
    // No Elastic IP; the load balancer's group takes 80 from the allowed networks, the
    // instance's port only the load balancer's group.
    let f = front(&app);
    assert_eq!(f["eips"], serde_json::json!([]), "{f}");
    let sgs = f["sgs"].as_array().unwrap();
    let lb_sg = sgs.iter().find(|g| g["name"] == format!("{name}-lb")).unwrap_or_else(|| panic!("{f}"));
    assert_eq!(lb["sgs"], serde_json::json!([lb_sg["id"]]));
    assert_eq!(lb_sg["rules"], serde_json::json!([[80, "198.51.100.7/32"], [80, "203.0.113.0/24"]]), "{lb_sg}");
    let inst_sg = sgs.iter().find(|g| g["name"] == name).unwrap_or_else(|| panic!("{f}"));
    assert_eq!(inst_sg["rules"], serde_json::json!([[8000, lb_sg["id"]]]), "{inst_sg}");
    assert!(sgs.iter().all(|g| tagged(&g["tags"], &app)), "{f}");

    // After it every part's row is a no-op, and status shows the same URL.
    let again = rows(&ok_json(&run(&["plan", "--target", "ec2", "--json"])));
    for part in PARTS {
        assert!(again.contains(&(part.into(), "noop".into())), "{part}: {again:?}");
    }
    assert_eq!(ok_json(&run(&["status", "--target", "ec2", "--json"]))["url"], url.as_str());

    // A code change: a new instance, registered; the old one out and terminated.
    write_code(p, "v2");
    let v2 = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    assert_eq!((v2["url"].as_str(), v2["health"].as_str()), (Some(url.as_str()), Some("passed")), "{v2}");
    let id2 = live_id(&app);
    assert_ne!(id2, id1);
    assert_eq!(targets(&app), std::slice::from_ref(&id2));
    assert_eq!(crate::ec2_target::instance(&state(&app), &id1)["state"], "terminated");

    // A new version failing its own health check is never registered: exit 3, the old
    // instance stays the only target.
    write_code(p, "v3");
    status.store(503, Ordering::SeqCst);
    let out = run(&["deploy", "--target", "ec2", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = json_of(&out);
    assert_eq!((bad["url"].as_str(), bad["health"].as_str()), (Some(url.as_str()), Some("failed")), "{bad}");
    assert_eq!(live_id(&app), id2);
    assert_eq!(targets(&app), std::slice::from_ref(&id2));
    status.store(200, Ordering::SeqCst);

    // Rollback: a new instance with the image before, behind the same URL.
    let rb = ok_json(&run(&["rollback", "--target", "ec2", "--yes", "--json"]));
    assert_eq!((rb["url"].as_str(), rb["health"].as_str()), (Some(url.as_str()), Some("passed")), "{rb}");
    let id3 = live_id(&app);
    assert_ne!(id3, id2);
    assert_eq!(targets(&app), [id3]);
    assert_eq!(the_lb(&app).0["dns"], lb["dns"]);

    // Destroy: nothing of ours is left.
    let d = ok_json(&run(&["destroy", "--target", "ec2", "--yes", "--json"]));
    let deleted = rows(&d);
    for part in PARTS {
        assert!(deleted.contains(&(part.into(), "delete".into())), "{part}: {deleted:?}");
    }
    let f = front(&app);
    assert_eq!((&f["lbs"], &f["tgs"], &f["sgs"]), (&serde_json::json!([]), &serde_json::json!([]), &serde_json::json!([])), "{f}");
    assert!(running(&state(&app)).is_empty());
}

/// With `certificate_arn` the listener (plain HTTP on 80 before it) is HTTPS on 443 with
/// that certificate, on the same load balancer, and the URL is https; destroy from another
/// machine (no local state) finds every part by its tags.
#[test]
fn https_with_the_certificate_and_destroy_from_elsewhere() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpualbtls");
    // moto's ELBv2 records the certificate as in use in its ACM: it must exist there.
    let cert =
        boto(&format!("acm = boto3.client('acm', **kw)\nprint(acm.request_certificate(DomainName='{app}.example.com')['CertificateArn'])"));
    let repo = format!("{}/ec2-alb/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, _status) = health_server();
    // First plain HTTP on 80; then the certificate moves the same listener to HTTPS on 443.
    write_app(p, &app, &format!("ami = \"{AMI}\"\nload_balancer = true"));
    ok_json(&cmd(home.path(), p, &health, &repo).args(["deploy", "--target", "ec2", "--yes", "--json"]).output().unwrap());
    let (plain, _) = the_lb(&app);
    assert_eq!(plain["listeners"][0]["port"], 80, "{plain}");
    write_app(p, &app, &format!("ami = \"{AMI}\"\nload_balancer = true\ncertificate_arn = \"{cert}\"\nidle_timeout = 900"));
    let planned = ok_json(&cmd(home.path(), p, &health, &repo).args(["plan", "--target", "ec2", "--json"]).output().unwrap());
    assert!(rows(&planned).contains(&("listener".into(), "update".into())), "{planned}");
    let out = cmd(home.path(), p, &health, &repo).args(["deploy", "--target", "ec2", "--yes", "--json"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("plain HTTP"), "{}", String::from_utf8_lossy(&out.stderr));
    let deployed = ok_json(&out);
    let (lb, _) = the_lb(&app);
    let listeners = lb["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "{lb}");
    assert_eq!((listeners[0]["port"].as_u64(), listeners[0]["protocol"].as_str()), (Some(443), Some("HTTPS")));
    assert_eq!(listeners[0]["certs"], serde_json::json!([cert]));
    assert_eq!(lb["idle"], "900");
    assert_eq!(lb["dns"], plain["dns"]);
    assert_eq!(deployed["url"], format!("https://{}", lb["dns"].as_str().unwrap()).as_str(), "{deployed}");
    let f = front(&app);
    let lb_sg = f["sgs"].as_array().unwrap().iter().find(|g| g["id"] == lb["sgs"][0]).cloned().unwrap();
    assert!(lb_sg["rules"].as_array().unwrap().iter().all(|r| r[0] == 443), "{lb_sg}");

    let elsewhere = tempfile::tempdir().unwrap();
    ok_json(&cmd(elsewhere.path(), p, &health, &repo).args(["destroy", "--target", "ec2", "--yes", "--json"]).output().unwrap());
    let f = front(&app);
    assert_eq!((&f["lbs"], &f["tgs"], &f["sgs"]), (&serde_json::json!([]), &serde_json::json!([]), &serde_json::json!([])), "{f}");
}

/// A load balancer with the very name ours gets, without our tags: refused, named, and
/// left as it is.
#[test]
fn a_same_named_load_balancer_without_our_tags_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpualbforeign");
    let name = format!("aideploy-{app}-dev");
    assert!(name.len() <= 32, "{name}");
    boto(&format!(
        "elb = boto3.client('elbv2', **kw)\n\
         subnets = [s['SubnetId'] for s in ec2.describe_subnets(Filters=[{{'Name': 'default-for-az', 'Values': ['true']}}])['Subnets']][:2]\n\
         elb.create_load_balancer(Name='{name}', Subnets=subnets, Tags=[{{'Key': 'aideploy:app', 'Value': '{app}'}}])"
    ));
    write_app(p, &app, &format!("ami = \"{AMI}\"\nload_balancer = true"));
    let repo = format!("{}/ec2-alb/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, _status) = health_server();
    let out = cmd(home.path(), p, &health, &repo).args(["deploy", "--target", "ec2", "--yes", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("load balancer {name} exists but was not created by aideploy")), "{err}");
    assert!(running(&state(&app)).is_empty());
    // Still there, and nothing else of ours was made next to it.
    let elb = boto(&format!(
        "elb = boto3.client('elbv2', **kw)\nprint(len([l for l in elb.describe_load_balancers()['LoadBalancers'] if l['LoadBalancerName'] == '{name}']))"
    ));
    assert_eq!(elb, "1");
    assert!(front(&app)["tgs"].as_array().unwrap().is_empty());
}

/// Turning the load balancer on (a settings change: a new instance, health-gated) releases
/// the Elastic IP and makes the new instance the one target; turning it off again deletes
/// the load balancer's parts and puts a new address on the next instance.
#[test]
fn switching_the_load_balancer_on_and_off() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let app = app_name("gpualbswitch");
    let repo = format!("{}/ec2-alb/{app}", env("AIDEPLOY_TEST_REGISTRY"));
    let (health, _status) = health_server();
    let run = |args: &[&str]| cmd(home.path(), p, &health, &repo).args(args).output().unwrap();

    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let before = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    let id = live_id(&app);
    let ip = front(&app)["eips"][0].as_str().unwrap_or_else(|| panic!("no address: {before}")).to_string();
    assert_eq!(before["url"], format!("http://{ip}:8000").as_str());

    write_app(p, &app, &format!("ami = \"{AMI}\"\nload_balancer = true"));
    let on = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    let id2 = live_id(&app);
    assert_ne!(id2, id);
    assert_eq!(targets(&app), std::slice::from_ref(&id2));
    let (lb, _) = the_lb(&app);
    assert_eq!(on["url"], format!("http://{}", lb["dns"].as_str().unwrap()).as_str(), "{on}");
    assert_eq!(front(&app)["eips"], serde_json::json!([]));

    write_app(p, &app, &format!("ami = \"{AMI}\""));
    let off = ok_json(&run(&["deploy", "--target", "ec2", "--yes", "--json"]));
    let id3 = live_id(&app);
    assert_ne!(id3, id2);
    let f = front(&app);
    assert_eq!((&f["lbs"], &f["tgs"]), (&serde_json::json!([]), &serde_json::json!([])), "{f}");
    assert!(!f["sgs"].as_array().unwrap().iter().any(|g| g["name"].as_str().unwrap().ends_with("-lb")), "{f}");
    let ip = f["eips"][0].as_str().unwrap_or_else(|| panic!("no address: {f}"));
    assert_eq!(off["url"], format!("http://{ip}:8000").as_str(), "{off}");

    ok_json(&run(&["destroy", "--target", "ec2", "--yes", "--json"]));
    let f = front(&app);
    assert_eq!((&f["lbs"], &f["sgs"], &f["eips"]), (&serde_json::json!([]), &serde_json::json!([]), &serde_json::json!([])), "{f}");
}
