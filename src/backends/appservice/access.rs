//! Who may reach the site: nobody unless the manifest says so. The site and its
//! staging slot carry access restrictions (`siteConfig.ipSecurityRestrictions`): one
//! allow rule per `allow_cidrs` entry and the default action `Deny`, so every other
//! address gets 403 from App Service's front end before the app is asked. With
//! `public = true` and no `allow_cidrs` there is no rule and the default action is
//! `Allow`. The SCM (Kudu) site keeps its own rules: aideploy neither reads nor
//! changes them.
//!
//! A private site cannot be health-checked from a machine the rules keep out: the gate
//! says so and skips, as ec2 does for a private port.

use serde::Deserialize;
use serde_json::{json, Value};

use super::observe::SiteConfig;
use super::{health_timeout, probe_url};
use crate::engine::{health, Cx, Health, Reporter};
use crate::envvars;

/// ARM lists the default action as a last rule for address `Any` with this priority.
const IMPLICIT_PRIORITY: i64 = 2_147_483_647;
/// The priority of aideploy's first allow rule (then 101, 102...).
const FIRST_PRIORITY: i64 = 100;

/// Who may reach the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every address (no rule, default action Allow).
    Public,
    /// Only these networks (sorted); none at all when empty (private).
    Restricted(Vec<String>),
    /// Rules aideploy did not write (found on a site, never wanted): replaced by a deploy.
    Custom,
}

/// One access restriction as ARM returns it (the fields aideploy reads).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub ip_address: Option<String>,
    pub subnet_mask: Option<String>,
    pub vnet_subnet_resource_id: Option<String>,
    pub action: Option<String>,
    pub tag: Option<String>,
    pub priority: Option<i64>,
    pub headers: Option<Value>,
}

fn is(v: Option<&str>, want: &str) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case(want))
}

impl Access {
    /// What the manifest asks for: `allow_cidrs` when given (with or without `public`),
    /// else every address with `public = true`, else none.
    pub fn wanted(cx: &Cx) -> Access {
        let s = &cx.target.settings;
        if let Some(c) = &s.allow_cidrs {
            let mut v: Vec<String> = c.get().iter().map(|c| c.to_string()).collect();
            v.sort();
            v.dedup();
            return Access::Restricted(v);
        }
        if s.public.as_ref().is_some_and(|p| *p.get()) {
            Access::Public
        } else {
            Access::Restricted(Vec::new())
        }
    }

    /// What a site's (or slot's) configuration allows.
    pub fn of(c: &SiteConfig) -> Access {
        let all = c.ip_security_restrictions.clone().unwrap_or_default();
        let implicit = |r: &Rule| is(r.ip_address.as_deref(), "any") && r.priority == Some(IMPLICIT_PRIORITY);
        let implicit_action = all.iter().find(|r| implicit(r)).and_then(|r| r.action.clone());
        let rules: Vec<&Rule> = all.iter().filter(|r| !implicit(r)).collect();
        // Without a default action, rules mean "deny the rest" (how ARM read them before
        // the setting existed).
        let default = c.ip_security_restrictions_default_action.clone().or(implicit_action).unwrap_or_else(|| {
            if rules.is_empty() {
                "Allow".into()
            } else {
                "Deny".into()
            }
        });
        if is(Some(&default), "allow") {
            return if rules.is_empty() { Access::Public } else { Access::Custom };
        }
        let plain_allow = |r: &&Rule| {
            is(r.action.as_deref(), "allow")
                && (r.tag.is_none() || is(r.tag.as_deref(), "default"))
                && r.subnet_mask.is_none()
                && r.vnet_subnet_resource_id.is_none()
                && r.headers.as_ref().is_none_or(|h| h.is_null() || h.as_object().is_some_and(|o| o.is_empty()))
                && r.ip_address.is_some()
        };
        if !is(Some(&default), "deny") || !rules.iter().all(plain_allow) {
            return Access::Custom;
        }
        let mut v: Vec<String> = rules.iter().filter_map(|r| r.ip_address.clone()).collect();
        v.sort();
        v.dedup();
        Access::Restricted(v)
    }

    pub fn is_public(&self) -> bool {
        *self == Access::Public
    }

