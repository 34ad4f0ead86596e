//! The AWS targets' deploy lease: one small JSON object per app, stage and target in the
//! account's artifact bucket, written with S3's conditional writes (`If-None-Match: *`
//! to create it, `If-Match: <etag>` to take it over, renew or give it back), so two
//! machines deploying the same app see the same lease.

use anyhow::Result;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::engine::lease::{LeaseRecord, LeaseStore};
use crate::error::Hinted;

pub struct S3Lease {
    pub s3: Client,
    pub bucket: String,
    pub key: String,
    /// The account that must own the bucket (`ExpectedBucketOwner`).
    pub account: String,
}

impl S3Lease {
    /// The lease object's key for this app, stage and target.
    pub fn key_for(app: &str, stage: &str, target: &str) -> String {
        format!("leases/{app}/{stage}/{target}.json")
    }
}

fn failed(what: &str, e: impl std::error::Error) -> anyhow::Error {
    Hinted::new(
        format!("S3 {what} on the deploy lease failed: {}", crate::cloud::aws::describe(&e)),
        "check that the credentials may use s3:GetObject and s3:PutObject on the aideploy artifact bucket",
    )
    .into()
}

#[async_trait]
impl LeaseStore for S3Lease {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn read(&self) -> Result<Option<(LeaseRecord, String)>> {
        let got = self.s3.get_object().bucket(&self.bucket).key(&self.key).expected_bucket_owner(&self.account).send().await;
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(failed("GetObject", e)),
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let bytes = out.body.collect().await.map_err(|e| anyhow::anyhow!("reading the deploy lease from S3 failed: {e}"))?.into_bytes();
        // A record that does not parse is treated as free: it was never one of ours.
        Ok(Some(match serde_json::from_slice::<LeaseRecord>(&bytes) {
            Ok(rec) => (rec, etag),
            Err(_) => (LeaseRecord::unreadable(), etag),
        }))
    }

    async fn write(&self, record: &LeaseRecord, expected: Option<&str>) -> Result<bool> {
        let body = serde_json::to_vec_pretty(record)?;
        let mut put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .expected_bucket_owner(&self.account)
            .content_type("application/json")
            .body(ByteStream::from(body));
        put = match expected {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // 412: the precondition failed (someone else wrote it); 409: a
                // concurrent conditional write to the same key is in flight.
                if matches!(status, Some(412 | 409)) {
                    Ok(false)
                } else {
                    Err(failed("PutObject", e))
                }
            }
        }
    }
}

/// The lease of the AWS target `cx`, in the account's artifact bucket in the target's
/// region (created, or repaired, when this is the first thing aideploy keeps there).
pub async fn for_target(cx: &crate::engine::Cx) -> Result<std::sync::Arc<dyn LeaseStore>> {
    let lease = find(cx, true).await?.ok_or_else(|| anyhow::anyhow!("the artifact bucket was made ready, then not found"))?;
    Ok(std::sync::Arc::new(lease))
}

/// The same lease when reading it changes nothing (`history`): `None` when the
/// account's artifact bucket is not there (or not ready), so there is no record yet.
pub async fn existing(cx: &crate::engine::Cx) -> Result<Option<std::sync::Arc<dyn LeaseStore>>> {
    Ok(find(cx, false).await?.map(|l| std::sync::Arc::new(l) as std::sync::Arc<dyn LeaseStore>))
}

/// Every stage of the AWS target `cx`'s app that has a lease record in the account's
/// artifact bucket (`leases/{app}/{stage}/{target}.json`, this target's name only), with
/// the record: what `gc` reads. Read calls only; no bucket (or one not ready): none.
pub async fn stages(cx: &crate::engine::Cx) -> Result<Vec<crate::engine::lease::StageRecord>> {
    let Some(store) = find(cx, false).await? else { return Ok(Vec::new()) };
    let prefix = format!("leases/{}/", cx.app_name());
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .s3
            .list_objects_v2()
            .bucket(&store.bucket)
            .prefix(&prefix)
            .expected_bucket_owner(&store.account)
            .set_continuation_token(token)
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => return Ok(Vec::new()),
            Err(e) => {
                return Err(Hinted::new(
                    format!("S3 ListObjectsV2 of the deploy leases failed: {}", crate::cloud::aws::describe(&e)),
                    "check that the credentials may use s3:ListBucket on the aideploy artifact bucket",
                )
                .into())
            }
        };
        for key in page.contents().iter().filter_map(|o| o.key()) {
            let Some(stage) = stage_of(key, cx.app_name(), &cx.target.name) else { continue };
            let lease =
                S3Lease { s3: store.s3.clone(), bucket: store.bucket.clone(), key: key.to_string(), account: store.account.clone() };
            // Deleted since the listing: no stage.
            if let Some((record, _)) = lease.read().await? {
                found.push(crate::engine::lease::StageRecord { stage: stage.to_string(), record });
            }
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// The stage a lease key names, when it is this app's and this target's
/// ([`S3Lease::key_for`]).
fn stage_of<'a>(key: &'a str, app: &str, target: &str) -> Option<&'a str> {
    let rest = key.strip_prefix("leases/")?.strip_prefix(app)?.strip_prefix('/')?;
    let (stage, file) = rest.split_once('/')?;
    (file.strip_suffix(".json") == Some(target) && !stage.is_empty()).then_some(stage)
}

/// The lease of `cx` in the account's artifact bucket; with `make_ready`, the bucket is
/// created (or repaired) first, else `None` when it is not there or not ready.
async fn find(cx: &crate::engine::Cx, make_ready: bool) -> Result<Option<S3Lease>> {
    let region = cx.target.settings.region.as_ref().map(|r| r.get().as_str().to_string());
    let config = crate::cloud::aws::load(region.as_deref(), crate::cloud::aws::chosen_profile()).await?;
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    let sts = crate::aws_client!(aws_sdk_sts, &config);
    let who = sts.get_caller_identity().send().await.map_err(|e| {
        crate::cloud::aws::sdk_error("STS GetCallerIdentity", &e, "check the AWS credentials: `aws sts get-caller-identity` should answer")
    })?;
    let account = who.account().unwrap_or_default().to_string();
    let s3 = crate::cloud::aws_bucket::client(&config);
    let bucket = crate::cloud::aws_bucket::Bucket::new(&account, &region);
    let seen = crate::cloud::aws_bucket::observe(&s3, &bucket).await?;
    if !seen.is_ready() {
        if !make_ready {
            return Ok(None);
        }
        crate::cloud::aws_bucket::ensure(&s3, &bucket, &seen).await?;
    }
    Ok(Some(S3Lease { s3, bucket: bucket.name, key: S3Lease::key_for(cx.app_name(), &cx.stage.to_string(), &cx.target.name), account }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lease_key_names_the_stage_of_this_app_and_target_only() {
        fn of(key: &str) -> Option<&str> {
            super::stage_of(key, "rag", "lambda")
        }
        assert_eq!(of("leases/rag/pr-1/lambda.json"), Some("pr-1"));
        assert_eq!(of(&super::S3Lease::key_for("rag", "dev", "lambda")), Some("dev"));
        // Another target of the same app, another app sharing the prefix, other objects.
        assert_eq!(of("leases/rag/pr-1/ec2.json"), None);
        assert_eq!(of("leases/rag-pr/x/lambda.json"), None);
        assert_eq!(of("leases/rag/lambda.json"), None);
        assert_eq!(of("leases/rag/pr-1/deep/lambda.json"), None);
        assert_eq!(of("zips/rag/pr-1/lambda.json"), None);
    }
}
