//! The workflow file `ci init` writes: `.github/workflows/aideploy.yml` or
//! `.gitlab-ci.yml`. Jobs: `plan` on pull requests (the plan-only identity; the output as
//! the job summary and a PR comment on GitHub, an exposed artifact on GitLab), a preview
//! stage per pull request (GitHub: in the `preview` environment, destroyed when the PR
//! closes, with a TTL in case it never does), `deploy --yes` and `status --json` on pushes
//! to the branch, `gc --yes` on a schedule. Cloud login uses the CI's OIDC token only.

use std::path::Path;

use anyhow::Result;

use super::{CiProvider, Spec, AWS_AUDIENCE, PREVIEW_ENVIRONMENT, PREVIEW_TTL};
use crate::error::UsageError;

/// The comment line that marks a file as aideploy's: `ci init` rewrites such a file and
/// `ci destroy` removes it; any other file is left alone unless `--force`.
pub const MARKER: &str = "# aideploy-generated: written by `aideploy ci init`; `aideploy ci init` rewrites it.";

/// The AWS login the jobs use: role ARNs (not secrets) and the region.
#[derive(Debug, Clone)]
pub struct AwsLogin {
    pub deploy_role: String,
    pub plan_role: String,
    pub region: String,
}

/// The Azure login the jobs use: the identities' client ids, the tenant and the
/// subscription (ids, not secrets).
#[derive(Debug, Clone)]
pub struct AzureLogin {
    pub deploy_client_id: String,
    pub plan_client_id: String,
    pub tenant_id: String,
    pub subscription_id: String,
}

/// The cloud logins of the workflow (one per cloud the targets use).
#[derive(Debug, Clone, Default)]
pub struct Logins {
    pub aws: Option<AwsLogin>,
    pub azure: Option<AzureLogin>,
    pub gcp: Option<super::gcp::Login>,
}

/// What is at the workflow's path now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    None,
    Ours(String),
    Other,
}

pub fn existing(path: &Path) -> Result<Existing> {
    match fs_err::read_to_string(path) {
        Ok(text) if text.lines().any(|l| l.trim() == MARKER) => Ok(Existing::Ours(text)),
        Ok(_) => Ok(Existing::Other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Existing::None),
        Err(e) => Err(e.into()),
    }
}

/// Refuses a file that is not aideploy's, unless `force`.
pub fn check_overwrite(path: &Path, shown: &str, force: bool) -> Result<Existing> {
    let found = existing(path)?;
    if found == Existing::Other && !force {
        return Err(UsageError::new(format!("{shown} exists and was not written by aideploy (it lacks the line `{MARKER}`)"))
            .hint("move it aside or merge it by hand, or pass --force to replace it")
            .into());
    }
    Ok(found)
}

pub fn render(spec: &Spec, logins: &Logins) -> String {
    match spec.provider {
        CiProvider::Github => github(spec, logins),
        CiProvider::Gitlab => gitlab(spec, logins),
    }
}

