//! Desired vs observed, as steps: the deploy's, rollback's and destroy's plans. Pure.

use super::*;
use crate::engine::Kept;

/// What a deploy would change.
pub(super) fn plan(cx: &Cx, n: &Now, artifact: &BuiltOf<Artifact>) -> Planned<Step> {
    let built = &artifact.data;
    let digest = &artifact.info.digest;
    let base = base_name(cx);
    let mut planned = Planned::default();
    if !access::is_open(cx) {
        planned.warnings.push(access::private_note(cx, &n.region, n.live().map(|i| i.id.as_str())));
    } else if cx.target.settings.allow_cidrs.is_none() {
        planned
            .warnings
            .push(format!("port {} is open to the whole internet over plain HTTP: set `allow_cidrs` to limit who may reach it", port(cx)));
    }
    if let Some(host) = built.repository.as_deref().and_then(|r| r.split('/').next()) {
        if crate::cloud::registry_logins::ecr_region(host).is_none() && !crate::cloud::is_loopback_host(host) {
            planned.warnings.push(format!("the instance pulls the image from {host} without a login: the repository must be public (ECR, the default, is logged in to with the instance's role)"));
        }
    }
    let steps = &mut planned.changes;
    let stored = &n.secrets;
    let mut changing = Vec::new();
    for name in cx.secrets.values.keys() {
        let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), name);
        let op = match (stored.get(name), n.secret_same.get(name)) {
            (None, _) => Op::Create,
            (Some(_), Some(true)) => Op::Noop,
            (Some(_), _) => Op::Update,
        };
        if op != Op::Noop {
            changing.push(name.clone());
        }
        steps.push(Step::Secret { name: name.clone(), id, op });
    }
    // A model server's API key: generated once, then kept.
    let key = access::model_key(cx, &built.workload);
    let key_stored = key.and_then(|k| stored.get(k));
    if let Some(k) = key {
        let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), k);
        steps.push(Step::ApiKey { id, exists: key_stored.is_some(), region: n.region.clone() });
    }
    let with_key = |mut m: BTreeMap<String, (String, String)>| -> Option<BTreeMap<String, (String, String)>> {
        if let Some(k) = key {
            let s = key_stored?;
            m.insert(k.to_string(), (s.arn.clone(), s.version.clone().unwrap_or_default()));
        }
        Some(m)
    };
    if let Workload::Model { image, .. } = &built.workload {
        steps.push(Step::ServerImage { reference: image.clone(), from: super::build::server_image_setting(cx) });
    }
    if let Some(img) = &built.image {
        if let Some(name) = &img.ecr_repo {
            steps.push(Step::EcrRepository { name: name.clone(), exists: n.repo.as_ref().is_some_and(|r| r.ours) });
        }
        steps.push(Step::PushImage { reference: format!("{}@sha256:{}", img.repo.name(), short(digest)), bytes: img.upload });
    }
    let rname = role_name(cx, &n.region);

    // Role, profile, security group.
    let want_policy =
        secret_arns(cx, stored).map(|a| a.into_iter().map(|(k, arn)| (k, (arn, String::new()))).collect()).and_then(with_key).map(|refs| {
            let arns = refs.into_iter().map(|(k, (arn, _))| (k, arn)).collect();
            let group = log_group_name(cx);
            role_policy(
                Some((&n.region, &group)),
                built.repository.as_deref().and_then(ecr::repo_arn).as_deref(),
                &arns,
                !access::is_open(cx),
            )
        });
    let op = match &n.role {
        None => Op::Create,
        Some((_, have)) if want_policy.as_ref() == Some(have) => Op::Noop,
        Some(_) => Op::Update,
    };
    steps.push(Step::Role { name: rname.clone(), op });
    let op = match &n.profile {
        Some((_, true)) => Op::Noop,
        Some((_, false)) => Op::Update,
        None => Op::Create,
    };
    steps.push(Step::Profile { name: rname, op });
    let ingress = desired_ingress(cx);
    let rules = if ingress.is_empty() {
        "no inbound rules (private)".to_string()
    } else {
        ingress.iter().map(|(p, c)| format!("{p} from {c}")).collect::<Vec<_>>().join(", ")
    };
    let (id, op) = match &n.sg {
        None => (None, Op::Create),
        Some(g) if g.ingress == ingress => (Some(g.id.clone()), Op::Noop),
        Some(g) => (Some(g.id.clone()), Op::Update),
    };
    steps.push(Step::SecurityGroup { name: sg_name(cx), id, op, rules });
    let op = match &n.log_group {
        None => Op::Create,
        Some(g) if g.retention_days == Some(crate::cloud::aws_logs::RETENTION_DAYS) => Op::Noop,
        Some(_) => Op::Update,
    };
    steps.push(Step::LogGroup { name: log_group_name(cx), op });

    // The instance.
    let refs = secret_refs(cx, stored, &changing).and_then(with_key);
    let config = refs.as_ref().map(|refs| launch_spec(cx, &n.region, &built.workload, refs).1);
    let matching = config.as_ref().and_then(|cfg| n.instances.iter().find(|i| i.tag(TAG_CONFIG) == Some(cfg.as_str())));
    match matching {
        Some(i) => steps.push(Step::Instance { op: Op::Noop, id: i.id.clone(), why: format!("@{}", short(digest)) }),
        None => {
            let why = match n.live() {
                None => format!("{}, @{}", instance_type(cx), short(digest)),
                Some(l) => {
                    // The parts recorded on the live instance say what the new one changes.
                    let running = l.tag(TAG_PARTS).and_then(Parts::decode);
                    let also: &[&str] = if changing.is_empty() { &[] } else { &["secrets"] };
                    match Parts::changed_also(running.as_ref(), &Parts::wanted(cx, &artifact.info), also) {
                        Some(text) => text,
                        None if l.tag(TAG_DIGEST) != Some(digest.as_str()) => {
                            format!("image {} -> {}", short(l.tag(TAG_DIGEST).unwrap_or("?")), short(digest))
                        }
                        None => "configuration changed".into(),
                    }
                }
            };
            steps.push(Step::Instance { op: Op::Create, id: base, why });
        }
    }
    for i in n.instances.iter().filter(|i| matching.is_none_or(|m| m.id != i.id)) {
        steps.push(Step::Terminate { id: i.id.clone(), why: "once the new one is healthy".into() });
    }
    planned
}

