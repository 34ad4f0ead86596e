//! The engine's vocabulary: artifacts, plans, actions, outcomes. Serializable, so
//! `--json` is the same data a person sees.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
    Noop,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Create => "+",
            Op::Update => "~",
            Op::Delete => "-",
            Op::Noop => "=",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub op: Op,
    /// The kind of resource, e.g. `process`, `function`, `service`.
    pub resource: String,
    /// Its name or id.
    pub id: String,
    /// Why, for people: "source changed", "not running".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Action {
    pub fn new(op: Op, resource: &str, id: impl Into<String>) -> Self {
        Action { op, resource: resource.into(), id: id.into(), reason: None }
    }
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Platform limits the manifest runs into; shown before anything is created.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.actions.iter().any(|a| a.op != Op::Noop)
    }

    fn count(&self, op: Op) -> usize {
        self.actions.iter().filter(|a| a.op == op).count()
    }

    /// Terraform-style lines: `  + process  rag-dev  (new)`.
    pub fn render(&self) -> String {
        let width = self.actions.iter().map(|a| a.resource.len()).max().unwrap_or(0);
        let mut out = String::new();
        for a in &self.actions {
            let sym = match a.op {
                Op::Create => console::style(a.op.symbol()).green(),
                Op::Update => console::style(a.op.symbol()).yellow(),
                Op::Delete => console::style(a.op.symbol()).red(),
                Op::Noop => console::style(a.op.symbol()).dim(),
            };
            out.push_str(&format!("  {sym} {:width$}  {}", a.resource, a.id));
            if let Some(r) = &a.reason {
                out.push_str(&format!("  ({r})"));
            }
            out.push('\n');
        }
        if self.has_changes() {
            out.push_str(&format!(
                "Plan: {} to create, {} to update, {} to delete.",
                self.count(Op::Create),
                self.count(Op::Update),
                self.count(Op::Delete)
            ));
        } else {
            out.push_str("No changes: what is deployed matches the manifest and the code.");
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Passed,
    Failed,
    Skipped,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Passed => "passed",
            Health::Failed => "failed",
            Health::Skipped => "skipped",
        })
    }
}

/// What a deploy runs, as reports show it: a zip, an image, a model archive, or (local) a
/// source snapshot with its Python environment.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactInfo {
    pub kind: String,
    pub digest: String,
    pub bytes: u64,
    pub uploaded_bytes: u64,
    /// Where it was pushed: `registry/repository@sha256:...` (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// An image's layers, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
    /// The built file, when there is one (zips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
    /// What went in, part by part (see [`super::Parts`]); not shown.
    #[serde(skip)]
    pub inputs: super::Inputs,
}

impl ArtifactInfo {
    /// An artifact with no registry or layer details.
    pub fn plain(kind: &str, digest: String, bytes: u64) -> ArtifactInfo {
        ArtifactInfo {
            kind: kind.into(),
            digest,
            bytes,
            uploaded_bytes: 0,
            reference: None,
            layers: Vec::new(),
            path: None,
            inputs: Default::default(),
        }
    }
}

/// One layer of an image.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// What it holds: `base`, `deps`, `app`, `model`.
    pub role: String,
    pub digest: String,
    pub bytes: u64,
}

/// What is deployed and serving, as `status` and reports show it.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub digest: String,
    pub url: Option<String>,
    pub health: Health,
    /// When the serving version was made (RFC 3339, UTC, to the second), as the cloud
    /// records it.
    pub deployed_at: Option<String>,
    /// Who made it, when the cloud records that (an account's email, a user's name).
    pub deployed_by: Option<String>,
    /// Shown by `status`: pid, version, revision...
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// What `apply` or `destroy` did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub url: Option<String>,
    pub health: Health,
    pub actions: Vec<Action>,
    /// Why health failed (the app's last log lines, a platform's reason).
    pub failure: Option<String>,
    /// The artifact as apply pushed or uploaded it, when it did.
    pub pushed: Option<Pushed>,
}

/// Where apply put the artifact, and what that cost.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `registry/repository@sha256:...`, `s3://bucket/key`.
    pub reference: Option<String>,
    pub uploaded_bytes: u64,
}
