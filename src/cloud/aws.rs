//! AWS client setup from the standard chain (environment, profiles, SSO, IMDS) via
//! aws-config; `AWS_ENDPOINT_URL` (and per-service variants) are honoured by aws-config
//! itself. Errors name the fix.

use anyhow::Result;
use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use base64::Engine;

use crate::artifact::registry::Credentials;
use crate::error::Hinted;

static PROFILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The profile given on the command line (`--profile`), for every AWS client of this run.
pub fn use_profile(name: &str) {
    let _ = PROFILE.set(name.to_string());
}

/// `--profile` when given; otherwise aws-config's own choice (`AWS_PROFILE`, `default`).
pub fn chosen_profile() -> Option<&'static str> {
    PROFILE.get().map(String::as_str)
}

/// Loads the shared configuration; checks there is a region and that credentials
/// resolve, so a missing login fails here with the fix rather than deep in a call.
pub async fn load(region: Option<&str>, profile: Option<&str>) -> Result<SdkConfig> {
    // aws-config honours these; aideploy sends secret values to them, so only HTTPS or
    // this machine.
    for (var, _) in std::env::vars().filter(|(k, _)| k == "AWS_ENDPOINT_URL" || k.starts_with("AWS_ENDPOINT_URL_")) {
        super::endpoint_override(&var)?;
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    // Throttling, 5xx and dropped connections are retried with backoff (standard mode).
    loader = loader.retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(crate::error::UsageError::new("no AWS region")
            .hint("set `region` in the target's section of aideploy.toml, pass --set region=us-east-1, or set AWS_REGION")
            .into());
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(no_credentials("no credentials provider", profile));
    };
    use aws_credential_types::provider::ProvideCredentials;
    // With nothing configured only the instance metadata service is left, which answers
    // at once on EC2 and never elsewhere: it is not waited on.
    let wait = if configured(profile) { std::time::Duration::from_secs(20) } else { super::login::QUICK };
    match tokio::time::timeout(wait, provider.provide_credentials()).await {
        Ok(Ok(_)) => Ok(config),
        Ok(Err(e)) => Err(no_credentials(&describe(&e), profile)),
        Err(_) => Err(no_credentials("none configured, and no instance metadata service answered", profile)),
    }
}

/// The profile in use: `--profile`, else `AWS_PROFILE`, else `default`.
fn profile_name(profile: Option<&str>) -> String {
    profile.map(str::to_string).or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty())).unwrap_or_else(|| "default".into())
}

/// The settings of `profile` in the shared config file (`AWS_CONFIG_FILE`, else
/// `~/.aws/config`), when it has a section for it.
fn profile_settings(profile: &str) -> Option<Vec<(String, String)>> {
    let path = std::env::var_os("AWS_CONFIG_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".aws").join("config")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let mut found = None;
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            inside = section == format!("profile {profile}") || (profile == "default" && section == "default");
            if inside && found.is_none() {
                found = Some(Vec::new());
            }
        } else if inside {
            if let (Some(list), Some((k, v))) = (found.as_mut(), line.split_once('=')) {
                let list: &mut Vec<(String, String)> = list;
                list.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    found
}

/// Whether any credential source other than the instance metadata service is set up:
/// keys or a web identity in the environment, a container endpoint, the profile in the
/// shared files.
fn configured(profile: Option<&str>) -> bool {
    let env = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    if ["AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        .iter()
        .any(|k| env(k))
    {
        return true;
    }
    let name = profile_name(profile);
    if profile_settings(&name).is_some() {
        return true;
    }
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".aws").join("credentials")));
    credentials.and_then(|p| std::fs::read_to_string(p).ok()).is_some_and(|t| t.lines().any(|l| l.trim() == format!("[{name}]")))
}

