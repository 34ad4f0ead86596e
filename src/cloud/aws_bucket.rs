//! The artifact bucket every AWS target shares: one per account and region,
//! `aideploy-artifacts-{account}-{region}`. It is created by an apply only (never by a
//! plan), encrypted by default (SSE-S3), versioned, closed to the public, rid of
//! incomplete multipart uploads after a day, and tagged as aideploy's. Every call that
//! takes `ExpectedBucketOwner` sends the account id, so a bucket of that name in another
//! account is never written to; one in this account without aideploy's tag is refused.

use anyhow::Result;
use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter, ObjectIdentifier, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;

use super::aws::sdk_error;
use crate::error::Hinted;

/// The tag that marks the bucket as aideploy's (the value is [`TAG_BUCKET_VALUE`]).
pub const TAG_BUCKET: &str = "aideploy:bucket";
pub const TAG_BUCKET_VALUE: &str = "artifacts";
/// S3's limit on bucket names.
const MAX_NAME: usize = 63;
/// The lifecycle rule aideploy owns in the bucket.
const ABORT_RULE: &str = "aideploy-abort-incomplete-multipart";
const HINT: &str = "check that the credentials may manage S3 buckets in this account and region";

/// The S3 client for the bucket, with the shared call log; path-style addressing when the
/// endpoint is a loopback emulator, which has no per-bucket host names.
pub fn client(config: &SdkConfig) -> Client {
    let path_style = super::aws::endpoint_is_loopback("S3")
        || config
            .endpoint_url()
            .and_then(|u| u.split_once("://"))
            .is_some_and(|(_, rest)| super::is_loopback_host(rest.split('/').next().unwrap_or("")));
    crate::aws_client!(aws_sdk_s3, config, force_path_style(path_style))
}

/// The account's artifact bucket in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    /// The account that must own it (sent as `ExpectedBucketOwner`).
    pub account: String,
    pub region: String,
}

impl Bucket {
    pub fn new(account: &str, region: &str) -> Bucket {
        Bucket {
            name: super::fit_name(&format!("aideploy-artifacts-{account}-{region}"), MAX_NAME),
            account: account.to_string(),
            region: region.to_string(),
        }
    }

    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }
}

/// A setting the bucket must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setting {
    Tags,
    Encryption,
    Versioning,
    PublicAccessBlock,
    Lifecycle,
}

impl Setting {
    pub const ALL: [Setting; 5] = [Setting::Tags, Setting::Encryption, Setting::Versioning, Setting::PublicAccessBlock, Setting::Lifecycle];

    pub fn label(self) -> &'static str {
        match self {
            Setting::Tags => "tags",
            Setting::Encryption => "default encryption",
            Setting::Versioning => "versioning",
            Setting::PublicAccessBlock => "public access block",
            Setting::Lifecycle => "multipart lifecycle rule",
        }
    }
}

/// What exists of the bucket now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// No bucket of that name.
    Missing,
    /// It exists and is aideploy's; `missing` lists the settings to repair (empty: ready).
    Ours { missing: Vec<Setting> },
    /// A bucket of that name that aideploy must not use: another account's, or one in this
    /// account without aideploy's tag.
    Foreign { why: String },
}

impl Seen {
    pub fn is_ready(&self) -> bool {
        matches!(self, Seen::Ours { missing } if missing.is_empty())
    }

    /// The refusal for a foreign bucket, naming it and the fix.
    pub fn refusal(&self, b: &Bucket) -> Option<anyhow::Error> {
        match self {
            Seen::Foreign { why } => Some(
                Hinted::new(
                    format!("the S3 bucket {} exists but is not aideploy's: {why}", b.name),
                    format!("delete or rename the bucket {}, or tag it {TAG_BUCKET}={TAG_BUCKET_VALUE} if it is aideploy's", b.name),
                )
                .into(),
            ),
            _ => None,
        }
    }
}

fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> &str {
    e.code().unwrap_or("")
}

