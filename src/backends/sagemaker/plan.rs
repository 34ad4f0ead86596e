//! Desired vs observed, as steps: the deploy's, rollback's and destroy's plans. Pure.

use super::*;

/// The role's ARN as IAM will give it: the observed one, else the one a new role of
/// that name gets (no path).
pub(super) fn role_arn(n: &Now, rname: &str) -> String {
    match &n.role {
        Some(r) => r.arn.clone(),
        None => {
            let partition = if n.region.starts_with("cn-") {
                "aws-cn"
            } else if n.region.starts_with("us-gov-") {
                "aws-us-gov"
            } else {
                "aws"
            };
            format!("arn:{partition}:iam::{}:role/{rname}", n.account)
        }
    }
}

/// What a deploy would change.
pub(super) fn plan(cx: &Cx, n: &Now, artifact: &Built<SmArtifact>) -> Planned<Step> {
    let art = &artifact.data;
    let ep = endpoint_name(cx);
    let (mut steps, mut warnings) = (Vec::new(), Vec::new());

    // Secrets: values to Secrets Manager; only ARNs go further.
    let mut changing = Vec::new();
    for name in cx.secrets.values.keys() {
        let id = store::secret_name(cx.app_name(), &cx.stage.to_string(), name);
        let op = match (n.secrets.get(name), n.secret_same.get(name)) {
            (None, _) => Op::Create,
            (Some(_), Some(true)) => Op::Noop,
            (Some(_), _) => Op::Update,
        };
        if op != Op::Noop {
            changing.push(name.clone());
        }
        steps.push(Step::Secret { name: name.clone(), id, op });
    }

    // The artifact bucket, only when it is not ready (and there is an archive to keep).
    let b = upload::bucket(&n.account, &n.region);
    if art.archive.is_some() {
        match &n.bucket {
            Seen::Missing => steps.push(Step::Bucket { name: b.name.clone(), create: true, missing: Setting::ALL.to_vec() }),
            Seen::Ours { missing } if !missing.is_empty() => {
                steps.push(Step::Bucket { name: b.name.clone(), create: false, missing: missing.clone() })
            }
            Seen::Foreign { why } => warnings
                .push(format!("the S3 bucket {} exists but is not aideploy's ({why}): the deploy refuses it; delete or rename it", b.name)),
            Seen::Ours { .. } => {}
        }
    }

    // The role: its policy names ARNs only.
    let rname = role_name(cx, &n.region);
    let image = cx.target.settings.image.as_ref().map(|i| i.get().as_str());
    let arns_known: Option<BTreeMap<String, String>> =
        secret_refs(cx, &n.secrets, &[]).into_iter().map(|(k, v)| v.map(|v| (k, v.arn))).collect();
    let want_policy = arns_known.map(|arns| role_policy(cx, &n.region, &n.account, image, &arns));
    let op = match &n.role {
        None => Op::Create,
        Some(r) if r.policy.is_some() && r.policy == want_policy => Op::Noop,
        Some(_) => Op::Update,
    };
    steps.push(Step::Role { name: rname.clone(), op });

    // The release: archive, model, endpoint config.
    let known = known_refs(&secret_refs(cx, &n.secrets, &changing));
    let release = known.and_then(|refs| desired_release(cx, art, &n.region, &n.account, &role_arn(n, &rname), &refs).ok());
    let name = release.as_ref().map(|(id, _, _)| release_name(&ep, id));
    if let Some(a) = &art.archive {
        let key = upload::key(cx, &art_sha(a));
        let bytes = (!n.archives.contains(&key)).then_some(a.bytes);
        steps.push(Step::Archive { url: b.url(&key), bytes });
    }
    let model_op = if name.as_ref().is_some_and(|m| n.has_model(m)) { Op::Noop } else { Op::Create };
    let why = match (n.live.as_ref().and_then(|l| l.model.as_ref()), &release) {
        _ if model_op == Op::Noop => String::new(),
        (Some(have), Some((_, want, _))) => model_diff(have, want),
        (None, _) if n.endpoint.is_none() => if art.image.is_some() { "own image" } else { "Hugging Face inference container" }.to_string(),
        _ => String::new(),
    };
    steps.push(Step::Model { name: name.clone(), op: model_op, why });
    let config_op = if name.as_ref().is_some_and(|c| n.has_config(c)) { Op::Noop } else { Op::Create };
    steps.push(Step::Config { name: name.clone(), op: config_op, why: desired_variant(cx).describe() });
    if let Some(m) = name.as_ref().filter(|m| n.foreign_models.contains(*m) || n.foreign_configs.contains(*m)) {
        warnings.push(format!(
            "a SageMaker model or endpoint config named {m} exists without this target's aideploy tags: the deploy refuses it; rename the app or stage, or delete it"
        ));
    }

    // The endpoint: created, or moved to the release's config.
    steps.push(match &n.endpoint {
        None => Step::Endpoint { name: ep, op: Op::Create, why: Some("takes about 10 minutes".into()), to: None },
        Some(e) if e.status == "Failed" => Step::Endpoint { name: ep, op: Op::Update, why: Some("failed: replaced".into()), to: None },
        Some(e) if name.as_deref() == Some(e.config.as_str()) => Step::Endpoint { name: ep, op: Op::Noop, why: None, to: None },
        Some(e) => {
            // The parts recorded with the live release say what the new one changes.
            let running = n.live.as_ref().and_then(|l| l.parts.as_deref()).and_then(Parts::decode);
            let also: &[&str] = if changing.is_empty() { &[] } else { &["secrets"] };
            let why = Parts::changed_also(running.as_ref(), &wanted_parts(cx, artifact), also)
                .unwrap_or_else(|| format!("config {} -> {}", e.config, name.as_deref().unwrap_or("new")));
            Step::Endpoint { name: ep, op: Op::Update, why: Some(why), to: None }
        }
    });
    Planned { changes: steps, warnings }
}

