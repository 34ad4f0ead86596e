//! Desired vs observed, as steps: the deploy's, rollback's and destroy's plans. Pure.

use super::*;

/// What a deploy would change.
pub(super) fn plan(cx: &Cx, n: &Now, artifact: &BuiltOf<Artifact>) -> Planned<Step> {
    let built = &artifact.data;
    let digest = &artifact.info.digest;
    let base = base_name(cx);
    let mut planned = Planned::default();
    if cx.target.settings.allow_cidrs.is_none() {
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
    if let Some(img) = &built.image {
        if let Some(name) = &img.ecr_repo {
            steps.push(Step::EcrRepository { name: name.clone(), exists: n.repo.as_ref().is_some_and(|r| r.ours) });
        }
        steps.push(Step::PushImage { reference: format!("{}@sha256:{}", img.repo.name(), short(digest)), bytes: img.upload });
    }
    let rname = role_name(cx, &n.region);

    // Role, profile, security group.
    let want_policy =
        secret_arns(cx, stored).map(|arns| role_policy(built.repository.as_deref().and_then(ecr::repo_arn).as_deref(), &arns));
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
    let rules = ingress.iter().map(|(p, c)| format!("{p} from {c}")).collect::<Vec<_>>().join(", ");
    let (id, op) = match &n.sg {
        None => (None, Op::Create),
        Some(g) if g.ingress == ingress => (Some(g.id.clone()), Op::Noop),
        Some(g) => (Some(g.id.clone()), Op::Update),
    };
    steps.push(Step::SecurityGroup { name: sg_name(cx), id, op, rules });

    // The instance.
    let refs = secret_refs(cx, stored, &changing);
    let config = refs.as_ref().map(|refs| launch_spec(cx, &n.region, &built.workload, refs).1);
    let matching = config.as_ref().and_then(|cfg| n.instances.iter().find(|i| i.tag(TAG_CONFIG) == Some(cfg.as_str())));
    match matching {
        Some(i) => steps.push(Step::Instance { op: Op::Noop, id: i.id.clone(), why: format!("@{}", short(digest)) }),
        None => {
            let why = match n.live() {
                None => format!("{}, @{}", instance_type(cx), short(digest)),
                Some(l) if l.tag(TAG_DIGEST) != Some(digest.as_str()) => {
                    format!("image {} -> {}", short(l.tag(TAG_DIGEST).unwrap_or("?")), short(digest))
                }
                Some(_) => "configuration changed".into(),
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
    let (live, prev_digest, _) = previous(cx, n)?;
    Ok(Planned::of(vec![
        Step::Instance {
            op: Op::Create,
            id: base_name(cx),
            why: format!("image {} -> {}", short(live.tag(TAG_DIGEST).unwrap_or("?")), short(&prev_digest)),
        },
        Step::Terminate { id: live.id.clone(), why: "once the new one is healthy".into() },
    ]))
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
    use std::sync::Arc;

    const REGION: &str = "eu-west-1";

    fn cx(extra: &str) -> Cx {
        let dir = tempfile::tempdir().unwrap().keep();
        let text = format!(
            "version = 1\n\n[app]\nname = \"gpu\"\nruntime = \"python3.11\"\ncommand = \"python3 server.py\"\nport = 8000\nhealth = \"/health\"\n\n[targets.ec2]\nregion = \"{REGION}\"\nami = \"ami-12345678\"\nallow_cidrs = [\"203.0.113.0/24\"]\n{extra}"
        );
        let path = dir.join("aideploy.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::write(dir.join("server.py"), "").unwrap();
        let loaded = crate::manifest::load(&path).unwrap();
        let target = loaded.manifest.target(Some("ec2"), &[]).unwrap();
        Cx {
            loaded: Arc::new(loaded),
            target,
            stage: "dev".parse().unwrap(),
            secrets: Default::default(),
            poll: crate::engine::wait::PollPolicy { fixed: None },
        }
    }

    /// A model-server artifact: no image to push, a digest of its own.
    fn model(cx: &Cx) -> BuiltOf<Artifact> {
        let (server, model) = model_of(cx).unwrap();
        let workload = Workload::Model { server, model };
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
            secrets: BTreeMap::new(),
            secret_same: BTreeMap::new(),
            health: Health::Skipped,
        }
    }

    /// What exists after a deploy of `artifact` with this manifest.
    fn deployed(cx: &Cx, artifact: &BuiltOf<Artifact>) -> Now {
        let (_, config) = launch_spec(cx, REGION, &artifact.data.workload, &BTreeMap::new());
        let tags = HashMap::from([(TAG_CONFIG.to_string(), config), (TAG_DIGEST.to_string(), artifact.info.digest.clone())]);
        Now {
            role: Some(("arn:aws:iam::1:role/r".into(), None)),
            profile: Some(("arn:aws:iam::1:instance-profile/r".into(), true)),
            sg: Some(Sg { id: "sg-1".into(), ingress: desired_ingress(cx) }),
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
                (Op::Create, "role".to_string()),
                (Op::Create, "instance-profile".to_string()),
                (Op::Create, "security-group".to_string()),
                (Op::Create, "instance".to_string())
            ]
        );
        assert_eq!(p.changes[0], Step::Role { name: format!("aideploy-gpu-dev-{REGION}"), op: Op::Create });
    }

    #[test]
    fn all_there_and_matching_is_all_noop() {
        let cx = cx("model = \"org/name\"");
        let a = model(&cx);
        let mut n = deployed(&cx, &a);
        // A model server with no secrets needs no policy: the role has none.
        n.role = Some(("arn".into(), None));
        let p = plan(&cx, &n, &a);
        assert!(!p.has_changes(), "{:?}", p.changes);
        assert!(p.changes.contains(&Step::Instance { op: Op::Noop, id: "i-1".into(), why: format!("@{}", short(&a.info.digest)) }));
    }

    #[test]
    fn one_setting_changed_is_exactly_that_update() {
        let cx = cx("model = \"org/name\"");
        let a = model(&cx);
        let mut n = deployed(&cx, &a);
        n.role = Some(("arn".into(), None));
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
        n.role = Some(("arn".into(), None));
        let other = crate::engine::target::Built {
            info: ArtifactInfo::plain("model-server", "sha256:0123456789abcdef".into(), 0),
            data: Artifact { workload: Workload::Model { server: Server::Vllm, model: "org/other".into() }, repository: None, image: None },
        };
        let p = plan(&cx, &n, &other);
        let changed: Vec<_> = p.changes.iter().filter(|c| c.row().op != Op::Noop).cloned().collect();
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(matches!(&changed[0], Step::Instance { op: Op::Create, why, .. } if why.contains("-> 0123456789ab")));
        assert_eq!(changed[1], Step::Terminate { id: "i-1".into(), why: "once the new one is healthy".into() });
    }

    #[test]
    fn destroy_lists_what_exists_and_nothing_else() {
        let cx = cx("model = \"org/name\"");
        assert!(plan_destroy(&cx, &nothing()).changes.is_empty());
        let n = deployed(&cx, &model(&cx));
        let rows: Vec<_> = plan_destroy(&cx, &n).changes.iter().map(|c| c.row().resource).collect();
        assert_eq!(rows, ["instance", "security-group", "instance-profile", "role"]);
    }
}
