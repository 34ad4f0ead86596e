//! AWS client setup from the standard chain (environment, profiles, SSO, IMDS) via
//! aws-config; `AWS_ENDPOINT_URL` (and per-service variants) are honoured by aws-config
//! itself. Errors name the fix.

use anyhow::Result;
use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use base64::Engine;

use crate::build::registry::Credentials;
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
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(Hinted::new(
            "no AWS region",
            "set `region` in the target's section of aideploy.toml, pass --set region=us-east-1, or set AWS_REGION",
        )
        .into());
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(no_credentials("no credentials provider"));
    };
    use aws_credential_types::provider::ProvideCredentials;
    if let Err(e) = provider.provide_credentials().await {
        return Err(no_credentials(&e.to_string()));
    }
    Ok(config)
}

fn no_credentials(why: &str) -> anyhow::Error {
    Hinted::new(
        format!("no AWS credentials ({why})"),
        "run `aws sso login` (or `aws configure`), set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    )
    .into()
}

/// The registry host and login for the account's ECR, from GetAuthorizationToken.
pub async fn ecr_login(config: &SdkConfig) -> Result<(String, Credentials)> {
    let client = aws_sdk_ecr::Client::new(config);
    let out = client.get_authorization_token().send().await.map_err(|e| {
        Hinted::new(
            format!("ECR GetAuthorizationToken failed: {}", aws_sdk_ecr::error::DisplayErrorContext(&e)),
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
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| Hinted::new("ECR's authorization token is not user:password", "retry"))?;
    let endpoint = data.proxy_endpoint().unwrap_or_default();
    let host = endpoint.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string();
    Ok((host, Credentials { username: username.to_string(), password: password.to_string() }))
}