/// What a release of `artifact` is made of (the secrets by name: a new value under the
/// same name is known from the secrets' own steps).
pub(super) fn wanted_parts(cx: &Cx, artifact: &Built<SmArtifact>) -> Parts {
    Parts::wanted(cx, &artifact.info)
}

/// The endpoint back on the config created before the live one.
pub(super) fn plan_rollback(cx: &Cx, n: &Now) -> Result<Planned<Step>> {
    let (live, prev) = rollback_pair(cx, n)?;
    Ok(Planned::of(vec![Step::Endpoint {
        name: endpoint_name(cx),
        op: Op::Update,
        why: Some(format!("config {live} -> {prev}")),
        to: Some(prev),
    }]))
}

/// The endpoint moved to the kept config `id`, older or newer than the live one.
pub(super) fn plan_rollback_to(cx: &Cx, n: &Now, id: &str) -> Result<Planned<Step>> {
    let kept = n.releases();
    let to = crate::engine::target::pick_kept(cx, &kept, id)?;
    let live = n.endpoint.as_ref().map(|e| e.config.as_str()).unwrap_or_default();
    Ok(Planned::of(vec![Step::Endpoint {
        name: endpoint_name(cx),
        op: Op::Update,
        why: Some(format!("config {live} -> {}", to.id)),
        to: Some(to.id.clone()),
    }]))
}

/// The live config and the one before it.
pub(super) fn rollback_pair(cx: &Cx, n: &Now) -> Result<(String, String)> {
    let none = || {
        UsageError::new(format!("{} ({}) has no previous endpoint config to roll back to", cx.app_name(), cx.stage))
            .hint("rollback updates the endpoint to the config created before the live one; deploy a change first")
    };
    let live = n.endpoint.as_ref().map(|e| e.config.clone()).ok_or_else(none)?;
    let prev = n.previous(&live).ok_or_else(none)?;
    Ok((live, prev))
}

/// Everything of this app, stage and target that exists (foreign look-alikes excluded).
pub(super) fn plan_destroy(cx: &Cx, n: &Now) -> Planned<Step> {
    if !n.anything(cx) && n.legacy_bucket.is_none() {
        return Planned::default();
    }
    let mut steps = Vec::new();
    if n.endpoint.is_some() {
        steps.push(Step::DeleteEndpoint { name: endpoint_name(cx) });
    }
    steps.extend(n.configs.iter().map(|c| Step::DeleteConfig { name: c.name.clone() }));
    steps.extend(n.models.iter().map(|m| Step::DeleteModel { name: m.name.clone() }));
    if matches!(n.bucket, Seen::Ours { .. }) {
        steps.push(Step::DeleteArchives { bucket: upload::bucket(&n.account, &n.region).name, prefix: upload::prefix(cx) });
    }
    if let Some(bucket) = &n.legacy_bucket {
        steps.push(Step::DeleteLegacyArchives { bucket: bucket.clone(), prefix: upload::prefix(cx) });
    }
    if n.role.is_some() {
        steps.push(Step::DeleteRole { name: role_name(cx, &n.region) });
    }
    for s in n.own_secrets(cx) {
        steps.push(Step::DeleteSecret {
            id: store::secret_name(cx.app_name(), &cx.stage.to_string(), &s.name),
            arn: s.arn.clone(),
            name: s.name.clone(),
        });
    }
    Planned::of(steps)
}