    /// As plan rows and `status` show it: `public`, `private`, `allowed: 203.0.113.0/24`.
    pub fn label(&self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::Restricted(c) if c.is_empty() => "private".into(),
            Access::Restricted(c) => format!("allowed: {}", c.join(", ")),
            Access::Custom => "access rules not made by aideploy".into(),
        }
    }

    /// The `siteConfig` fields that say it.
    pub fn site_config(&self) -> serde_json::Map<String, Value> {
        let (rules, default) = match self {
            Access::Public | Access::Custom => (Vec::new(), "Allow"),
            Access::Restricted(c) => (
                c.iter()
                    .zip(FIRST_PRIORITY..)
                    .map(|(cidr, p)| {
                        json!({"ipAddress": cidr, "action": "Allow", "tag": "Default", "priority": p,
                            "name": format!("aideploy-allow-{}", p - FIRST_PRIORITY + 1), "description": "allow_cidrs in aideploy.toml"})
                    })
                    .collect(),
                "Deny",
            ),
        };
        let mut m = serde_json::Map::new();
        m.insert("ipSecurityRestrictions".into(), Value::Array(rules));
        m.insert("ipSecurityRestrictionsDefaultAction".into(), json!(default));
        m
    }
}

/// The health check is routed elsewhere (`AIDEPLOY_AZURE_SITE_URL_TEMPLATE`: a proxy, a
/// private endpoint), where the site's rules may not apply.
fn routed() -> bool {
    std::env::var(envvars::AIDEPLOY_AZURE_SITE_URL_TEMPLATE).is_ok_and(|t| t.contains("{host}"))
}

/// Why the health of a site with `access` cannot be checked from here, without asking
/// it: private, and no route to it but its public host name.
pub fn unreachable(access: &Access, routed: bool) -> Option<String> {
    match access {
        Access::Restricted(c) if c.is_empty() && !routed => Some(
            "health: skipped (private: the site's access restrictions let no address in, so it cannot be checked from here; add your address to `allow_cidrs` (e.g. `allow_cidrs = [\"203.0.113.7/32\"]`) or set `public = true` to have deploys check it)"
                .into(),
        ),
        _ => None,
    }
}

/// Why a 403 from a restricted site means "not from here" rather than "unhealthy".
fn forbidden(access: &Access, url: &str) -> String {
    format!(
        "health: skipped (private: GET {url} answered 403 Forbidden: the site's access restrictions ({}) do not let this machine's address in; add it to `allow_cidrs`, or set `public = true`, to have deploys check it)",
        access.label()
    )
}

/// What the plan says about reaching a site that is not public.
pub fn note(access: &Access) -> Option<String> {
    match access {
        Access::Public => None,
        Access::Restricted(c) if c.is_empty() => Some(
            "the site is private: its access restrictions (and its staging slot's) deny every address, so deploys and `status` cannot check its health from here. To call it, add your address to `allow_cidrs` (e.g. `allow_cidrs = [\"203.0.113.7/32\"]`), reach it through a private endpoint (aideploy does not set one up; point AIDEPLOY_AZURE_SITE_URL_TEMPLATE at it for the health check), or set `public = true`"
                .into(),
        ),
        other => Some(format!(
            "the site (and its staging slot) answers only {}: deploys check its health only when this machine's address is among them, and skip the check otherwise",
            other.label().trim_start_matches("allowed: ")
        )),
    }
}

/// The health gate's verdict.
pub enum Gate {
    Passed,
    /// Not checked, with the reason to show.
    Skipped(String),
    Unhealthy(health::Unhealthy),
}

/// Waits for `GET {url}` to answer 2xx, unless the site's rules keep this machine out:
/// then skipped, with why and what to do.
pub async fn gate(cx: &Cx, access: &Access, url: &str, path: &str, r: &dyn Reporter) -> Gate {
    if let Some(why) = unreachable(access, routed()) {
        return Gate::Skipped(why);
    }
    let restricted = !access.is_public();
    // The front end answers a blocked address 403 before the app is asked: one look says.
    if restricted && matches!(health::answer(&health::client(), url).await, health::Answer::Status { code: 403, .. }) {
        return Gate::Skipped(forbidden(access, url));
    }
    match health::wait_healthy(url, path, health::Front::Proxy, health_timeout(cx), r, || None).await {
        Ok(()) => Gate::Passed,
        Err(health::Unhealthy::TimedOut { last }) if restricted && last == "HTTP 403" => Gate::Skipped(forbidden(access, url)),
        Err(e) => Gate::Unhealthy(e),
    }
}

