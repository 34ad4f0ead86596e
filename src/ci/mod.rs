//! `aideploy ci`: the workflow a CI runs (GitHub Actions or GitLab CI) and the cloud side
//! of keyless login from the CI's OIDC token, so no long-lived secret exists anywhere.
//!
//! Who may do what: pushes to the branch deploy with the deploy identity; pull-request
//! jobs get a plan-only identity; preview stages need deploy rights, so (on GitHub) they
//! run in the `preview` environment, whose token subject the deploy identity trusts and
//! whose protection rules the repository's admins set.

pub mod aws;
pub mod aws_calls;
pub mod azure;
pub mod azure_calls;
pub mod gcp;
pub mod gcp_calls;
pub mod policy;
pub mod workflow;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::engine::Provider;
use crate::error::UsageError;
use crate::manifest::Target;

/// The CI that runs the workflow and issues the OIDC tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CiProvider {
    Github,
    Gitlab,
}

impl CiProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            CiProvider::Github => "github",
            CiProvider::Gitlab => "gitlab",
        }
    }

    /// The issuer of the CI's OIDC tokens, unless `--issuer` names another (a
    /// self-managed GitLab).
    pub fn default_issuer(self) -> &'static str {
        match self {
            CiProvider::Github => "https://token.actions.githubusercontent.com",
            CiProvider::Gitlab => "https://gitlab.com",
        }
    }

    /// Where the workflow goes, relative to the repository's root.
    pub fn workflow_path(self) -> &'static str {
        match self {
            CiProvider::Github => ".github/workflows/aideploy.yml",
            CiProvider::Gitlab => ".gitlab-ci.yml",
        }
    }

    pub const ALL: [CiProvider; 2] = [CiProvider::Github, CiProvider::Gitlab];
}

/// The audience AWS STS expects in a web identity token.
pub const AWS_AUDIENCE: &str = "sts.amazonaws.com";
/// The GitHub environment preview stages deploy from.
pub const PREVIEW_ENVIRONMENT: &str = "preview";
/// How long a preview stage lives unless its pull request closes first.
pub const PREVIEW_TTL: &str = "72h";
/// The tag that says which CI and repository an identity is for.
pub const TAG_CI: &str = "aideploy:ci";

/// Everything `ci init` sets up, decided before anything is read or written.
#[derive(Debug, Clone)]
pub struct Spec {
    pub provider: CiProvider,
    /// `owner/name` (GitLab: `group/sub/name`).
    pub repo: String,
    pub branch: String,
    /// `https://...`, no trailing slash.
    pub issuer: String,
    pub app: String,
    pub targets: Vec<Target>,
    /// The manifest relative to the repository's root, when it is not `aideploy.toml`
    /// there (commands in the workflow then pass `-C` with it).
    pub manifest: Option<String>,
    /// The shell command a job runs to install aideploy when its cache has none
    /// (`--install`; default [`Spec::default_install`]).
    pub install: String,
}

impl Spec {
    /// The spec the unit tests share: app `rag`, repository `acme/rag`, branch `main`,
    /// no targets.
    #[cfg(test)]
    pub fn for_tests(provider: CiProvider) -> Spec {
        Spec {
            provider,
            repo: "acme/rag".into(),
            branch: "main".into(),
            issuer: provider.default_issuer().into(),
            app: "rag".into(),
            targets: vec![],
            manifest: None,
            install: Spec::default_install(),
        }
    }

    /// How a job installs aideploy without `--install`: this version, with cargo.
    pub fn default_install() -> String {
        format!("cargo install --locked aideploy --version {}", env!("CARGO_PKG_VERSION"))
    }

    /// The issuer without its scheme: IAM's name for the provider and its condition keys.
    pub fn issuer_host(&self) -> &str {
        self.issuer.trim_start_matches("https://")
    }

    /// The value of the `aideploy:ci` tag: `github:owner/name`.
    pub fn tag(&self) -> String {
        format!("{}:{}", self.provider.as_str(), self.repo)
    }

    /// The token subjects the deploy identity trusts: the branch, and (GitHub) the
    /// preview environment.
    pub fn deploy_subjects(&self) -> Vec<String> {
        match self.provider {
            CiProvider::Github => vec![
                format!("repo:{}:ref:refs/heads/{}", self.repo, self.branch),
                format!("repo:{}:environment:{PREVIEW_ENVIRONMENT}", self.repo),
            ],
            CiProvider::Gitlab => vec![format!("project_path:{}:ref_type:branch:ref:{}", self.repo, self.branch)],
        }
    }

