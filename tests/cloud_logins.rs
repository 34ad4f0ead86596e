//! Registry logins: ECR's GetAuthorizationToken through the AWS SDK against moto (a
//! real AWS-protocol server), and Docker credential helpers through their protocol.

mod common;

use std::path::Path;

use aideploy::cloud::{aws, docker_config::DockerConfig, Login};

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
    let help = err.downcast_ref::<aideploy::error::Hinted>().unwrap();
    assert!(help.hint.contains("--set region="), "{}", help.hint);
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
    assert_eq!(config.login_for("ghcr.io").unwrap(), Some(Login { username: "bot".into(), password: "tok-123".into() }));
    assert_eq!(config.login_for("quay.io").unwrap(), None);
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}
