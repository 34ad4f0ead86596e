//! How the zip reaches Lambda: inline up to the 50 MB direct-upload limit, otherwise
//! through S3. The bucket is the account's own, one per region
//! (`aideploy-artifacts-{account}-{region}`, created on first need: public access
//! blocked, encrypted at rest by S3's default); each zip is stored once under
//! `lambda/{app}/{stage}/{target}/{sha256}.zip`, tagged with the app, stage and target,
//! and `destroy` deletes that prefix.

use anyhow::Result;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration};

use super::{failed, tags, Clients, PERMS_HINT};
use crate::artifact::zip::LambdaZip;
use crate::engine::{Cx, Reporter};

/// The function's code, as CreateFunction and UpdateFunctionCode take it.
#[derive(Clone)]
pub enum Code {
    Inline(Blob),
    S3 {
        bucket: String,
        key: String,
    },
    /// A container image, `repository@sha256:...`.
    Image(String),
}

pub fn bucket_name(account: &str, region: &str) -> String {
    format!("aideploy-artifacts-{account}-{region}")
}

pub fn prefix(cx: &Cx) -> String {
    format!("lambda/{}/{}/{}/", cx.app_name(), cx.stage, cx.target.name)
}

/// The zip as code for Lambda: read inline, or uploaded to S3 (once per digest).
pub async fn code(cx: &Cx, c: &Clients, account: &str, zip: &LambdaZip, r: &dyn Reporter) -> Result<Code> {
    if !zip.needs_s3 {
        return Ok(Code::Inline(Blob::new(fs_err::read(&zip.path)?)));
    }
    let bucket = bucket_name(account, &c.region);
    let key = format!("{}{}.zip", prefix(cx), zip.sha256);
    ensure_bucket(c, &bucket).await?;
    if c.s3.head_object().bucket(&bucket).key(&key).send().await.is_ok() {
        return Ok(Code::S3 { bucket, key });
    }
    r.step(&format!("uploading the zip ({} MB) to s3://{bucket}/{key}", zip.bytes / (1024 * 1024)));
    let tagging = tags(cx).iter().map(|(k, v)| format!("{}={}", k.replace(':', "%3A"), v)).collect::<Vec<_>>().join("&");
    let body = ByteStream::from_path(&zip.path).await.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", zip.path.display()))?;
    c.s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body)
        .content_type("application/zip")
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| failed("S3 PutObject", e, PERMS_HINT))?;
    Ok(Code::S3 { bucket, key })
}

async fn ensure_bucket(c: &Clients, bucket: &str) -> Result<()> {
    if c.s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    let mut req = c.s3.create_bucket().bucket(bucket);
    if c.region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(c.region.as_str())).build(),
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => {
            return Err(failed(
                "S3 CreateBucket",
                e,
                "check the credentials may create S3 buckets, or that no other account owns this name",
            ))
        }
    }
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    c.s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| failed("S3 PutPublicAccessBlock", e, PERMS_HINT))?;
    Ok(())
}

/// Deletes every zip uploaded for this app, stage and target; the number deleted.
pub async fn delete_uploads(cx: &Cx, c: &Clients, account: &str) -> Result<usize> {
    let bucket = bucket_name(account, &c.region);
    let mut deleted = 0;
    let mut token = None;
    loop {
        let page = match c.s3.list_objects_v2().bucket(&bucket).prefix(prefix(cx)).set_continuation_token(token).send().await {
            Ok(p) => p,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => return Ok(deleted),
            Err(e) => return Err(failed("S3 ListObjectsV2", e, PERMS_HINT)),
        };
        for o in page.contents() {
            if let Some(key) = o.key() {
                c.s3.delete_object().bucket(&bucket).key(key).send().await.map_err(|e| failed("S3 DeleteObject", e, PERMS_HINT))?;
                deleted += 1;
            }
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(deleted);
        }
    }
}
