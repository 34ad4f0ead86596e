//! The steps `apply`, `rollback` and `destroy` take, each with the plan row people and
//! `--json` see. `apply` matches on these; it never reads a row back.

use crate::engine::{Action, Change, Op};
use crate::util::human_bytes;

use super::{Access, ALIAS};

/// Where the zip goes.
#[derive(Debug, Clone, PartialEq)]
pub enum ZipTo {
    /// In the CreateFunction / UpdateFunctionCode request itself (up to 50 MB).
    Request,
    /// Through the account's artifact bucket (`s3://bucket/key`, or just the key while the
    /// account is not known yet).
    S3 { at: String },
}

/// One step of the lambda target.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A secret's value to Secrets Manager (`Create`, `Update`) or as it is (`Noop`).
    Secret {
        name: String,
        id: String,
        op: Op,
    },
    /// This target's own ECR repository (image functions); created when it is not there.
    EcrRepository {
        name: String,
        exists: bool,
    },
    /// The function's image to its repository. `Noop`: the function runs it already, or
    /// the registry has it. `bytes`: what a push uploads; `exact: false` when only an upper
    /// bound is known (the target's own repository is not read before it is pushed to).
    PushImage {
        reference: String,
        op: Op,
        bytes: u64,
        exact: bool,
    },
    /// The zip to Lambda, for a function whose code changes (`Create`), or as it is (`Noop`).
    UploadZip {
        to: ZipTo,
        digest: String,
        bytes: u64,
        op: Op,
    },
    /// The execution role and its one inline policy.
    Role {
        name: String,
        op: Op,
    },
    /// The function goes and comes back: Lambda cannot change a function's package type.
    ReplaceFunction {
        name: String,
        from: String,
        to: String,
    },
    /// The function's code: `Create` (with what it is), `Update` (new code: `what` says
    /// which parts of the version differ) or `Noop`.
    Function {
        name: String,
        op: Op,
        what: String,
    },
    /// The function's configuration; `why` names what differs.
    FunctionConfig {
        name: String,
        op: Op,
        why: String,
    },
    /// A published version of exactly this code and configuration: `existing` when one is.
    /// `snapstart`: Lambda initialises it and snapshots it when it is published.
    Version {
        function: String,
        existing: Option<u64>,
        snapstart: bool,
    },
    /// Alias `live`: `from` the version it is on now (none: it is made), to `to` (none:
    /// the version about to be published).
    Alias {
        function: String,
        from: Option<u64>,
        to: Option<u64>,
    },
    /// Provisioned concurrency on alias `live`: `from` what is configured now, `to` what
    /// `warm_instances` asks (none: removed). `follows`: the alias moves, and the warm
    /// instances are allocated again for the new version.
    Warm {
        function: String,
        from: Option<u32>,
        to: Option<u32>,
        follows: bool,
    },
    /// The HTTP API (by id once it exists, else by the name it gets); `Update`: CORS.
    HttpApi {
        id: String,
        op: Op,
    },
    Integration {
        id: String,
        op: Op,
    },
    /// The `$default` route: who may call it (`access`), and what changes (`Update`: its
    /// target, its authorization, or both).
    Route {
        op: Op,
        access: Access,
        target_changed: bool,
        access_changed: bool,
    },
    Stage {
        op: Op,
    },
    /// API Gateway's permission to invoke the alias.
    Permission {
        function: String,
        api: Option<String>,
        op: Op,
    },
    /// `rollback`: the alias back to the version before.
    RollbackAlias {
        function: String,
        from: u64,
        to: u64,
    },
    /// Every zip uploaded for this target, in `account`'s artifact bucket (`at`).
    DeleteUploads {
        account: String,
        at: String,
    },
    DeleteApi {
        id: String,
    },
    DeleteFunction {
        name: String,
        versions: usize,
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

fn short(hex: &str) -> &str {
    let h = hex.trim_start_matches("sha256:");
    &h[..12.min(h.len())]
}

impl Change for Step {
    fn row(&self) -> Action {
        match self {
            Step::Secret { id, op: Op::Update, .. } => Action::new(Op::Update, "secret", id).because("value changed"),
            Step::Secret { id, op, .. } => Action::new(*op, "secret", id),
            Step::EcrRepository { name, exists: true } => Action::new(Op::Noop, "ecr-repository", name),
            Step::EcrRepository { name, exists: false } => Action::new(Op::Create, "ecr-repository", name)
                .because(format!("scan on push, keeps the last {} images", crate::cloud::ecr::KEEP_IMAGES)),
            Step::PushImage { reference, op: Op::Noop, .. } => Action::new(Op::Noop, "image", reference).because("already in the registry"),
            Step::PushImage { reference, op, bytes, exact } => Action::new(*op, "push image", reference).because(if *exact {
                format!("{} to upload", human_bytes(*bytes))
            } else {
                format!("at most {} to upload", human_bytes(*bytes))
            }),
            Step::UploadZip { digest, op: Op::Noop, .. } => {
                Action::new(Op::Noop, "zip", format!("sha256:{}", short(digest))).because("the function has it")
            }
            Step::UploadZip { to: ZipTo::Request, digest, bytes, op } => {
                Action::new(*op, "upload zip", format!("sha256:{}", short(digest))).because(format!("{}, in the request", human_bytes(*bytes)))
            }
            Step::UploadZip { to: ZipTo::S3 { at }, bytes, op, .. } => {
                Action::new(*op, "upload zip", at).because(format!("{}, through the artifact bucket", human_bytes(*bytes)))
            }
            Step::Role { name, op: Op::Update } => Action::new(Op::Update, "role", name).because("permissions changed"),
            Step::Role { name, op } => Action::new(*op, "role", name),
            Step::ReplaceFunction { name, from, to } => Action::new(Op::Delete, "function", name).because(format!(
                "package {from} -> {to}: Lambda cannot change a function's package type, so it is recreated with a new alias (the old versions go, so rollback starts over; requests fail for the seconds in between)"
            )),
            Step::Function { name, op: Op::Create, what } => Action::new(Op::Create, "function", name).because(what.clone()),
            Step::Function { name, op: Op::Update, what } => Action::new(Op::Update, "function", name).because(what.clone()),
            Step::Function { name, op, .. } => Action::new(*op, "function", name),
            Step::FunctionConfig { name, op: Op::Noop, .. } => Action::new(Op::Noop, "function-config", name),
            Step::FunctionConfig { name, op, why } => Action::new(*op, "function-config", name).because(why.clone()),
            Step::Version { function, existing: Some(v), .. } => Action::new(Op::Noop, "version", format!("{function}:{v}")),
            Step::Version { function, existing: None, snapstart: false } => Action::new(Op::Create, "version", function),
            Step::Version { function, existing: None, snapstart: true } => {
                Action::new(Op::Create, "version", function).because("SnapStart: initialised and snapshotted when published")
            }
            Step::Warm { function, from, to, follows } => {
                let id = format!("{function}:{ALIAS}");
                let n = |n: &u32| if *n == 1 { "1 warm instance".to_string() } else { format!("{n} warm instances") };
                match (from, to) {
                    (None, Some(t)) => {
                        Action::new(Op::Create, "provisioned-concurrency", id).because(format!("{}, billed while idle", n(t)))
                    }
                    (Some(f), Some(t)) if f != t => Action::new(Op::Update, "provisioned-concurrency", id).because(format!("{f} -> {}", n(t))),
                    (Some(_), Some(t)) if *follows => {
                        Action::new(Op::Update, "provisioned-concurrency", id).because(format!("{} again, for the new version", n(t)))
                    }
                    (Some(f), None) => Action::new(Op::Delete, "provisioned-concurrency", id).because(format!("{} no longer asked for", n(f))),
                    (_, t) => Action::new(Op::Noop, "provisioned-concurrency", id).because(t.as_ref().map(n).unwrap_or_default()),
                }
            }
            Step::Alias { function, from, to } => {
                let id = format!("{function}:{ALIAS}");
                match (from, to) {
                    (None, _) => Action::new(Op::Create, "alias", id),
                    (Some(a), Some(v)) if a == v => Action::new(Op::Noop, "alias", id),
                    (Some(a), Some(v)) => Action::new(Op::Update, "alias", id).because(format!("version {a} -> {v}")),
                    (Some(a), None) => Action::new(Op::Update, "alias", id).because(format!("version {a} -> new")),
                }
            }
            Step::HttpApi { id, op: Op::Update } => Action::new(Op::Update, "http-api", id).because("cors changed"),
            Step::HttpApi { id, op } => Action::new(*op, "http-api", id),
            Step::Integration { id, op: Op::Update } => Action::new(Op::Update, "integration", id).because("target changed"),
            Step::Integration { id, op } => Action::new(*op, "integration", id),
            Step::Route { op, access, target_changed, access_changed } => {
                let who = match access {
                    Access::Private => "private: AWS_IAM, only SigV4-signed calls with execute-api:Invoke",
                    Access::Public => "public: anyone may call it",
                };
                let mut why = Vec::new();
                if *op == Op::Update && *target_changed {
                    why.push("target changed".to_string());
                }
                if *op == Op::Update && *access_changed {
                    let from = match access {
                        Access::Private => Access::Public,
                        Access::Public => Access::Private,
                    };
                    why.push(format!("{} -> {who}", from.label()));
                } else {
                    why.push(who.to_string());
                }
                Action::new(*op, "route", "$default").because(why.join(", "))
            }
            Step::Stage { op: Op::Update } => Action::new(Op::Update, "stage", "$default").because("throttling changed"),
            Step::Stage { op } => Action::new(*op, "stage", "$default"),
            Step::Permission { function, api, op } => {
                let id = match api {
                    Some(api) => format!("{function}:{ALIAS} <- {api}"),
                    None => format!("{function}:{ALIAS}"),
                };
                let row = Action::new(*op, "permission", id);
                if *op == Op::Update {
                    row.because("source changed")
                } else {
                    row
                }
            }
            Step::RollbackAlias { function, from, to } => {
                Action::new(Op::Update, "alias", format!("{function}:{ALIAS}")).because(format!("version {from} -> {to}"))
            }
            Step::DeleteUploads { at, .. } => Action::new(Op::Delete, "zip-uploads", at).because("every zip uploaded for it, if any"),
            Step::DeleteApi { id } => Action::new(Op::Delete, "http-api", id).because("with its routes, integration and stage"),
            Step::DeleteFunction { name, versions } => {
                Action::new(Op::Delete, "function", name).because(format!("{versions} versions and alias {ALIAS}"))
            }
            Step::DeleteRole { name } => Action::new(Op::Delete, "role", name).because("and its policy"),
            Step::DeleteRepository { name } => Action::new(Op::Delete, "ecr-repository", name).because("and its images"),
            Step::DeleteSecret { id, .. } => Action::new(Op::Delete, "secret", id).because("recoverable for 7 days"),
        }
    }
}