/// Reads whether the bucket exists, is aideploy's and is configured as it should be.
/// Read-only.
pub async fn observe(s3: &Client, b: &Bucket) -> Result<Seen> {
    match s3.head_bucket().bucket(&b.name).expected_bucket_owner(&b.account).send().await {
        Ok(_) => {}
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if e.as_service_error().is_some_and(|s| s.is_not_found()) || status == Some(404) {
                return Ok(Seen::Missing);
            }
            if status == Some(403) || status == Some(301) {
                return Ok(Seen::Foreign { why: format!("it is not in account {} (or not in {})", b.account, b.region) });
            }
            return Err(sdk_error("S3 HeadBucket", &e, HINT));
        }
    }
    // Another aideploy run may have created the bucket a moment ago and not tagged it
    // yet (tagging is its next call): look again before calling it someone else's.
    let mut looks = 0;
    loop {
        let tags = match s3.get_bucket_tagging().bucket(&b.name).expected_bucket_owner(&b.account).send().await {
            Ok(out) => out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect::<Vec<_>>(),
            Err(e) if code_of(&e) == "NoSuchTagSet" => Vec::new(),
            Err(e) => return Err(sdk_error("S3 GetBucketTagging", &e, HINT)),
        };
        if tags.iter().any(|(k, v)| k == TAG_BUCKET && v == TAG_BUCKET_VALUE) {
            break;
        }
        looks += 1;
        if looks == 3 {
            return Ok(Seen::Foreign { why: format!("it has no tag {TAG_BUCKET}={TAG_BUCKET_VALUE}") });
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let mut missing = Vec::new();
    match s3.get_bucket_encryption().bucket(&b.name).expected_bucket_owner(&b.account).send().await {
        Ok(out) => {
            let encrypted = out
                .server_side_encryption_configuration()
                .is_some_and(|c| c.rules().iter().any(|r| r.apply_server_side_encryption_by_default().is_some()));
            if !encrypted {
                missing.push(Setting::Encryption);
            }
        }
        Err(e) if code_of(&e) == "ServerSideEncryptionConfigurationNotFoundError" => missing.push(Setting::Encryption),
        Err(e) => return Err(sdk_error("S3 GetBucketEncryption", &e, HINT)),
    }
    let enabled = match s3.get_bucket_versioning().bucket(&b.name).expected_bucket_owner(&b.account).send().await {
        Ok(v) => v.status() == Some(&BucketVersioningStatus::Enabled),
        // A 200 whose XML root the SDK does not accept (moto names it
        // GetBucketVersioningResponse): the status element still says it.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => e
            .raw_response()
            .and_then(|r| r.body().bytes())
            .is_some_and(|body| String::from_utf8_lossy(body).contains("<Status>Enabled</Status>")),
        Err(e) => return Err(sdk_error("S3 GetBucketVersioning", &e, HINT)),
    };
    if !enabled {
        missing.push(Setting::Versioning);
    }
    match s3.get_public_access_block().bucket(&b.name).expected_bucket_owner(&b.account).send().await {
        Ok(out) => {
            let all = out.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            });
            if !all {
                missing.push(Setting::PublicAccessBlock);
            }
        }
        Err(e) if code_of(&e) == "NoSuchPublicAccessBlockConfiguration" => missing.push(Setting::PublicAccessBlock),
        Err(e) => return Err(sdk_error("S3 GetPublicAccessBlock", &e, HINT)),
    }
    match s3.get_bucket_lifecycle_configuration().bucket(&b.name).expected_bucket_owner(&b.account).send().await {
        Ok(out) => {
            let aborts = out.rules().iter().any(|r| {
                r.status() == &ExpirationStatus::Enabled
                    && r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()) == Some(1)
            });
            if !aborts {
                missing.push(Setting::Lifecycle);
            }
        }
        Err(e) if code_of(&e) == "NoSuchLifecycleConfiguration" => missing.push(Setting::Lifecycle),
        Err(e) => return Err(sdk_error("S3 GetBucketLifecycleConfiguration", &e, HINT)),
    }
    Ok(Seen::Ours { missing })
}

