//! Issue 12 point 5: credentials go only to the host they are for. A registry that
//! sends a blob download to another host, and an API that redirects to another host,
//! never see the login follow them.

use std::sync::{Arc, Mutex};

use aideploy::artifact::oci::blobs::BlobStore;
use aideploy::artifact::registry::{Client, Credentials, Options, Reference, StaticCredentials};
use sha2::{Digest, Sha256};

use crate::common::{fake_http, fake_http_with, Seen};

fn header<'a>(s: &'a Seen, name: &str) -> Option<&'a str> {
    s.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn elsewhere() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    fake_http(|_| (200, "blob bytes".into()))
}

#[tokio::test]
async fn a_blob_redirected_to_another_host_arrives_without_the_registry_login() {
    let (cdn, cdn_seen) = elsewhere();
    // The registry asks for a Basic login, then sends the download to another host
    // (`localhost` is another host than `127.0.0.1` for a client).
    let (port, reg_seen) = fake_http_with(move |s| match header(s, "authorization") {
        None => (401, vec![("www-authenticate".into(), "Basic realm=\"registry\"".into())], String::new()),
        Some(_) => (307, vec![("location".into(), format!("http://localhost:{cdn}/blob"))], String::new()),
    });
    let store = tempfile::tempdir().unwrap();
    let reg = format!("127.0.0.1:{port}");
    let creds = StaticCredentials(
        [(reg.clone(), Credentials { username: "deployer".into(), password: "registry-password-1234".into() })].into_iter().collect(),
    );
    let client = Client::new(Arc::new(creds), BlobStore::new(store.path()), Options::default()).unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(b"blob bytes")));
    let repo = Reference::parse(&format!("{reg}/app")).unwrap();
    client.fetch_blob(&repo, &digest, 10).await.unwrap();

    let at_registry = reg_seen.lock().unwrap().clone();
    assert!(at_registry.iter().any(|s| header(s, "authorization").is_some_and(|a| a.starts_with("Basic "))), "{at_registry:?}");
    let at_cdn = cdn_seen.lock().unwrap().clone();
    assert_eq!(at_cdn.len(), 1, "the download followed the redirect: {at_cdn:?}");
    assert_eq!(header(&at_cdn[0], "authorization"), None, "the registry login went to another host: {:?}", at_cdn[0]);
}

#[tokio::test]
async fn an_api_redirect_to_another_host_is_not_followed_with_the_token() {
    let (other, other_seen) = elsewhere();
    let (port, _) = fake_http_with(move |_| (307, vec![("location".into(), format!("http://localhost:{other}/graphql"))], String::new()));
    let http = aideploy::cloud::http::client().unwrap();
    let got = http
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .header("Project-Access-Token", "railway-project-token-1234")
        .header("authorization", "Bearer api-key-1234")
        .body("{}")
        .send()
        .await;
    let e = anyhow::Error::from(got.expect_err("a cross-host redirect must not be followed"));
    assert!(format!("{e:#}").contains("another host"), "{e:#}");
    assert!(other_seen.lock().unwrap().is_empty(), "the token followed the redirect: {:?}", other_seen.lock().unwrap());
}

#[tokio::test]
async fn an_api_redirect_on_the_same_host_is_followed() {
    let (port, seen) = fake_http_with(move |s| {
        if s.path == "/old" {
            (307, vec![("location".into(), "/new".into())], String::new())
        } else {
            (200, Vec::new(), "{}".into())
        }
    });
    let http = aideploy::cloud::http::client().unwrap();
    let resp = http.get(format!("http://127.0.0.1:{port}/old")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(seen.lock().unwrap().iter().map(|s| s.path.clone()).collect::<Vec<_>>(), ["/old", "/new"]);
}