/// One look at a site's health path (for `status`, and a deploy that released no new
/// version): skipped, with why, when its rules keep this machine out.
pub async fn look(access: &Access, host: &str, path: &str) -> (Health, Option<String>) {
    if let Some(why) = unreachable(access, routed()) {
        return (Health::Skipped, Some(why));
    }
    let url = probe_url(host, path);
    match health::answer(&health::client(), &url).await {
        health::Answer::Healthy => (Health::Passed, None),
        health::Answer::Status { code: 403, .. } if !access.is_public() => (Health::Skipped, Some(forbidden(access, &url))),
        _ => (Health::Failed, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> SiteConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn read_from_the_site_config() {
        // A site made before access restrictions existed: open.
        assert_eq!(Access::of(&config(json!({}))), Access::Public);
        // ARM lists the default as a last `Any` rule.
        let allow_all = json!({"ipAddress": "Any", "action": "Allow", "priority": 2147483647, "name": "Allow all"});
        let deny_all = json!({"ipAddress": "Any", "action": "Deny", "priority": 2147483647, "name": "Deny all"});
        assert_eq!(Access::of(&config(json!({"ipSecurityRestrictions": [allow_all]}))), Access::Public);
        assert_eq!(
            Access::of(&config(json!({"ipSecurityRestrictions": [deny_all], "ipSecurityRestrictionsDefaultAction": "Deny"}))),
            Access::Restricted(vec![])
        );
        let ours = Access::Restricted(vec!["198.51.100.7/32".into(), "203.0.113.0/24".into()]);
        let mut rules: Vec<Value> = ours.site_config()["ipSecurityRestrictions"].as_array().unwrap().clone();
        rules.push(deny_all.clone());
        assert_eq!(Access::of(&config(json!({"ipSecurityRestrictions": rules, "ipSecurityRestrictionsDefaultAction": "Deny"}))), ours);
        // Rules without a default action deny the rest.
        let one = json!({"ipAddress": "203.0.113.0/24", "action": "Allow", "priority": 100});
        assert_eq!(Access::of(&config(json!({"ipSecurityRestrictions": [one]}))), Access::Restricted(vec!["203.0.113.0/24".into()]));
        // Anything else was written by someone else: a deploy replaces it.
        let deny = json!({"ipAddress": "203.0.113.0/24", "action": "Deny", "priority": 100});
        assert_eq!(
            Access::of(&config(json!({"ipSecurityRestrictions": [deny], "ipSecurityRestrictionsDefaultAction": "Allow"}))),
            Access::Custom
        );
        let tagged = json!({"ipAddress": "AzureFrontDoor.Backend", "tag": "ServiceTag", "action": "Allow", "priority": 100});
        assert_eq!(
            Access::of(&config(json!({"ipSecurityRestrictions": [tagged], "ipSecurityRestrictionsDefaultAction": "Deny"}))),
            Access::Custom
        );
    }

    #[test]
    fn written_as_site_config() {
        let fields = |a: &Access| a.site_config();
        let public = fields(&Access::Public);
        assert_eq!(
            (public["ipSecurityRestrictions"].clone(), public["ipSecurityRestrictionsDefaultAction"].clone()),
            (json!([]), json!("Allow"))
        );
        let private = fields(&Access::Restricted(vec![]));
        assert_eq!(
            (private["ipSecurityRestrictions"].clone(), private["ipSecurityRestrictionsDefaultAction"].clone()),
            (json!([]), json!("Deny"))
        );
        let two = fields(&Access::Restricted(vec!["10.0.0.0/8".into(), "2001:db8::/32".into()]));
        let rules = two["ipSecurityRestrictions"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            (rules[0]["ipAddress"].clone(), rules[0]["action"].clone(), rules[0]["priority"].clone()),
            (json!("10.0.0.0/8"), json!("Allow"), json!(100))
        );
        assert_eq!((rules[1]["ipAddress"].clone(), rules[1]["priority"].clone()), (json!("2001:db8::/32"), json!(101)));
        assert_eq!(two["ipSecurityRestrictionsDefaultAction"], "Deny");
    }

    #[test]
    fn labels_and_when_the_gate_cannot_look() {
        assert_eq!(Access::Public.label(), "public");
        assert_eq!(Access::Restricted(vec![]).label(), "private");
        assert_eq!(Access::Restricted(vec!["203.0.113.0/24".into()]).label(), "allowed: 203.0.113.0/24");
        // Private and only reachable at its public host name: nobody can check it.
        let why = unreachable(&Access::Restricted(vec![]), false).unwrap();
        assert!(why.starts_with("health: skipped (private") && why.contains("allow_cidrs") && why.contains("public = true"), "{why}");
        // Routed elsewhere (a private endpoint), or some addresses allowed: it looks.
        assert_eq!(unreachable(&Access::Restricted(vec![]), true), None);
        assert_eq!(unreachable(&Access::Restricted(vec!["203.0.113.0/24".into()]), false), None);
        assert_eq!(unreachable(&Access::Public, false), None);
        assert!(note(&Access::Public).is_none());
        assert!(note(&Access::Restricted(vec![])).unwrap().contains("private endpoint"));
        assert!(note(&Access::Restricted(vec!["203.0.113.0/24".into()])).unwrap().contains("answers only 203.0.113.0/24"));
    }
}