/// Creates the bucket or repairs its settings (apply only). Refuses a foreign bucket
/// before changing anything. CreateBucket is the one call that takes no
/// `ExpectedBucketOwner`; an existing bucket is never created.
pub async fn ensure(s3: &Client, b: &Bucket, seen: &Seen) -> Result<()> {
    if let Some(e) = seen.refusal(b) {
        return Err(e);
    }
    let missing = match seen {
        Seen::Missing => {
            create(s3, b).await?;
            Setting::ALL.to_vec()
        }
        Seen::Ours { missing } => missing.clone(),
        Seen::Foreign { .. } => unreachable!("refused above"),
    };
    for setting in missing {
        configure(s3, b, setting).await?;
    }
    Ok(())
}

async fn create(s3: &Client, b: &Bucket) -> Result<()> {
    let mut req = s3.create_bucket().bucket(&b.name);
    if b.region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(b.region.as_str())).build(),
        );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_exists()) => {
            Err(Seen::Foreign { why: "another AWS account owns that name".into() }.refusal(b).expect("foreign"))
        }
        // Another aideploy run created it a moment ago: configure it all the same.
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
        Err(e) => Err(sdk_error("S3 CreateBucket", &e, "check that the credentials may create S3 buckets (s3:CreateBucket)")),
    }
}

async fn configure(s3: &Client, b: &Bucket, setting: Setting) -> Result<()> {
    let (name, owner) = (&b.name, &b.account);
    match setting {
        Setting::Tags => {
            let tag = Tag::builder().key(TAG_BUCKET).value(TAG_BUCKET_VALUE).build()?;
            s3.put_bucket_tagging()
                .bucket(name)
                .expected_bucket_owner(owner)
                .tagging(Tagging::builder().tag_set(tag).build()?)
                .send()
                .await
                .map_err(|e| sdk_error("S3 PutBucketTagging", &e, HINT))?;
        }
        Setting::Encryption => {
            let default = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build()?;
            let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(default).build();
            s3.put_bucket_encryption()
                .bucket(name)
                .expected_bucket_owner(owner)
                .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build()?)
                .send()
                .await
                .map_err(|e| sdk_error("S3 PutBucketEncryption", &e, HINT))?;
        }
        Setting::Versioning => {
            s3.put_bucket_versioning()
                .bucket(name)
                .expected_bucket_owner(owner)
                .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
                .send()
                .await
                .map_err(|e| sdk_error("S3 PutBucketVersioning", &e, HINT))?;
        }
        Setting::PublicAccessBlock => {
            let block = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            s3.put_public_access_block()
                .bucket(name)
                .expected_bucket_owner(owner)
                .public_access_block_configuration(block)
                .send()
                .await
                .map_err(|e| sdk_error("S3 PutPublicAccessBlock", &e, HINT))?;
        }
        Setting::Lifecycle => {
            let rule = LifecycleRule::builder()
                .id(ABORT_RULE)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build())
                .build()?;
            s3.put_bucket_lifecycle_configuration()
                .bucket(name)
                .expected_bucket_owner(owner)
                .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build()?)
                .send()
                .await
                .map_err(|e| sdk_error("S3 PutBucketLifecycleConfiguration", &e, HINT))?;
        }
    }
    Ok(())
}

/// Whether `key` is in the bucket (a missing bucket has no objects). Read-only.
pub async fn has_object(s3: &Client, b: &Bucket, key: &str) -> Result<bool> {
    match s3.head_object().bucket(&b.name).key(key).expected_bucket_owner(&b.account).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) => Err(sdk_error("S3 HeadObject", &e, HINT)),
    }
}