/// A new instance with the image deployed before the live one, then the live one goes.
pub(super) fn plan_rollback(cx: &Cx, n: &Now) -> Result<Planned<Step>> {
    let (live, digest, image) = previous(cx, n)?;
    Ok(relaunch(cx, live, digest, image))
}

/// The same, to the kept image `id` names. The live instance keeps one image before
/// its own, so that is the only one there is to name.
pub(super) fn plan_rollback_to(cx: &Cx, n: &Now, id: &str) -> Result<Planned<Step>> {
    crate::engine::target::pick_kept(cx, &releases(n), id)?;
    plan_rollback(cx, n)
}

fn relaunch(cx: &Cx, live: &Inst, digest: String, image: String) -> Planned<Step> {
    Planned::of(vec![
        Step::Relaunch { name: base_name(cx), from: live.tag(TAG_DIGEST).unwrap_or("?").to_string(), digest, image },
        Step::Terminate { id: live.id.clone(), why: "once the new one is healthy".into() },
    ])
}

/// The live instance's image and the one it keeps from before (app images only: a
/// model server keeps none), newest first, by the digest's first 12 hex digits. The
/// registry keeps the last images (the repository's lifecycle policy), the previous one
/// among them.
pub(super) fn releases(n: &Now) -> Vec<Kept> {
    let Some(live) = n.live() else { return Vec::new() };
    let Some(digest) = live.tag(TAG_DIGEST).filter(|d| !d.is_empty()) else { return Vec::new() };
    let mut kept = vec![Kept {
        id: short(digest).to_string(),
        digest: digest.to_string(),
        created_at: (live.launched > 0).then(|| crate::util::iso8601(live.launched as u64)),
        live: true,
    }];
    if let Some(prev) = previous_of(live).filter(|(d, _)| d != digest) {
        kept.push(Kept { id: short(&prev.0).to_string(), digest: prev.0, created_at: None, live: false });
    }
    kept
}

