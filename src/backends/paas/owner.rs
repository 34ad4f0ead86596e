//! Which services are aideploy's. Neither Railway nor Render has tags on services, so a
//! service aideploy creates carries the variable `AIDEPLOY_OWNER = "{app}/{stage}/{target}"`
//! from its creation on (variables are the nearest durable, readable thing both APIs
//! offer). A same-named service without it is someone else's: refused, never adopted.

use crate::engine::Cx;
use crate::error::UsageError;

/// The variable that marks a service as aideploy's.
pub const OWNER_VAR: &str = "AIDEPLOY_OWNER";

/// The mark's value for this app, stage and target.
pub fn mark(cx: &Cx) -> String {
    format!("{}/{}/{}", cx.app_name(), cx.stage, cx.target.name)
}

/// Whether variables read from a service carry this app's mark.
pub fn is_ours(cx: &Cx, vars: &std::collections::BTreeMap<String, String>) -> bool {
    vars.get(OWNER_VAR).is_some_and(|v| *v == mark(cx))
}

/// The refusal for a same-named service aideploy did not make (or made for another app,
/// stage or target).
pub fn foreign(platform: &str, name: &str, id: &str, found: Option<&str>) -> UsageError {
    let why = match found {
        Some(other) => format!("it is marked {OWNER_VAR}={other}"),
        None => format!("it has no {OWNER_VAR} variable"),
    };
    UsageError::new(format!("{platform} service {name} ({id}) exists but was not created by aideploy for this app and stage: {why}"))
        .hint(format!("rename the app or stage, or delete {platform} service {name} yourself; aideploy does not adopt or change it"))
}
