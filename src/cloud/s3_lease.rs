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
            Err(_) => (
                LeaseRecord {
                    id: String::new(),
                    holder: "?".into(),
                    host: String::new(),
                    pid: 0,
                    command: "?".into(),
                    since: 0,
                    expires: 0,
                    released: true,
                },
                etag,
            ),
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
