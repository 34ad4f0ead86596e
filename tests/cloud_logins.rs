//! Registry logins: ECR's GetAuthorizationToken through the AWS SDK against moto (a
//! real AWS-protocol server), and Docker credential helpers through their protocol.

mod common;

use std::path::Path;

use aideploy::artifact::registry::Credentials;
use aideploy::cloud::{aws, docker_config::DockerConfig};

fn moto() -> String {
    std::env::var("AIDEPLOY_TEST_MOTO").expect("AIDEPLOY_TEST_MOTO is not set: run the tests with `scripts/test` (it starts moto)")
}

fn fake_aws_env(endpoint: &str) {
    // SAFETY: set before any thread of this test binary reads the environment; each
    // test here sets the same values.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    }
}

#[tokio::test]
async fn ecr_login_comes_from_get_authorization_token() {
    fake_aws_env(&moto());
    let config = aws::load(Some("eu-west-1"), None).await.unwrap();
    let (host, login) = aws::ecr_login(&config).await.unwrap();
    assert!(host.ends_with(".dkr.ecr.eu-west-1.amazonaws.com"), "{host}");
    assert_eq!(login.username, "AWS");
    assert!(!login.password.is_empty());
    assert!(!format!("{login:?}").contains(&login.password), "Debug must not print the password");
}

#[tokio::test]
async fn missing_region_names_the_fix() {
    fake_aws_env(&moto());
    // SAFETY: as above.
    unsafe {
        std::env::remove_var("AWS_REGION");
        std::env::remove_var("AWS_DEFAULT_REGION");
    }
    let err = aws::load(None, None).await.unwrap_err();
    // A missing region is the user's input to give: exit 2, with the fix.
    let failure = aideploy::error::Failure::of(&err).expect("a typed failure");
    assert_eq!(failure.exit_code(), aideploy::error::exit::USAGE);
    let hint = failure.hint().unwrap_or_default();
    assert!(hint.contains("--set region="), "{hint}");
}

#[test]
fn credential_helper_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("docker-credential-aideploytest");
    // A helper speaking the protocol: `get` with the server on stdin, JSON on stdout.
    std::fs::write(
        &helper,
        "#!/bin/sh\nread server\nif [ \"$server\" = \"ghcr.io\" ]; then\n  printf '{\"ServerURL\":\"%s\",\"Username\":\"bot\",\"Secret\":\"tok-123\"}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n",
    )
    .unwrap();
    make_executable(&helper);
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, r#"{"credsStore":"aideploytest"}"#).unwrap();
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap());
    // SAFETY: this test binary's other tests do not read PATH concurrently in a way that
    // matters (they spawn no programs by name).
    unsafe { std::env::set_var("PATH", path) };
    let config = DockerConfig::load(&config_path).unwrap();
    assert_eq!(config.login_for("ghcr.io").unwrap(), Some(Credentials { username: "bot".into(), password: "tok-123".into() }));
    assert_eq!(config.login_for("quay.io").unwrap(), None);
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn artifact_registry_login_uses_an_adc_access_token() {
    // ADC from an authorized_user file whose token_uri is a loopback token endpoint:
    // google-cloud-auth exchanges the refresh token there, as it would with Google's.
    let (port, seen) = common::fake_http(|req| {
        if req.method == "POST"
            && req.path == "/token"
            && req.body.contains(r#""grant_type":"refresh_token""#)
            && req.body.contains(r#""refresh_token":"rt-1""#)
        {
            (200, r#"{"access_token":"ya29.test-token","expires_in":3600,"token_type":"Bearer"}"#.into())
        } else {
            (400, r#"{"error":"invalid_grant"}"#.into())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let adc = dir.path().join("adc.json");
    std::fs::write(
        &adc,
        format!(r#"{{"type":"authorized_user","client_id":"cid","client_secret":"cs","refresh_token":"rt-1","token_uri":"http://127.0.0.1:{port}/token"}}"#),
    )
    .unwrap();
    // SAFETY: the only test in this binary that reads these variables.
    unsafe { std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &adc) };
    let token = aideploy::cloud::gcp::access_token().await.unwrap();
    assert_eq!(token, "ya29.test-token");
    let login = aideploy::cloud::gcp::registry_login(token);
    assert_eq!(login.username, "oauth2accesstoken");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn acr_login_exchanges_the_aad_token() {
    use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};

    #[derive(Debug)]
    struct Fixed;
    #[async_trait::async_trait]
    impl TokenCredential for Fixed {
        async fn get_token(&self, scopes: &[&str], _: Option<TokenRequestOptions<'_>>) -> azure_core::Result<AccessToken> {
            assert_eq!(scopes, [aideploy::cloud::azure::ARM_SCOPE]);
            Ok(AccessToken::new(
                "aad-token-1".to_string(),
                azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
            ))
        }
    }
    // ACR's exchange endpoint: form fields in, a refresh token out.
    let (port, seen) = common::fake_http(|req| {
        let ok = req.path == "/oauth2/exchange"
            && req.body.contains("grant_type=access_token")
            && req.body.contains("access_token=aad-token-1")
            && req.body.contains("tenant=t-1");
        if ok {
            (200, r#"{"refresh_token":"acr-refresh-1"}"#.into())
        } else {
            (400, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.into())
        }
    });
    let registry = format!("127.0.0.1:{port}");
    let login = aideploy::cloud::azure::acr_login(&registry, &Fixed, Some("t-1")).await.unwrap();
    assert_eq!(login.username, aideploy::cloud::azure::ACR_USER);
    assert_eq!(login.password, "acr-refresh-1");
    assert!(seen.lock().unwrap()[0].body.contains(&format!("service=127.0.0.1%3A{port}")));

    let refused = aideploy::cloud::azure::acr_login(&registry, &Fixed, Some("other-tenant")).await.unwrap_err();
    assert!(refused.to_string().contains("HTTP 400"), "{refused}");
}