/// Uploads a file to `key` with the given tags (apply only).
pub async fn put_object(
    s3: &Client,
    b: &Bucket,
    key: &str,
    path: &std::path::Path,
    content_type: &str,
    tags: &[(&str, String)],
) -> Result<()> {
    let tagging = tags.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
    let body = ByteStream::from_path(path).await.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    s3.put_object()
        .bucket(&b.name)
        .key(key)
        .expected_bucket_owner(&b.account)
        .body(body)
        .content_type(content_type)
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| sdk_error("S3 PutObject", &e, HINT))?;
    Ok(())
}

/// Form-encodes a tag key or value for the `x-amz-tagging` header.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (c as char).to_string(),
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// The keys under `prefix` (latest versions). A missing bucket has none. Read-only.
pub async fn list_prefix(s3: &Client, b: &Bucket, prefix: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = match s3
            .list_objects_v2()
            .bucket(&b.name)
            .prefix(prefix)
            .expected_bucket_owner(&b.account)
            .set_continuation_token(token)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => return Ok(keys),
            Err(e) => return Err(sdk_error("S3 ListObjectsV2", &e, HINT)),
        };
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// Deletes every version (and delete marker) of every object under `prefix`: the bucket
/// is versioned, so deleting the latest versions alone would keep the bytes. Returns the
/// number of objects (keys) removed.
pub async fn delete_prefix(s3: &Client, b: &Bucket, prefix: &str) -> Result<usize> {
    let mut keys = std::collections::BTreeSet::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(&b.name)
            .prefix(prefix)
            .expected_bucket_owner(&b.account)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if code_of(&e) == "NoSuchBucket" => return Ok(0),
            Err(e) => return Err(sdk_error("S3 ListObjectVersions", &e, HINT)),
        };
        let mut batch = Vec::new();
        for (key, version) in
            page.versions().iter().map(|v| (v.key(), v.version_id())).chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
        {
            let Some(key) = key else { continue };
            keys.insert(key.to_string());
            batch.push(ObjectIdentifier::builder().key(key).set_version_id(version.map(str::to_string)).build()?);
        }
        for chunk in batch.chunks(1000) {
            let out = s3
                .delete_objects()
                .bucket(&b.name)
                .expected_bucket_owner(&b.account)
                .delete(aws_sdk_s3::types::Delete::builder().set_objects(Some(chunk.to_vec())).quiet(true).build()?)
                .send()
                .await
                .map_err(|e| sdk_error("S3 DeleteObjects", &e, HINT))?;
            if let Some(err) = out.errors().first() {
                return Err(Hinted::new(
                    format!(
                        "S3 DeleteObjects failed for {}: {}: {}",
                        b.url(err.key().unwrap_or("?")),
                        err.code().unwrap_or("?"),
                        err.message().unwrap_or("")
                    ),
                    HINT,
                )
                .into());
            }
        }
        if page.is_truncated() != Some(true) {
            return Ok(keys.len());
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_s3s_limit() {
        let b = Bucket::new("123456789012", "us-east-1");
        assert_eq!(b.name, "aideploy-artifacts-123456789012-us-east-1");
        let long = Bucket::new("123456789012", "xx-a-region-name-far-longer-than-any-real-one-9");
        assert!(long.name.len() <= 63, "{}", long.name);
        assert!(long.name.starts_with("aideploy-artifacts-123456789012-"));
        assert_ne!(long.name, Bucket::new("123456789012", "xx-a-region-name-far-longer-than-any-real-one-8").name);
        assert_eq!(encode("aideploy:app"), "aideploy%3Aapp");
    }

    #[test]
    fn only_a_foreign_bucket_is_refused() {
        let b = Bucket::new("123456789012", "us-east-1");
        let e = Seen::Foreign { why: "it has no tag".into() }.refusal(&b).unwrap().to_string();
        assert!(e.contains(&b.name), "{e}");
        assert!(Seen::Missing.refusal(&b).is_none() && !Seen::Missing.is_ready());
        assert!(Seen::Ours { missing: vec![] }.is_ready());
        assert!(!Seen::Ours { missing: vec![Setting::Versioning] }.is_ready());
    }
}