/// The install step's command as one single-quoted YAML scalar, whatever `--install`
/// holds (`#`, `: ` or quotes would end a plain one).
fn install_step(spec: &Spec) -> String {
    format!("'command -v aideploy || {}'", spec.install.replace('\'', "''"))
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `target NAME` lines for each target: `f(name)` per target, joined into a `run: |`
/// block indented by `indent`.
fn per_target(spec: &Spec, indent: usize, f: impl Fn(&str) -> Vec<String>) -> String {
    let pad = " ".repeat(indent);
    spec.targets.iter().flat_map(|t| f(&t.name)).map(|l| format!("{pad}{l}\n")).collect()
}

fn gh_setup(spec: &Spec, logins: &Logins, plan_only: bool) -> String {
    let mut s = String::from(
        "      - uses: actions/checkout@v4
      - name: Cache aideploy
        uses: actions/cache@v4
        with:
          path: ~/.cargo/bin/aideploy
          key: aideploy-@VERSION@-${{ runner.os }}
      - name: Install aideploy
        run: @INSTALL@
",
    )
    .replace("@VERSION@", version())
    .replace("@INSTALL@", &install_step(spec));
    if let Some(aws) = &logins.aws {
        let (role, who) = if plan_only { (&aws.plan_role, "plan-only role") } else { (&aws.deploy_role, "deploy role") };
        s.push_str(&format!(
            "      - name: AWS login ({who}, from this job's OIDC token)
        uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: {role}
          role-session-name: aideploy-${{{{ github.run_id }}}}
          aws-region: {region}
          audience: {AWS_AUDIENCE}
",
            region = aws.region
        ));
    }
    if let Some(az) = &logins.azure {
        let (client, who) = if plan_only { (&az.plan_client_id, "plan-only identity") } else { (&az.deploy_client_id, "deploy identity") };
        s.push_str(&format!(
            "      - name: Azure login ({who}, from this job's OIDC token)
        uses: azure/login@v2
        with:
          client-id: {client}
          tenant-id: {tenant}
          subscription-id: {sub}
",
            tenant = az.tenant_id,
            sub = az.subscription_id
        ));
    }
    if let Some(gcp) = &logins.gcp {
        s.push_str(&gcp.github_step(plan_only));
    }
    s
}

/// The status step: `status --json` of every target, as the job's summary and its
/// `status` output.
fn gh_status(spec: &Spec, stage: &str) -> String {
    let a = spec.command();
    let mut s = String::from("      - name: aideploy status\n        id: status\n        run: |\n");
    s.push_str(&per_target(spec, 10, |t| vec![format!("{a} status --target {t}{stage} --json > status-{t}.json")]));
    s.push_str(
        "          jq -s . status-*.json > status.json
          { echo '### aideploy status'; echo '```json'; cat status.json; echo '```'; } >> \"$GITHUB_STEP_SUMMARY\"
          echo \"json=$(jq -c . status.json)\" >> \"$GITHUB_OUTPUT\"
",
    );
    s
}

pub fn github(spec: &Spec, logins: &Logins) -> String {
    let a = spec.command();
    let branch = &spec.branch;
    let mut y = format!(
        "{MARKER}
# Cloud login uses this workflow's OIDC token only: no stored secret. Pull requests get a
# plan-only identity; previews run in the `{PREVIEW_ENVIRONMENT}` environment, which the deploy identity
# trusts: give that environment protection rules (Settings > Environments).
name: aideploy
\"on\":
  pull_request:
    types: [opened, synchronize, reopened, closed]
  push:
    branches: [{branch}]
  schedule:
    - cron: \"17 3 * * *\"
  workflow_dispatch: {{}}
permissions:
  contents: read
env:
  NO_COLOR: \"1\"
jobs:
  plan:
    if: github.event_name == 'pull_request' && github.event.action != 'closed'
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
      pull-requests: write
    steps:
"
    );
    y.push_str(&gh_setup(spec, logins, true));
    y.push_str("      - name: aideploy plan\n        run: |\n          echo '### aideploy plan' > plan.md\n");
    y.push_str(&per_target(spec, 10, |t| {
        vec![
            format!("echo '#### {t}' >> plan.md"),
            "echo '```' >> plan.md".into(),
            format!("{a} plan --target {t} --no-progress >> plan.md"),
            "echo '```' >> plan.md".into(),
        ]
    }));
    y.push_str(
        "          cat plan.md >> \"$GITHUB_STEP_SUMMARY\"
      - name: Comment the plan on the pull request
        env:
          GH_TOKEN: ${{ github.token }}
          PR: ${{ github.event.pull_request.number }}
        run: gh pr comment \"$PR\" --edit-last --body-file plan.md || gh pr comment \"$PR\" --body-file plan.md
",
    );
    if spec.previews() {
        let same_repo = "github.event.pull_request.head.repo.full_name == github.repository";
        y.push_str(&format!(
            "  preview:
    if: github.event_name == 'pull_request' && github.event.action != 'closed' && {same_repo}
    runs-on: ubuntu-latest
    environment: {PREVIEW_ENVIRONMENT}
    concurrency: aideploy-pr-${{{{ github.event.pull_request.number }}}}
    permissions:
      contents: read
      id-token: write
    env:
      STAGE: pr-${{{{ github.event.pull_request.number }}}}
    outputs:
      status: ${{{{ steps.status.outputs.json }}}}
    steps:
"
        ));
        y.push_str(&gh_setup(spec, logins, false));
        y.push_str("      - name: aideploy deploy (preview stage)\n        run: |\n");
        y.push_str(&per_target(spec, 10, |t| vec![format!("{a} deploy --target {t} --stage \"$STAGE\" --ttl {PREVIEW_TTL} --yes")]));
        y.push_str(&gh_status(spec, " --stage \"$STAGE\""));
        y.push_str(&format!(
            "  preview-destroy:
    if: github.event_name == 'pull_request' && github.event.action == 'closed' && {same_repo}
    runs-on: ubuntu-latest
    environment: {PREVIEW_ENVIRONMENT}
    concurrency: aideploy-pr-${{{{ github.event.pull_request.number }}}}
    permissions:
      contents: read
      id-token: write
    env:
      STAGE: pr-${{{{ github.event.pull_request.number }}}}
    steps:
"
        ));
        y.push_str(&gh_setup(spec, logins, false));
        y.push_str("      - name: aideploy destroy (preview stage)\n        run: |\n");
        y.push_str(&per_target(spec, 10, |t| vec![format!("{a} destroy --target {t} --stage \"$STAGE\" --yes")]));
    }
    y.push_str(&format!(
        "  deploy:
    if: github.event_name == 'push' && github.ref == 'refs/heads/{branch}'
    runs-on: ubuntu-latest
    concurrency: aideploy-{branch}
    permissions:
      contents: read
      id-token: write
    outputs:
      status: ${{{{ steps.status.outputs.json }}}}
    steps:
"
    ));
    y.push_str(&gh_setup(spec, logins, false));
    y.push_str("      - name: aideploy deploy\n        run: |\n");
    y.push_str(&per_target(spec, 10, |t| vec![format!("{a} deploy --target {t} --yes")]));
    y.push_str(&gh_status(spec, ""));
    y.push_str(
        "  gc:
    if: github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    steps:
",
    );
    y.push_str(&gh_setup(spec, logins, false));
    y.push_str("      - name: aideploy gc (stages past their TTL)\n        run: |\n");
    y.push_str(&per_target(spec, 10, |t| vec![format!("{a} gc --target {t} --yes")]));
    y
}

/// The login part of GitLab's shared job template, every cloud's in one place: the
/// lines of `before_script` that put each ID token where the cloud's clients read it,
/// then one `id_tokens:` and one `variables:` mapping holding every cloud's entries.
fn gitlab_logins(logins: &Logins) -> String {
    let (mut script, mut tokens, mut vars) = (String::new(), String::new(), String::new());
    if let Some(aws) = &logins.aws {
        script.push_str("    - printf '%s' \"$AIDEPLOY_AWS_ID_TOKEN\" > \"$AWS_WEB_IDENTITY_TOKEN_FILE\"\n");
        tokens.push_str(&format!("    AIDEPLOY_AWS_ID_TOKEN:\n      aud: {AWS_AUDIENCE}\n"));
        vars.push_str(&format!(
            "    AWS_WEB_IDENTITY_TOKEN_FILE: $CI_PROJECT_DIR/.aws-web-identity-token\n    AWS_ROLE_SESSION_NAME: aideploy-$CI_PIPELINE_ID\n    AWS_REGION: {}\n",
            aws.region
        ));
    }
    if let Some(az) = &logins.azure {
        script.push_str("    - printf '%s' \"$AIDEPLOY_AZURE_ID_TOKEN\" > \"$AZURE_FEDERATED_TOKEN_FILE\"\n");
        tokens.push_str(&format!("    AIDEPLOY_AZURE_ID_TOKEN:\n      aud: {}\n", super::azure::AUDIENCE));
        vars.push_str(&format!(
            "    AZURE_FEDERATED_TOKEN_FILE: $CI_PROJECT_DIR/.azure-federated-token\n    AZURE_TENANT_ID: {}\n    AZURE_SUBSCRIPTION_ID: {}\n",
            az.tenant_id, az.subscription_id
        ));
    }
    if let Some(gcp) = &logins.gcp {
        script.push_str(&gcp.gitlab_script());
        tokens.push_str(&gcp.gitlab_tokens());
        vars.push_str(&gcp.gitlab_variables());
    }
    if tokens.is_empty() {
        return script;
    }
    format!("{script}  id_tokens:\n{tokens}  variables:\n{vars}")
}

pub fn gitlab(spec: &Spec, logins: &Logins) -> String {
    let a = spec.command();
    let branch = &spec.branch;
    let mut y = format!(
        "{MARKER}
# Cloud login uses the job's OIDC ID token only (id_tokens): no stored secret. Merge
# request pipelines get a plan-only identity; pushes to {branch} and scheduled
# pipelines (CI/CD > Schedules, for `gc`) the deploy identity.
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"
    - if: $CI_PIPELINE_SOURCE == \"schedule\"
    - if: $CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH == \"{branch}\"
stages: [plan, deploy]
variables:
  NO_COLOR: \"1\"
  CARGO_HOME: $CI_PROJECT_DIR/.cargo
.aideploy:
  image: rust:1
  cache:
    key: aideploy-{version}
    paths: [.cargo/bin/]
  before_script:
    - export PATH=\"$CARGO_HOME/bin:$PATH\"
    - {install}
",
        version = version(),
        install = install_step(spec)
    );
    y.push_str(&gitlab_logins(logins));
    let role = |plan_only: bool| -> String {
        let mut v = String::new();
        if let Some(aws) = &logins.aws {
            v.push_str(&format!("    AWS_ROLE_ARN: {}\n", if plan_only { &aws.plan_role } else { &aws.deploy_role }));
        }
        if let Some(az) = &logins.azure {
            v.push_str(&format!("    AZURE_CLIENT_ID: {}\n", if plan_only { &az.plan_client_id } else { &az.deploy_client_id }));
        }
        if let Some(gcp) = &logins.gcp {
            v.push_str(&gcp.gitlab_variable(plan_only));
        }
        if v.is_empty() {
            v
        } else {
            format!("  variables:\n{v}")
        }
    };
    y.push_str("plan:\n  extends: .aideploy\n  stage: plan\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"\n");
    y.push_str(&role(true));
    y.push_str("  script:\n");
    y.push_str(&per_target(spec, 4, |t| vec![format!("- {a} plan --target {t} --no-progress >> plan.txt")]));
    y.push_str("    - cat plan.txt\n  artifacts:\n    expose_as: aideploy plan\n    paths: [plan.txt]\n    when: always\n");
    y.push_str(&format!(
        "deploy:\n  extends: .aideploy\n  stage: deploy\n  resource_group: aideploy-{branch}\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH == \"{branch}\"\n"
    ));
    y.push_str(&role(false));
    y.push_str("  script:\n");
    y.push_str(&per_target(spec, 4, |t| vec![format!("- {a} deploy --target {t} --yes")]));
    y.push_str(&per_target(spec, 4, |t| vec![format!("- {a} status --target {t} --json > status-{t}.json")]));
    y.push_str("  artifacts:\n    paths: [status-*.json]\n    when: always\n");
    y.push_str("gc:\n  extends: .aideploy\n  stage: deploy\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"schedule\"\n");
    y.push_str(&role(false));
    y.push_str("  script:\n");
    y.push_str(&per_target(spec, 4, |t| vec![format!("- {a} gc --target {t} --yes")]));
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: CiProvider) -> Spec {
        let cx = crate::engine::testing::cx(
            "version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\n[targets.lambda]\nregion = \"us-east-1\"\n",
            "lambda",
            &[],
        );
        Spec { targets: vec![cx.target], manifest: Some("svc/aideploy.toml".into()), ..Spec::for_tests(provider) }
    }

    fn logins() -> Logins {
        Logins {
            aws: Some(AwsLogin {
                deploy_role: "arn:aws:iam::123456789012:role/aideploy-ci-rag".into(),
                plan_role: "arn:aws:iam::123456789012:role/aideploy-ci-rag-plan".into(),
                region: "us-east-1".into(),
            }),
            azure: None,
            gcp: None,
        }
    }

    #[test]
    fn github_jobs_use_the_right_identity() {
        let y = github(&spec(CiProvider::Github), &logins());
        assert!(y.starts_with(MARKER));
        assert!(!y.contains("secrets."), "no stored secret is referenced");
        // Each job's login names one role: the plan job the plan-only one.
        // A job: its lines up to the next one indented by exactly two spaces.
        let job = |name: &str| -> String {
            let start = y.find(&format!("\n  {name}:\n")).unwrap();
            let rest = &y[start + 1..];
            let mut out = String::new();
            for (i, l) in rest.lines().enumerate() {
                if i > 0 && l.starts_with("  ") && !l.starts_with("   ") {
                    break;
                }
                out.push_str(l);
                out.push('\n');
            }
            out
        };
        let plan = job("plan");
        assert!(plan.contains("role/aideploy-ci-rag-plan\n") && plan.contains("aideploy -C svc/aideploy.toml plan --target lambda"));
        assert!(plan.contains("GITHUB_STEP_SUMMARY") && plan.contains("gh pr comment"));
        let preview = job("preview");
        assert!(preview.contains("environment: preview") && preview.contains("role/aideploy-ci-rag\n"));
        assert!(preview.contains("deploy --target lambda --stage \"$STAGE\" --ttl 72h --yes"));
        assert!(job("preview-destroy").contains("destroy --target lambda --stage \"$STAGE\" --yes"));
        let deploy = job("deploy");
        assert!(deploy.contains("deploy --target lambda --yes") && deploy.contains("status --target lambda --json"));
        assert!(!deploy.contains("environment:"));
        assert!(job("gc").contains("gc --target lambda --yes"));
        assert!(y.contains("run: 'command -v aideploy || cargo install --locked aideploy --version "));
    }

    #[test]
    fn the_install_command_is_one_quoted_scalar() {
        let mut s = spec(CiProvider::Github);
        s.install = crate::ci::parse_install(Some(" cargo install --git 'https://git.example.com/a/b' aideploy # mirror ")).unwrap();
        let want = "'command -v aideploy || cargo install --git ''https://git.example.com/a/b'' aideploy # mirror'";
        assert!(github(&s, &logins()).contains(&format!("        run: {want}\n")));
        s.provider = CiProvider::Gitlab;
        assert!(gitlab(&s, &logins()).contains(&format!("    - {want}\n")));
        assert!(crate::ci::parse_install(Some("a\nb")).is_err());
        assert!(crate::ci::parse_install(Some("  ")).is_err());
    }

    fn with_azure() -> Logins {
        Logins {
            azure: Some(AzureLogin {
                deploy_client_id: "c-deploy".into(),
                plan_client_id: "c-plan".into(),
                tenant_id: "t1".into(),
                subscription_id: "s1".into(),
            }),
            ..logins()
        }
    }

    #[test]
    fn azure_logins_name_the_job_s_identity_and_no_secret() {
        let y = github(&spec(CiProvider::Github), &with_azure());
        assert!(!y.contains("secrets."));
        assert!(y.contains(
            "uses: azure/login@v2\n        with:\n          client-id: c-plan\n          tenant-id: t1\n          subscription-id: s1\n"
        ));
        assert!(y.contains("client-id: c-deploy"));
        // GitLab, next to AWS: one id_tokens and one variables mapping hold both clouds.
        let y = gitlab(&spec(CiProvider::Gitlab), &with_azure());
        let template = y.split(".aideploy:\n").nth(1).unwrap().split("\nplan:\n").next().unwrap();
        assert_eq!(template.matches("  id_tokens:\n").count(), 1, "{template}");
        assert_eq!(template.matches("  variables:\n").count(), 1, "{template}");
        assert!(template.contains("    AIDEPLOY_AZURE_ID_TOKEN:\n      aud: api://AzureADTokenExchange\n"), "{template}");
        assert!(template.contains("    - printf '%s' \"$AIDEPLOY_AZURE_ID_TOKEN\" > \"$AZURE_FEDERATED_TOKEN_FILE\"\n"), "{template}");
        assert!(template.contains("    AZURE_TENANT_ID: t1\n"), "{template}");
        assert!(y.contains(
            "  variables:\n    AWS_ROLE_ARN: arn:aws:iam::123456789012:role/aideploy-ci-rag-plan\n    AZURE_CLIENT_ID: c-plan\n"
        ));
        assert!(y.contains("    AZURE_CLIENT_ID: c-deploy\n"));
        // Azure alone opens its own mappings.
        let y = gitlab(&spec(CiProvider::Gitlab), &Logins { aws: None, ..with_azure() });
        assert!(
            y.contains("  id_tokens:\n    AIDEPLOY_AZURE_ID_TOKEN:") && y.contains("  variables:\n    AZURE_FEDERATED_TOKEN_FILE:"),
            "{y}"
        );
    }

    #[test]
    fn three_clouds_share_one_gitlab_template() {
        let mut s = spec(CiProvider::Gitlab);
        let gcp = crate::ci::gcp::Login::of(&s, "proj-1", "123456");
        let all = Logins { gcp: Some(gcp.clone()), ..with_azure() };
        s.provider = CiProvider::Gitlab;
        let y = gitlab(&s, &all);
        let template = y.split(".aideploy:\n").nth(1).unwrap().split("\nplan:\n").next().unwrap();
        assert_eq!(template.matches("  id_tokens:\n").count(), 1, "{template}");
        assert_eq!(template.matches("  variables:\n").count(), 1, "{template}");
        let tokens = template.split("  id_tokens:\n").nth(1).unwrap().split("  variables:\n").next().unwrap();
        for t in ["AIDEPLOY_AWS_ID_TOKEN", "AIDEPLOY_AZURE_ID_TOKEN", "AIDEPLOY_GCP_ID_TOKEN"] {
            assert!(tokens.contains(&format!("    {t}:\n")), "{tokens}");
        }
        let vars = template.split("  variables:\n").nth(1).unwrap();
        assert!(vars.contains("    AWS_REGION: us-east-1\n") && vars.contains("    AZURE_TENANT_ID: t1\n"), "{vars}");
        assert!(vars.contains("    GOOGLE_CLOUD_PROJECT: proj-1"), "{vars}");
        // Every token is written before the jobs' scripts run.
        let before = template.split("  id_tokens:\n").next().unwrap();
        assert_eq!(before.matches("    - printf '%s' \"$AIDEPLOY_").count(), 3, "{before}");
        assert!(y.contains(&format!("    AIDEPLOY_GCP_SERVICE_ACCOUNT: {}\n", gcp.plan)));
        // GitHub: one login step per cloud in each job.
        let y = github(&spec(CiProvider::Github), &all);
        assert_eq!(y.matches("uses: google-github-actions/auth@v2").count(), y.matches("uses: azure/login@v2").count());
        assert!(y.contains(&format!("service_account: {}\n", gcp.deploy)));
    }

    #[test]
    fn gitlab_uses_id_tokens_and_no_previews() {
        let y = gitlab(&spec(CiProvider::Gitlab), &logins());
        assert!(y.starts_with(MARKER) && !y.contains("secrets."));
        assert!(y.contains("id_tokens:\n    AIDEPLOY_AWS_ID_TOKEN:\n      aud: sts.amazonaws.com"));
        assert!(
            y.contains("AWS_WEB_IDENTITY_TOKEN_FILE") && y.contains("AWS_ROLE_ARN: arn:aws:iam::123456789012:role/aideploy-ci-rag-plan")
        );
        assert!(!y.contains("--stage"), "no preview stages on GitLab");
    }

    #[test]
    fn a_file_not_ours_is_refused_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ci.yml");
        assert_eq!(check_overwrite(&path, "ci.yml", false).unwrap(), Existing::None);
        std::fs::write(&path, "name: mine\n").unwrap();
        let err = check_overwrite(&path, "ci.yml", false).unwrap_err();
        assert_eq!(crate::report::exit_code(&err), 2);
        assert!(crate::report::hint_of(&err).unwrap().contains("--force"));
        assert_eq!(check_overwrite(&path, "ci.yml", true).unwrap(), Existing::Other);
        std::fs::write(&path, format!("{MARKER}\nname: aideploy\n")).unwrap();
        assert!(matches!(check_overwrite(&path, "ci.yml", false).unwrap(), Existing::Ours(_)));
    }
}
