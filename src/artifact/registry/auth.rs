//! Registry credentials and the `WWW-Authenticate` challenge.

use super::*;

// ---------------------------------------------------------------------------------------
// Credentials

/// A user name and secret for a registry's Basic auth or token endpoint. ECR
/// (`AWS` + GetAuthorizationToken), Artifact Registry (`oauth2accesstoken` + an access
/// token) and ACR (a refresh token exchanged from an AAD token) all reduce to this.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// Where credentials for a registry come from; the cloud backends plug in their flows.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// Credentials for `registry` (`host[:port]`), or `None` to go anonymous.
    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>>;
}

/// No credentials: public images, loopback registries, anonymous tokens.
pub struct Anonymous;

#[async_trait]
impl CredentialSource for Anonymous {
    async fn credentials(&self, _registry: &str) -> Result<Option<Credentials>> {
        Ok(None)
    }
}

/// Fixed credentials per registry host.
#[derive(Default)]
pub struct StaticCredentials(pub HashMap<String, Credentials>);

#[async_trait]
impl CredentialSource for StaticCredentials {
    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        Ok(self.0.get(registry).cloned())
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
    Basic,
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut map = HashMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (quoted[..end].to_string(), &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        map.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer { realm: map.remove("realm")?, service: map.remove("service"), scope: map.remove("scope") })
}

#[derive(Clone)]
pub(super) enum Auth {
    Bearer(String),
    Basic(Credentials),
}