/// Missing or expired AWS credentials: exit 2, with the login command for this profile
/// (`aws sso login --profile ...` for an IAM Identity Center profile).
fn no_credentials(why: &str, profile: Option<&str>) -> anyhow::Error {
    let name = profile_name(profile);
    let sso = profile_settings(&name).is_some_and(|s| s.iter().any(|(k, _)| k == "sso_session" || k == "sso_start_url"));
    let hint = if sso {
        format!("run `aws sso login --profile {name}` (the single sign-on session is missing or has expired)")
    } else {
        "run `aws configure` (or `aws sso login --profile NAME` for a single sign-on profile, then pass --profile NAME or set AWS_PROFILE), \
         or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            .to_string()
    };
    crate::error::UsageError::new(format!("no usable AWS credentials for profile `{name}` ({why})")).hint(hint).into()
}

/// The registry host and login for the account's ECR, from GetAuthorizationToken.
pub async fn ecr_login(config: &SdkConfig) -> Result<(String, Credentials)> {
    let client = aws_sdk_ecr::Client::new(config);
    let out = client.get_authorization_token().send().await.map_err(|e| {
        Hinted::new(
            format!("ECR GetAuthorizationToken failed: {}", describe(&e)),
            "check that these credentials may call ecr:GetAuthorizationToken",
        )
    })?;
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| Hinted::new("ECR returned no authorization data", "retry; if it persists, check the region"))?;
    let token = data.authorization_token().unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Hinted::new("ECR returned an authorization token that is not base64 user:password", "retry"))?;
    let (username, password) =
        decoded.split_once(':').ok_or_else(|| Hinted::new("ECR's authorization token is not user:password", "retry"))?;
    let endpoint = data.proxy_endpoint().unwrap_or_default();
    let host = endpoint.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
    Ok((host, Credentials { username: username.to_string(), password: password.to_string() }))
}

/// The tags by which every AWS resource aideploy makes is found again from any machine.
pub const TAG_APP: &str = "aideploy:app";
pub const TAG_STAGE: &str = "aideploy:stage";
pub const TAG_TARGET: &str = "aideploy:target";
pub const TAG_DIGEST: &str = "aideploy:digest";
/// What the deployed version is made of, part by part ([`crate::engine::Parts::encode`]).
pub const TAG_PARTS: &str = "aideploy:parts";

/// This target's owner tags: app, stage and target name.
pub fn owner_tags(cx: &crate::engine::Cx) -> Vec<(&'static str, String)> {
    vec![(TAG_APP, cx.app_name().to_string()), (TAG_STAGE, cx.stage.to_string()), (TAG_TARGET, cx.target.name.clone())]
}

/// A resource carries every owner tag of this target.
pub fn is_ours(cx: &crate::engine::Cx, found: &std::collections::HashMap<String, String>) -> bool {
    owner_tags(cx).iter().all(|(k, v)| found.get(*k) == Some(v))
}

/// A call is a read when its operation's name says so (`HeadObject` included).
pub fn is_read(operation: &str) -> bool {
    ["Get", "List", "Describe", "Head"].iter().any(|p| operation.starts_with(p))
}

/// The interceptor every target's AWS clients carry: each API call is logged (`-vv`, or
/// `AIDEPLOY_LOG=aideploy=debug`) as a read or a write, so an unchanged redeploy can be
/// seen to make reads only.
#[derive(Debug, Clone, Copy)]
pub struct CallLog;

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallLog {
    fn name(&self) -> &'static str {
        "aideploy-call-log"
    }

    fn read_before_serialization(
        &self,
        _ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _rc: &aws_sdk_s3::config::RuntimeComponents,
        cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(m) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            let kind = if is_read(m.name()) { "read" } else { "write" };
            tracing::debug!(target: "aideploy::aws", "aws call {}.{} ({kind})", m.service(), m.name());
        }
        Ok(())
    }
}

/// `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `LAMBDA`), else `AWS_ENDPOINT_URL`, points at this
/// machine: an emulator such as moto, which runs no code, instance or container.
pub(crate) fn endpoint_is_loopback(service: &str) -> bool {
    let own = format!("AWS_ENDPOINT_URL_{service}");
    [own.as_str(), "AWS_ENDPOINT_URL"].iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty())).is_some_and(|url| {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
        crate::cloud::is_loopback_host(rest.split('/').next().unwrap_or(""))
    })
}

