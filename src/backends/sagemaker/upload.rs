//! The model archive's way to S3. The bucket is the account's own, one per region,
//! `aideploy-{account}-{region}`, created on first need: public access blocked,
//! encrypted at rest by default (SSE-S3), versioned, and tagged `aideploy:bucket` so
//! `destroy` knows aideploy made it. Each archive is stored once, under
//! `sagemaker/{app}/{stage}/{target}/{sha256}/model.tar.gz`: an unchanged archive is not
//! uploaded again. Small archives go up in one PUT, larger ones as a multipart upload
//! whose parts travel in parallel.

use std::sync::Arc;

use anyhow::Result;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};

use super::{failed, tags, Clients, PERMS_HINT};
use crate::engine::{Cx, Reporter};

/// The tag that marks a bucket aideploy created (and so may delete once empty).
pub const BUCKET_TAG: &str = "aideploy:bucket";
/// Size of one part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: u64 = 8 << 20;
/// Parts in flight at once.
pub const PARALLEL_PARTS: usize = 4;

pub fn bucket_name(account: &str, region: &str) -> String {
    format!("aideploy-{account}-{region}")
}

pub fn prefix(cx: &Cx) -> String {
    format!("sagemaker/{}/{}/{}/", cx.app_name(), cx.stage, cx.target.name)
}

pub fn key(cx: &Cx, sha256: &str) -> String {
    format!("{}{sha256}/model.tar.gz", prefix(cx))
}

pub fn s3_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Uploads the archive unless an object with its digest is there already. Returns the
/// bytes sent.
pub async fn upload_archive(
    cx: &Cx,
    c: &Clients,
    bucket: &str,
    key: &str,
    path: &std::path::Path,
    bytes: u64,
    r: &dyn Reporter,
) -> Result<u64> {
    ensure_bucket(c, bucket).await?;
    if c.s3.head_object().bucket(bucket).key(key).send().await.is_ok() {
        r.detail(&format!("{} is already uploaded", s3_url(bucket, key)));
        return Ok(0);
    }
    r.step(&format!("uploading the model archive ({}) to {}", crate::util::human_bytes(bytes), s3_url(bucket, key)));
    let tagging = tagging(cx);
    if bytes <= PART_SIZE {
        put_single(c, bucket, key, path, &tagging).await?;
    } else {
        put_multipart(c, bucket, key, path, bytes, PART_SIZE, PARALLEL_PARTS, &tagging, r).await?;
    }
    Ok(bytes)
}

fn tagging(cx: &Cx) -> String {
    tags(cx).iter().map(|(k, v)| format!("{}={}", k.replace(':', "%3A"), v)).collect::<Vec<_>>().join("&")
}

/// One PUT. `tagging` is the object's tags, URL-encoded (`k=v&k2=v2`).
pub async fn put_single(c: &Clients, bucket: &str, key: &str, path: &std::path::Path, tagging: &str) -> Result<()> {
    let body = ByteStream::from_path(path).await.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    c.s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .content_type("application/gzip")
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| failed("S3 PutObject", e, PERMS_HINT))?;
    Ok(())
}

/// A multipart upload with up to `parallel` parts in flight; aborted on any failure so
/// no invisible parts are left to pay for.
#[allow(clippy::too_many_arguments)]
pub async fn put_multipart(
    c: &Clients,
    bucket: &str,
    key: &str,
    path: &std::path::Path,
    bytes: u64,
    part_size: u64,
    parallel: usize,
    tagging: &str,
    r: &dyn Reporter,
) -> Result<()> {
    let created =
        c.s3.create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type("application/gzip")
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| failed("S3 CreateMultipartUpload", e, PERMS_HINT))?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    let result = upload_parts(c, bucket, key, &upload_id, path, bytes, part_size, parallel, r).await;
    match result {
        Ok(parts) => {
            c.s3.complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(|e| failed("S3 CompleteMultipartUpload", e, PERMS_HINT))?;
            Ok(())
        }
        Err(e) => {
            let _ = c.s3.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id).send().await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn upload_parts(
    c: &Clients,
    bucket: &str,
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
        let (s3, bucket, key, upload_id, path) =
            (c.s3.clone(), bucket.to_string(), key.to_string(), upload_id.to_string(), path.to_path_buf());
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
                .bucket(&bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .content_length(len as i64)
                .body(body)
                .send()
                .await
                .map_err(|e| failed("S3 UploadPart", e, PERMS_HINT))?;
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

/// Creates the bucket when missing: private, encrypted, versioned, tagged.
pub async fn ensure_bucket(c: &Clients, bucket: &str) -> Result<()> {
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
    let sse = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build()?,
                )
                .build(),
        )
        .build()?;
    c.s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(sse)
        .send()
        .await
        .map_err(|e| failed("S3 PutBucketEncryption", e, PERMS_HINT))?;
    c.s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .map_err(|e| failed("S3 PutBucketVersioning", e, PERMS_HINT))?;
    let tagging = Tagging::builder().tag_set(Tag::builder().key(BUCKET_TAG).value("model-archives").build()?).build()?;
    c.s3.put_bucket_tagging().bucket(bucket).tagging(tagging).send().await.map_err(|e| failed("S3 PutBucketTagging", e, PERMS_HINT))?;
    Ok(())
}

/// Deletes every version of every archive under this target's prefix, then the bucket
/// when nothing is left in it and aideploy made it. Returns (objects deleted, bucket
/// deleted).
pub async fn delete_archives(cx: &Cx, c: &Clients, bucket: &str) -> Result<(usize, bool)> {
    let mut deleted = 0;
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = match c
            .s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix(cx))
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok((0, false)),
            Err(e) => return Err(failed("S3 ListObjectVersions", e, PERMS_HINT)),
        };
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        for (key, version) in versions.chain(markers) {
            let Some(key) = key else { continue };
            c.s3.delete_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version.map(str::to_string))
                .send()
                .await
                .map_err(|e| failed("S3 DeleteObject", e, PERMS_HINT))?;
            deleted += 1;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    // The bucket goes too when it is empty and aideploy made it.
    let ours = match c.s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(t) => t.tag_set().iter().any(|t| t.key() == BUCKET_TAG),
        Err(_) => false,
    };
    if !ours {
        return Ok((deleted, false));
    }
    let left =
        c.s3.list_object_versions().bucket(bucket).max_keys(1).send().await.map_err(|e| failed("S3 ListObjectVersions", e, PERMS_HINT))?;
    if !left.versions().is_empty() || !left.delete_markers().is_empty() {
        return Ok((deleted, false));
    }
    c.s3.delete_bucket().bucket(bucket).send().await.map_err(|e| failed("S3 DeleteBucket", e, PERMS_HINT))?;
    Ok((deleted, true))
}
