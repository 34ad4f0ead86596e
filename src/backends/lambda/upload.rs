//! How the zip reaches Lambda: inline up to the 50 MB direct-upload limit, otherwise
//! through S3, in the account's artifact bucket for the region
//! (`crate::cloud::aws_bucket`: created or repaired by apply only, encrypted,
//! versioned, closed to the public); each zip is stored once under
//! `lambda/{app}/{stage}/{target}/{sha256}.zip`, tagged with the app, stage and target,
//! and `destroy` deletes that prefix (every version).

use anyhow::Result;
use aws_sdk_lambda::primitives::Blob;

use super::{tags, Clients};
use crate::artifact::zip::LambdaZip;
use crate::cloud::aws_bucket::{self, Bucket};
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

pub fn bucket(account: &str, region: &str) -> Bucket {
    Bucket::new(account, region)
}

pub fn prefix(cx: &Cx) -> String {
    format!("lambda/{}/{}/{}/", cx.app_name(), cx.stage, cx.target.name)
}

pub fn key(cx: &Cx, zip: &LambdaZip) -> String {
    format!("{}{}.zip", prefix(cx), zip.sha256)
}

/// The zip as code for Lambda: read inline, or uploaded to S3 (once per digest); with
/// the bytes sent to S3, when it was.
pub async fn code(cx: &Cx, c: &Clients, account: &str, zip: &LambdaZip, r: &dyn Reporter) -> Result<(Code, Option<u64>)> {
    if !zip.needs_s3 {
        return Ok((Code::Inline(Blob::new(fs_err::read(&zip.path)?)), None));
    }
    let b = bucket(account, &c.region);
    let key = key(cx, zip);
    let seen = aws_bucket::observe(&c.s3, &b).await?;
    if !seen.is_ready() {
        r.step(&format!("preparing the artifact bucket {}", b.name));
    }
    aws_bucket::ensure(&c.s3, &b, &seen).await?;
    let mut sent = 0;
    if !aws_bucket::has_object(&c.s3, &b, &key).await? {
        r.step(&format!("uploading the zip ({}) to {}", crate::util::human_bytes(zip.bytes), b.url(&key)));
        aws_bucket::put_object(&c.s3, &b, &key, &zip.path, "application/zip", &tags(cx)).await?;
        sent = zip.bytes;
    }
    Ok((Code::S3 { bucket: b.name, key }, Some(sent)))
}

/// Deletes every zip uploaded for this app, stage and target; the number deleted.
pub async fn delete_uploads(cx: &Cx, c: &Clients, account: &str) -> Result<usize> {
    aws_bucket::delete_prefix(&c.s3, &bucket(account, &c.region), &prefix(cx)).await
}
