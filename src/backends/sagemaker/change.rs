//! The steps `apply`, `rollback` and `destroy` take, each with the plan row people and
//! `--json` see. `apply` matches on these; it never reads a row back.

use crate::cloud::aws_bucket::Setting;
use crate::engine::{Action, Change, Op};
use crate::util::human_bytes;

/// One step of the sagemaker target.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A secret's value to Secrets Manager (`Create`, `Update`) or as it is (`Noop`).
    Secret {
        name: String,
        id: String,
        op: Op,
    },
    /// The account's artifact bucket, created (`missing` is every setting) or repaired.
    /// Only planned when it is not ready.
    Bucket {
        name: String,
        create: bool,
        missing: Vec<Setting>,
    },
    /// The execution role and its one inline policy.
    Role {
        name: String,
        op: Op,
    },
    /// The model archive to the bucket; `bytes: None` when it is there already.
    Archive {
        url: String,
        bytes: Option<u64>,
    },
    /// The release's model. `name` is `None` when the release id depends on something
    /// apply learns first (a secret's new version): apply names it then.
    Model {
        name: Option<String>,
        op: Op,
        why: String,
    },
    /// The release's endpoint config (`why`: its instances).
    Config {
        name: Option<String>,
        op: Op,
        why: String,
    },
    /// The endpoint, created, updated to the release's config (or, on rollback, to the
    /// config `to`), or as it is.
    Endpoint {
        name: String,
        op: Op,
        why: Option<String>,
        to: Option<String>,
    },
    DeleteEndpoint {
        name: String,
    },
    DeleteConfig {
        name: String,
    },
    DeleteModel {
        name: String,
    },
    /// Every version of every archive under `prefix` in the bucket.
    DeleteArchives {
        bucket: String,
        prefix: String,
    },
    /// The same in the bucket this target used before the shared one, which goes too
    /// once it is empty.
    DeleteLegacyArchives {
        bucket: String,
        prefix: String,
    },
    DeleteRole {
        name: String,
    },
    DeleteSecret {
        id: String,
        arn: String,
        name: String,
    },
}

impl Change for Step {
    fn row(&self) -> Action {
        let named = |n: &Option<String>, fallback: &str| n.clone().unwrap_or_else(|| fallback.to_string());
        match self {
            Step::Secret { id, op: Op::Update, .. } => Action::new(Op::Update, "secret", id).because("value changed"),
            Step::Secret { id, op, .. } => Action::new(*op, "secret", id),
            Step::Bucket { name, create: true, .. } => {
                Action::new(Op::Create, "bucket", name).because("the account's artifact bucket: encrypted, versioned, private")
            }
            Step::Bucket { name, missing, .. } => Action::new(Op::Update, "bucket", name)
                .because(format!("set {}", missing.iter().map(|s| s.label()).collect::<Vec<_>>().join(", "))),
            Step::Role { name, op: Op::Update } => Action::new(Op::Update, "role", name).because("permissions changed"),
            Step::Role { name, op } => Action::new(*op, "role", name),
            Step::Archive { url, bytes: Some(b) } => {
                Action::new(Op::Create, "model-archive", url).because(format!("{} to upload", human_bytes(*b)))
            }
            Step::Archive { url, bytes: None } => Action::new(Op::Noop, "model-archive", url),
            Step::Model { name, op, why } => {
                let a = Action::new(*op, "model", named(name, "(new release)"));
                if why.is_empty() {
                    a
                } else {
                    a.because(why.clone())
                }
            }
            Step::Config { name, op: Op::Noop, .. } => Action::new(Op::Noop, "endpoint-config", named(name, "(new release)")),
            Step::Config { name, op, why } => Action::new(*op, "endpoint-config", named(name, "(new release)")).because(why.clone()),
            Step::Endpoint { name, op, why: Some(why), .. } => Action::new(*op, "endpoint", name).because(why.clone()),
            Step::Endpoint { name, op, why: None, .. } => Action::new(*op, "endpoint", name),
            Step::DeleteEndpoint { name } => Action::new(Op::Delete, "endpoint", name),
            Step::DeleteConfig { name } => Action::new(Op::Delete, "endpoint-config", name),
            Step::DeleteModel { name } => Action::new(Op::Delete, "model", name),
            Step::DeleteArchives { bucket, prefix } => {
                Action::new(Op::Delete, "model-archives", format!("s3://{bucket}/{prefix}")).because("every version")
            }
            Step::DeleteLegacyArchives { bucket, prefix } => Action::new(Op::Delete, "model-archives", format!("s3://{bucket}/{prefix}"))
                .because("every version; the bucket too once empty"),
            Step::DeleteRole { name } => Action::new(Op::Delete, "role", name).because("and its policy"),
            Step::DeleteSecret { id, .. } => Action::new(Op::Delete, "secret", id).because("recoverable for 7 days"),
        }
    }
}