    /// The token subject the plan-only identity trusts, and whether it is a pattern.
    /// GitHub names pull requests in the subject; GitLab names only the branch, so its
    /// plan identity trusts every branch of the project (it can only read).
    pub fn plan_subject(&self) -> (String, bool) {
        match self.provider {
            CiProvider::Github => (format!("repo:{}:pull_request", self.repo), false),
            CiProvider::Gitlab => (format!("project_path:{}:ref_type:branch:ref:*", self.repo), true),
        }
    }

    /// Whether the workflow runs a preview stage per pull request. GitLab's token
    /// subject names the branch only: no identity can tell a merge request's preview job
    /// from any push, so previews would need the deploy identity to trust every branch.
    pub fn previews(&self) -> bool {
        self.provider == CiProvider::Github
    }

    /// `aideploy` as the workflow calls it (with `-C` when the manifest is elsewhere).
    pub fn command(&self) -> String {
        match &self.manifest {
            Some(m) => format!("aideploy -C {m}"),
            None => "aideploy".into(),
        }
    }

    pub fn aws_targets(&self) -> Vec<&Target> {
        self.targets.iter().filter(|t| provider_of(t) == Provider::Aws).collect()
    }
}

pub fn provider_of(t: &Target) -> Provider {
    crate::backends::for_kind(t.kind).capabilities().provider
}

/// Refuses, before anything is read or written, a target whose cloud side `ci init`
/// does not build yet.
pub fn check_supported(targets: &[Target]) -> Result<()> {
    for t in targets {
        let why = match provider_of(t) {
            // AWS: an IAM OIDC provider and roles (src/ci/aws.rs); Azure: managed
            // identities with federated credentials (azure.rs); Google Cloud: a workload
            // identity pool and service accounts (gcp.rs).
            Provider::Aws | Provider::Azure | Provider::Gcp => continue,
            Provider::Railway | Provider::Render => format!(
                "{} takes no OIDC token: a CI job deploys it with an API token kept in the CI's secret store",
                if provider_of(t) == Provider::Railway { "Railway" } else { "Render" }
            ),
            Provider::Local => "a `local` target runs on the machine that deploys it: there is no cloud login to set up".to_string(),
        };
        return Err(UsageError::new(format!(
            "`ci init` cannot set up CI login for `{}` targets (target `{}`): {why}; nothing was written",
            t.kind, t.name
        ))
        .hint(format!(
            "leave out --target {}: `ci init` sets up keyless login on AWS (lambda, ec2, sagemaker), Google Cloud (cloudrun) and Azure (appservice)",
            t.name
        ))
        .into());
    }
    Ok(())
}

/// Checks `--repo`: `owner/name` (GitLab allows subgroups: `group/sub/name`).
pub fn parse_repo(s: &str, provider: CiProvider) -> Result<String> {
    let s = s.trim().trim_end_matches('/').trim_end_matches(".git");
    let parts: Vec<&str> = s.split('/').collect();
    let part_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !p.starts_with('.');
    let count_ok = match provider {
        CiProvider::Github => parts.len() == 2,
        CiProvider::Gitlab => parts.len() >= 2,
    };
    if !count_ok || !parts.iter().all(|p| part_ok(p)) {
        let form = match provider {
            CiProvider::Github => "OWNER/NAME",
            CiProvider::Gitlab => "GROUP/NAME (or GROUP/SUBGROUP/NAME)",
        };
        return Err(UsageError::new(format!("`{s}` is not a repository: write it as {form}"))
            .hint(format!("pass --repo {form}, e.g. --repo acme/rag-chatbot"))
            .into());
    }
    Ok(parts.join("/"))
}

/// The `owner/name` path of a git remote URL: `git@host:o/n.git`, `ssh://git@host/o/n`,
/// `https://host/o/n.git`, `https://user@host:443/o/n`.
pub fn repo_from_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else {
        // scp-like: [user@]host:path
        let (host, path) = url.split_once(':')?;
        if host.contains('/') {
            return None;
        }
        path
    };
    let path = path.trim_start_matches('/').trim_end_matches('/').trim_end_matches(".git");
    (path.split('/').count() >= 2).then(|| path.to_string())
}

/// The URL of the `origin` remote of the git repository holding `dir`.
pub fn origin_url(dir: &Path) -> Option<String> {
    git(dir, &["remote", "get-url", "origin"])
}

