//! The releases aideploy made (`history`): what each deploy put out, from which commit
//! and manifest, and how it ended.
//!
//! The record travels in the deploy lease's own record, in the target's cloud (an S3
//! object, a Secret Manager annotation, resource group tags, a Railway shared variable,
//! a Render environment group, a file for `local`): every deploy and rollback already
//! holds that record while it changes anything, so the entry is written with the same
//! conditional write that gives the lease back, on every target alike, and a fresh clone
//! or another machine reads the same history. The releases themselves (a Lambda version,
//! a Cloud Run revision, a Render deploy...) are the platform's: `history` joins the
//! record with what the platform still keeps ([`Kept`]), so a row says whether a
//! rollback can still go there, and releases made outside aideploy show too.

use serde::{Deserialize, Serialize};

use super::target::Kept;
use super::Cx;

/// How many releases the record keeps (the oldest go first). Small enough for the
/// tightest store (resource group tags of 256 characters, 50 to a group).
pub const KEEP: usize = 10;

/// How a release ended, as recorded when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// It passed its health check and took the traffic.
    Released,
    /// The deploy failed (health check or a cloud error); what served before kept serving.
    Failed,
    /// It served, then a rollback went from it to an earlier release.
    RolledBack,
}

/// One release, as aideploy recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The platform's name for it ([`Kept::id`]), when the platform kept one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The artifact's digest.
    pub digest: String,
    /// When the deploy ended (RFC 3339, UTC).
    pub at: String,
    /// Who ran it (`user@host`).
    pub by: String,
    /// The git commit of the project's working tree, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Tracked files differed from that commit.
    #[serde(default)]
    pub dirty: bool,
    /// The aideploy version that made it.
    pub aideploy: String,
    /// `sha256:` of the manifest's bytes.
    pub manifest: String,
    pub ended: Ended,
    /// A release a rollback made by copying an earlier one (Railway and Render make a
    /// new deployment of the one they go back to): the id of that earlier one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
}

impl Release {
    /// What this run deploys from: the working tree's commit, the manifest, aideploy.
    pub fn new(cx: &Cx, digest: &str, id: Option<String>, ended: Ended, by: &str) -> Release {
        let revision = crate::artifact::oci::git_revision(&cx.loaded.dir);
        let dirty = revision.as_deref().is_some_and(|r| r.ends_with("-dirty"));
        Release {
            id,
            digest: digest.to_string(),
            at: crate::util::iso8601(crate::util::now_secs()),
            by: by.to_string(),
            commit: revision.map(|r| r.trim_end_matches("-dirty").to_string()),
            dirty,
            aideploy: env!("CARGO_PKG_VERSION").to_string(),
            manifest: crate::artifact::oci::blobs::sha256_digest(cx.loaded.text.as_bytes()),
            ended,
            restores: None,
        }
    }
}

/// Adds `release` as the newest, keeping the newest [`KEEP`].
pub fn record(history: &mut Vec<Release>, release: Release) {
    history.insert(0, release);
    history.truncate(KEEP);
}

/// Marks the newest recorded release of `from` (what served before a rollback) as
/// rolled back.
pub fn rolled_back(history: &mut [Release], from: &Kept) {
    if let Some(i) = position(history, from) {
        history[i].ended = Ended::RolledBack;
    }
}

/// What serves after a rollback, when the platform made a new release for it (a copy of
/// the one it went back to, under a new id): recorded as that copy, with what the
/// record says of the release it restores (its commit, manifest and aideploy version,
/// not this working tree's). Nothing when the live release is recorded already, or
/// the record knows no release of its digest.
pub fn restored(history: &mut Vec<Release>, live: &Kept, by: &str) {
    if position(history, live).is_some() {
        return;
    }
    let Some(source) = history.iter().find(|r| r.digest == live.digest) else { return };
    let copy = Release {
        id: Some(live.id.clone()),
        at: crate::util::iso8601(crate::util::now_secs()),
        by: by.to_string(),
        ended: Ended::Released,
        restores: source.id.clone(),
        ..source.clone()
    };
    record(history, copy);
}

/// Where in `history` the record of the kept release `k` is: by its id, else (a record
/// made when the platform named none) the newest of the same digest.
fn position(history: &[Release], k: &Kept) -> Option<usize> {
    history
        .iter()
        .position(|r| r.id.as_deref() == Some(k.id.as_str()))
        .or_else(|| history.iter().position(|r| r.id.is_none() && r.digest == k.digest))
}

