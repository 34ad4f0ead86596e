//! The steps `apply`, `rollback` and `destroy` take, each with the plan row people and
//! `--json` see. `apply` matches on these; it never reads a row back.

use crate::engine::{Action, Change, Op};
use crate::util::human_bytes;

/// One step of the ec2 target.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A secret's value to Secrets Manager (`Create`, `Update`) or as it is (`Noop`).
    Secret {
        name: String,
        id: String,
        op: Op,
    },
    /// A model server's API key in Secrets Manager: generated when it does not exist.
    ApiKey {
        id: String,
        exists: bool,
        region: String,
    },
    /// This target's own ECR repository; created when it is not there.
    EcrRepository {
        name: String,
        exists: bool,
    },
    /// The model server's image, pinned by digest when planning (`from`: the reference
    /// as written, a tag). Nothing to do: the row shows what the instance will run.
    ServerImage {
        reference: String,
        from: String,
    },
    /// The app's image to its repository; `bytes: None` when it is there already.
    PushImage {
        reference: String,
        bytes: Option<u64>,
    },
    /// The instance role and its policy.
    Role {
        name: String,
        op: Op,
    },
    /// The instance profile; `Update`: our role is not in it.
    Profile {
        name: String,
        op: Op,
    },
    /// The security group with its ingress `rules` (for people).
    SecurityGroup {
        name: String,
        id: Option<String>,
        op: Op,
        rules: String,
    },
    /// A new instance (`Create`, named after the app) or the one already running this
    /// configuration (`Noop`, by id).
    Instance {
        op: Op,
        id: String,
        why: String,
    },
    /// A new instance (named after the app) running a kept image again: `rollback`.
    Relaunch {
        name: String,
        /// The digest serving now.
        from: String,
        /// The kept image's digest and reference (`repository@sha256:...`).
        digest: String,
        image: String,
    },
    /// The container's log group: `Create`d with its retention, `Update`: the retention
    /// is set again.
    LogGroup {
        name: String,
        op: Op,
    },
    DeleteLogGroup {
        name: String,
    },
    /// The target's Elastic IP (`id`: its address, or its name before it exists):
    /// `Create`d, kept (`Noop`, moved to a new instance once that is healthy) or
    /// associated again with the instance that keeps serving (`Update`).
    Address {
        op: Op,
        id: String,
        why: String,
    },
    /// An address of ours to take off its instance and give back to AWS.
    ReleaseAddress {
        allocation_id: String,
        ip: String,
        association_id: Option<String>,
    },
    /// A part of the load balancer (`id`: its name, or what names it once it exists):
    /// created, kept or brought to what the manifest says.
    Front {
        part: super::alb::Part,
        op: Op,
        id: String,
        why: String,
    },
    /// A part of the load balancer to delete (`id`: its ARN or group id; `name` for people).
    DeleteFront {
        part: super::alb::Part,
        id: String,
        name: String,
    },
    /// An instance to terminate: an old one once the new one is healthy, or on destroy.
    Terminate {
        id: String,
        why: String,
    },
    DeleteSecurityGroup {
        name: String,
        id: String,
    },
    DeleteProfile {
        name: String,
        has_role: bool,
    },
    DeleteRole {
        name: String,
    },
    DeleteRepository {
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
        match self {
            Step::Secret { id, op: Op::Update, .. } => Action::new(Op::Update, "secret", id).because("value changed"),
            Step::Secret { id, op, .. } => Action::new(*op, "secret", id),
            Step::ServerImage { reference, from } if reference.starts_with(from.as_str()) || from.contains('@') => {
                Action::new(Op::Noop, "server-image", reference).because("pinned by digest")
            }
            Step::ServerImage { reference, from } => {
                Action::new(Op::Noop, "server-image", reference).because(format!("{from}, resolved now"))
            }
            Step::ApiKey { id, exists: false, region } => {
                Action::new(Op::Create, "api-key", id).because(format!("generated; {}", super::access::key_hint(region, id)))
            }
            Step::ApiKey { id, exists: true, region } => Action::new(Op::Noop, "api-key", id).because(super::access::key_hint(region, id)),
            Step::EcrRepository { name, exists: true } => Action::new(Op::Noop, "ecr-repository", name),
            Step::EcrRepository { name, exists: false } => {
                Action::new(Op::Create, "ecr-repository", name).because("scan on push, keeps the last images")
            }
            Step::PushImage { reference, bytes: Some(b) } => {
                Action::new(Op::Create, "push image", reference).because(format!("{} to upload", human_bytes(*b)))
            }
            Step::PushImage { reference, bytes: None } => Action::new(Op::Noop, "image", reference).because("already in the registry"),
            Step::Role { name, op: Op::Update } => Action::new(Op::Update, "role", name).because("permissions changed"),
            Step::Role { name, op } => Action::new(*op, "role", name),
            Step::Profile { name, op: Op::Update } => Action::new(Op::Update, "instance-profile", name).because("role missing"),
            Step::Profile { name, op } => Action::new(*op, "instance-profile", name),
            Step::SecurityGroup { name, id: None, op, rules } => Action::new(*op, "security-group", name).because(rules.clone()),
            Step::SecurityGroup { name, id: Some(id), op: Op::Noop, .. } => {
                Action::new(Op::Noop, "security-group", format!("{name} ({id})"))
            }
            Step::SecurityGroup { name, id: Some(id), op, rules } => {
                Action::new(*op, "security-group", format!("{name} ({id})")).because(rules.clone())
            }
            Step::LogGroup { name, op: Op::Noop } => Action::new(Op::Noop, "log-group", name),
            Step::LogGroup { name, op } => Action::new(*op, "log-group", name)
                .because(format!("the container's output, kept {} days", crate::cloud::aws_logs::RETENTION_DAYS)),
            Step::DeleteLogGroup { name } => Action::new(Op::Delete, "log-group", name).because("and its events"),
            Step::Instance { op, id, why } => Action::new(*op, "instance", id).because(why.clone()),
            Step::Relaunch { name, from, digest, .. } => {
                Action::new(Op::Create, "instance", name).because(format!("image {} -> {}", super::short(from), super::short(digest)))
            }
            Step::Address { op, id, why } => super::address::row(*op, id, why),
            Step::ReleaseAddress { ip, .. } => Action::new(Op::Delete, "elastic-ip", ip).because("released"),
            Step::Front { part, op, id, why } => super::alb::row(*part, *op, id, why),
            Step::DeleteFront { part, name, .. } => super::alb::row(*part, Op::Delete, name, ""),
            Step::Terminate { id, why } => Action::new(Op::Delete, "instance", id).because(why.clone()),
            Step::DeleteSecurityGroup { name, id } => Action::new(Op::Delete, "security-group", format!("{name} ({id})")),
            Step::DeleteProfile { name, .. } => Action::new(Op::Delete, "instance-profile", name),
            Step::DeleteRole { name } => Action::new(Op::Delete, "role", name).because("and its policy"),
            Step::DeleteRepository { name } => Action::new(Op::Delete, "ecr-repository", name).because("and its images"),
            Step::DeleteSecret { id, .. } => Action::new(Op::Delete, "secret", id).because("recoverable for 7 days"),
        }
    }
}
