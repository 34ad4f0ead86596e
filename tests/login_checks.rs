//! Issue 13 points 4 and 10: a missing or refused login fails before anything is built or
//! read, with exit 2 and the command that logs in; a missing region, project,
//! subscription or token is exit 2 on every target. Nothing here reaches a network:
//! credentials are absent, and every endpoint that would be asked is a closed loopback
//! port.

use std::path::{Path, PathBuf};

use crate::common;

/// A copy of the fastapi-rag example with one section per cloud target (no region for
/// `lambda-noregion`), in a scratch home.
fn project() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("rag");
    common::copy_tree(&common::root().join("examples/fastapi-rag"), &dir);
    let path = dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!(
            "{text}\n[targets.lambda-noregion]\nkind = \"lambda\"\n\n[targets.ec2]\nregion = \"us-east-1\"\ninstance_type = \"t3.small\"\n\n\
             [targets.appservice]\nsubscription = \"00000000-0000-0000-0000-000000000001\"\nregion = \"westeurope\"\n\n\
             [targets.render]\nregion = \"frankfurt\"\n\n[targets.railway]\n\n[targets.sagemaker]\nregion = \"us-east-1\"\n"
        ),
    )
    .unwrap();
    (home, dir)
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Every file under `dir` (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `deploy --target NAME --yes` with no login anywhere (and `extra` set): its exit code
/// and stderr; asserts that nothing was built (no step, nothing in the cache).
fn deploy(home: &Path, dir: &Path, target: &str, extra: &[(&str, String)]) -> (i32, String) {
    let mut cmd = common::aideploy(home);
    common::offline(&mut cmd);
    // No Google machine, no EC2 instance, no Azure CLI to ask.
    cmd.env("GCE_METADATA_HOST", format!("127.0.0.1:{}", closed_port()))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PATH", home.join("empty-path"));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.current_dir(dir).args(["deploy", "--target", target, "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("building") && !stderr.contains("pulling"), "{target} built before checking the login: {stderr}");
    assert_eq!(files(&home.join("cache")), Vec::<PathBuf>::new(), "{target} wrote to the cache: {stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn every_target_names_the_login_before_building() {
    let (home, dir) = project();
    let home = home.path();

    // Google: no ADC file, no metadata server. This used to wait most of a minute.
    let (code, stderr) = deploy(home, &dir, "cloudrun", &[("GOOGLE_CLOUD_PROJECT", "p".into())]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no Google Cloud credentials") && stderr.contains("`gcloud auth application-default login`"), "{stderr}");
    assert!(!stderr.contains("future attempts may succeed"), "{stderr}");

    // Azure: no CLI on PATH and a service principal whose authority refuses the
    // connection.
    let authority = format!("https://127.0.0.1:{}", closed_port());
    let sp = [
        ("AZURE_TENANT_ID", "00000000-0000-0000-0000-00000000000a".to_string()),
        ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-00000000000b".to_string()),
        ("AZURE_CLIENT_SECRET", "not-a-secret".to_string()),
        ("AZURE_AUTHORITY_HOST", authority),
    ];
    let (code, stderr) = deploy(home, &dir, "appservice", &sp);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("Azure") && stderr.contains("`az login`"), "{stderr}");

    // AWS, nothing configured: `aws configure`.
    let (code, stderr) = deploy(home, &dir, "lambda", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no usable AWS credentials") && stderr.contains("`aws configure`"), "{stderr}");

    // AWS, a single sign-on profile whose session is missing or has expired: the exact
    // login command, on every AWS target.
    let config = home.join("aws-config");
    std::fs::write(
        &config,
        "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Deploy\nregion = us-east-1\n\n\
         [sso-session corp]\nsso_start_url = https://example.invalid/start\nsso_region = us-east-1\n",
    )
    .unwrap();
    let sso = [("AWS_CONFIG_FILE", config.display().to_string()), ("AWS_PROFILE", "dev".to_string())];
    for target in ["lambda", "ec2", "sagemaker"] {
        let (code, stderr) = deploy(home, &dir, target, &sso);
        assert_eq!(code, 2, "{target}: {stderr}");
        assert!(stderr.contains("`aws sso login --profile dev`"), "{target}: {stderr}");
    }

    // Render and Railway: the token variable.
    let (code, stderr) = deploy(home, &dir, "render", &[("AIDEPLOY_REGISTRY", "127.0.0.1:1/rag".into())]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("RENDER_API_KEY"), "{stderr}");
    let (code, stderr) = deploy(home, &dir, "railway", &[("AIDEPLOY_REGISTRY", "127.0.0.1:1/rag".into())]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("RAILWAY_API_TOKEN") && stderr.contains("RAILWAY_TOKEN"), "{stderr}");
}

#[test]
fn a_missing_region_project_or_subscription_is_exit_2_everywhere() {
    let (home, dir) = project();
    let home = home.path();
    let keys = [("AWS_ACCESS_KEY_ID", "testing".to_string()), ("AWS_SECRET_ACCESS_KEY", "testing".to_string())];
    let (code, stderr) = deploy(home, &dir, "lambda-noregion", &keys);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no AWS region") && stderr.contains("AWS_REGION"), "{stderr}");
    let (code, stderr) = deploy(home, &dir, "cloudrun", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no Google Cloud project"), "{stderr}");
    // The appservice section without its subscription.
    let path = dir.join("aideploy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("subscription = \"00000000-0000-0000-0000-000000000001\"\n", "")).unwrap();
    let (code, stderr) = deploy(home, &dir, "appservice", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no Azure subscription"), "{stderr}");
}