/// What `history` shows of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It serves now.
    Live,
    /// It served and was replaced by a later deploy.
    Previous,
    Failed,
    RolledBack,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Live => "live",
            Outcome::Previous => "previous",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled back",
        })
    }
}

/// One row of `history`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The platform's name for it: what `rollback --to` takes.
    pub id: Option<String>,
    pub digest: String,
    pub deployed_at: Option<String>,
    pub deployed_by: Option<String>,
    pub commit: Option<String>,
    pub dirty: Option<bool>,
    pub aideploy: Option<String>,
    pub manifest: Option<String>,
    pub outcome: Outcome,
    /// The platform still keeps it: `rollback --to` can go there.
    pub kept: bool,
    /// Made by a rollback, as a copy of the release of this id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
    /// aideploy recorded it (else the platform keeps a release made some other way, or
    /// one older than the record's [`KEEP`]).
    pub recorded: bool,
}

/// The record joined with what the platform keeps, newest first.
pub fn rows(history: &[Release], kept: &[Kept]) -> Vec<Row> {
    let mut claimed = vec![false; kept.len()];
    let mut rows: Vec<Row> = Vec::new();
    for r in history {
        let hit = kept.iter().enumerate().position(|(i, k)| {
            !claimed[i]
                && match &r.id {
                    Some(id) => &k.id == id,
                    None => k.digest == r.digest,
                }
        });
        if let Some(i) = hit {
            claimed[i] = true;
        }
        let k = hit.map(|i| &kept[i]);
        let outcome = match (k, r.ended) {
            (Some(k), _) if k.live => Outcome::Live,
            (_, Ended::Failed) => Outcome::Failed,
            (_, Ended::RolledBack) => Outcome::RolledBack,
            (_, Ended::Released) => Outcome::Previous,
        };
        rows.push(Row {
            id: r.id.clone().or_else(|| k.map(|k| k.id.clone())),
            digest: r.digest.clone(),
            deployed_at: Some(r.at.clone()),
            deployed_by: Some(r.by.clone()),
            commit: r.commit.clone(),
            dirty: Some(r.dirty),
            aideploy: Some(r.aideploy.clone()),
            manifest: Some(r.manifest.clone()),
            outcome,
            kept: k.is_some(),
            restores: r.restores.clone(),
            recorded: true,
        });
    }
    for (k, _) in kept.iter().zip(&claimed).filter(|(_, c)| !**c) {
        rows.push(Row {
            id: Some(k.id.clone()),
            digest: k.digest.clone(),
            deployed_at: k.created_at.clone(),
            deployed_by: None,
            commit: None,
            dirty: None,
            aideploy: None,
            manifest: None,
            outcome: if k.live { Outcome::Live } else { Outcome::Previous },
            kept: true,
            restores: None,
            recorded: false,
        });
    }
    // Newest first; the record is already, and a time-less row goes last.
    rows.sort_by(|a, b| match (&a.deployed_at, &b.deployed_at) {
        (Some(x), Some(y)) => y.cmp(x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(id: Option<&str>, digest: &str, at: &str, ended: Ended) -> Release {
        Release {
            id: id.map(String::from),
            digest: digest.into(),
            at: at.into(),
            by: "ann@laptop".into(),
            commit: Some("0123abcd".into()),
            dirty: false,
            aideploy: "0.1.0".into(),
            manifest: "sha256:feed".into(),
            ended,
            restores: None,
        }
    }

    fn kept(id: &str, digest: &str, at: &str, live: bool) -> Kept {
        Kept { id: id.into(), digest: digest.into(), created_at: Some(at.into()), live }
    }

    #[test]
    fn the_record_is_joined_with_what_the_platform_keeps() {
        let history = vec![
            rel(Some("4"), "sha256:d4", "2026-12-05T10:04:00Z", Ended::Failed),
            rel(Some("3"), "sha256:d3", "2026-12-05T10:03:00Z", Ended::Released),
            rel(Some("2"), "sha256:d2", "2026-12-05T10:02:00Z", Ended::Released),
            rel(None, "sha256:d1", "2026-12-05T10:01:00Z", Ended::Released),
        ];
        let platform = vec![
            kept("5", "sha256:d5", "2026-12-05T10:05:00Z", false),
            kept("4", "sha256:d4", "2026-12-05T10:04:00Z", false),
            kept("3", "sha256:d3", "2026-12-05T10:03:00Z", true),
            kept("2", "sha256:d2", "2026-12-05T10:02:00Z", false),
        ];
        let rows = rows(&history, &platform);
        let got: Vec<(Option<&str>, Outcome, bool, bool)> = rows.iter().map(|r| (r.id.as_deref(), r.outcome, r.kept, r.recorded)).collect();
        assert_eq!(
            got,
            vec![
                // Made outside aideploy (or before the record): shown from the platform alone.
                (Some("5"), Outcome::Previous, true, false),
                (Some("4"), Outcome::Failed, true, true),
                (Some("3"), Outcome::Live, true, true),
                (Some("2"), Outcome::Previous, true, true),
                // Recorded, but the platform no longer keeps it.
                (None, Outcome::Previous, false, true),
            ]
        );
        assert_eq!(rows[1].commit.as_deref(), Some("0123abcd"));
        assert_eq!(rows[0].commit, None);
    }

    #[test]
    fn a_rollback_marks_what_served_and_the_target_shows_live() {
        let mut history = vec![
            rel(Some("b"), "sha256:db", "2026-12-05T10:02:00Z", Ended::Released),
            rel(Some("a"), "sha256:da", "2026-12-05T10:01:00Z", Ended::Released),
        ];
        rolled_back(&mut history, &kept("b", "sha256:db", "", true));
        let after = vec![kept("b", "sha256:db", "2026-12-05T10:02:00Z", false), kept("a", "sha256:da", "2026-12-05T10:01:00Z", true)];
        let outcomes: Vec<Outcome> = rows(&history, &after).iter().map(|r| r.outcome).collect();
        assert_eq!(outcomes, vec![Outcome::RolledBack, Outcome::Live]);
    }

    #[test]
    fn a_digest_kept_twice_is_matched_once_each_newest_first() {
        // Two releases of one artifact (a config change): each row claims its own.
        let history = vec![
            rel(None, "sha256:same", "2026-12-05T10:02:00Z", Ended::Released),
            rel(None, "sha256:same", "2026-12-05T10:01:00Z", Ended::Released),
        ];
        let platform =
            vec![kept("new", "sha256:same", "2026-12-05T10:02:00Z", true), kept("old", "sha256:same", "2026-12-05T10:01:00Z", false)];
        let got: Vec<(Option<String>, Outcome)> = rows(&history, &platform).into_iter().map(|r| (r.id, r.outcome)).collect();
        assert_eq!(got, vec![(Some("new".into()), Outcome::Live), (Some("old".into()), Outcome::Previous)]);
    }

    #[test]
    fn a_rollback_that_makes_a_new_release_records_it_as_a_copy() {
        let mut history = vec![
            rel(Some("d2"), "sha256:b", "2026-12-05T10:02:00Z", Ended::Released),
            rel(Some("d1"), "sha256:a", "2026-12-05T10:01:00Z", Ended::Released),
        ];
        rolled_back(&mut history, &kept("d2", "sha256:b", "", true));
        // The platform serves a new deployment, d3, copied from d1.
        let live = kept("d3", "sha256:a", "2026-12-05T10:03:00Z", true);
        restored(&mut history, &live, "bob@ci");
        assert_eq!(history.len(), 3);
        assert_eq!(history[0].id.as_deref(), Some("d3"));
        assert_eq!(history[0].restores.as_deref(), Some("d1"));
        assert_eq!(history[0].commit, history[2].commit);
        assert_eq!(history[0].by, "bob@ci");
        // Recorded once: a second look changes nothing.
        restored(&mut history, &live, "bob@ci");
        assert_eq!(history.len(), 3);
        let platform =
            vec![live, kept("d2", "sha256:b", "2026-12-05T10:02:00Z", false), kept("d1", "sha256:a", "2026-12-05T10:01:00Z", false)];
        let outcomes: Vec<Outcome> = rows(&history, &platform).iter().map(|r| r.outcome).collect();
        assert_eq!(outcomes, vec![Outcome::Live, Outcome::RolledBack, Outcome::Previous]);
        // Going back to a release the platform keeps under its own id records nothing new.
        let mut same = history.clone();
        restored(&mut same, &kept("d1", "sha256:a", "", true), "bob@ci");
        assert_eq!(same, history);
    }

    #[test]
    fn the_record_keeps_the_newest() {
        let mut history = Vec::new();
        for i in 0..KEEP + 3 {
            record(&mut history, rel(Some(&i.to_string()), "sha256:x", "2026-12-05T10:00:00Z", Ended::Released));
        }
        assert_eq!(history.len(), KEEP);
        assert_eq!(history[0].id.as_deref(), Some((KEEP + 2).to_string().as_str()));
    }
}
