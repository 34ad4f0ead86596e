//! The IAM calls of `ci init` and `ci destroy`: [`observe`] reads only; [`apply`] carries
//! out the steps [`super::aws`] planned, in order.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use serde_json::Value;

use super::aws::{Clients, OidcSeen, PolicySeen, RoleSeen, Seen, Step};
use super::AWS_AUDIENCE;
use crate::cloud::aws::{decode_policy_document, sdk_error};
use crate::engine::{Planned, Reporter};

const HINT: &str = "`aideploy ci` needs the IAM actions of the `ci` policy in docs/permissions.md";

fn parse_document(raw: &str) -> Value {
    serde_json::from_str(raw).ok().or_else(|| serde_json::from_str(&decode_policy_document(raw)).ok()).unwrap_or(Value::Null)
}

fn tag_map<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> HashMap<String, String> {
    tags.map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The account, its partition, the OIDC providers `keep` accepts (by ARN), the roles
/// `roles` names, the policies named in `policies` or attached to those roles, and
/// (with `others`) the providers every other role in the account trusts.
pub async fn observe(
    iam: &aws_sdk_iam::Client,
    sts: &aws_sdk_sts::Client,
    keep: &dyn Fn(&str, &OidcSeen) -> bool,
    roles: &[String],
    policies: &[String],
    others: bool,
) -> Result<Seen> {
    let me = sts.get_caller_identity().send().await.map_err(|e| sdk_error("STS GetCallerIdentity", &e, HINT))?;
    let account = me.account().unwrap_or_default().to_string();
    let partition = me.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
    let mut seen = Seen { partition, account, ..Seen::default() };

    let listed = iam.list_open_id_connect_providers().send().await.map_err(|e| sdk_error("IAM ListOpenIDConnectProviders", &e, HINT))?;
    for entry in listed.open_id_connect_provider_list() {
        let Some(arn) = entry.arn() else { continue };
        let out = match iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => continue,
            Err(e) => return Err(sdk_error("IAM GetOpenIDConnectProvider", &e, HINT)),
        };
        let found = OidcSeen {
            arn: arn.to_string(),
            client_ids: out.client_id_list().to_vec(),
            tags: tag_map(out.tags().iter().map(|t| (t.key(), t.value()))),
        };
        if keep(arn, &found) {
            seen.providers.insert(arn.to_string(), found);
        }
    }

    let mut policy_names: Vec<String> = policies.to_vec();
    for name in roles {
        let role = match iam.get_role().role_name(name).send().await {
            Ok(out) => out.role().cloned(),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
            Err(e) => return Err(sdk_error("IAM GetRole", &e, HINT)),
        };
        let Some(role) = role else { continue };
        let tags = iam.list_role_tags().role_name(name).send().await.map_err(|e| sdk_error("IAM ListRoleTags", &e, HINT))?;
        let attached = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("IAM ListAttachedRolePolicies", &e, HINT))?;
        let inline = iam.list_role_policies().role_name(name).send().await.map_err(|e| sdk_error("IAM ListRolePolicies", &e, HINT))?;
        let attached: BTreeMap<String, String> =
            attached.attached_policies().iter().filter_map(|p| Some((p.policy_name()?.to_string(), p.policy_arn()?.to_string()))).collect();
        policy_names.extend(attached.keys().cloned());
        seen.roles.insert(
            name.clone(),
            RoleSeen {
                arn: role.arn().to_string(),
                tags: tag_map(tags.tags().iter().map(|t| (t.key(), t.value()))),
                trust: parse_document(role.assume_role_policy_document().unwrap_or_default()),
                attached,
                inline: inline.policy_names().to_vec(),
            },
        );
    }

    policy_names.sort();
    policy_names.dedup();
    for name in policy_names {
        let arn = format!("arn:{}:iam::{}:policy/{name}", seen.partition, seen.account);
        let policy = match iam.get_policy().policy_arn(&arn).send().await {
            Ok(out) => out.policy().cloned(),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
            Err(e) => return Err(sdk_error("IAM GetPolicy", &e, HINT)),
        };
        let Some(policy) = policy else { continue };
        let default = policy.default_version_id().unwrap_or("v1").to_string();
        let version = iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(&default)
            .send()
            .await
            .map_err(|e| sdk_error("IAM GetPolicyVersion", &e, HINT))?;
        let document = parse_document(version.policy_version().and_then(|v| v.document()).unwrap_or_default());
        let versions =
            iam.list_policy_versions().policy_arn(&arn).send().await.map_err(|e| sdk_error("IAM ListPolicyVersions", &e, HINT))?;
        let mut old: Vec<(Option<aws_sdk_iam::primitives::DateTime>, String)> = versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .filter_map(|v| Some((v.create_date().cloned(), v.version_id()?.to_string())))
            .collect();
        old.sort_by(|a, b| a.0.map(|d| d.secs()).cmp(&b.0.map(|d| d.secs())).then(a.1.cmp(&b.1)));
        let mut tags = tag_map(policy.tags().iter().map(|t| (t.key(), t.value())));
        if tags.is_empty() {
            let listed = iam.list_policy_tags().policy_arn(&arn).send().await.map_err(|e| sdk_error("IAM ListPolicyTags", &e, HINT))?;
            tags = tag_map(listed.tags().iter().map(|t| (t.key(), t.value())));
        }
        seen.policies.insert(name, PolicySeen { arn, tags, document, old_versions: old.into_iter().map(|(_, v)| v).collect() });
    }

    if others {
        let mut marker = None;
        loop {
            let out = iam.list_roles().set_marker(marker).send().await.map_err(|e| sdk_error("IAM ListRoles", &e, HINT))?;
            for r in out.roles() {
                if roles.iter().any(|n| n == r.role_name()) {
                    continue;
                }
                let trust = parse_document(r.assume_role_policy_document().unwrap_or_default());
                let federated = trust["Statement"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["Principal"]["Federated"].as_str().map(str::to_string))
                    .collect();
                seen.other_roles.insert(r.role_name().to_string(), federated);
            }
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                break;
            }
        }
    }
    Ok(seen)
}

