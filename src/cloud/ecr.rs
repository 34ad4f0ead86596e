//! The ECR repository a target pushes its image to, shared by the targets that run
//! images on AWS (ec2, lambda): created when missing with scan on push and the owner's
//! tags (`aideploy:app`, `aideploy:stage`, `aideploy:target`), given a lifecycle policy
//! keeping the last [`KEEP_IMAGES`] images (rollback needs the previous ones), found
//! again by name and claimed only when its tags say it is this app's, stage's and
//! target's, and deleted with its images by `destroy`.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::json;

use crate::engine::Reporter;
use crate::error::Hinted;

/// Images the lifecycle policy keeps.
pub const KEEP_IMAGES: u32 = 10;

const PERMS_HINT: &str = "check that the credentials may manage ECR repositories in this region";

/// A repository found by name.
#[derive(Debug, Clone)]
pub struct Repo {
    pub uri: String,
    /// Its tags carry every one of the owner's tags.
    pub ours: bool,
}

fn failed(what: &str, e: impl std::error::Error) -> anyhow::Error {
    Hinted::new(format!("{what} failed: {}", crate::cloud::aws::describe(&e)), PERMS_HINT).into()
}

fn owned_by(found: &HashMap<String, String>, owner: &[(&'static str, String)]) -> bool {
    owner.iter().all(|(k, v)| found.get(*k) == Some(v))
}

/// The repository `name`, if it exists; `owner` are the tags that make it ours.
pub async fn read(ecr: &aws_sdk_ecr::Client, name: &str, owner: &[(&'static str, String)]) -> Result<Option<Repo>> {
    let out = match ecr.describe_repositories().repository_names(name).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => return Ok(None),
        Err(e) => return Err(failed("ECR DescribeRepositories", e)),
    };
    let Some(repo) = out.repositories().first() else { return Ok(None) };
    let arn = repo.repository_arn().unwrap_or_default().to_string();
    let tags = ecr.list_tags_for_resource().resource_arn(&arn).send().await.map_err(|e| failed("ECR ListTagsForResource", e))?;
    let tags: HashMap<String, String> = tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    Ok(Some(Repo { uri: repo.repository_uri().unwrap_or_default().to_string(), ours: owned_by(&tags, owner) }))
}

/// The repository `name`: created when missing (scan on push, tagged with `owner`), with
/// the lifecycle policy. Refuses one that exists without `owner`'s tags. Returns its URI.
pub async fn ensure(ecr: &aws_sdk_ecr::Client, name: &str, owner: &[(&'static str, String)], r: &dyn Reporter) -> Result<String> {
    let lifecycle = json!({"rules": [{
        "rulePriority": 1,
        "description": format!("keep the last {KEEP_IMAGES} images"),
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": KEEP_IMAGES},
        "action": {"type": "expire"}
    }]})
    .to_string();
    let uri = match read(ecr, name, owner).await? {
        Some(repo) if !repo.ours => {
            return Err(Hinted::new(
                format!("an ECR repository named {name} exists but was not created by aideploy for this app, stage and target"),
                "delete or rename it, or deploy with another --stage",
            )
            .into())
        }
        Some(repo) => {
            match ecr.get_lifecycle_policy().repository_name(name).send().await {
                Ok(_) => return Ok(repo.uri),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_lifecycle_policy_not_found_exception()) => {}
                Err(e) => return Err(failed("ECR GetLifecyclePolicy", e)),
            }
            repo.uri
        }
        None => {
            r.progress(&format!("creating ECR repository {name}"));
            let mut req = ecr
                .create_repository()
                .repository_name(name)
                .image_scanning_configuration(aws_sdk_ecr::types::ImageScanningConfiguration::builder().scan_on_push(true).build());
            for (k, v) in owner {
                req = req.tags(aws_sdk_ecr::types::Tag::builder().key(*k).value(v).build().expect("key and value"));
            }
            match req.send().await {
                Ok(out) => out.repository().and_then(|r| r.repository_uri()).unwrap_or_default().to_string(),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_already_exists_exception()) => {
                    read(ecr, name, owner).await?.map(|r| r.uri).unwrap_or_default()
                }
                Err(e) => return Err(failed("ECR CreateRepository", e)),
            }
        }
    };
    ecr.put_lifecycle_policy()
        .repository_name(name)
        .lifecycle_policy_text(lifecycle)
        .send()
        .await
        .map_err(|e| failed("ECR PutLifecyclePolicy", e))?;
    Ok(uri)
}

/// Deletes the repository and its images; one already gone is not an error.
pub async fn delete(ecr: &aws_sdk_ecr::Client, name: &str) -> Result<()> {
    match ecr.delete_repository().repository_name(name).force(true).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => Ok(()),
        Err(e) => Err(failed("ECR DeleteRepository", e)),
    }
}

/// `{account}.dkr.ecr.{region}.amazonaws.com/path` -> the repository's ARN.
pub fn repo_arn(repository: &str) -> Option<String> {
    let (host, path) = repository.split_once('/')?;
    let region = crate::cloud::registry_logins::ecr_region(host)?;
    let account = host.split('.').next()?;
    Some(format!("arn:aws:ecr:{region}:{account}:repository/{path}"))
}

/// Whether `repository` (`host/path`) is in ECR.
pub fn is_ecr(repository: &str) -> bool {
    repository.split('/').next().and_then(crate::cloud::registry_logins::ecr_region).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_of_ecr_repositories_only() {
        assert_eq!(
            repo_arn("123456789012.dkr.ecr.eu-west-1.amazonaws.com/aideploy/app-dev").as_deref(),
            Some("arn:aws:ecr:eu-west-1:123456789012:repository/aideploy/app-dev")
        );
        assert_eq!(repo_arn("ghcr.io/acme/app"), None);
        assert!(is_ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com/x"));
        assert!(!is_ecr("127.0.0.1:5000/x"));
    }

    #[test]
    fn ownership_needs_every_tag() {
        let owner = vec![("aideploy:app", "a".to_string()), ("aideploy:stage", "dev".to_string())];
        let mut found: HashMap<String, String> = HashMap::new();
        found.insert("aideploy:app".into(), "a".into());
        assert!(!owned_by(&found, &owner));
        found.insert("aideploy:stage".into(), "dev".into());
        assert!(owned_by(&found, &owner));
    }
}
