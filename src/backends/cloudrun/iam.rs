//! IAM policies as Cloud Run and Secret Manager answer them: who holds a role, and a
//! policy with one member added or removed (everything else, the etag too, kept).

use anyhow::{Context, Result};
use serde_json::{json, Value};

pub const ACCESSOR: &str = "roles/secretmanager.secretAccessor";
pub const INVOKER: &str = "roles/run.invoker";
pub const ALL_USERS: &str = "allUsers";

pub fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

pub fn policy_members(policy: &Value, role: &str) -> Vec<String> {
    policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["role"] == role)
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect()
}

/// `policy` with `member` added to (or removed from) `role`.
pub fn edit_policy(policy: &Value, role: &str, member: &str, add: bool) -> Value {
    let mut p = policy.clone();
    if !p.is_object() {
        p = json!({});
    }
    let mut bindings = p["bindings"].as_array().cloned().unwrap_or_default();
    if add {
        let unconditional = bindings.iter_mut().find(|b| b["role"] == role && b.get("condition").is_none_or(Value::is_null));
        match unconditional.and_then(|b| b["members"].as_array_mut()) {
            Some(members) => members.push(json!(member)),
            None => bindings.push(json!({"role": role, "members": [member]})),
        }
    } else {
        for b in bindings.iter_mut().filter(|b| b["role"] == role) {
            if let Some(m) = b["members"].as_array_mut() {
                m.retain(|x| x != member);
            }
        }
        bindings.retain(|b| b["members"].as_array().is_some_and(|m| !m.is_empty()));
    }
    p["bindings"] = json!(bindings);
    p
}

pub fn to_policy(v: Value) -> Result<google_cloud_iam_v1::model::Policy> {
    serde_json::from_value(v).context("IAM policy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_edits_keep_other_members() {
        let p = json!({"bindings": [{"role": INVOKER, "members": ["user:a@example.com"]}], "etag": "BwX="});
        let added = edit_policy(&p, INVOKER, ALL_USERS, true);
        assert_eq!(policy_members(&added, INVOKER), ["user:a@example.com", ALL_USERS]);
        let removed = edit_policy(&added, INVOKER, ALL_USERS, false);
        assert_eq!(policy_members(&removed, INVOKER), ["user:a@example.com"]);
        assert_eq!(removed["etag"], "BwX=");
        let fresh = edit_policy(&json!({}), ACCESSOR, "serviceAccount:x", true);
        assert_eq!(policy_members(&fresh, ACCESSOR), ["serviceAccount:x"]);
    }
}