/// What an AWS service's endpoint serves beyond its control-plane API. AWS itself serves
/// all of it. An endpoint on this machine (an emulator such as moto) keeps the API's
/// state faithfully but runs no function, instance or model container, serves no image
/// registry behind ECR's API, and may hand out a deleted Lambda version's number again.
/// Decided here, once per service; targets ask these questions, never where the endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPlane {
    /// Functions, instances and model containers run, so they can be health-checked.
    pub runs_workloads: bool,
    /// ECR's API is backed by a registry that takes pushes.
    pub ecr_registry: bool,
    /// Lambda never reuses a deleted version's number, so old versions may be pruned.
    pub unique_versions: bool,
}

impl DataPlane {
    pub const FULL: DataPlane = DataPlane { runs_workloads: true, ecr_registry: true, unique_versions: true };
    /// An endpoint that serves the API's state only.
    pub const API_ONLY: DataPlane = DataPlane { runs_workloads: false, ecr_registry: false, unique_versions: false };

    /// The data plane behind `service`'s endpoint (`LAMBDA`, `EC2`, `SAGEMAKER`, ...).
    pub fn of(service: &str) -> DataPlane {
        if endpoint_is_loopback(service) {
            DataPlane::API_ONLY
        } else {
            DataPlane::FULL
        }
    }

    /// Why a part is missing, for the message that says what was skipped.
    pub const WHY_NOT: &'static str = "AWS_ENDPOINT_URL is an endpoint on this machine that serves the API only";
}

/// The message of an SDK error: its cause chain, each message once, cut at 300
/// characters; never the `Debug` of a raw response.
pub fn describe<E: std::error::Error>(e: &E) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        // The service's own answer: its code and message, not the metadata's struct-like
        // `Display` (`Error { code: .., message: .., aws_request_id: .. }`).
        let text = match s.downcast_ref::<aws_sdk_s3::error::ErrorMetadata>() {
            Some(meta) => match (meta.code(), meta.message()) {
                (Some(code), Some(message)) => {
                    // `unhandled error (Code)` says nothing the code and message do not.
                    parts.retain(|p| !p.ends_with(&format!("({code})")));
                    format!("{code}: {message}")
                }
                (Some(code), None) => code.to_string(),
                (None, Some(message)) => message.to_string(),
                (None, None) => String::new(),
            },
            None => s.to_string(),
        };
        if text.is_empty() {
            source = s.source();
            continue;
        }
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    let mut out = parts.join(": ");
    if out.len() > 300 {
        let mut end = 300;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out
}

/// Retries an answer that says "not carried out, try again" whatever error code it
/// carries: 429 (throttled) and 500/502/503/504. The SDKs' own classifiers retry these
/// only with a known throttling code, and a proxy or gateway in between may send none.
/// Every AWS client aideploy builds carries it, next to [`CallLog`].
#[derive(Debug, Clone, Copy)]
pub struct RetryStatus;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for RetryStatus {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        match ctx.response().map(|r| r.status().as_u16()) {
            Some(429) => RetryAction::throttling_error(),
            Some(500 | 502 | 503 | 504) => RetryAction::transient_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "aideploy-retry-status"
    }
}

/// An AWS SDK error as people should see it: the operation, the service's error code and
/// message, the request id when there is one, and `hint`. Errors without a service code
/// (a timeout, a dropped connection) show their cause chain instead; never a `Debug` dump.
pub fn sdk_error<E>(operation: &str, e: &E, hint: &str) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error,
{
    Hinted::new(sdk_message(operation, e), hint).into()
}