fn iam_tags(tags: &[(String, String)]) -> Result<Vec<aws_sdk_iam::types::Tag>> {
    tags.iter().map(|(k, v)| Ok(aws_sdk_iam::types::Tag::builder().key(k).value(v).build()?)).collect()
}

/// Carries out the steps, in order. Each is create-or-update, so a run cut short is
/// finished by the next one.
pub async fn apply(c: &Clients, plan: &Planned<Step>, r: &dyn Reporter) -> Result<()> {
    let iam = &c.iam;
    for step in &plan.changes {
        match step {
            Step::CreateProvider { url, tags } => {
                r.step(&format!("Creating the IAM OIDC provider for {url}"));
                let mut req = iam.create_open_id_connect_provider().url(url).client_id_list(AWS_AUDIENCE);
                for t in iam_tags(tags)? {
                    req = req.tags(t);
                }
                match req.send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {}
                    Err(e) => return Err(sdk_error("IAM CreateOpenIDConnectProvider", &e, HINT)),
                }
            }
            Step::AddAudience { arn } => {
                r.step(&format!("Adding the audience {AWS_AUDIENCE} to {arn}"));
                iam.add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .client_id(AWS_AUDIENCE)
                    .send()
                    .await
                    .map_err(|e| sdk_error("IAM AddClientIDToOpenIDConnectProvider", &e, HINT))?;
            }
            Step::KeepProvider { .. } | Step::RoleOk { .. } | Step::PolicyOk { .. } => {}
            Step::DeleteProvider { arn } => {
                r.step(&format!("Deleting the IAM OIDC provider {arn}"));
                match iam.delete_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(sdk_error("IAM DeleteOpenIDConnectProvider", &e, HINT)),
                }
            }
            Step::CreateRole { name, trust, tags, purpose } => {
                r.step(&format!("Creating the role {name}"));
                let mut req = iam
                    .create_role()
                    .role_name(name)
                    .assume_role_policy_document(trust.to_string())
                    .description(format!("aideploy CI, {purpose}"))
                    .max_session_duration(3600);
                for t in iam_tags(tags)? {
                    req = req.tags(t);
                }
                match req.send().await {
                    Ok(_) => {}
                    // Made a moment ago by another run: the trust policy is set again.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {
                        update_trust(iam, name, trust).await?;
                    }
                    Err(e) => return Err(sdk_error("IAM CreateRole", &e, HINT)),
                }
            }
            Step::UpdateTrust { name, trust, tags } => {
                r.step(&format!("Updating the trust policy of {name}"));
                update_trust(iam, name, trust).await?;
                let mut req = iam.tag_role().role_name(name);
                for t in iam_tags(tags)? {
                    req = req.tags(t);
                }
                req.send().await.map_err(|e| sdk_error("IAM TagRole", &e, HINT))?;
            }
            Step::DeleteRole { name, inline } => {
                r.step(&format!("Deleting the role {name}"));
                for p in inline {
                    let _ = iam.delete_role_policy().role_name(name).policy_name(p).send().await;
                }
                match iam.delete_role().role_name(name).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(sdk_error("IAM DeleteRole", &e, HINT)),
                }
            }
            Step::CreatePolicy { name, document, tags, role } => {
                r.step(&format!("Creating the policy {name}"));
                let mut req = iam
                    .create_policy()
                    .policy_name(name)
                    .policy_document(document.to_string())
                    .description("aideploy CI: from docs/permissions.md");
                for t in iam_tags(tags)? {
                    req = req.tags(t);
                }
                let arn = req
                    .send()
                    .await
                    .map_err(|e| sdk_error("IAM CreatePolicy", &e, HINT))?
                    .policy()
                    .and_then(|p| p.arn().map(str::to_string));
                let arn = arn.unwrap_or_default();
                attach(iam, role, &arn).await?;
            }
            Step::UpdatePolicy { name, arn, document, prune } => {
                r.step(&format!("Updating the policy {name}"));
                if let Some(v) = prune {
                    iam.delete_policy_version()
                        .policy_arn(arn)
                        .version_id(v)
                        .send()
                        .await
                        .map_err(|e| sdk_error("IAM DeletePolicyVersion", &e, HINT))?;
                }
                iam.create_policy_version()
                    .policy_arn(arn)
                    .policy_document(document.to_string())
                    .set_as_default(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error("IAM CreatePolicyVersion", &e, HINT))?;
            }
            Step::Attach { arn, role, .. } => attach(iam, role, arn).await?,
            Step::DeletePolicy { name, arn, old_versions, roles } => {
                r.step(&format!("Deleting the policy {name}"));
                for role in roles {
                    match iam.detach_role_policy().role_name(role).policy_arn(arn).send().await {
                        Ok(_) => {}
                        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                        Err(e) => return Err(sdk_error("IAM DetachRolePolicy", &e, HINT)),
                    }
                }
                for v in old_versions {
                    iam.delete_policy_version()
                        .policy_arn(arn)
                        .version_id(v)
                        .send()
                        .await
                        .map_err(|e| sdk_error("IAM DeletePolicyVersion", &e, HINT))?;
                }
                match iam.delete_policy().policy_arn(arn).send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                    Err(e) => return Err(sdk_error("IAM DeletePolicy", &e, HINT)),
                }
            }
        }
        r.done();
    }
    Ok(())
}

async fn update_trust(iam: &aws_sdk_iam::Client, name: &str, trust: &Value) -> Result<()> {
    iam.update_assume_role_policy()
        .role_name(name)
        .policy_document(trust.to_string())
        .send()
        .await
        .map_err(|e| sdk_error("IAM UpdateAssumeRolePolicy", &e, HINT))?;
    Ok(())
}

async fn attach(iam: &aws_sdk_iam::Client, role: &str, arn: &str) -> Result<()> {
    iam.attach_role_policy().role_name(role).policy_arn(arn).send().await.map_err(|e| sdk_error("IAM AttachRolePolicy", &e, HINT))?;
    Ok(())
}
