//! The model archive's way to S3: the account's one artifact bucket for the region
//! (`crate::cloud::aws_bucket`: created or repaired by apply only, encrypted, versioned,
//! closed to the public, `ExpectedBucketOwner` on every call). Each archive is stored
//! once, under `sagemaker/{app}/{stage}/{target}/{sha256}/model.tar.gz`, tagged with the
//! app, stage and target: an unchanged archive is not uploaded again. Small archives go
//! up in one PUT, larger ones as a multipart upload whose parts travel in parallel (an
//! upload cut short is aborted, and the bucket's lifecycle rule clears any left behind).

use std::sync::Arc;

use anyhow::Result;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

use crate::cloud::aws::sdk_error;
use crate::cloud::aws_bucket::{self, Bucket};
use crate::engine::{Cx, Reporter};

/// Size of one part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: u64 = 8 << 20;
/// Parts in flight at once.
pub const PARALLEL_PARTS: usize = 4;
const HINT: &str = "check that the credentials may use s3:PutObject on the aideploy artifact bucket";
const CONTENT_TYPE: &str = "application/gzip";

pub fn bucket(account: &str, region: &str) -> Bucket {
    Bucket::new(account, region)
}

/// The bucket this target used before the shared one, one per account and region, and
/// the tag it carries when aideploy made it: only destroy still looks there.
pub fn legacy_bucket(account: &str, region: &str) -> Bucket {
    Bucket { name: format!("aideploy-{account}-{region}"), account: account.to_string(), region: region.to_string() }
}
pub const LEGACY_BUCKET_TAG: (&str, &str) = ("aideploy:bucket", "model-archives");

/// Empties this target's prefix in the legacy bucket, then deletes the bucket when
/// nothing else is left in it. Returns (archives deleted, bucket deleted).
pub async fn delete_legacy(cx: &Cx, s3: &Client, b: &Bucket) -> Result<(usize, bool)> {
    let deleted = aws_bucket::delete_prefix(s3, b, &prefix(cx)).await?;
    let left = s3
        .list_object_versions()
        .bucket(&b.name)
        .expected_bucket_owner(&b.account)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| sdk_error("S3 ListObjectVersions", &e, HINT))?;
    if !left.versions().is_empty() || !left.delete_markers().is_empty() {
        return Ok((deleted, false));
    }
    s3.delete_bucket()
        .bucket(&b.name)
        .expected_bucket_owner(&b.account)
        .send()
        .await
        .map_err(|e| sdk_error("S3 DeleteBucket", &e, HINT))?;
    Ok((deleted, true))
}

/// Where this target's archives live in the bucket.
pub fn prefix(cx: &Cx) -> String {
    format!("sagemaker/{}/{}/{}/", cx.app_name(), cx.stage, cx.target.name)
}

pub fn key(cx: &Cx, sha256: &str) -> String {
    format!("{}{sha256}/model.tar.gz", prefix(cx))
}

/// Uploads the archive (apply only; the bucket is ready and the key not there yet).
/// Returns the bytes sent.
pub async fn upload_archive(
    cx: &Cx,
    s3: &Client,
    b: &Bucket,
    key: &str,
    path: &std::path::Path,
    bytes: u64,
    r: &dyn Reporter,
) -> Result<u64> {
    r.step(&format!("uploading the model archive ({}) to {}", crate::util::human_bytes(bytes), b.url(key)));
    let tags = crate::cloud::aws::owner_tags(cx);
    if bytes <= PART_SIZE {
        aws_bucket::put_object(s3, b, key, path, CONTENT_TYPE, &tags).await?;
    } else {
        put_multipart(s3, b, key, path, bytes, PART_SIZE, PARALLEL_PARTS, &tagging(&tags), r).await?;
    }
    Ok(bytes)
}

/// Tags as the `x-amz-tagging` header takes them (`k=v&k2=v2`, form-encoded).
pub fn tagging(tags: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|c| match c {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (c as char).to_string(),
                _ => format!("%{c:02X}"),
            })
            .collect::<String>()
    };
    tags.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// A multipart upload with up to `parallel` parts in flight; aborted on any failure so
/// no invisible parts are left to pay for.
#[allow(clippy::too_many_arguments)]
pub async fn put_multipart(
    s3: &Client,
    b: &Bucket,
    key: &str,
    path: &std::path::Path,
    bytes: u64,
    part_size: u64,
    parallel: usize,
    tagging: &str,
    r: &dyn Reporter,
) -> Result<()> {
    let created = s3
        .create_multipart_upload()
        .bucket(&b.name)
        .key(key)
        .expected_bucket_owner(&b.account)
        .content_type(CONTENT_TYPE)
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| sdk_error("S3 CreateMultipartUpload", &e, HINT))?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    match upload_parts(s3, b, key, &upload_id, path, bytes, part_size, parallel, r).await {
        Ok(parts) => {
            s3.complete_multipart_upload()
                .bucket(&b.name)
                .key(key)
                .expected_bucket_owner(&b.account)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| sdk_error("S3 CompleteMultipartUpload", &e, HINT))?;
            Ok(())
        }
        Err(e) => {
            let _ =
                s3.abort_multipart_upload().bucket(&b.name).key(key).expected_bucket_owner(&b.account).upload_id(&upload_id).send().await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn upload_parts(
    s3: &Client,
    b: &Bucket,
    key: &str,
    upload_id: &str,
    path: &std::path::Path,
    bytes: u64,
    part_size: u64,
    parallel: usize,
    r: &dyn Reporter,
) -> Result<Vec<CompletedPart>> {
    let count = bytes.div_ceil(part_size);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut parts = Vec::with_capacity(count as usize);
    let progress = |done: usize| r.progress(&format!("uploaded {done}/{count} parts"));
    for n in 0..count {
        let permit = semaphore.clone().acquire_owned().await?;
        let (s3, b, key, upload_id, path) = (s3.clone(), b.clone(), key.to_string(), upload_id.to_string(), path.to_path_buf());
        let offset = n * part_size;
        let len = part_size.min(bytes - offset);
        tasks.spawn(async move {
            let _permit = permit;
            let body = ByteStream::read_from()
                .path(&path)
                .offset(offset)
                .length(aws_sdk_s3::primitives::Length::Exact(len))
                .build()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let number = (n + 1) as i32;
            let out = s3
                .upload_part()
                .bucket(&b.name)
                .key(&key)
                .expected_bucket_owner(&b.account)
                .upload_id(&upload_id)
                .part_number(number)
                .content_length(len as i64)
                .body(body)
                .send()
                .await
                .map_err(|e| sdk_error("S3 UploadPart", &e, HINT))?;
            anyhow::Ok(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_string)).build())
        });
        // Parts finished meanwhile: keep them, stop at the first failure.
        while let Some(done) = tasks.try_join_next() {
            parts.push(done??);
            progress(parts.len());
        }
    }
    while let Some(done) = tasks.join_next().await {
        parts.push(done??);
        progress(parts.len());
    }
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_form_encoded() {
        assert_eq!(tagging(&[("aideploy:app", "a b".into()), ("k", "v".into())]), "aideploy%3Aapp=a%20b&k=v");
    }
}