/// The message of [`sdk_error`], without the hint.
pub fn sdk_message<E>(operation: &str, e: &E) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error,
{
    let meta = e.meta();
    let mut out = match (meta.code(), meta.message()) {
        (Some(code), Some(message)) => format!("{operation} failed: {code}: {message}"),
        (Some(code), None) => format!("{operation} failed: {code}"),
        (None, Some(message)) => format!("{operation} failed: {message}"),
        // No service code (a timeout, a dropped connection, an unreadable answer): the
        // cause chain, cut short, never the raw response.
        (None, None) => {
            let mut why = describe(e);
            if why.len() > 300 {
                let mut end = 300;
                while !why.is_char_boundary(end) {
                    end -= 1;
                }
                why.truncate(end);
                why.push_str("...");
            }
            format!("{operation} failed: {why}")
        }
    };
    if let Some(id) = meta.extra("aws_request_id").filter(|s| !s.is_empty()) {
        out.push_str(&format!(" (request id {id})"));
    }
    out
}

/// The service's error code of an SDK error (`""` when it has none).
pub fn error_code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> &str {
    e.code().unwrap_or("")
}

/// An IAM role's ARN and its inline policy `policy` (decoded from IAM's percent-encoding),
/// `None` when there is no such role; `hint` goes with any other error.
pub async fn read_role(
    iam: &aws_sdk_iam::Client,
    role: &str,
    policy: &str,
    hint: &str,
) -> Result<Option<(String, Option<serde_json::Value>)>> {
    let failed =
        |what: &str, e: &dyn std::error::Error| -> anyhow::Error { Hinted::new(format!("{what} failed: {}", describe(&e)), hint).into() };
    let arn = match iam.get_role().role_name(role).send().await {
        Ok(out) => out.role().map(|r| r.arn().to_string()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
        Err(e) => return Err(failed("IAM GetRole", &e)),
    };
    let Some(arn) = arn else { return Ok(None) };
    let document = match iam.get_role_policy().role_name(role).policy_name(policy).send().await {
        Ok(out) => {
            let doc = out.policy_document();
            serde_json::from_str(doc).ok().or_else(|| serde_json::from_str(&decode_policy_document(doc)).ok())
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
        Err(e) => return Err(failed("IAM GetRolePolicy", &e)),
    };
    Ok(Some((arn, document)))
}

/// IAM's limit on role names.
pub const ROLE_NAME_MAX: usize = 64;

/// A role name within IAM's 64 characters: cut names keep a prefix and end in a hash of
/// the full name, so two long names never become one role.
pub fn role_name(full: &str) -> String {
    super::fit_name(full, ROLE_NAME_MAX)
}

/// An IAM role as read: its ARN, its tags and (when asked for) one inline policy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoleSeen {
    pub name: String,
    pub arn: String,
    pub tags: std::collections::HashMap<String, String>,
    /// The inline policy asked for, decoded; `None` when the role has none of that name.
    pub policy: Option<serde_json::Value>,
}

impl RoleSeen {
    /// The role carries every owner tag of this target.
    pub fn is_ours(&self, cx: &crate::engine::Cx) -> bool {
        is_ours(cx, &self.tags)
    }
}

/// The refusal to touch a same-named role that is not this target's.
pub fn foreign_role(name: &str) -> anyhow::Error {
    crate::error::UsageError::new(format!(
        "the IAM role {name} exists but is not this target's (it lacks the {TAG_APP}, {TAG_STAGE} and {TAG_TARGET} tags of this app, stage and target)"
    ))
    .hint(format!("rename the app or stage, or delete the role {name}"))
    .into()
}

/// Reads a role with its tags and inline policy `policy`; `None` when there is no such
/// role. Read-only.
pub async fn observe_role(iam: &aws_sdk_iam::Client, name: &str, policy: Option<&str>, hint: &str) -> Result<Option<RoleSeen>> {
    let role = match iam.get_role().role_name(name).send().await {
        Ok(out) => out.role().cloned(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
        Err(e) => return Err(sdk_error("IAM GetRole", &e, hint)),
    };
    let Some(role) = role else { return Ok(None) };
    let mut tags: std::collections::HashMap<String, String> =
        role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    if tags.is_empty() {
        // GetRole does not always carry the tags; ListRoleTags does.
        let listed = iam.list_role_tags().role_name(name).send().await.map_err(|e| sdk_error("IAM ListRoleTags", &e, hint))?;
        tags = listed.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    }
    let document = match policy {
        None => None,
        Some(policy) => match iam.get_role_policy().role_name(name).policy_name(policy).send().await {
            Ok(out) => {
                let doc = out.policy_document();
                serde_json::from_str(doc).ok().or_else(|| serde_json::from_str(&decode_policy_document(doc)).ok())
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
            Err(e) => return Err(sdk_error("IAM GetRolePolicy", &e, hint)),
        },
    };
    Ok(Some(RoleSeen { name: name.to_string(), arn: role.arn().to_string(), tags, policy: document }))
}

/// Creates a role tagged with this target's owner tags (apply only) and returns its ARN.
/// A role of that name made a moment ago by another run of this target is used; one
/// without this target's tags is refused, unchanged.
pub async fn create_role(
    iam: &aws_sdk_iam::Client,
    cx: &crate::engine::Cx,
    name: &str,
    trust_policy: &str,
    description: &str,
    hint: &str,
) -> Result<String> {
    let mut req = iam.create_role().role_name(name).assume_role_policy_document(trust_policy).description(description);
    for (k, v) in owner_tags(cx) {
        req = req.tags(aws_sdk_iam::types::Tag::builder().key(k).value(v).build()?);
    }
    match req.send().await {
        Ok(out) => Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {
            match observe_role(iam, name, None, hint).await? {
                Some(seen) if seen.is_ours(cx) => Ok(seen.arn),
                _ => Err(foreign_role(name)),
            }
        }
        Err(e) => Err(sdk_error("IAM CreateRole", &e, hint)),
    }
}

/// IAM returns policy documents percent-encoded.
pub fn decode_policy_document(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An AWS client for one service on the shared configuration, with aideploy's call log
/// (what `-vv` shows and the tests count) and retry classifier: how every AWS client is
/// built. Extra builder steps go after the configuration: `aws_client!(aws_sdk_s3, &c,
/// force_path_style(true))`.
#[macro_export]
macro_rules! aws_client {
    ($sdk:ident, $config:expr $(, $method:ident($($arg:expr),*))* $(,)?) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                $(.$method($($arg),*))*
                .interceptor($crate::cloud::aws::CallLog)
                .retry_classifier($crate::cloud::aws::RetryStatus)
                .build(),
        )
    };
}

#[cfg(test)]
mod tests {
    /// An operation error whose cause is the service's answer, as the SDKs build one.
    #[derive(Debug)]
    struct Operation(aws_sdk_s3::error::ErrorMetadata);

    impl std::fmt::Display for Operation {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "unhandled error ({})", self.0.code().unwrap_or("?"))
        }
    }

    impl std::error::Error for Operation {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn describe_shows_the_services_code_and_message_not_the_metadata_struct() {
        let meta = aws_sdk_s3::error::ErrorMetadata::builder()
            .code("ValidationException")
            .message("Cannot create already existing endpoint")
            .custom("aws_request_id", "req-1")
            .build();
        let got = super::describe(&Operation(meta));
        assert_eq!(got, "ValidationException: Cannot create already existing endpoint");
        assert!(!got.contains("Error {"), "{got}");
    }

    use super::*;

    #[test]
    fn calls_and_policies() {
        assert!(is_read("GetFunction") && is_read("HeadObject") && is_read("ListTags") && is_read("DescribeImages"));
        assert!(!is_read("CreateFunction") && !is_read("PutRolePolicy") && !is_read("UpdateFunctionCode"));
        assert_eq!(decode_policy_document("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(decode_policy_document("{\"a\":\"100%\"}"), "{\"a\":\"100%\"}");
    }
}