/// The root of the git repository holding `dir`, when it is in one.
pub fn repo_root(dir: &Path) -> Option<PathBuf> {
    git(dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from)
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").current_dir(dir).args(args).stderr(std::process::Stdio::null()).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// `--repo`, else the `origin` remote; an error naming both ways when neither is there.
pub fn resolve_repo(given: Option<&str>, dir: &Path, provider: CiProvider) -> Result<String> {
    if let Some(r) = given {
        return parse_repo(r, provider);
    }
    match origin_url(dir) {
        Some(url) => match repo_from_remote(&url) {
            Some(path) => parse_repo(&path, provider),
            None => Err(UsageError::new(format!("the `origin` remote ({url}) names no OWNER/NAME repository"))
                .hint("pass --repo OWNER/NAME")
                .into()),
        },
        None => Err(UsageError::new("no --repo, and this folder has no git remote `origin` to take it from")
            .hint("pass --repo OWNER/NAME, or run `git remote add origin URL` first")
            .into()),
    }
}

/// Checks `--issuer`: an `https://` URL (IAM and the clouds take no other).
pub fn parse_issuer(given: Option<&str>, provider: CiProvider) -> Result<String> {
    let s = given.unwrap_or(provider.default_issuer()).trim().trim_end_matches('/');
    let host = s.strip_prefix("https://").unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('?') || host.contains('#') {
        return Err(UsageError::new(format!("--issuer `{s}` is not an https:// URL"))
            .hint("pass the CI's OIDC issuer, e.g. --issuer https://gitlab.example.com")
            .into());
    }
    Ok(s.to_string())
}

/// Checks `--branch`: a git branch name that can stand in a token subject.
/// `--install`: one line of shell, not empty; the default without it.
pub fn parse_install(s: Option<&str>) -> Result<String> {
    let Some(s) = s else { return Ok(Spec::default_install()) };
    let s = s.trim();
    if s.is_empty() || s.contains(['\n', '\r']) {
        return Err(UsageError::new("--install needs one line of shell that installs aideploy")
            .hint("e.g. --install 'cargo install --locked --git https://git.example.com/you/aideploy aideploy'")
            .into());
    }
    Ok(s.to_string())
}

pub fn parse_branch(s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && !s.starts_with("refs/")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !s.contains("..");
    if !ok {
        return Err(UsageError::new(format!("--branch `{s}` is not a branch name"))
            .hint("pass the branch that deploys, e.g. --branch main (without refs/heads/)")
            .into());
    }
    Ok(s.to_string())
}

/// The deploy identity's name on every cloud: `aideploy-ci-{app}`.
pub fn deploy_identity(app: &str) -> String {
    format!("aideploy-ci-{app}")
}

/// The plan-only identity's name: `aideploy-ci-{app}-plan`.
pub fn plan_identity(app: &str) -> String {
    format!("aideploy-ci-{app}-plan")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_of_every_form() {
        for (url, want) in [
            ("git@github.com:acme/rag.git", Some("acme/rag")),
            ("ssh://git@github.com/acme/rag.git", Some("acme/rag")),
            ("https://github.com/acme/rag", Some("acme/rag")),
            ("https://github.com/acme/rag.git/", Some("acme/rag")),
            ("https://user@gitlab.example.com:8443/group/sub/rag.git", Some("group/sub/rag")),
            ("git@gitlab.com:group/sub/rag.git", Some("group/sub/rag")),
            ("https://github.com/acme", None),
            ("/srv/git/rag", None),
        ] {
            assert_eq!(repo_from_remote(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn repositories_and_branches_are_checked() {
        assert_eq!(parse_repo("acme/rag", CiProvider::Github).unwrap(), "acme/rag");
        assert!(parse_repo("group/sub/rag", CiProvider::Github).is_err());
        assert_eq!(parse_repo("group/sub/rag", CiProvider::Gitlab).unwrap(), "group/sub/rag");
        for bad in ["acme", "acme/", "acme/r ag", "acme/r:ag", "../x"] {
            assert!(parse_repo(bad, CiProvider::Github).is_err(), "{bad}");
        }
        assert!(parse_branch("main").is_ok() && parse_branch("release/1.x").is_ok());
        for bad in ["", "refs/heads/main", "a b", "a..b", "-x", "a*"] {
            assert!(parse_branch(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_issuer(None, CiProvider::Gitlab).unwrap(), "https://gitlab.com");
        assert_eq!(parse_issuer(Some("https://git.example.com/"), CiProvider::Gitlab).unwrap(), "https://git.example.com");
        assert!(parse_issuer(Some("http://git.example.com"), CiProvider::Gitlab).is_err());
    }

    #[test]
    fn subjects_pin_the_repository() {
        let g = Spec::for_tests(CiProvider::Github);
        assert_eq!(g.deploy_subjects(), ["repo:acme/rag:ref:refs/heads/main", "repo:acme/rag:environment:preview"]);
        assert_eq!(g.plan_subject(), ("repo:acme/rag:pull_request".to_string(), false));
        assert_eq!(g.issuer_host(), "token.actions.githubusercontent.com");
        let l = Spec::for_tests(CiProvider::Gitlab);
        assert_eq!(l.deploy_subjects(), ["project_path:acme/rag:ref_type:branch:ref:main"]);
        assert_eq!(l.plan_subject(), ("project_path:acme/rag:ref_type:branch:ref:*".to_string(), true));
        assert!(!l.previews());
    }
}