/// Everything of this app, stage and target that exists.
pub(super) fn plan_destroy(cx: &Cx, n: &Now) -> Planned<Step> {
    let mut steps = Vec::new();
    for i in &n.instances {
        steps.push(Step::Terminate { id: i.id.clone(), why: i.state.clone() });
    }
    if let Some(g) = &n.sg {
        steps.push(Step::DeleteSecurityGroup { name: sg_name(cx), id: g.id.clone() });
    }
    let rname = role_name(cx, &n.region);
    if let Some((_, has_role)) = &n.profile {
        steps.push(Step::DeleteProfile { name: rname.clone(), has_role: *has_role });
    }
    if n.role.is_some() {
        steps.push(Step::DeleteRole { name: rname });
    }
    if n.repo.as_ref().is_some_and(|r| r.ours) {
        steps.push(Step::DeleteRepository { name: repo_name(cx) });
    }
    if n.log_group.is_some() {
        steps.push(Step::DeleteLogGroup { name: log_group_name(cx) });
    }
    for s in n.secrets.values().filter(|s| s.target.as_deref() == Some(&cx.target.name)) {
        steps.push(Step::DeleteSecret {
            id: store::secret_name(cx.app_name(), &cx.stage.to_string(), &s.name),
            arn: s.arn.clone(),
            name: s.name.clone(),
        });
    }
    Planned::of(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ArtifactInfo, Change};

    const REGION: &str = "eu-west-1";

    fn cx(extra: &str) -> Cx {
        cx_of(&format!("allow_cidrs = [\"203.0.113.0/24\"]\n{extra}"))
    }

    fn cx_of(extra: &str) -> Cx {
        let text = format!(
            "version = 1\n\n[app]\nname = \"gpu\"\nruntime = \"python3.11\"\ncommand = \"python3 server.py\"\nport = 8000\nhealth = \"/health\"\n\n[targets.ec2]\nregion = \"{REGION}\"\nami = \"ami-12345678\"\n{extra}"
        );
        crate::engine::testing::cx(&text, "ec2", &[])
    }

    /// A model-server artifact: no image to push, a digest of its own.
    fn model(cx: &Cx) -> BuiltOf<Artifact> {
        let (server, model) = model_of(cx).unwrap();
        let workload = Workload::Model { server, model, image: format!("docker.io/vllm/vllm-openai@sha256:{}", "e".repeat(64)) };
        let digest = workload_digest(&workload);
        BuiltOf { info: ArtifactInfo::plain("model-server", digest, 0), data: Artifact { workload, repository: None, image: None } }
    }

    fn nothing() -> Now {
        Now {
            region: REGION.into(),
            role: None,
            profile: None,
            sg: None,
            instances: Vec::new(),
            repo: None,
            log_group: None,
            secrets: BTreeMap::new(),
            secret_same: BTreeMap::new(),
            health: Health::Skipped,
        }
    }

    const KEY_ARN: &str = "arn:aws:secretsmanager:eu-west-1:1:secret:aideploy/gpu/dev/VLLM_API_KEY-x";

    /// The model server's key as stored after a deploy.
    fn key() -> Stored {
        Stored {
            name: "VLLM_API_KEY".into(),
            arn: KEY_ARN.into(),
            last_changed: None,
            target: Some("ec2".into()),
            version: Some("v1".into()),
        }
    }

    /// The role's policy after a model-server deploy: read its key, nothing else.
    fn key_policy() -> Option<serde_json::Value> {
        role_policy(Some((REGION, "/aideploy/gpu-dev")), None, &BTreeMap::from([("VLLM_API_KEY".to_string(), KEY_ARN.to_string())]), false)
    }

    /// What exists after a deploy of `artifact` with this manifest.
    fn deployed(cx: &Cx, artifact: &BuiltOf<Artifact>) -> Now {
        let refs = BTreeMap::from([("VLLM_API_KEY".to_string(), (KEY_ARN.to_string(), "v1".to_string()))]);
        let (_, config) = launch_spec(cx, REGION, &artifact.data.workload, &refs);
        let tags = HashMap::from([(TAG_CONFIG.to_string(), config), (TAG_DIGEST.to_string(), artifact.info.digest.clone())]);
        Now {
            secrets: BTreeMap::from([("VLLM_API_KEY".to_string(), key())]),
            role: Some(("arn:aws:iam::1:role/r".into(), None)),
            profile: Some(("arn:aws:iam::1:instance-profile/r".into(), true)),
            sg: Some(Sg { id: "sg-1".into(), ingress: desired_ingress(cx) }),
            log_group: Some(crate::cloud::aws_logs::Group { ours: true, retention_days: Some(crate::cloud::aws_logs::RETENTION_DAYS) }),
            instances: vec![Inst { id: "i-1".into(), state: "running".into(), public_ip: None, launched: 1, tags }],
            ..nothing()
        }
    }

    fn rows(p: &Planned<Step>) -> Vec<(Op, String)> {
        p.changes.iter().map(|c| (c.row().op, c.row().resource)).collect()
    }

    #[test]
    fn from_nothing_everything_is_created() {
        let cx = cx("model = \"org/name\"");
        let a = model(&cx);
        let p = plan(&cx, &nothing(), &a);
        assert_eq!(
            rows(&p),
            [
                (Op::Create, "api-key".to_string()),
                // What the instance will run, pinned by digest: a row to read, nothing to do.
                (Op::Noop, "server-image".to_string()),
                (Op::Create, "role".to_string()),
                (Op::Create, "instance-profile".to_string()),
                (Op::Create, "security-group".to_string()),
                (Op::Create, "log-group".to_string()),
                (Op::Create, "instance".to_string())
            ]
        );
        let image = p.changes.iter().find_map(|c| if let Step::ServerImage { reference, .. } = c { Some(reference.clone()) } else { None });
        assert_eq!(image.as_deref(), Some(format!("docker.io/vllm/vllm-openai@sha256:{}", "e".repeat(64)).as_str()));
        assert_eq!(p.changes[2], Step::Role { name: format!("aideploy-gpu-dev-{REGION}"), op: Op::Create });
        // The key is generated by apply; the plan names where it goes and how to read it.
        let row = p.changes[0].row();
        assert_eq!(row.id, "aideploy/gpu/dev/VLLM_API_KEY");
        assert!(
            row.reason
                .as_deref()
                .unwrap_or_default()
                .contains("aws secretsmanager get-secret-value --region eu-west-1 --secret-id aideploy/gpu/dev/VLLM_API_KEY"),
            "{row:?}"
        );
    }

    #[test]
    fn all_there_and_matching_is_all_noop() {
        let cx = cx("model = \"org/name\"");
        let a = model(&cx);
        let mut n = deployed(&cx, &a);
        // A model server with no secrets of its own reads only its API key.
        n.role = Some(("arn".into(), key_policy()));
        let p = plan(&cx, &n, &a);
        assert!(!p.has_changes(), "{:?}", p.changes);
        assert!(p.changes.contains(&Step::Instance { op: Op::Noop, id: "i-1".into(), why: format!("@{}", short(&a.info.digest)) }));
    }

    #[test]
    fn one_setting_changed_is_exactly_that_update() {
        let cx = cx("model = \"org/name\"");
        let a = model(&cx);
        let mut n = deployed(&cx, &a);
        n.role = Some(("arn".into(), key_policy()));
        n.sg.as_mut().unwrap().ingress.insert((22, "192.0.2.1/32".into()));
        let p = plan(&cx, &n, &a);
        let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(matches!(changed[0], Step::SecurityGroup { op: Op::Update, .. }));
        // The role lost its policy.
        let mut n = deployed(&cx, &a);
        n.role = Some(("arn".into(), Some(json!({"Version": "2012-10-17", "Statement": []}))));
        let p = plan(&cx, &n, &a);
        let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).collect();
        assert_eq!(changed, [&Step::Role { name: format!("aideploy-gpu-dev-{REGION}"), op: Op::Update }]);
    }

    #[test]
    fn new_code_starts_an_instance_and_retires_the_old_one() {
        let cx = cx("model = \"org/name\"");
        let old = model(&cx);
        let mut n = deployed(&cx, &old);
        n.role = Some(("arn".into(), key_policy()));
        let other = crate::engine::target::Built {
            info: ArtifactInfo::plain("model-server", "sha256:0123456789abcdef".into(), 0),
            data: Artifact {
                workload: Workload::Model { server: Server::Vllm, model: "org/other".into(), image: "r/v@sha256:00".into() },
                repository: None,
                image: None,
            },
        };
        let p = plan(&cx, &n, &other);
        let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).cloned().collect();
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(matches!(&changed[0], Step::Instance { op: Op::Create, why, .. } if why.contains("-> 0123456789ab")));
        assert_eq!(changed[1], Step::Terminate { id: "i-1".into(), why: "once the new one is healthy".into() });
    }

    #[test]
    fn private_unless_public_or_allow_cidrs() {
        // Neither: no ingress at all, SSM sessions in the role, and the plan says how to reach it.
        let cx = cx_of("model = \"org/name\"");
        assert!(desired_ingress(&cx).is_empty());
        let p = plan(&cx, &nothing(), &model(&cx));
        assert!(p.changes.contains(&Step::SecurityGroup {
            name: "aideploy-gpu-dev".into(),
            id: None,
            op: Op::Create,
            rules: "no inbound rules (private)".into()
        }));
        let note = p.warnings.iter().find(|w| w.contains("private")).expect("a note on how to reach a private instance");
        assert!(note.contains("aws ssm start-session --region eu-west-1 --target INSTANCE_ID --document-name AWS-StartPortForwardingSession --parameters '{\"portNumber\":[\"8000\"],\"localPortNumber\":[\"8000\"]}'"), "{note}");
        assert!(note.contains("allow_cidrs"), "{note}");
        let mut n = deployed(&cx, &model(&cx));
        n.role = Some(("arn".into(), key_policy()));
        // The key-only policy lacks the SSM statement a private instance needs.
        assert!(p.changes.iter().any(|c| matches!(c, Step::Role { op: Op::Create, .. })));
        let again = plan(&cx, &n, &model(&cx));
        assert!(again.changes.iter().any(|c| matches!(c, Step::Role { op: Op::Update, .. })), "{:?}", again.changes);
        // With a live instance the command names it.
        assert!(again.warnings.iter().any(|w| w.contains("--target i-1 ")), "{:?}", again.warnings);
        // `public = true`: the whole internet, with the plain-HTTP warning.
        let cx = cx_of("model = \"org/name\"\npublic = true");
        assert_eq!(desired_ingress(&cx), BTreeSet::from([(8000, "0.0.0.0/0".to_string())]));
        assert!(plan(&cx, &nothing(), &model(&cx)).warnings.iter().any(|w| w.contains("open to the whole internet")));
        // `allow_cidrs` limits it, public or not.
        let cx = cx_of("allow_cidrs = [\"203.0.113.0/24\"]\npublic = true");
        assert_eq!(desired_ingress(&cx), BTreeSet::from([(8000, "203.0.113.0/24".to_string())]));
    }

    #[test]
    fn a_users_own_key_is_not_generated() {
        let cx = cx("model = \"org/name\"\n[secrets]\nVLLM_API_KEY = {}");
        let p = plan(&cx, &nothing(), &model(&cx));
        assert!(!p.changes.iter().any(|c| matches!(c, Step::ApiKey { .. })), "{:?}", p.changes);
    }

    #[test]
    fn destroy_lists_what_exists_and_nothing_else() {
        let cx = cx("model = \"org/name\"");
        assert!(plan_destroy(&cx, &nothing()).changes.is_empty());
        let n = deployed(&cx, &model(&cx));
        let rows: Vec<_> = plan_destroy(&cx, &n).changes.iter().map(|c| c.row().resource).collect();
        assert_eq!(rows, ["instance", "security-group", "instance-profile", "role", "log-group", "secret"]);
    }

    const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/aideploy/gpu-dev";

    /// An app instance running image `now`, launched 2026-12-05T10:00:00Z, keeping
    /// `before` (digest hex) from the deploy before it.
    fn app_instance(now: &str, before: Option<&str>) -> Now {
        let mut tags =
            HashMap::from([(TAG_DIGEST.to_string(), format!("sha256:{now}")), (TAG_IMAGE.to_string(), format!("{REPO}@sha256:{now}"))]);
        if let Some(b) = before {
            tags.insert(TAG_PREV_DIGEST.into(), format!("sha256:{b}"));
            tags.insert(TAG_PREV_IMAGE.into(), format!("{REPO}@sha256:{b}"));
        }
        let live = Inst { id: "i-2".into(), state: "running".into(), public_ip: None, launched: 1_796_464_800, tags };
        Now { instances: vec![live], ..nothing() }
    }

    #[test]
    fn releases_are_the_live_image_and_the_one_it_keeps() {
        let (new, old) = ("a".repeat(64), "b".repeat(64));
        let n = app_instance(&new, Some(&old));
        let kept = releases(&n);
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(
            (kept[0].id.as_str(), kept[0].live, kept[0].created_at.as_deref()),
            ("aaaaaaaaaaaa", true, Some("2026-12-05T10:00:00Z"))
        );
        assert_eq!((kept[1].id.as_str(), kept[1].live, kept[1].digest.clone()), ("bbbbbbbbbbbb", false, format!("sha256:{old}")));
        // The digest status shows for the live one.
        let cx = cx("");
        assert_eq!(Ec2Backend.deployed(&cx, &n).map(|d| d.digest), Some(kept[0].digest.clone()));
        // The first deploy keeps nothing from before; a model server's previous image
        // (`image (model)`) cannot be started again as an app.
        assert_eq!(releases(&app_instance(&new, None)).len(), 1);
        let mut model = app_instance(&new, Some(&old));
        model.instances[0].tags.insert(TAG_PREV_IMAGE.into(), format!("docker.io/vllm/vllm-openai@sha256:{old} (org/name)"));
        assert_eq!(releases(&model).len(), 1);
        assert!(plan_rollback(&cx, &model).is_err());
        assert!(releases(&nothing()).is_empty());
    }

    #[test]
    fn rollback_to_starts_the_kept_image_and_refuses_others() {
        let cx = cx("");
        let (new, old) = ("a".repeat(64), "b".repeat(64));
        let n = app_instance(&new, Some(&old));
        let p = plan_rollback_to(&cx, &n, "bbbbbbbbbbbb").unwrap();
        assert_eq!(
            p.changes,
            [
                Step::Relaunch {
                    name: "gpu-dev".into(),
                    from: format!("sha256:{new}"),
                    digest: format!("sha256:{old}"),
                    image: format!("{REPO}@sha256:{old}")
                },
                Step::Terminate { id: "i-2".into(), why: "once the new one is healthy".into() }
            ]
        );
        assert_eq!(p.changes[0].row().reason.as_deref(), Some("image aaaaaaaaaaaa -> bbbbbbbbbbbb"));
        assert_eq!(plan_rollback(&cx, &n).unwrap().changes, p.changes);
        let e = plan_rollback_to(&cx, &n, "cccccccccccc").unwrap_err().to_string();
        assert!(e.contains("keeps no release `cccccccccccc`"), "{e}");
        let e = plan_rollback_to(&cx, &n, "aaaaaaaaaaaa").unwrap_err().to_string();
        assert!(e.contains("is the one serving now"), "{e}");
    }

    /// A model server deployed by `old`, its parts tagged on the instance as apply does.
    fn deployed_with_parts(old: &Cx, a: &BuiltOf<Artifact>) -> Now {
        let mut n = deployed(old, a);
        n.role = Some(("arn".into(), key_policy()));
        n.instances[0].tags.insert(TAG_PARTS.into(), Parts::wanted(old, &a.info).encode());
        n
    }

    fn instance_why(p: &Planned<Step>) -> String {
        p.changes
            .iter()
            .find_map(|c| if let Step::Instance { op: Op::Create, why, .. } = c { Some(why.clone()) } else { None })
            .expect("a new instance")
    }

    const WITH_ENV: &str = "version = 1\n[app]\nname = \"gpu\"\nruntime = \"python3.11\"\ncommand = \"python3 server.py\"\nport = 8000\nhealth = \"/health\"\n[env]\nLOG_LEVEL = \"info\"\n[targets.ec2]\nregion = \"eu-west-1\"\nami = \"ami-12345678\"\nmodel = \"org/name\"\n";

    #[test]
    fn an_env_only_change_says_env_changed() {
        let old = crate::engine::testing::cx(WITH_ENV, "ec2", &[]);
        let new = crate::engine::testing::cx(&WITH_ENV.replace("\"info\"", "\"debug\""), "ec2", &[]);
        let n = deployed_with_parts(&old, &model(&old));
        assert_eq!(instance_why(&plan(&new, &n, &model(&new))), "env changed");
        // Without recorded parts: today's words.
        let mut bare = deployed_with_parts(&old, &model(&old));
        bare.instances[0].tags.remove(TAG_PARTS);
        assert_eq!(instance_why(&plan(&new, &bare, &model(&new))), "configuration changed");
    }

    #[test]
    fn a_secrets_only_change_says_secrets_changed() {
        let text = WITH_ENV.replace("[targets.ec2]", "[secrets]\nHF_TOKEN = {}\n[targets.ec2]");
        let old = crate::engine::testing::cx_with_secret(&text, "ec2", &[], "HF_TOKEN", "v1");
        let mut n = deployed_with_parts(&old, &model(&old));
        let stored = Stored {
            name: "HF_TOKEN".into(),
            arn: "arn:hf".into(),
            last_changed: None,
            target: Some("ec2".into()),
            version: Some("v1".into()),
        };
        n.secrets.insert("HF_TOKEN".into(), stored);
        n.secret_same.insert("HF_TOKEN".into(), false);
        let new = crate::engine::testing::cx_with_secret(&text, "ec2", &[], "HF_TOKEN", "v2");
        assert_eq!(instance_why(&plan(&new, &n, &model(&new))), "secrets changed");
    }

    #[test]
    fn a_code_change_says_code_changed() {
        let cx = crate::engine::testing::cx(WITH_ENV, "ec2", &[]);
        let n = deployed_with_parts(&cx, &model(&cx));
        let mut other = model(&cx);
        other.data.workload = Workload::Model { server: Server::Vllm, model: "org/other".into(), image: "r/v@sha256:00".into() };
        other.info.digest = "sha256:0123456789abcdef".into();
        assert_eq!(instance_why(&plan(&cx, &n, &other)), "code changed");
    }
}
